"""Protocol classifiers as frozen measurement instruments: pinned files with cards.

Training is not bit-reproducible across CPUs and GPUs (vector kernels change the rounding), so a
classifier retrained per machine would make every accuracy, CIS and classifier-space FID/KID
incomparable. Like Inception for FID, each protocol's classifier is trained once, shipped as a
file with a card, and pinned by sha256 in ``protocols/instruments/pins.json`` (keyed by the
protocol's ``data_hash``: the synthetic twins' files are committed beside it). A run finds its
classifier in this order: ``--classifier PROTOCOL=FILE``; the pinned file name in
``--weights-dir`` or the torch hub cache; the committed file. It trains one only when told to
(``--train-classifiers``), and its records say so.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmark.classifier import ProtocolClassifier, from_file, train_or_load
from benchmark.errors import UserError
from benchmark.features import hub_checkpoints
from benchmark.progress import log
from benchmark.provenance import REPO_ROOT, sha256_file, sha256_state_dict
from protocols.base import Protocol, ProtocolData

INSTRUMENTS_DIR = REPO_ROOT / "protocols" / "instruments"
PINS_FILE = INSTRUMENTS_DIR / "pins.json"
CARD_FORMAT = "i2i-bench-classifier-card/1"
OFFICIAL, LOCAL, TRAINED = "official", "local", "trained by this run"


@dataclass(frozen=True)
class Pin:
    """The official classifier of one protocol's data part (all presets that share it)."""

    protocol: str
    data_hash: str
    file: str
    sha256: str
    data: str  # what it was trained on, in words
    presets: tuple[str, ...]


def load_pins(path: Path | None = None) -> list[Pin]:
    path = path or PINS_FILE
    try:
        rows = json.loads(path.read_text())["pins"]
        return [Pin(**{**r, "presets": tuple(r["presets"])}) for r in rows]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"cannot read the instrument pins {path} ({exc}); restore it") from exc


def pin_for(protocol: Protocol, pins: list[Pin] | None = None) -> Pin | None:
    for pin in load_pins() if pins is None else pins:
        if pin.protocol == protocol.name and pin.data_hash == protocol.data_hash:
            return pin
    return None


def mark(clf: ProtocolClassifier) -> ProtocolClassifier:
    """Official when its weights are those a pin of its protocol names, else local."""
    pinned = {p.sha256 for p in load_pins() if p.protocol == clf.protocol}
    clf.instrument = OFFICIAL if clf.weights_sha256 in pinned else LOCAL
    return clf


def card_path(weights: Path) -> Path:
    return weights.with_suffix(".card.json")


def _train_command(protocol: Protocol) -> str:
    data = "" if protocol.synthetic else " --data DIR"
    return (
        f"python -m benchmark classifier train {protocol.name} --preset {protocol.preset}{data} "
        f"--out {protocol.name}-classifier.pt"
    )


@dataclass(frozen=True)
class Located:
    """Where a run's classifier comes from, found before any work starts."""

    protocol: str
    path: Path | None  # None: train (``--train-classifiers``)
    pin: Pin | None
    how: str  # in words, for the log

    def check(self) -> None:
        """A file found under the pinned name must hold the pinned weights."""
        if self.path is None or self.pin is None or self.how != "pinned":
            return
        sha = from_file(self.path, self.protocol).weights_sha256
        if sha != self.pin.sha256:
            raise UserError(
                f"{self.path} has weights sha256 {sha[:12]}, but protocol {self.protocol} pins "
                f"{self.pin.sha256[:12]}: the file is not the official instrument; replace it "
                "with the pinned file or pass --classifier to use it anyway"
            )

    def load(
        self, protocol: Protocol, data: ProtocolData, device: torch.device, cache_dir: Path
    ) -> ProtocolClassifier:
        if self.path is None:
            clf = train_or_load(protocol, data, device, cache_dir)
            clf.instrument = TRAINED
            return clf
        clf = from_file(self.path, protocol.name)
        if self.pin is not None and clf.weights_sha256 == self.pin.sha256:
            clf.instrument = OFFICIAL
        _check_classes(clf, data, self.path)
        trained_on = from_file_fingerprint(self.path)
        if trained_on and trained_on != data.fingerprint:
            log.warning(
                f"protocol classifier {self.path.name} was trained on a {protocol.name} copy "
                f"with fingerprint {trained_on}, this one is {data.fingerprint}: fine for "
                "another copy of the same dataset; if the data differ, train its own instrument"
            )
        return clf


def from_file_fingerprint(path: Path) -> str | None:
    """The dataset fingerprint on a classifier's card (None without a card)."""
    card = card_path(path)
    if not card.is_file():
        return None
    return read_card(path).get("dataset_fingerprint")


def _check_classes(clf: ProtocolClassifier, data: ProtocolData, path: Path) -> None:
    if clf.class_names and list(data.class_names) != clf.class_names:
        raise UserError(
            f"{path} was trained on classes {clf.class_names[:5]}..., this dataset has "
            f"{list(data.class_names)[:5]}...; pass the classifier trained on this dataset"
        )


def locate(
    protocol: Protocol,
    given: Path | None,
    weights_dir: Path | None,
    train: bool,
) -> Located:
    """Find the classifier file for ``protocol`` (see the module docstring for the order)."""
    pin = pin_for(protocol)
    if given is not None:
        if not Path(given).is_file():
            raise UserError(f"--classifier {protocol.name}={given}: no such file")
        from_file(Path(given), protocol.name)  # another protocol's file: refused before any work
        return Located(protocol.name, Path(given), pin, "--classifier")
    if pin is not None:
        folders = ([Path(weights_dir)] if weights_dir else []) + [
            hub_checkpoints(),
            INSTRUMENTS_DIR,
        ]
        for folder in folders:
            if (folder / pin.file).is_file():
                found = Located(protocol.name, folder / pin.file, pin, "pinned")
                found.check()  # a wrong file is refused before any work, not mid-grid
                return found
    if train:
        return Located(protocol.name, None, pin, "--train-classifiers")
    where = f"{hub_checkpoints()}/" + (f" or {weights_dir}/" if weights_dir else "")
    if pin is not None:
        raise UserError(
            f"protocol {protocol.name}: its classifier {pin.file} is missing; put it in {where} "
            "(or pass --classifier FILE, or --train-classifiers for a local instrument)"
        )
    raise UserError(
        f"protocol {protocol.name} ({protocol.preset} preset, "
        f"{'synthetic twin' if protocol.synthetic else 'real data'}) has no official "
        f"classifier yet: train one with `{_train_command(protocol)}` and pass --classifier "
        f"{protocol.name}=FILE, or pass --train-classifiers"
    )


def make_card(obj: dict[str, Any], protocol: Protocol, weights: Path, command: str) -> dict:
    """The card written beside a classifier file: what it is, what it learnt from, how well
    it does on held-out images, and how to rebuild it."""
    report = obj["report"]
    heldout = {
        k: report[k]
        for k in (
            "accuracy",
            "accuracy_top5",
            "per_class",
            "per_attribute",
            "pose_mae",
            "shape_accuracy",
            "test_images",
        )
        if k in report
    }
    return {
        "format": CARD_FORMAT,
        "protocol": protocol.name,
        "protocol_data_hash": protocol.data_hash,
        "protocol_data": {
            "dataset": protocol.dataset,
            "image_size": protocol.image_size,
            "synthetic": protocol.synthetic,
            "preset": protocol.preset,
        },
        "dataset_fingerprint": obj["fingerprint"],
        "class_names": obj["class_names"],
        "architecture": {"name": "ClassifierNet (benchmark/classifier.py)", **obj["config"]},
        "training": {
            k: report.get(k) for k in ("seed", "steps", "batch", "train_images", "device")
        },
        "heldout": heldout,
        "torch": torch.__version__,
        "sha256": sha256_state_dict(obj["state_dict"]),
        "file": weights.name,
        "file_sha256": sha256_file(weights),
        "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def read_card(weights: Path) -> dict[str, Any]:
    path = card_path(Path(weights))
    try:
        card = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(
            f"no card beside {weights} ({path}: {exc.strerror}); a classifier file comes with "
            "its card: rebuild both with `python -m benchmark classifier train`"
        ) from exc
    except ValueError as exc:
        raise UserError(f"corrupt card {path} ({exc}); rebuild it with `classifier train`") from exc
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise UserError(f"{path} is not a classifier card; rebuild it with `classifier train`")
    return card
