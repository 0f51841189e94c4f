"""Where a protocol's images come from (``--data``, ``--data-root`` or the cached synthetic
twin) and the protocol scaled by a preset, loaded and validated: shared by runs, the classifier
command and data checks."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import protocols
from benchmark.atomic import write_bytes
from benchmark.errors import UserError
from benchmark.presets import Preset
from benchmark.progress import Progress, log
from protocols.base import ProtocolData, check_image


def resolve(
    name: str, given: Path | None, data_root: Path | None, synthetic_size: int, cache_dir: Path
) -> Path:
    """``--data NAME=PATH`` > ``--data-root DIR/NAME`` > the cached synthetic twin."""
    if given is not None:
        if not given.is_dir():
            raise UserError(f"--data {name}={given}: no such folder")
        return given
    if data_root is not None:
        path = data_root / name
        if not path.is_dir():
            raise UserError(
                f"--data-root {data_root} has no folder '{name}/'; put the dataset there "
                f"or point at it with --data {name}=PATH"
            )
        return path
    path = cache_dir / "synthetic" / f"{name}-{synthetic_size}px-seed0"
    if not path.is_dir():
        log.info(f"generating the synthetic {name} twin ({synthetic_size} px) in {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
        try:
            protocols.get(name).synthesize(tmp, size=synthetic_size, seed=0)
            try:
                tmp.rename(path)
            except OSError:
                if not path.is_dir():
                    raise  # a run sharing this cache may have won the race: use its twin
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return path


def load(name: str, root: Path, preset: Preset) -> ProtocolData:
    """The protocol scaled by ``preset`` over the dataset at ``root``, validated."""
    pdef = protocols.get(name)
    synthetic = (root / "synthetic.json").is_file()
    spec = pdef.spec(
        image_size=preset.image_size,
        max_inputs=preset.max_inputs,
        max_outputs=preset.max_outputs,
        synthetic=synthetic,
        preset=preset.name,
    )
    log.info(f"reading {name} from {root} ({'synthetic twin' if synthetic else 'real data'})")
    return pdef.load(root, spec)


def verify(data: ProtocolData, cache_dir: Path | None) -> None:
    """Decode every training image once per dataset fingerprint (the loaders decode the test
    split on every load), so a bad file is one line naming it before any work, not a failed
    cell; remembered under ``cache_dir/verified/``."""
    marker = (
        cache_dir / "verified" / f"{data.protocol.name}-{data.fingerprint}" if cache_dir else None
    )
    if marker is not None and marker.is_file():
        return
    paths = sorted({it.path for it in data.train.items})
    prog = Progress(len(paths), f"checking the {data.protocol.name} training images", every=10.0)
    for rel in paths:
        check_image(data.root / rel)
        prog.update()
    if marker is not None:
        write_bytes(marker, f"{len(paths)} training images of {data.root} decode\n".encode())
