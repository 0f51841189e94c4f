"""edges2shoes: paired, multimodal edges -> photo translation (pix2pix, BicycleGAN, MUNIT).

Layout (pix2pix/BicycleGAN download scripts): ``edges2shoes/{train,val}/*.jpg``, each file the
pair side by side, A (edges) left and B (photo) right, 512x256; the 200 ``val`` images are the
test set (MUNIT's testA/testB are the same 200 halves). Protocol: BicycleGAN/MUNIT diversity
(100 inputs; 20 outputs each, LPIPS over 19 consecutive pairs), paired quality to the ground truth,
and realism/recognisability with the protocol's extractors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.errors import UserError
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
from protocols.synth import hue_rgb, outline, paint, sample_pose, shape_mask, texture, to_uint8

REAL_VAL_COUNT = 200  # BicycleGAN/MUNIT test set: the 200 val images (PROTOCOLS.md 1.1)


@register
class Edges2Shoes(ProtocolDef):
    name = "edges2shoes"
    paper = Protocol(
        name="edges2shoes",
        version=3,  # 2: LPIPS v0.0, as BicycleGAN's diversity; 3: on tensor2im's 8-bit images
        kind="paired",
        dataset="edges2shoes (pix2pix/BicycleGAN release): train/ and val/ of A|B side-by-side JPGs",
        train_split="train",
        test_split="val",
        image_size=256,
        domains=("edges", "shoes"),
        tasks=("edges2shoes",),
        num_test_inputs=100,
        outputs_per_input=20,
        metrics=("paired", "lpips_diversity", "fid", "kid", "is", "accuracy", "content"),
        params=(
            ("diversity_pairs", "consecutive"),
            ("fid_real", "test"),
            ("lpips_version", "0.0"),
            ("lpips_outputs", "tensor2im"),
        ),
        follows="junyanz/BicycleGAN README 'Metrics' with PerceptualSimilarity "
        "lpips_1dir_allpairs.py: the LPIPS diversity",
        deviations=(
            "consecutive pairs in output order; lpips_1dir_allpairs.py pairs files in unsorted "
            "os.listdir order",
            "additions BicycleGAN does not report: paired L1/PSNR/SSIM/LPIPS to the ground "
            "truth, FID, KID, IS, accuracy and content",
        ),
        notes="BicycleGAN: 100 val inputs x 20 outputs, LPIPS v0.0 over 19 consecutive pairs; "
        "MUNIT: 100 inputs x 19 pairs of independent draws (same expectation, other estimator). "
        "FID/KID against the val photos.",
    )

    def load(self, root: Path, protocol: Protocol) -> ProtocolData:
        root = Path(root)
        what = "folder of A|B side-by-side JPGs (edges left, photo right) as in edges2shoes.tar.gz"
        sidecar = read_sidecar(root)
        splits = {}
        rels = []
        for split in ("train", "val"):
            folder = require_dir(root / split, f"edges2shoes {split}/ {what}")
            files = list_images(folder)
            expected = sidecar_count(sidecar, root, split)
            if expected is None and sidecar is None and split == "val":
                expected = REAL_VAL_COUNT
            check_count(len(files), expected, folder, "images")
            if not files:
                check_count(0, 1, folder, "images (at least)")
            items: list[Item] = []
            for f in files:
                rel = f"{split}/{f.name}"
                rels.append(rel)
                factors = (sidecar or {}).get("factors", {}).get(rel)
                a = len(items)
                items.append(Item(rel, 0, crop="left", pair=a + 1, factors=factors))
                items.append(Item(rel, 1, crop="right", factors=factors))
            splits[split] = Split(split, items)
        for it in splits["val"].items[::2]:  # test files are decoded up front: fail early
            path = root / it.path
            check_image(path)
            w, h = Image.open(path).size
            if w != 2 * h:
                raise _not_side_by_side(path, w, h)
        return ProtocolData(
            protocol=protocol,
            root=root,
            train=splits["train"],
            test=splits["val"],
            class_names=list(protocol.domains),
            fingerprint=fingerprint(root, rels),
            synthetic=sidecar is not None,
            loader=open_image,
        )

    def synthesize(self, out: Path, *, size: int = 32, seed: int = 0) -> Path:
        """Edge maps of posed shapes (A) and the same shapes painted in a random colour and
        texture (B): pose is the content, colour/texture the free (multimodal) style."""
        out = Path(out)
        rng = np.random.default_rng(seed)
        counts = {"train": 240, "val": 40}
        factors = {}
        width = max(1, size // 32)
        for split, n in counts.items():
            (out / split).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pose = sample_pose(rng)
                style = {
                    "hue": round(float(rng.uniform(0, 1)), 4),
                    "texture": str(rng.choice(("plain", "stripes", "checker"))),
                }
                mask = shape_mask(pose, size)
                edges = outline(mask, width)
                white = np.ones(3, np.float32)
                a = np.where(edges[..., None], 0.0, 1.0) * np.ones((size, size, 3), np.float32)
                pat = texture(style["texture"], size, freq=5.0)
                fg = hue_rgb(style["hue"])
                b = paint(mask, pat, fg, fg * 0.55, white)
                b[edges] *= 0.4  # the photo has a darker rim where the edge map has its line
                pair = np.concatenate([to_uint8(a), to_uint8(b, rng, 0.01)], axis=1)
                rel = f"{split}/{i + 1}_AB.jpg"
                Image.fromarray(pair).save(out / rel, quality=95)
                factors[rel] = {"content": pose, "style": style}
        sidecar = {
            "protocol": self.name,
            "generator": "protocols.edges2shoes.synthesize",
            "seed": seed,
            "size": size,
            "counts": counts,
            "content_factors": ["shape", "cx", "cy", "r", "angle"],
            "style_factors": ["hue", "texture"],
            "factors": factors,
        }
        (out / SIDECAR).write_text(json.dumps(sidecar, indent=0, sort_keys=True))
        return out


def _not_side_by_side(path: Path, w: int, h: int) -> UserError:
    return UserError(
        f"{path} is {w}x{h}; edges2shoes files hold A|B side by side (width = 2 x height); "
        "use the pix2pix/BicycleGAN edges2shoes.tar.gz, or combine halves with combine_A_and_B.py"
    )
