"""The protocol classifier: a small CNN the harness trains on a protocol's training split.

Offline it is the feature extractor for FID/KID/IS/PRC (registered with torch-fidelity, so the
numbers come from torch-fidelity's code), the classifier for accuracy and CIS (MUNIT and FUNIT
score with dataset-specific classifiers too), and its conv trunk gives the DIPD-like content
distance. On synthetic twins a second head regresses the known content factors (shape pose),
which lets the content metric compare what an output shows with what its input showed.

Labels: domains (paired: A vs B; multi_domain), classes (few_shot: source train images plus half
of each unseen target class, as FUNIT's classifiers see all classes; the other half is held out so
the reported accuracy is honest), or attribute vectors (attributes, multi-label). Trained weights
are cached by content hash (data fingerprint + architecture + seed + steps) under cache_dir.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torch_fidelity
from torch import nn

from benchmark import device as devices
from benchmark.errors import UserError
from benchmark.features import Extractor, atomic_torch_save, images_to_uint8, register_once
from benchmark.plan import kind_of
from benchmark.progress import Progress, log
from benchmark.provenance import sha256_state_dict
from protocols.base import Item, Protocol, ProtocolData

FORMAT = "i2i-bench-classifier/1"
SHAPES = ("circle", "square", "triangle", "diamond")  # protocols/synth.py SHAPES
POSE_KEYS = ("cx", "cy", "r")  # angle is left out: the shapes are rotation-symmetric
DEFAULT_STEPS = 200
BATCH = 32
MAX_TRAIN = 20000
MAX_TEST = 5000


@dataclass(frozen=True)
class ClassifierConfig:
    num_classes: int
    multi_label: bool
    input_size: int  # images are resized to this before the trunk (<= 64 px)
    widths: tuple[int, ...]
    pose_head: bool  # regress synthetic content factors (cx, cy, r, shape)

    @classmethod
    def for_protocol(cls, protocol: Protocol, num_classes: int, pose_head: bool):
        size = 1 << max(4, min(6, int(math.log2(max(protocol.image_size, 16)))))
        stages = int(math.log2(size // 4))
        widths = tuple(min(16 * 2**i, 256) for i in range(stages))
        return cls(num_classes, kind_of(protocol.kind).multi_label, size, widths, pose_head)


def prepare_input(images_u8: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images at any size -> float [-1, 1] at the classifier's input size."""
    x = images_u8.float() / 127.5 - 1.0
    if x.shape[-2:] != (size, size):
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
    return x


class ClassifierNet(nn.Module):
    """Stride-2 conv stages down to 4x4; ``content`` is the penultimate stage's map (DIPD),
    ``final`` the last one, ``pool`` its global average (FID/KID/PRC), ``logits`` the head."""

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.cfg = cfg
        stages, c_in = [], 3
        for w in cfg.widths:
            stages.append(
                nn.Sequential(
                    nn.Conv2d(c_in, w, 3, stride=2, padding=1),
                    nn.BatchNorm2d(w),
                    nn.LeakyReLU(0.2),
                    nn.Conv2d(w, w, 3, padding=1),
                    nn.BatchNorm2d(w),
                    nn.LeakyReLU(0.2),
                )
            )
            c_in = w
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(c_in, cfg.num_classes)
        self.pose = nn.Linear(c_in * 16, len(POSE_KEYS) + len(SHAPES)) if cfg.pose_head else None

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        pool = x.mean(dim=(2, 3))
        out = {
            "content": maps[-2] if len(maps) > 1 else maps[-1],
            "final": x,
            "pool": pool,
            "logits": self.head(pool),
        }
        if self.pose is not None:
            out["pose"] = self.pose(x.flatten(1))
        return out


class ProtocolFeatureExtractor(torch_fidelity.FeatureExtractorBase):
    """The protocol classifier as a torch-fidelity extractor (uint8 in, like the built-ins)."""

    weights_by_name: dict[str, Path] = {}

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        path = feature_extractor_weights_path or self.weights_by_name.get(name)
        if path is None:
            raise UserError(f"no weights known for extractor {name}; train the classifier first")
        self.net, _ = load_checkpoint(Path(path))
        self.net.eval().requires_grad_(False)

    @staticmethod
    def get_provided_features_list():
        return "pool", "logits", "content", "final", "pose"

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "pool", "kid": "pool", "prc": "pool"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return (torch.rand([1, 3, 32, 32]) * 255).to(torch.uint8)

    def forward(self, x):
        feats = self.net.features(prepare_input(x, self.net.cfg.input_size))
        return tuple(feats[k] for k in self.features_list)


def load_checkpoint(path: Path) -> tuple[ClassifierNet, dict[str, Any]]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise UserError(f"cannot read classifier {path} ({exc}); delete it to retrain") from exc
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise UserError(f"{path} is not a protocol classifier file; delete it to retrain")
    cfg = ClassifierConfig(**{**obj["config"], "widths": tuple(obj["config"]["widths"])})
    net = ClassifierNet(cfg)
    net.load_state_dict(obj["state_dict"])
    return net, obj


@dataclass
class ProtocolClassifier:
    """A trained (or cached) classifier of one protocol, with its honest held-out report."""

    protocol: str
    path: Path
    net: ClassifierNet
    weights_sha256: str
    report: dict[str, Any]
    class_names: list[str] = field(default_factory=list)
    # "official" (the file the protocol pins), "local" (any other file) or "trained by this run"
    instrument: str = "local"

    @property
    def id(self) -> str:
        return f"protocol:{self.protocol}@{self.weights_sha256[:12]}"

    @property
    def multi_label(self) -> bool:
        return self.net.cfg.multi_label

    def extractor(self, device: torch.device) -> Extractor:
        """Registered with torch-fidelity under its id (once per process) and built for us."""
        ProtocolFeatureExtractor.weights_by_name[self.id] = self.path
        register_once(self.id, ProtocolFeatureExtractor)
        fake = ("pool", "logits", "content", "final") + (
            ("pose",) if self.net.cfg.pose_head else ()
        )
        module = ProtocolFeatureExtractor(self.id, list(fake)).to(device)
        roles = {"real": ("pool", "logits"), "fake": fake, "input": ("content",)}
        resize = f"bilinear-antialias-{self.net.cfg.input_size}"
        return Extractor(
            self.id,
            module,
            {"fid": "pool", "isc": "logits"},
            roles,
            self.weights_sha256,
            resize,
            device,
            batch_size=256,
            instrument={"classifier_file": self.path.name, "instrument": self.instrument},
        )


def _labels(items: list[Item], multi_label: bool) -> torch.Tensor:
    if multi_label:
        return torch.tensor([it.attrs for it in items], dtype=torch.float32)
    return torch.tensor([it.domain for it in items], dtype=torch.long)


def _pose_targets(items: list[Item]) -> torch.Tensor | None:
    rows = []
    for it in items:
        content = (it.factors or {}).get("content")
        if (
            not content
            or any(k not in content for k in POSE_KEYS)
            or content.get("shape") not in SHAPES
        ):
            return None
        rows.append([float(content[k]) for k in POSE_KEYS] + [SHAPES.index(content["shape"])])
    return torch.tensor(rows, dtype=torch.float32)


def split_items(data: ProtocolData, seed: int, max_train: int = MAX_TRAIN):
    """Training and held-out items: train split, plus half of each test-only class."""
    train, test = list(data.train.items), []
    train_classes = {it.domain for it in train}
    g = torch.Generator().manual_seed(seed)
    by_class: dict[int, list[Item]] = {}
    for it in data.test.items:
        by_class.setdefault(it.domain, []).append(it)
    for cls in sorted(by_class):
        items = by_class[cls]
        # multi-label (attribute vectors): no unseen class whose half could join training
        if cls in train_classes or kind_of(data.protocol.kind).multi_label:
            test += items
            continue
        order = torch.randperm(len(items), generator=g).tolist()
        half = len(items) // 2
        train += [items[i] for i in order[:half]]
        test += [items[i] for i in order[half:]]
    for lst, cap in ((train, max_train), (test, MAX_TEST)):
        if len(lst) > cap:
            keep = sorted(torch.randperm(len(lst), generator=g)[:cap].tolist())
            lst[:] = [lst[i] for i in keep]
    return train, test


def _load_inputs(data: ProtocolData, items: list[Item], size: int) -> torch.Tensor:
    """Images as the extractor will see them (uint8, resized), kept small in float16."""
    chunks = []
    for start in range(0, len(items), 512):
        imgs = data.images(items[start : start + 512])
        chunks.append(prepare_input(images_to_uint8(imgs), size).half())
    return torch.cat(chunks)


def cache_key(
    protocol: Protocol, data: ProtocolData, cfg: ClassifierConfig, seed: int, steps: int
) -> str:
    blob = json.dumps(
        {
            "format": FORMAT,
            "protocol": protocol.name,
            "kind": protocol.kind,
            "fingerprint": data.fingerprint,
            "classes": list(data.class_names),
            "config": dataclasses.asdict(cfg),
            "seed": seed,
            "steps": steps,
            "batch": BATCH,
            "max_train": MAX_TRAIN,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Plan:
    """What a training run is made of: its length, its two image sets and the network."""

    steps: int
    train_items: list[Item]
    test_items: list[Item]
    cfg: ClassifierConfig


def _plan(protocol: Protocol, data: ProtocolData, seed: int, steps: int | None) -> _Plan:
    steps = int(steps or protocol.param("classifier_steps", DEFAULT_STEPS))
    train_items, test_items = split_items(data, seed)
    if not train_items or not test_items:
        raise UserError(
            f"protocol {protocol.name}: the classifier needs train and test images "
            f"(found {len(train_items)} and {len(test_items)}); check the dataset"
        )
    return _Plan(steps, train_items, test_items, _config(protocol, data, train_items, test_items))


def train(
    protocol: Protocol,
    data: ProtocolData,
    device: torch.device,
    seed: int = 0,
    steps: int | None = None,
) -> dict[str, Any]:
    """Train the protocol's classifier; returns the file payload (weights, config, report)."""
    return _payload(protocol, data, device, seed, _plan(protocol, data, seed, steps))


def _payload(
    protocol: Protocol, data: ProtocolData, device: torch.device, seed: int, plan: _Plan
) -> dict[str, Any]:
    cfg = plan.cfg
    net, report = _train(
        cfg, data, plan.train_items, plan.test_items, device, seed, plan.steps, protocol.name
    )
    return {
        "format": FORMAT,
        "protocol": protocol.name,
        "data_hash": protocol.data_hash,
        "fingerprint": data.fingerprint,
        "synthetic": data.synthetic,
        "config": dataclasses.asdict(cfg),
        "state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
        "report": report,
        "class_names": list(data.class_names),
    }


def _config(
    protocol: Protocol, data: ProtocolData, train_items: list[Item], test_items: list[Item]
) -> ClassifierConfig:
    multi = kind_of(protocol.kind).multi_label
    num_classes = len(train_items[0].attrs or ()) if multi else len(data.class_names)
    pose = _pose_targets(train_items) is not None and _pose_targets(test_items) is not None
    return ClassifierConfig.for_protocol(protocol, num_classes, pose)


def from_file(path: Path, protocol: str | None = None) -> ProtocolClassifier:
    """A classifier file (trained by ``classifier train`` or a run); ``protocol`` checks that
    it was trained for that protocol."""
    net, obj = load_checkpoint(Path(path))
    if protocol is not None and obj.get("protocol") != protocol:
        raise UserError(
            f"{path} is the classifier of protocol '{obj.get('protocol')}', not '{protocol}'; "
            f"pass the {protocol} classifier"
        )
    net = net.eval().requires_grad_(False)
    return ProtocolClassifier(
        str(obj.get("protocol")),
        Path(path),
        net,
        sha256_state_dict(net.state_dict()),
        obj["report"],
        list(obj.get("class_names", [])),
    )


def train_or_load(
    protocol: Protocol,
    data: ProtocolData,
    device: torch.device,
    cache_dir: Path,
    seed: int = 0,
    steps: int | None = None,
) -> ProtocolClassifier:
    """``--train-classifiers``: train once per content key under ``cache_dir``, reuse after."""
    plan = _plan(protocol, data, seed, steps)
    key = cache_key(protocol, data, plan.cfg, seed, plan.steps)
    path = Path(cache_dir) / "classifiers" / f"{protocol.name}-{key}.pt"
    if path.is_file():
        log.info(f"protocol classifier {protocol.name}: trained earlier, {path}")
    else:
        atomic_torch_save(_payload(protocol, data, device, seed, plan), path)
    return from_file(path, protocol.name)


def load_cached(cache_dir: Path, spec: str, folders: tuple[Path, ...] = ()) -> ProtocolClassifier:
    """``NAME`` or ``NAME@sha12``: a classifier of that protocol in ``folders`` (the pinned
    instruments) or trained earlier under ``cache_dir`` (copies of one file count once)."""
    name, _, sha = spec.partition("@")
    found: dict[str, ProtocolClassifier] = {}
    folders = (*folders, Path(cache_dir) / "classifiers")  # in order: a pinned copy first
    for path in [p for f in folders for p in sorted(f.glob(f"{name}-*.pt"))]:
        clf = from_file(path)
        if clf.weights_sha256.startswith(sha):
            found.setdefault(clf.weights_sha256, clf)
    if not found:
        raise UserError(
            f"no classifier for protocol '{spec}' among the pinned instruments or under "
            f"{Path(cache_dir) / 'classifiers'}; pass --extractor protocol:FILE.pt (one from "
            "`python -m benchmark classifier train`)"
        )
    if len(found) > 1:
        ids = ", ".join(c.id for c in found.values())
        raise UserError(
            f"several classifiers for protocol '{name}' ({ids}); pick one with "
            "--extractor protocol:NAME@SHA12 or protocol:FILE.pt"
        )
    return next(iter(found.values()))


def _class_groups(y: torch.Tensor) -> list[torch.Tensor]:
    """Row indices per class (single-label), so batches can sample classes evenly: few-shot
    target classes have far fewer training images than source classes."""
    if y.dtype != torch.long:
        return [torch.arange(len(y))]
    return [torch.nonzero(y == c).flatten() for c in torch.unique(y)]


def _balanced_batch(groups: list[torch.Tensor], g: torch.Generator) -> torch.Tensor:
    cls = torch.randint(len(groups), (BATCH,), generator=g)
    pick = torch.rand(BATCH, generator=g)
    return torch.stack([groups[c][int(p * len(groups[c]))] for c, p in zip(cls.tolist(), pick)])


def _loss(net: ClassifierNet, out: dict, y: torch.Tensor, pose: torch.Tensor | None):
    if net.cfg.multi_label:
        loss = F.binary_cross_entropy_with_logits(out["logits"], y)
    else:
        loss = F.cross_entropy(out["logits"], y)
    if pose is not None and "pose" in out:
        k = len(POSE_KEYS)
        loss = loss + 10.0 * F.mse_loss(out["pose"][:, :k], pose[:, :k])
        loss = loss + F.cross_entropy(out["pose"][:, k:], pose[:, k].long())
    return loss


def _train(
    cfg: ClassifierConfig,
    data: ProtocolData,
    train_items: list[Item],
    test_items: list[Item],
    device: torch.device,
    seed: int,
    steps: int,
    name: str,
) -> tuple[ClassifierNet, dict[str, Any]]:
    t0 = time.monotonic()
    torch.manual_seed(seed)
    net = ClassifierNet(cfg).to(device)
    x_train = _load_inputs(data, train_items, cfg.input_size)
    y_train = _labels(train_items, cfg.multi_label)
    p_train = _pose_targets(train_items) if cfg.pose_head else None
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    groups = _class_groups(y_train)
    prog = Progress(steps, f"training protocol classifier {name}", every=5.0)
    net.train()
    for _ in range(steps):
        idx = _balanced_batch(groups, g)
        out = net.features(x_train[idx].float().to(device))
        pose = p_train[idx].to(device) if p_train is not None else None
        loss = _loss(net, out, y_train[idx].to(device), pose)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        prog.update(detail=f"loss {loss.item():.3f}")
    net.eval()
    report = evaluate_heldout(net, data, test_items, device)
    report.update(
        {
            "train_images": len(train_items),
            "steps": steps,
            "seed": seed,
            "batch": BATCH,
            "device": devices.describe(device),
            "train_seconds": round(time.monotonic() - t0, 2),
            "torch": torch.__version__,
        }
    )
    log.info(
        f"protocol classifier {name}: held-out accuracy {report['accuracy']:.3f} "
        f"({report['test_images']} images, {report['train_seconds']}s)"
    )
    return net, report


@torch.no_grad()
def evaluate_heldout(
    net: ClassifierNet, data: ProtocolData, items: list[Item], device: torch.device
) -> dict[str, Any]:
    x = _load_inputs(data, items, net.cfg.input_size)
    y = _labels(items, net.cfg.multi_label)
    outs = [net.features(x[i : i + 256].float().to(device)) for i in range(0, len(x), 256)]
    logits = torch.cat([o["logits"].cpu() for o in outs])
    report: dict[str, Any] = {"test_images": len(items)}
    if net.cfg.multi_label:
        per_attr = ((logits > 0).float() == y).float().mean(0)
        report["accuracy"] = float(per_attr.mean())
        report["per_attribute"] = [float(v) for v in per_attr]
    else:
        report["accuracy"] = float((logits.argmax(1) == y).float().mean())
        if logits.shape[1] > 5:
            top5 = logits.topk(5, dim=1).indices
            report["accuracy_top5"] = float((top5 == y[:, None]).any(1).float().mean())
        report["per_class"] = {
            data.class_names[c]: float((logits[y == c].argmax(1) == c).float().mean())
            for c in sorted(set(y.tolist()))
        }
    pose = _pose_targets(items) if net.cfg.pose_head else None
    if pose is not None:
        pred = torch.cat([o["pose"].cpu() for o in outs])
        report["pose_mae"] = float((pred[:, :3] - pose[:, :3]).abs().mean())
        report["shape_accuracy"] = float(
            (pred[:, 3:].argmax(1) == pose[:, 3].long()).float().mean()
        )
    return report
