"""The outputs-folder route: images made by any code, scored with the whole protocol.

``write_manifest`` writes every image a protocol's evaluation needs (inputs, and the style
references or K shots where a mode uses them) once, as PNG at the protocol's resolution, and
``manifest.json`` naming, for every output, the file the user's code writes. ``score`` checks the
filled folder whole before anything is written, builds the same ``TaskSamples`` the grid builds
(``sampling.samples_of``) and scores them with the same metrics and aggregation, so the records
(the user's method name, marked external, the outputs' content hash as the method's fingerprint)
join the leaderboard and the gate like any baseline's.

The tasks are the grid's own (``plan.eval_tasks`` for the manifest's seed), recomputed when
scoring and checked against the manifest, so a hand-edited manifest cannot score other inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from benchmark import datasets, instruments, runner
from benchmark import records as rec
from benchmark.atomic import atomic_path, write_bytes
from benchmark.errors import UserError
from benchmark.plan import EvalTask, eval_tasks, kind_of, variant_of
from benchmark.progress import Progress, log
from benchmark.recording import (
    REPLACED,
    base_provenance,
    drop_replaced,
    skipped_modes,
    to_record,
)
from benchmark.run_config import RunConfig
from benchmark.sampling import distinct_inputs, samples_of, save_samples
from benchmark.values import Value
from protocols.base import READ_ERRORS, Item, ProtocolData, to_tensor, to_uint8

FORMAT = 1
_KEYS = ("format", "protocol", "preset", "protocol_hash", "image_size", "seed", "modes", "items")


@dataclass(frozen=True)
class Manifest:
    """A manifest as read back: what was asked for, and every output file it names."""

    path: Path
    protocol: str
    preset: str
    protocol_hash: str
    image_size: int
    seed: int
    modes: tuple[str, ...]
    dataset: str  # fingerprint of the dataset the inputs came from
    outputs: tuple[str, ...]  # every output file, relative to the outputs folder, in order
    sha256: str


def tasks_for(data: ProtocolData, seed: int, modes: tuple[str, ...]) -> list[EvalTask]:
    """The grid's evaluation tasks for ``seed``, in the modes asked for."""
    return [t for t in eval_tasks(data.protocol, data, seed) if t.mode in modes]


def output_file(task: EvalTask, n: int, j: int) -> str:
    """Where output ``j`` of input ``n`` goes, relative to the outputs folder."""
    return f"outputs/{task.task}/{task.mode}/{n:06d}_s{j}.png"


def _target(task: EvalTask, n: int, data: ProtocolData) -> str | dict[str, int]:
    """What input ``n`` is translated to, in the user's words: a domain or class name, or the
    wanted value of every attribute."""
    if task.target_attrs is not None:
        wanted = task.target_attrs[n].tolist()
        return {a: int(v) for a, v in zip(data.protocol.attributes, wanted, strict=True)}
    return data.class_names[int(task.target_class[n])]


def _png(t: torch.Tensor, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(to_uint8(t).permute(1, 2, 0).numpy()).save(tmp)


def write_manifest(
    data: ProtocolData, preset: str, seed: int, modes: tuple[str, ...], out: Path
) -> Path:
    """Every image the protocol's tasks need, once, and ``out/manifest.json``."""
    protocol = data.protocol
    unknown = [m for m in modes if m not in protocol.modes]
    if unknown:
        raise UserError(
            f"--modes {' '.join(unknown)}: {protocol.name} scores {', '.join(protocol.modes)}"
        )
    tasks = tasks_for(data, seed, modes)
    shots = kind_of(protocol.kind).references_are_shots
    written: dict[str, dict[tuple[str, str | None], str]] = {"inputs": {}, "references": {}}

    def image(item: Item, folder: str) -> str:
        """The image's file in ``folder``, written the first time it is needed."""
        seen, key = written[folder], (item.path, item.crop)
        if key not in seen:
            seen[key] = f"{folder}/{len(seen):06d}.png"
            _png(data.image(item), out / seen[key])
        return seen[key]

    k = protocol.outputs_per_input
    items: list[dict[str, Any]] = []
    progress = Progress(sum(len(t.inputs) for t in tasks), f"manifest {protocol.name}")
    for task in tasks:
        for n, item in enumerate(task.inputs):
            source, target = image(item, "inputs"), _target(task, n, data)
            for j in range(k):
                entry: dict[str, Any] = {
                    "output": output_file(task, n, j),
                    "input": source,
                    "task": task.task,
                    "mode": task.mode,
                    "target": target,
                    "sample": j,
                }
                if task.references is not None:
                    refs = task.references[j][n]
                    if shots:
                        entry["references"] = [image(r, "references") for r in refs]
                    else:
                        entry["reference"] = image(refs[0], "references")
                items.append(entry)
            progress.update()
    manifest = {
        "format": FORMAT,
        "protocol": protocol.name,
        "preset": preset,
        "protocol_hash": protocol.hash,
        "image_size": protocol.image_size,
        "seed": seed,
        "modes": list(modes),
        "outputs_per_input": k,
        "dataset": data.fingerprint,
        "items": items,
    }
    path = out / "manifest.json"
    write_bytes(path, (json.dumps(manifest, indent=1) + "\n").encode())
    return path


def read_manifest(path: Path) -> Manifest:
    """A manifest written by ``write_manifest``; anything else is one line naming the file."""
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise UserError(
            f"--manifest {path}: cannot read it ({exc}); pass the manifest.json "
            "that `python -m benchmark manifest` wrote"
        ) from exc
    missing = [k for k in _KEYS if not isinstance(data, dict) or k not in data]
    if missing or data["format"] != FORMAT:
        what = f"no {missing[0]!r}" if missing else f"format {data['format']!r}, not {FORMAT}"
        raise UserError(f"--manifest {path}: {what}; remake it with `python -m benchmark manifest`")
    try:
        outputs = tuple(str(it["output"]) for it in data["items"])
        return Manifest(
            path,
            str(data["protocol"]),
            str(data["preset"]),
            str(data["protocol_hash"]),
            int(data["image_size"]),
            int(data["seed"]),
            tuple(data["modes"]),
            str(data.get("dataset", "")),
            outputs,
            hashlib.sha256(raw).hexdigest(),
        )
    except (TypeError, KeyError, ValueError) as exc:
        raise UserError(
            f"--manifest {path}: malformed item ({exc}); remake it with `python -m benchmark "
            "manifest`"
        ) from exc


def check_manifest(manifest: Manifest, data: ProtocolData) -> list[EvalTask]:
    """The tasks to score, refused when the manifest was made for another protocol version,
    dataset or seed, or lists other outputs than those tasks need."""
    p, where = data.protocol, f"--manifest {manifest.path}"
    if manifest.protocol != p.name or manifest.protocol_hash != p.hash:
        raise UserError(
            f"{where} was made for {manifest.protocol} (hash {manifest.protocol_hash}), not "
            f"{p.name} (hash {p.hash}, preset {manifest.preset}); remake it with this version"
        )
    if manifest.dataset and manifest.dataset != data.fingerprint:
        raise UserError(
            f"{where} was made from another dataset (fingerprint {manifest.dataset}, here "
            f"{data.fingerprint}); pass the same --data, or remake the manifest"
        )
    bad = [m for m in manifest.modes if m not in p.modes]
    if bad:
        raise UserError(f"{where}: mode {bad[0]} is not one of {p.name}'s ({', '.join(p.modes)})")
    tasks = tasks_for(data, manifest.seed, manifest.modes)
    k = p.outputs_per_input
    want = tuple(
        output_file(t, n, j) for t in tasks for n in range(len(t.inputs)) for j in range(k)
    )
    if want != manifest.outputs:
        raise UserError(
            f"{where} lists {len(manifest.outputs)} outputs but {p.name} (seed {manifest.seed}) "
            f"needs {len(want)} others; remake it with `python -m benchmark manifest`"
        )
    return tasks


def _files(folder: Path) -> Iterator[str]:
    base = folder / "outputs"
    if base.is_dir():
        for path in sorted(base.rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.parts):
                yield path.relative_to(folder).as_posix()


def _load(path: Path, size: int) -> torch.Tensor:
    """One output as the grid holds it: float (3, S, S) in [-1, 1], decoded as datasets are."""
    with Image.open(path) as img:
        img.load()
        if img.size != (size, size):
            raise ValueError(f"{img.size[0]}x{img.size[1]} pixels, expected {size}x{size}")
        return to_tensor(img, size)


def check_outputs(manifest: Manifest, folder: Path) -> str:
    """Every output present, readable, at the protocol's size, and nothing else; returns their
    content hash. The first bad file is named with the count of bad ones, before any work."""
    want, have = set(manifest.outputs), set(_files(folder))
    problems: list[str] = []
    for name in sorted(have - want):
        mode = name.split("/")[2] if name.count("/") >= 3 else ""
        why = (
            f"mode {mode} is not in the manifest (modes: {', '.join(manifest.modes)})"
            if mode and mode not in manifest.modes
            else "not in the manifest"
        )
        problems.append(f"{folder / name}: {why}")
    digest = hashlib.sha256()
    progress = Progress(len(manifest.outputs), "checking outputs")
    for name in manifest.outputs:
        path = folder / name
        if name not in have:
            problems.append(f"{path}: missing")
            continue
        try:
            _load(path, manifest.image_size)
        except (*READ_ERRORS, ValueError) as exc:
            problems.append(f"{path}: unreadable ({str(exc).splitlines()[0]})")
            continue
        digest.update(name.encode() + b"\0" + path.read_bytes())
        progress.update()
    if problems:
        raise UserError(
            f"{problems[0]}; {len(problems)} bad file(s) in {folder}: write exactly the files "
            f"{manifest.path.name} lists, as {manifest.image_size}x{manifest.image_size} images"
        )
    return digest.hexdigest()


def _outputs(task: EvalTask, folder: Path, k: int, size: int) -> torch.Tensor:
    return torch.stack(
        [
            torch.stack([_load(folder / output_file(task, n, j), size) for j in range(k)])
            for n in range(len(task.inputs))
        ]
    )


def score(cfg: RunConfig, manifest: Manifest, folder: Path, name: str) -> Path:
    """Score the outputs under ``name``; returns the cell's folder of records."""
    (protocol_name,) = cfg.protocols
    data = runner.load_protocol(protocol_name, cfg)
    tasks = check_manifest(manifest, data)
    outputs_sha = check_outputs(manifest, folder)
    datasets.verify(data, cfg.cache_dir)
    located = instruments.locate(
        data.protocol, cfg.classifiers.get(protocol_name), cfg.weights_dir, cfg.train_classifiers
    )
    ctx = runner.MetricsContext(data, cfg, located).get()
    protocol, start = data.protocol, time.monotonic()
    ids = {
        "protocol": protocol.name,
        "protocol_hash": protocol.hash,
        "baseline": name,
        "seed": manifest.seed,
        "config": "external",
        "preset": cfg.preset.name,
    }
    external = {
        "manifest": str(manifest.path),
        "manifest_sha256": manifest.sha256,
        "outputs": str(folder),
        "outputs_sha256": outputs_sha,
    }
    base = {
        **base_provenance(cfg, data),
        "seed": manifest.seed,
        "oracle": False,
        "display_name": name,
        "external": external,
        "method": {"fingerprint": outputs_sha[:16], "outputs_sha256": outputs_sha},
    }
    from benchmark import metrics

    by_variant: dict[str, list[EvalTask]] = {}
    for task in tasks:
        by_variant.setdefault(variant_of(protocol, task), []).append(task)
    k, values = protocol.outputs_per_input, []
    cell = rec.cell_dir(cfg.out, protocol.name, protocol.hash, name, manifest.seed)
    sample_dir = cfg.out / "samples" / cell.relative_to(cfg.out / "records")
    for group in by_variant.values():  # one variant's outputs in memory at a time
        samples = []
        for task in group:
            x_all, index = distinct_inputs(task, data)
            outs = _outputs(task, folder, k, protocol.image_size)
            # K identical outputs of every input: a deterministic method, whose diversity is 0
            # by definition (as the grid scores a Translator with multimodal False)
            varied = any(not torch.equal(outs[:, 0], outs[:, j]) for j in range(1, k))
            save = cfg.preset.save_inputs
            samples.append(samples_of(task, data, x_all, index, outs, varied, save))
            save_samples(samples[-1], sample_dir, cfg.preset.save_inputs)
        values += metrics.evaluate(samples, ctx)
    left = [m for m in protocol.modes if m not in manifest.modes]
    values += _not_scored(values, manifest.modes[0], left, name)
    with _replacing(cell):
        written = [rec.write(cfg.out, to_record(v, base, **ids)) for v in values]
        status = rec.Record(
            metric=rec.CELL,
            provenance={**base, "wall_time_s": round(time.monotonic() - start, 3)},
            extra={"how": "external", "records": sorted(p.name for p in written)},
            **ids,
        )
        rec.write(cfg.out, status)
    log.info(f"{name} on {protocol.name}: {len(written)} records in {cell}")
    return cell


def _not_scored(values: list[Value], scored: str, modes: list[str], name: str) -> list[Value]:
    """Every metric of every mode the manifest left out, skipped with the reason."""
    reason = f"{name} was scored from a manifest without {'/'.join(modes)} outputs"
    return skipped_modes(values, scored, modes, reason)


class _replacing:
    """Earlier records of the cell go to its hidden ``recording.REPLACED`` folder (every reader
    skips it), the status record first, while the new ones are written, and are deleted after:
    old and new numbers are never shown together, and an interruption leaves a cell without
    a status record, which the next ``score`` replaces whole."""

    def __init__(self, cell: Path) -> None:
        self.cell, self.old = cell, cell / REPLACED

    def __enter__(self) -> None:
        drop_replaced(self.cell)
        if self.cell.is_dir():
            self.old.mkdir()
            names = sorted(p.name for p in self.cell.glob("*.json"))
            for name in sorted(names, key=lambda n: n != f"{rec.CELL}.json"):
                os.replace(self.cell / name, self.old / name)

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            drop_replaced(self.cell)
