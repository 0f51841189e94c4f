"""What each column measures, said once: the leaderboard's glossary and its header tooltips.

The definitions are the report's own words (the report imports no metric code); the direction
comes from the records, and the feature extractor and the number of real and generated images
behind a column from its records' provenance, where the metric recorded them (``n_real``,
``n_fake``, ``n_outputs``, ... per task).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.report.labels import SPEED_LABEL, is_protocol_extractor, metric_order
from benchmark.report.model import Column, Results, Table

# metric name -> what it measures, for a reader who knows the field but not this suite
DEFINITIONS: dict[str, str] = {
    "fid": "Fréchet distance between Gaussians fitted to the features of real target-domain "
    "images and of the outputs: realism and coverage together (0: the same statistics). "
    "Biased upward on small sets, so it compares only at equal numbers of images.",
    "mfid": "FID per target class, averaged over the classes (FUNIT's mFID).",
    "kid": "Kernel Inception distance: an unbiased MMD² with a cubic polynomial kernel between "
    "real and output features, averaged over subsets; printed ×10³ as StarGAN v2 and FUNIT do.",
    "is": "Inception score: exp of the mean KL divergence between each output's class "
    "prediction and the mean prediction; high when outputs are recognisable and varied.",
    "cis": "Conditional Inception score (MUNIT): mean KL divergence between the class "
    "predictions of one input's outputs and their mean; 0 for a deterministic method.",
    "prc_precision": "Precision (Kynkäänniemi et al.): the share of outputs inside the k-NN "
    "manifold of the real images' features (realism).",
    "prc_recall": "Recall (Kynkäänniemi et al.): the share of real images inside the k-NN "
    "manifold of the outputs' features (coverage).",
    "accuracy_top1": "Share of outputs the protocol classifier assigns to the target domain, "
    "class or attribute: was the translation made?",
    "accuracy_top5": "Share of outputs whose target class is among the protocol classifier's "
    "five most likely classes.",
    "lpips_diversity": "Mean LPIPS distance between outputs of the same input "
    "(BicycleGAN, MUNIT, StarGAN v2): diversity; 0 for a deterministic method.",
    "lpips": "Mean LPIPS distance between outputs of the same input: diversity (the name "
    "older records use for LPIPS diversity).",
    "feature_diversity": "The same pairs as LPIPS diversity, measured in the protocol "
    "classifier's feature space (needs no download); 0 for a deterministic method.",
    "content": "Content distance (DIPD-like, FUNIT): RMS difference of instance-normalised "
    "feature maps of input and output in the protocol classifier; lower keeps more of the "
    "input.",
    "dipd": "Domain-invariant perceptual distance (FUNIT): distance of instance-normalised "
    "features of input and output; lower keeps more of the input.",
    "content_pose": "Pose error: the classifier's pose head reads the shape's centre and size "
    "from the output and compares them with the input's known factors (mean absolute error "
    "in image widths; synthetic data only).",
    "l1": "Mean absolute pixel difference between each output and its ground-truth target "
    "([0, 1] pixels).",
    "psnr": "Peak signal-to-noise ratio to the ground-truth target (dB, data range 1); an "
    "exact copy is capped at 100 dB and printed ∞.",
    "ssim": "Structural similarity to the ground-truth target (11×11 Gaussian window, σ 1.5).",
    "lpips_paired": "LPIPS distance between each output and its ground-truth target.",
    "latency_ms": "Median wall time of one translate call on one image (batch size 1) after "
    "warm-up, on the device the run used; from the profile records.",
}
# provenance prefix -> what the count is, in the order a reader wants them
SIZES = (
    ("n_real", "real"),
    ("samples.real", "real"),
    ("n_fake", "generated"),
    ("samples.fake", "generated"),
    ("n_outputs", "outputs classified"),
    ("n_pairs", "output–target pairs"),
    ("n_inputs", "inputs"),
    ("outputs_per_input", "outputs per input"),
)


def definition(metric: str) -> str:
    return DEFINITIONS.get(metric.lower(), "No definition recorded for this metric.")


def direction_text(direction: str) -> str:
    return "lower is better ↓" if direction == "lower" else "higher is better ↑"


def _span(values: list[str]) -> str:
    nums = sorted({int(float(v)) for v in values if _is_number(v)})
    if not nums:
        return ", ".join(sorted(set(values)))
    return f"{nums[0]:,}" if len(nums) == 1 else f"{nums[0]:,}–{nums[-1]:,}"


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def sample_sizes(table: Table, col: Column) -> str:
    """ "96 real, 18 generated per task (6 tasks)" from the column's records, "" when none say."""
    prov = table.column_provenance(col)
    parts, tasks = [], set()
    for prefix, word in SIZES:
        values: list[str] = []
        for key, vals in prov.items():
            if key == prefix:
                values += vals
            elif key.startswith(prefix + "."):
                values += vals
                tasks.add(key[len(prefix) + 1 :])
        if values and not any(p.endswith(f" {word}") for p in parts):
            parts.append(f"{_span(values)} {word}")
    if not parts:
        return ""
    text = ", ".join(parts)
    if len(tasks) > 1:
        return f"{text} per task ({len(tasks)} tasks)"
    return text


def extractor_text(table: Table, col: Column) -> str:
    """ "protocol:afhq@845d5b41e828 (“protocol clf.”), the protocol's own classifier; weights
    sha256 845d5b41e828…"; "" for a metric on pixels."""
    if not col.extractor:
        return ""
    prov = table.column_provenance(col)
    shas = prov.get("weights_sha256") or prov.get("extractor.weights_sha256") or []
    short = table.extractor_label(col.extractor)
    text = col.extractor if short == col.extractor else f"{col.extractor} (“{short}”)"
    if is_protocol_extractor(col.extractor):
        text += ", the protocol's own classifier"
    if shas:
        text += f"; weights sha256 {', '.join(s[:12] + '…' for s in shas)}"
    return text


def column_note(table: Table, col: Column) -> str:
    """A header's tooltip: the definition, the direction, the extractor and the image counts."""
    lines = [f"{table.short_label(col)}: {direction_text(col.direction)}", definition(col.metric)]
    if col.fmt.scale_label:
        lines.append(f"printed {col.fmt.scale_label}")
    ext = extractor_text(table, col)
    if ext:
        lines.append(f"features: {ext}")
    sizes = sample_sizes(table, col)
    if sizes:
        lines.append(f"images: {sizes}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Use:
    """Where a metric appears: one protocol table's columns of one extractor and image count."""

    protocol: str
    slug: str
    variants: tuple[str, ...]  # ("latent", "reference"); ("",) for a table without variants
    extractor: str
    sizes: str


@dataclass(frozen=True)
class Entry:
    metric: str
    label: str
    definition: str
    direction: str
    uses: tuple[Use, ...]


def entries(results: Results) -> list[Entry]:
    """One entry per metric of the current tables (in the label table's order), with the
    columns it fills: per protocol, its variants grouped by extractor and image counts."""
    found: dict[str, dict[tuple[str, str, str, str], list[str]]] = {}
    labels: dict[str, str] = {}
    directions: dict[str, str] = {}
    for t in results.tables:
        if not t.current:
            continue
        for col in t.columns:
            labels.setdefault(col.metric, col.metric_label)
            directions.setdefault(col.metric, col.direction)
            key = (t.protocol, t.slug, extractor_text(t, col), sample_sizes(t, col))
            found.setdefault(col.metric, {}).setdefault(key, []).append(col.variant)
    out = [
        Entry(
            m,
            labels[m],
            definition(m),
            direction_text(directions[m]),
            tuple(Use(p, slug, tuple(vs), ext, sizes) for (p, slug, ext, sizes), vs in by.items()),
        )
        for m, by in found.items()
    ]
    if any(r.speed.summary for t in results.tables if t.current for r in t.rows):
        out.append(
            Entry("latency_ms", SPEED_LABEL, definition("latency_ms"), direction_text("lower"), ())
        )
    return sorted(out, key=lambda e: metric_order(e.metric))
