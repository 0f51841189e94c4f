"""``python -m benchmark metrics``: score two image folders with the same code the grid uses.

``--real DIR --fake DIR --metrics fid,kid,is,prc,lpips_diversity,feature_diversity``. ``--fake``
is flat (one output image per input) or holds one subfolder per input with that input's K
outputs; the layout is read from the folder. FID, KID, IS and PRC take either, and count every
output image of every subfolder as one generated image; the diversity metrics need the
subfolders. The paired metrics (``l1,psnr,ssim,lpips_paired``) take ``--target DIR``: one
ground-truth image per input, named like the output file (or the input's subfolder). The folders
become ``TaskSamples`` and go through the registered metric families, so a folder score and a
grid score of the same images are the same number. Under ``torchrun --nproc_per_node N -m
benchmark metrics ...`` the feature passes are shared among the N processes and rank 0 alone
prints: the same numbers as one process.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image, UnidentifiedImageError
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

from benchmark import device as devices
from benchmark import distributed, features
from benchmark.classifier import from_file, load_cached
from benchmark.errors import UserError, output_folder
from benchmark.features import (
    EXTRACTORS,
    INCEPTION_COMPAT,
    INCEPTION_COMPAT_FILE,
    INCEPTION_TORCHVISION,
    INCEPTION_TORCHVISION_FILE,
    Extractor,
    FeatureStore,
    WeightsMissing,
    build_standard,
)
from benchmark.instruments import INSTRUMENTS_DIR, load_pins, mark
from benchmark.metrics import MetricContext, Value, evaluate, families
from benchmark.metrics.lpips_div import LPIPS_VERSIONS
from benchmark.samples import TaskSamples
from protocols.base import Protocol, to_8bit

EXTS = (".png", ".jpg", ".jpeg")  # torch-fidelity's samples_find_ext default
CLI_METRICS = {
    "fid": "fid",
    "kid": "kid",
    "is": "is",
    "prc": "prc",
    "cis": "cis",
    "lpips_diversity": "lpips_diversity",
    "feature_diversity": "lpips_diversity",
    "l1": "paired",
    "psnr": "paired",
    "ssim": "paired",
    "lpips_paired": "paired",
}
# metrics computed on pixels or with LPIPS: no Inception or protocol classifier is built for them
NO_EXTRACTOR = {"l1", "psnr", "ssim", "lpips_paired", "lpips_diversity"}
# metric families that need K outputs per input: --fake must hold one subfolder per input
GROUPED_ONLY = {"lpips_diversity", "cis"}
ALIASES = {"inception": INCEPTION_COMPAT, "inception-torchvision": INCEPTION_TORCHVISION}
# where the standard Inception files are published (the missing-weights line names them)
DOWNLOADS = {
    INCEPTION_COMPAT_FILE: URL_INCEPTION_V3,
    INCEPTION_TORCHVISION_FILE: torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.url,
}
EXIT_CODES = """\
exit status:
  0    every metric asked for was computed
  1    a metric failed or was skipped (too few images, NaN outputs, IS with a
       multi-label classifier, ...): it prints its reason, the other metrics
       are still computed and printed (an unexpected crash also exits 1, with
       a traceback)
  2    a user error, one line on stderr and no scores: a bad flag or folder, an
       unreadable image, missing weights (the line names the way out)
  130  interrupted (Ctrl-C)
"""


def read_image(path: Path) -> tuple[np.ndarray, str]:
    """RGB uint8 HWC, as torch-fidelity reads files (PIL -> RGB). Grayscale is replicated;
    transparency is refused, since flattening it would silently invent pixels."""
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
                alpha = np.asarray(img.convert("RGBA"))[..., 3]
                if (alpha < 255).any():
                    raise UserError(
                        f"{path} has transparent pixels ({mode}); flatten it onto a "
                        "background and save it as RGB"
                    )
            return np.asarray(to_8bit(img).convert("RGB")), mode  # 16-bit: by its range
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise UserError(f"cannot read image {path} ({exc}); replace or delete it") from exc


def image_files(folder: Path) -> list[Path]:
    """The .png/.jpg files of a folder, sorted, non-recursive; a missing or empty folder is a
    user error."""
    if not folder.is_dir():
        raise UserError(f"missing folder {folder}: expected a folder of .png/.jpg images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTS)
    if not files:
        raise UserError(f"{folder} holds no .png/.jpg images; point to the folder of images")
    return files


def read_folder(folder: Path) -> tuple[torch.Tensor, dict[str, int]]:
    """Every image of a folder (sorted, non-recursive) as uint8 (N, 3, H, W), and the count of
    each source colour mode (so a grayscale folder is visible in the provenance)."""
    files = image_files(folder)
    arrays, modes, sizes = [], {}, {}
    for f in files:
        arr, mode = read_image(f)
        arrays.append(arr)
        modes[mode] = modes.get(mode, 0) + 1
        sizes.setdefault(arr.shape[:2], f)
    if len(sizes) > 1:
        (s1, f1), (s2, f2) = list(sizes.items())[:2]
        raise UserError(
            f"{folder} mixes image sizes ({f1.name} is {s1[1]}x{s1[0]}, {f2.name} is "
            f"{s2[1]}x{s2[0]}); resize them to one size first"
        )
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous(), modes


def read_groups(folder: Path) -> tuple[torch.Tensor, dict[str, int]]:
    """One subfolder per input, each with that input's K outputs: uint8 (N, K, 3, H, W)."""
    if not folder.is_dir():
        raise UserError(f"missing folder {folder}: expected one subfolder of outputs per input")
    subs = sorted(p for p in folder.iterdir() if p.is_dir())
    if not subs:
        raise UserError(
            f"{folder} has no subfolders; for diversity --fake must hold one "
            "subfolder per input with its K outputs"
        )
    groups, modes = [], {}
    for sub in subs:
        imgs, m = read_folder(sub)
        groups.append(imgs)
        for k, v in m.items():
            modes[k] = modes.get(k, 0) + v
    counts = {len(g) for g in groups}
    shapes = {tuple(g.shape[1:]) for g in groups}
    if len(counts) > 1 or len(shapes) > 1:
        raise UserError(
            f"{folder}: subfolders differ in output count {sorted(counts)} or image "
            "size; every input needs the same K outputs of one size"
        )
    return torch.stack(groups), modes


def _has_images(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in EXTS for p in folder.iterdir())


def is_grouped(folder: Path) -> bool:
    """The layout of a folder of outputs: True when it holds one subfolder per input (each with
    that input's K outputs), False when it holds the images themselves. Images beside
    subfolders of images are refused: which ones are the outputs is not for the code to guess.
    """
    if not folder.is_dir():
        raise UserError(
            f"missing folder {folder}: expected a folder of images, or one subfolder of "
            "outputs per input"
        )
    entries = sorted(folder.iterdir())
    images = [p for p in entries if p.is_file() and p.suffix.lower() in EXTS]
    subs = [p for p in entries if p.is_dir()]
    if images:
        mixed = next((d for d in subs if _has_images(d)), None)
        if mixed is not None:
            raise UserError(
                f"{folder} holds both images ({images[0].name}) and subfolders of images "
                f"({mixed.name}/); keep one layout: the output images themselves, or one "
                "subfolder per input with its K outputs"
            )
        return False
    return bool(subs)


def input_names(fake_dir: Path, grouped: bool) -> list[str]:
    """The name of each input, in the order its outputs were read: the output file's stem, or
    the subfolder's name when each input has a subfolder of K outputs."""
    if grouped:
        return sorted(p.name for p in fake_dir.iterdir() if p.is_dir())
    return [p.stem for p in image_files(fake_dir)]


def read_targets(target_dir: Path, names: list[str], size: tuple[int, int]) -> torch.Tensor:
    """The ground truth of each input, matched by name, as uint8 (N, 3, H, W)."""
    by_stem = {p.stem: p for p in image_files(target_dir)}
    missing = [n for n in names if n not in by_stem]
    if missing:
        raise UserError(
            f"{target_dir} has no ground truth for {len(missing)} of {len(names)} inputs "
            f"(first: {missing[0]}); name each target like its output file or subfolder"
        )
    arrays = []
    for n in names:
        arr, _ = read_image(by_stem[n])
        if arr.shape[:2] != size:
            raise UserError(
                f"{by_stem[n]} is {arr.shape[1]}x{arr.shape[0]} but the outputs are "
                f"{size[1]}x{size[0]}; resize the targets to the outputs' size"
            )
        arrays.append(arr)
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def to_float(u8: torch.Tensor) -> torch.Tensor:
    return u8.float() / 127.5 - 1.0


def run(args: argparse.Namespace) -> int:
    wanted = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in wanted if m not in CLI_METRICS]
    if unknown:
        raise UserError(f"unknown metric(s) {unknown}; choose from {', '.join(CLI_METRICS)}")
    device = devices.resolve(args.device)
    cache_dir = output_folder(Path(args.cache_dir), "--cache-dir")
    weights_dir = Path(args.weights_dir) if args.weights_dir else None
    fake_dir = Path(args.fake)
    grouped = is_grouped(fake_dir)
    need_groups = [m for m in wanted if CLI_METRICS[m] in GROUPED_ONLY]
    if need_groups and not grouped:
        raise UserError(
            f"{fake_dir} has no subfolders; {', '.join(need_groups)} "
            f"need{'s' if len(need_groups) == 1 else ''} --fake to hold one "
            "subfolder per input with its K outputs (fid, kid, is and prc take either layout)"
        )
    fake, fake_modes = read_groups(fake_dir) if grouped else read_folder(fake_dir)
    if not grouped:
        fake = fake[:, None]
    needs_real = any(m in ("fid", "kid", "prc") for m in wanted)
    if needs_real and not args.real:
        raise UserError("--real DIR is needed for fid, kid and prc (the reference images)")
    real, real_modes = read_folder(Path(args.real)) if needs_real else (fake[:, 0], fake_modes)
    ground_truth = None
    if any(CLI_METRICS[m] == "paired" for m in wanted):
        if not args.target:
            raise UserError("--target DIR is needed for l1, psnr, ssim and lpips_paired")
        names = input_names(fake_dir, grouped)
        ground_truth = to_float(read_targets(Path(args.target), names, tuple(fake.shape[-2:])))
    n = fake.shape[0]
    ex_id = ALIASES.get(args.extractor, args.extractor)  # after the cheap folder checks
    classifier, extractors = None, []
    if ex_id.startswith("protocol:"):
        spec = ex_id.split(":", 1)[1]
        if spec.endswith(".pt"):
            classifier = mark(from_file(Path(spec)))
        else:
            classifier = mark(load_cached(cache_dir, spec, (INSTRUMENTS_DIR,)))
        extractors = [classifier.extractor(device)]
    elif not set(wanted) <= NO_EXTRACTOR:
        extractors = [standard_extractor(ex_id, weights_dir, device)]
    samples = TaskSamples(
        task="folders",
        mode="latent",
        inputs=to_float(fake[:, 0]),
        outputs=to_float(fake),
        target_class=torch.zeros(n, dtype=torch.long),
        real_target=to_float(real),
        real_target_name=str(args.real),
        ground_truth=ground_truth,
        multimodal=True,
    )
    protocol = Protocol(
        name="folders",
        version=1,
        kind="multi_domain",
        dataset="image folders",
        train_split="",
        test_split="",
        image_size=int(fake.shape[-1]),
        domains=(),
        tasks=(),
        num_test_inputs=n,
        outputs_per_input=int(fake.shape[1]),
        metrics=tuple(dict.fromkeys(CLI_METRICS[m] for m in wanted)),
        params=(
            ("diversity_pairs", args.pairs),
            ("cis_convention", args.cis_convention),
            ("lpips_version", args.lpips_version),
        ),
    )
    ctx = MetricContext(
        protocol,
        None,
        device,
        cache_dir,
        weights_dir,
        0,
        classifier,
        extractors,
        {},
        FeatureStore(cache_dir),
    )
    names = {n for m in wanted for n in families()[CLI_METRICS[m]].metrics}
    keep = {"prc_precision", "prc_recall"} if "prc" in wanted else set()

    def score(pool: distributed.Pool | None) -> list[Value]:
        ctx.store.pool = pool
        return evaluate([samples], ctx)

    # under torchrun every rank reads the folders (the same mistakes, the same exit status on
    # every rank) and extracts features for its share of the batches; rank 0 scores and prints
    values = [
        v
        for v in distributed.lead(features.jobs(extractors), score)
        if v.metric in names and (v.metric in wanted or v.metric in keep)
    ]
    for v in values:
        v.provenance.update(
            {
                "real": str(args.real),
                "fake": str(fake_dir),
                "fake_layout": "one subfolder per input" if grouped else "flat",
                **({"target": str(args.target)} if ground_truth is not None else {}),
                "real_modes": real_modes,
                "fake_modes": fake_modes,
            }
        )
    if distributed.is_main():
        _print(values, args.json)
    return 0 if values and all(v.status == "ok" for v in values) else 1


def standard_extractor(ex_id: str, weights_dir: Path | None, device: torch.device) -> Extractor:
    """A standard extractor (Inception) from local weights; without them, one line naming both
    ways out: a protocol's frozen classifier (offline, committed) or the weights file."""
    try:
        return build_standard(ex_id, weights_dir, device)
    except WeightsMissing as exc:
        spec = EXTRACTORS.get(ex_id)
        hub = features.hub_checkpoints()  # looked up at call time, as find_weights does
        where = (
            f"neither in {hub}/ nor in {weights_dir}/"
            if weights_dir
            else f"not in {hub}/ (the torch hub cache)"
        )
        try:
            pins = load_pins()
        except UserError:  # the pins file is unreadable: say the folder, not the names
            pins = []
        names = ", ".join(sorted({p.protocol for p in pins})) or "the protocol's name"
        card = f"protocols/instruments/{pins[0].file}" if pins else "FILE.pt"
        url = f" (published at {DOWNLOADS[spec.filename]})" if spec.filename in DOWNLOADS else ""
        raise UserError(
            f"{spec.what} weights missing and nothing is downloaded: --extractor {ex_id} needs "
            f"{spec.filename}, {where}. Offline, measure with a protocol's frozen "
            f"classifier instead: --extractor protocol:NAME (NAME: {names}; committed under "
            f"protocols/instruments/, `python -m benchmark classifier card {card}` prints one's "
            f"card); or get {spec.filename}{url} and pass --weights-dir DIR holding it"
        ) from exc


def _print(values: list[Value], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"metrics": [dataclasses.asdict(v) for v in values]}, default=str))
        return
    for v in values:
        if v.status == "ok":
            std = f" ± {v.std:.6g}" if v.std is not None else ""
            print(f"{v.metric}: {v.value:.6g}{std}  [{v.extractor or 'pixels'}]")
        else:
            print(f"{v.metric}: {v.status} ({v.reason})")


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "metrics",
        help="score image folders (FID, KID, IS, PRC, diversity, paired L1/SSIM/...)",
        description=(
            "Score image folders with the code the grid uses.\n\n"
            "--fake is either flat (the output images themselves) or one subfolder per\n"
            "input holding that input's K outputs. FID, KID, IS and PRC take either layout\n"
            "and count every output image of every subfolder; lpips_diversity,\n"
            "feature_diversity and cis need the subfolders. Offline, without the Inception\n"
            "weights, pass --extractor protocol:NAME (a protocol's frozen classifier,\n"
            "committed under protocols/instruments/)."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--real", required=False, default="", help="folder of real images")
    p.add_argument(
        "--fake",
        required=True,
        help="folder of generated images, or of one subfolder per input with its K outputs",
    )
    p.add_argument(
        "--target",
        default="",
        help="paired ground truth: one image per input, named like its output (or subfolder)",
    )
    p.add_argument("--metrics", default="fid,kid", help="comma list: " + ",".join(CLI_METRICS))
    p.add_argument(
        "--extractor",
        default="inception",
        help="inception (torch-fidelity's), inception-v3-torchvision (StarGAN v2's), "
        "protocol:NAME[@SHA12] (a pinned protocol classifier, or one a run trained with "
        "--train-classifiers) or protocol:FILE.pt",
    )
    p.add_argument("--weights-dir", default=None, help="folder holding standard weights files")
    p.add_argument(
        "--cache-dir",
        default=".cache",
        help="feature cache and trained protocol classifiers",
    )
    p.add_argument(
        "--pairs", default="all", choices=("all", "consecutive"), help="diversity pairs per input"
    )
    p.add_argument("--cis-convention", default="mean_kl", choices=("mean_kl", "exp"))
    p.add_argument(
        "--lpips-version",
        default="0.1",
        choices=LPIPS_VERSIONS,
        help="LPIPS linear heads: 0.1 (the lpips package default) or 0.0 (its initial release, "
        "for numbers published before 0.1); recorded in each value's provenance",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="one JSON object with provenance")
    p.set_defaults(func=run)
