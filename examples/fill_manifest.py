"""Your own code, fed by a manifest (README, "Evaluate your method"): read every input the
manifest lists and write its outputs where it says. Here the "method" mirrors the input; put
your model's call in ``translate``.

    python examples/fill_manifest.py my_outputs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image, ImageOps


def translate(image: Image.Image, item: dict) -> Image.Image:
    """One output for ``item`` (its "task", "mode", "target", "sample", "reference(s)")."""
    return ImageOps.mirror(image)


def main(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    for item in manifest["items"]:
        out = folder / item["output"]
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(folder / item["input"]) as image:
            translate(image.convert("RGB"), item).save(out)
    print(f"wrote {len(manifest['items'])} outputs under {folder / 'outputs'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
