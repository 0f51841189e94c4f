"""AFHQ: three-domain (cat, dog, wild) translation, StarGAN v2's protocol.

Layouts: v1 ``afhq/{train,val}/{cat,dog,wild}/*.jpg`` (512 px; 500 val images per domain, per the
stargan-v2 README) and v2 ``{train,test}/{cat,dog,wild}/*.png``: the test split is ``val/`` or
``test/``, whichever exists. Protocol (stargan-v2 ``metrics/eval.py``): every ordered domain pair;
every test image of the source domain in, 10 outputs per input, latent-guided and
reference-guided scored separately; FID per task against all *training* images of the target
domain, then the mean over tasks; LPIPS over all 45 pairs of the 10 outputs.
"""

from __future__ import annotations

import json
from itertools import permutations
from pathlib import Path

import numpy as np
from PIL import Image

from protocols import ProtocolDef, register
from protocols.base import (
    SIDECAR,
    Item,
    Protocol,
    ProtocolData,
    Split,
    check_count,
    check_image,
    fingerprint,
    list_images,
    open_image,
    read_sidecar,
    require_dir,
    sidecar_count,
)
from protocols.synth import hue_rgb, paint, sample_pose, shape_mask, texture, to_uint8

DOMAINS = ("cat", "dog", "wild")
V1_VAL_PER_DOMAIN = 500
# synthetic twin: each domain has its own fur texture and four colour "modes" (MUNIT's animal
# domains have 4 fine-grained modes each); the pose of the head is the shared content
STYLE = {
    "cat": ("stripes", (0.07, 0.12, 0.95, 0.55)),
    "dog": ("plain", (0.08, 0.60, 0.30, 0.15)),
    "wild": ("dots", (0.16, 0.36, 0.76, 0.02)),
}


@register
class AFHQ(ProtocolDef):
    name = "afhq"
    paper = Protocol(
        name="afhq",
        version=2,  # 2: StarGAN v2's eval pipeline step for step (PIL resizes, its FID, LPIPS)
        kind="multi_domain",
        dataset="AFHQ (StarGAN v2): train/ and val/ (v1) or test/ (v2) with cat, dog, wild",
        train_split="train",
        test_split="val|test",
        image_size=256,
        domains=DOMAINS,
        tasks=tuple(f"{s}2{t}" for s, t in permutations(DOMAINS, 2)),
        num_test_inputs=0,
        outputs_per_input=10,
        metrics=("fid", "kid", "is", "cis", "lpips_diversity", "accuracy", "content"),
        modes=("latent", "reference"),
        params=(
            ("diversity_pairs", "all"),
            ("fid_real", "train"),
            ("extractors", ("inception-v3-compat", "inception-v3-torchvision")),
            ("resize_filter", "bilinear"),
            ("fid_formula", "stargan-v2"),
            ("lpips_batch", 32),
            ("lpips_outputs", "raw"),
        ),
        follows="clovaai/stargan-v2 metrics/eval.py, fid.py, lpips.py and core/data_loader.py "
        "(875b70a): the inception-v3-torchvision FID and the LPIPS diversity",
        deviations=(
            "LPIPS batches of 32 inputs are taken in the suite's input order; eval.py's loader "
            "is shuffled, so which inputs share the short last batch is another draw",
            "reference-guided: one reference per input from a fresh shuffle of the target "
            "domain's test images each output round; eval.py takes batches of one shuffled "
            "drop_last loader across input batches and rounds (same distribution, another draw)",
            "additions StarGAN v2 does not report: the inception-v3-compat and protocol "
            "classifier columns, KID, IS, CIS, accuracy and content",
        ),
        notes="stargan-v2 metrics/eval.py: all val inputs x 10 outputs per ordered pair; FID vs "
        "target-domain train images, mean over the 6 tasks; LPIPS over 45 pairs.",
    )

    def load(self, root: Path, protocol: Protocol) -> ProtocolData:
        root = Path(root)
        sidecar = read_sidecar(root)
        test_name = "val" if (root / "val").is_dir() else "test"
        if not (root / test_name).is_dir():
            require_dir(root / "val", "AFHQ val/{cat,dog,wild} (v1) or test/{cat,dog,wild} (v2)")
        splits, rels = {}, []
        for split in ("train", test_name):
            items: list[Item] = []
            for d, dom in enumerate(DOMAINS):
                folder = require_dir(root / split / dom, f"AFHQ {split}/{dom}/ of images")
                files = list_images(folder)
                expected = sidecar_count(sidecar, root, split, dom)
                if sidecar is None and split == "val":
                    expected = V1_VAL_PER_DOMAIN
                check_count(len(files), expected, folder, "images")
                if not files:
                    check_count(0, 1, folder, "images (at least)")
                for f in files:
                    rel = f"{split}/{dom}/{f.name}"
                    rels.append(rel)
                    factors = (sidecar or {}).get("factors", {}).get(rel)
                    items.append(Item(rel, d, factors=factors))
            splits[split] = Split(split, items)
        for it in splits[test_name].items:
            check_image(root / it.path)
        return ProtocolData(
            protocol=protocol,
            root=root,
            train=splits["train"],
            test=splits[test_name],
            class_names=list(DOMAINS),
            fingerprint=fingerprint(root, rels),
            synthetic=sidecar is not None,
            loader=open_image,
        )

    def synthesize(self, out: Path, *, size: int = 32, seed: int = 0, version: int = 1) -> Path:
        """Posed heads (content) with domain fur texture and one of four colour modes (style);
        ``version`` 1 writes v1's ``val/`` JPGs, 2 writes v2's ``test/`` PNGs."""
        out = Path(out)
        rng = np.random.default_rng(seed)
        test_name, ext = ("val", "jpg") if version == 1 else ("test", "png")
        counts = {"train": {d: 96 for d in DOMAINS}, test_name: {d: 16 for d in DOMAINS}}
        factors = {}
        for split, per_domain in counts.items():
            for dom, n in per_domain.items():
                folder = out / split / dom
                folder.mkdir(parents=True, exist_ok=True)
                tex, hues = STYLE[dom]
                for i in range(n):
                    pose = sample_pose(rng)
                    mode = int(rng.integers(len(hues)))
                    hue = hues[mode] + float(rng.normal(0, 0.015))
                    bg = np.full(3, float(rng.uniform(0.75, 0.95)), np.float32)
                    mask = shape_mask(pose, size)
                    fg = hue_rgb(hue, 0.7, 0.85)
                    img = paint(mask, texture(tex, size, freq=5.0), fg, fg * 0.35, bg)
                    rel = f"{split}/{dom}/flickr_{dom}_{i + 1:06d}.{ext}"
                    Image.fromarray(to_uint8(img, rng, 0.01)).save(out / rel, quality=95)
                    factors[rel] = {
                        "content": pose,
                        "style": {"domain": dom, "mode": mode, "hue": round(hue, 4)},
                    }
        sidecar = {
            "protocol": self.name,
            "generator": "protocols.afhq.synthesize",
            "seed": seed,
            "size": size,
            "version": version,
            "counts": counts,
            "content_factors": ["shape", "cx", "cy", "r", "angle"],
            "style_factors": ["domain", "mode", "hue"],
            "factors": factors,
        }
        (out / SIDECAR).write_text(json.dumps(sidecar, indent=0, sort_keys=True))
        return out
