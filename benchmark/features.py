"""Feature extractors by id, their standard weights, and a content-addressed feature cache.

Every extractor is a torch-fidelity ``FeatureExtractorBase`` taking uint8 (B, 3, H, W) images at
their native size (it resizes itself), so our numbers and ``torch_fidelity.calculate_metrics``
see the same pixels. One forward of an extractor over an image set returns every layer the
metrics need (one pass, many metrics); real (reference) sets are cached on disk under a key of
image bytes + extractor id + weights sha256 + resize policy, so scoring a second baseline
against the same reference set runs no reference forward at all.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch_fidelity
import torchvision
from PIL import Image
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from benchmark import device as devices
from benchmark import distributed
from benchmark.atomic import atomic_path
from benchmark.errors import UserError
from benchmark.progress import Progress
from benchmark.provenance import sha256_file
from benchmark.registry import Registry
from protocols.base import to_uint8

INCEPTION_COMPAT = "inception-v3-compat"
INCEPTION_TORCHVISION = "inception-v3-torchvision"
# torch-fidelity v0.4.0 feature_extractor_inceptionv3.py URL_INCEPTION_V3 (release v0.2.0)
INCEPTION_COMPAT_FILE = "weights-inception-2015-12-05-6726825d.pth"
# torchvision models/inception.py Inception_V3_Weights.IMAGENET1K_V1 (StarGAN v2 metrics/fid.py
# builds inception_v3(pretrained=True), i.e. this file)
INCEPTION_TORCHVISION_FILE = "inception_v3_google-0cc3c7bd.pth"
# torchvision models/alexnet.py AlexNet_Weights.IMAGENET1K_V1: the trunk lpips's AlexNet loads
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
CACHE_FORMAT = 1


class WeightsMissing(UserError):
    """A standard weights file is not on this machine; metrics needing it are skipped."""


def hub_checkpoints() -> Path:
    """Where torch.hub keeps downloaded weights ($TORCH_HOME/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(filename: str, weights_dir: Path | None, what: str) -> Path:
    """The weights file from ``--weights-dir`` or the torch hub cache; never downloads."""
    candidates = ([Path(weights_dir) / filename] if weights_dir else []) + [
        hub_checkpoints() / filename
    ]
    for path in candidates:
        if path.is_file():
            return path
    where = f"{hub_checkpoints()}/" + (f" or {weights_dir}/" if weights_dir else "")
    raise WeightsMissing(
        f"{what} weights missing: put {filename} in {where} (or pass --weights-dir DIR holding it)"
    )


@functools.lru_cache(maxsize=16)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(path)


def weights_sha256(path: Path) -> str:
    st = Path(path).stat()
    return _file_sha256(str(path), st.st_mtime_ns, st.st_size)


def images_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] to the uint8 a saved PNG holds (what every extractor reads)."""
    if images.dtype == torch.uint8:
        return images
    return to_uint8(images.detach().cpu())


def content_hash(images_u8: torch.Tensor) -> str:
    h = hashlib.sha256(f"{tuple(images_u8.shape)}".encode())
    h.update(images_u8.contiguous().numpy().tobytes())
    return h.hexdigest()


# --- torchvision Inception (StarGAN v2's FID network) -------------------------------------
def pil_resize(images_u8: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 3, H, W) resized image by image with PIL's bilinear filter and rounded back
    to 8 bits, as torchvision's ``Resize`` does to PIL images: StarGAN v2's
    ``get_eval_loader`` (core/data_loader.py L145-150) resizes so before ``ToTensor``. A float
    resize differs by up to 1/255 per pixel and moved FID by about 1%."""
    out = []
    for img in images_u8.cpu():
        pil = Image.fromarray(img.permute(1, 2, 0).numpy())
        out.append(torch.from_numpy(np.array(pil.resize((size, size), Image.BILINEAR))))
    # contiguous NCHW as ToTensor gives: a channels-last view would send the convolutions down
    # another kernel path (measured 1.8e-5 relative on the pool features)
    return torch.stack(out).permute(0, 3, 1, 2).contiguous().to(images_u8.device)


class TorchvisionInceptionExtractor(torch_fidelity.FeatureExtractorBase):
    """torchvision's ImageNet Inception-v3, fed as StarGAN v2 ``metrics/fid.py`` feeds it:
    8-bit pixels resized to 299 by PIL (bilinear, rounded), ``ToTensor``, ImageNet mean/std,
    pool after Mixed_7c (2048-d); ``logits`` is its 1000-way fc. ``transform_input`` never runs
    (StarGAN v2 calls the blocks directly)."""

    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        path = feature_extractor_weights_path or find_weights(
            INCEPTION_TORCHVISION_FILE, None, "torchvision Inception-v3"
        )
        net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        net.AuxLogits = None
        self.net = net.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1))

    @staticmethod
    def get_provided_features_list():
        return "2048", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "2048", "kid": "2048", "prc": "2048"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return (torch.rand([1, 3, 4, 4]) * 255).to(torch.uint8)

    def forward(self, x):
        n = self.net
        if x.shape[-2:] != (299, 299):
            x = pil_resize(x, 299)
        x = x.float().div(255)
        x = (x - self.mean) / self.std
        for layer in (
            n.Conv2d_1a_3x3,
            n.Conv2d_2a_3x3,
            n.Conv2d_2b_3x3,
            n.maxpool1,
            n.Conv2d_3b_1x1,
            n.Conv2d_4a_3x3,
            n.maxpool2,
            n.Mixed_5b,
            n.Mixed_5c,
            n.Mixed_5d,
            n.Mixed_6a,
            n.Mixed_6b,
            n.Mixed_6c,
            n.Mixed_6d,
            n.Mixed_6e,
            n.Mixed_7a,
            n.Mixed_7b,
            n.Mixed_7c,
            n.avgpool,
        ):
            x = layer(x)
        pool = torch.flatten(x, 1)
        out = {"2048": pool}
        if "logits" in self.features_list:
            out["logits"] = n.fc(pool)
        return tuple(out[k] for k in self.features_list)


_REGISTERED: set[str] = set()


def register_once(name: str, cls: type) -> None:
    """torch-fidelity raises on a second registration of a name; we register once per process."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    if name in _REGISTERED or FEATURE_EXTRACTORS_REGISTRY.get(name) is cls:
        _REGISTERED.add(name)
        return
    torch_fidelity.register_feature_extractor(name, cls)
    _REGISTERED.add(name)


# --- the extractor handle the metrics use -------------------------------------------------
@dataclass
class Extractor:
    """A built torch-fidelity extractor plus what a number made with it must record."""

    id: str
    module: torch_fidelity.FeatureExtractorBase  # built with every layer below
    layers: dict[str, str]  # metric -> layer name: "fid" (also kid/prc) and "isc" (logits)
    roles: dict[str, tuple[str, ...]]  # image-set role (real/fake/input) -> layers it needs
    weights_sha256: str
    resize: str  # how images reach the network's input size (part of the cache key)
    device: torch.device
    batch_size: int = 64
    forward_images: int = 0  # images pushed through the network (tests count them)
    forward_calls: int = 0  # image sets pushed through (one per set, however many metrics)
    instrument: dict[str, str] = field(default_factory=dict)  # a classifier's file and status

    def provenance(self) -> dict:
        return {
            "extractor": self.id,
            "weights_sha256": self.weights_sha256,
            "resize": self.resize,
            **self.instrument,
        }

    @torch.no_grad()
    def forward(
        self,
        images_u8: torch.Tensor,
        layers: Sequence[str],
        what: str = "",
        pool: distributed.Pool | None = None,
    ) -> dict:
        """Every requested layer of every image in one pass, on the CPU. With a ``pool``
        (rank 0 under torchrun) batch b runs on rank b % world size: the same batches as one
        process, so the same features."""
        self.forward_calls += 1
        layers = tuple(layers)
        out: dict[str, list[torch.Tensor]] = {k: [] for k in layers}
        prog = Progress(len(images_u8), f"features {self.id} {what}".rstrip(), every=10.0)
        n, size = len(images_u8), self.batch_size
        # a round of batches per exchange: a few batches per rank in memory, progress between
        step = size * (pool.size * ROUND if pool is not None else 1)
        for first in range(0, n, step):
            batches = [images_u8[s : s + size] for s in range(first, min(n, first + step), size)]
            if pool is not None:
                feats = pool.map(self.job, batches, layers=layers)
            else:
                feats = [self.forward_batch(b, layers) for b in batches]
            for f in feats:
                for k in layers:
                    out[k].append(f[k])
            prog.update(sum(len(b) for b in batches))
        devices.synchronize(self.device)
        return {k: torch.cat(v) for k, v in out.items()}

    @property
    def job(self) -> str:
        """Its name in the work ranks share (``jobs``)."""
        return f"features {self.id}"

    @torch.no_grad()
    def forward_batch(self, batch_u8: torch.Tensor, layers: Sequence[str]) -> dict:
        """The requested layers of one batch, on the CPU."""
        feats = dict(zip(self.module.features_list, self.module(batch_u8.to(self.device))))
        self.forward_images += len(batch_u8)
        return {k: feats[k].float().cpu() for k in layers}


ROUND = 4  # batches per rank in one exchange of a sharded feature pass


def jobs(extractors: Sequence[Extractor]) -> distributed.Jobs:
    """The feature passes ranks share under torchrun (benchmark.distributed.lead)."""
    return {ex.job: ex.forward_batch for ex in extractors}


@dataclass(frozen=True)
class Standard:
    """A standard extractor: its weights file, the module built from it, the layers FID/KID
    and IS read, and how images reach its input (part of the feature cache key)."""

    filename: str
    what: str  # in words, for the missing-weights message
    build: Callable[[str, Path], torch_fidelity.FeatureExtractorBase]
    layers: dict[str, str]
    resize: str


def _inception_compat(name: str, path: Path) -> torch_fidelity.FeatureExtractorBase:
    return FeatureExtractorInceptionV3(
        name, ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path)
    )


def _inception_torchvision(name: str, path: Path) -> torch_fidelity.FeatureExtractorBase:
    register_once(name, TorchvisionInceptionExtractor)
    return TorchvisionInceptionExtractor(
        name, ["2048", "logits"], feature_extractor_weights_path=str(path)
    )


def _standard_builtins() -> None:
    EXTRACTORS.add(
        INCEPTION_COMPAT,
        Standard(
            INCEPTION_COMPAT_FILE,
            "Inception (FID, torch-fidelity)",
            _inception_compat,
            {"fid": "2048", "isc": "logits_unbiased"},
            "tf1-bilinear-299",  # torch-fidelity's TF1-compatible resize, (x-128)/128
        ),
    )
    EXTRACTORS.add(
        INCEPTION_TORCHVISION,
        Standard(
            INCEPTION_TORCHVISION_FILE,
            "torchvision Inception-v3",
            _inception_torchvision,
            {"fid": "2048", "isc": "logits"},
            "pil-bilinear-8bit-299,imagenet-norm",
        ),
    )


# standard extractors by id (entry-point group ``i2i_bench.extractors``: a ``Standard``);
# protocol classifiers are built apart (benchmark.instruments)
EXTRACTORS: Registry[Standard] = Registry(
    "feature extractor", "i2i_bench.extractors", _standard_builtins
)


def _checked_standard(obj: object) -> Standard:
    if not isinstance(obj, Standard):
        raise UserError(f"{obj!r} is not a benchmark.features.Standard extractor description")
    return obj


def build_standard(extractor_id: str, weights_dir: Path | None, device: torch.device) -> Extractor:
    """``inception-v3-compat`` (torch-fidelity's TF-ported FID Inception),
    ``inception-v3-torchvision`` (StarGAN v2's) or a registered one; raises WeightsMissing
    without the file."""
    spec = EXTRACTORS.get(extractor_id, _checked_standard)
    path = find_weights(spec.filename, weights_dir, spec.what)
    module = spec.build(extractor_id, path).eval().requires_grad_(False).to(device)
    both = (spec.layers["fid"], spec.layers["isc"])
    roles = {"real": both, "fake": both, "input": both}
    return Extractor(
        extractor_id, module, dict(spec.layers), roles, weights_sha256(path), spec.resize, device
    )


# --- the feature pass: memo per call, disk cache for reference sets -------------------------
@dataclass
class FeatureStore:
    """Features of image sets, computed at most once per (extractor, set, layers).

    ``persist=True`` (reference sets) also keeps them on disk under ``cache_dir/features``;
    the key covers the image bytes, so a changed set can never reuse stale features.
    """

    cache_dir: Path | None
    memo: dict[tuple[str, str, tuple[str, ...]], dict[str, torch.Tensor]] = field(
        default_factory=dict
    )
    disk_hits: int = 0
    pool: distributed.Pool | None = None  # rank 0 under torchrun: feature passes shared
    _digests: dict[tuple, tuple[torch.Tensor, str]] = field(default_factory=dict)

    def clear(self) -> None:
        """Forget in-memory sets (call per evaluate: fakes change with every baseline)."""
        self.memo.clear()
        self._digests.clear()

    def _digest(self, images: torch.Tensor) -> tuple[torch.Tensor, str]:
        """uint8 copy and content hash, computed once per tensor storage and version (the
        metrics ask for the same set many times; hashing it each time would dominate)."""
        key = (
            images.data_ptr(),
            tuple(images.shape),
            images.stride(),
            images.dtype,
            images._version,
        )
        if key not in self._digests:
            u8 = images_to_uint8(images)
            self._digests[key] = (u8, content_hash(u8))
        return self._digests[key]

    def get(
        self,
        ex: Extractor,
        images: torch.Tensor,
        role: str,
        what: str = "",
    ) -> dict[str, torch.Tensor]:
        """Features of ``images`` for their role: ``real`` sets persist on disk, ``fake`` and
        ``input`` sets live for one evaluate call (they change with every baseline)."""
        images_u8, digest = self._digest(images)
        layers = ex.roles[role]
        persist = role == "real"
        key = (ex.id, digest, layers)
        if key in self.memo:
            return self.memo[key]
        path = self._path(ex, digest, layers) if persist and self.cache_dir else None
        feats = self._load(path) if path else None
        if feats is None:
            feats = ex.forward(images_u8, layers, what or role, self.pool)
            if path:
                atomic_torch_save({"format": CACHE_FORMAT, "features": feats}, path)
        else:
            self.disk_hits += 1
        self.memo[key] = feats
        return feats

    def _path(self, ex: Extractor, digest: str, layers: tuple[str, ...]) -> Path:
        key = "\n".join([ex.id, ex.weights_sha256, ex.resize, ",".join(layers), digest])
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        return Path(self.cache_dir) / "features" / f"{name}.pt"

    @staticmethod
    def _load(path: Path) -> dict[str, torch.Tensor] | None:
        if not path.is_file():
            return None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # a corrupt cache entry is recomputed, never trusted
            return None
        if not isinstance(obj, dict) or obj.get("format") != CACHE_FORMAT:
            return None
        return obj["features"]


def atomic_torch_save(obj: object, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
