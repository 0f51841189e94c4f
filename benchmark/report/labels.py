"""What a reader sees for each metric and feature extractor: the one label table every report
format (HTML, Markdown, LaTeX, plots, ``--compare``) takes its names from.

The record keeps the machine name (``lpips_paired``); a metric family declares its label where it
is defined (``benchmark.metrics.Metric``) and every record of it carries that label, which the
report shows. This table orders the columns and names what no family declares (speed numbers,
published numbers) and the records written before labels were declared; a test keeps it equal
to the declarations, so old and new results folders read the same.
"""

from __future__ import annotations

import re

# metric name -> column label, in the order columns appear within a variant group:
# realism first, then whether the target was reached, diversity, content, paired quality
METRIC_LABELS: dict[str, str] = {
    "fid": "FID",
    "mfid": "mFID",
    "kid": "KID",
    "is": "IS",
    "cis": "CIS",
    "prc_precision": "Precision",
    "prc_recall": "Recall",
    "accuracy_top1": "Top-1 acc.",
    "accuracy_top5": "Top-5 acc.",
    "lpips_diversity": "LPIPS diversity",
    "lpips": "LPIPS",
    "feature_diversity": "Feature diversity",
    "content": "Content (DIPD-like)",
    "dipd": "DIPD",
    "content_pose": "Pose error",
    "l1": "L1",
    "psnr": "PSNR",
    "ssim": "SSIM",
    "lpips_paired": "LPIPS to target",
    "classifier_accuracy": "Classifier acc.",
    "human_fooling_rate": "Human fooling rate",
    "human_preference": "Human preference",
    "human_bt_score": "Human BT score",
    "latency_ms": "Latency",
}
SPEED_VARIANT = "bs=1"  # the leaderboard's speed column: latency of one image
SPEED_LABEL = f"{METRIC_LABELS['latency_ms']} {SPEED_VARIANT} (ms)"
# the protocol's own classifier as feature extractor ("protocol:afhq@845d5b41e828")
PROTOCOL_EXTRACTOR = re.compile(r"^protocol:")
PROTOCOL_EXTRACTOR_LABEL = "protocol clf."


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric.lower(), metric)


def metric_order(metric: str) -> tuple[int, str]:
    """Known metrics in the label table's order, unknown ones after them by name."""
    order = list(METRIC_LABELS)
    m = metric.lower()
    return (order.index(m), m) if m in order else (len(order), m)


def variant_order(variant: str) -> tuple[str, int, str]:
    """Natural order, so K-shot variants read k=1, k=5, k=10, k=20 (not k=1, k=10, ...)."""
    m = re.fullmatch(r"(.*?)(\d+)", variant)
    return (m.group(1), int(m.group(2)), "") if m else (variant, -1, variant)


def is_protocol_extractor(extractor: str | None) -> bool:
    return bool(extractor) and PROTOCOL_EXTRACTOR.match(extractor) is not None


def extractor_label(extractor: str | None, protocol_extractors: int = 1) -> str:
    """ "protocol clf." for the protocol's classifier (its id is on hover); the full id when a
    table holds more than one protocol extractor, so two columns never share a label."""
    if not extractor:
        return ""
    if is_protocol_extractor(extractor) and protocol_extractors <= 1:
        return PROTOCOL_EXTRACTOR_LABEL
    return extractor


# a protocol classifier other than the file its protocol pins (benchmark.instruments): its
# numbers compare only with numbers of the same weights
LOCAL_LABEL = "local instrument — comparable only with the same sha"
