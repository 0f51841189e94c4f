"""The grid: protocol x baseline x seed. Each cell trains or loads, samples, scores and records.

Resumable by construction: a cell whose ``_cell`` record and every record it lists exist and
parse is skipped (a deleted or truncated one makes it run again); training resumes from its last
atomic checkpoint. Every record carries the method's fingerprint (benchmark.fingerprint): a cell
whose method changed since (its code or checkpoint) is computed again, its old records and
checkpoints set aside first (recording.make_room), so old and new numbers never mix. A cell that
fails (diverged, wrong output) is recorded as failed with its reason and the grid goes on; the
run then exits 1 and says how to retry (``--retry-failed``). Runs sharing a results folder claim
cells with OS locks (benchmark.locks).

A finished grid reruns in seconds: the protocol classifiers (and the metric code behind them) are
found and loaded only for protocols with a cell left to run, or named with ``--classifier``, and
the report is rendered again only when its records changed (benchmark.report.render_all).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

import baselines
from benchmark import datasets, locks, recording, sampling, training
from benchmark import device as devices
from benchmark import records as rec
from benchmark.errors import CellFailure, DiskFull, UserError
from benchmark.fingerprint import method_fingerprint
from benchmark.plan import eval_tasks, how_to_run, scored_modes, variant_of
from benchmark.progress import Progress, fmt_seconds, log
from benchmark.recording import CLASSIFIER_ROW, base_provenance, finished, to_record
from benchmark.run_config import RunConfig
from benchmark.timing import unstable_note
from protocols.base import ProtocolData

if TYPE_CHECKING:  # instruments imports the classifier (torchvision, torch-fidelity): a second
    from benchmark.instruments import Located  # of startup a finished grid never needs


# --- data -----------------------------------------------------------------------------------
def load_protocol(name: str, cfg: RunConfig) -> ProtocolData:
    root = datasets.resolve(
        name, cfg.data.get(name), cfg.data_root, cfg.preset.synthetic_size, cfg.cache_dir
    )
    return datasets.load(name, root, cfg.preset)


def run_cell(data: ProtocolData, mctx: MetricsContext, name: str, seed: int, cfg: RunConfig) -> str:
    """Run one (protocol, baseline, seed) cell; returns 'done', 'skipped', 'failed' or 'busy'."""
    protocol = data.protocol
    cell = rec.cell_dir(cfg.out, protocol.name, protocol.hash, name, seed)
    status_path = cell / f"{rec.CELL}.json"
    cls = baselines.get(name)
    method = method_fingerprint(cls, cfg.checkpoints.get(name))
    earlier = finished(status_path, cfg, fingerprint=method, quiet=True)  # said under the claim
    if earlier:
        return "skipped" if earlier == "ok" else "failed earlier"
    ctx = mctx.get()  # not inside the cell's try: broken data or weights stop the run (exit 2)
    ids = {
        "protocol": protocol.name,
        "protocol_hash": protocol.hash,
        "baseline": name,
        "seed": seed,
        "config": cfg.preset.config,
        "preset": cfg.preset.name,
    }
    base = base_provenance(cfg, data)
    base["seed"] = seed
    base["oracle"] = cls.oracle
    base["display_name"] = cls.display_name or name  # as papers write it
    base["method"] = method
    with locks.cell_lock(cell) as mine:
        if not mine:
            log.info(
                f"{protocol.name}/{name}/seed{seed}: {locks.holder(cell)} is running it; "
                "leaving it to that run"
            )
            return "busy"
        # another run may have finished it meanwhile
        earlier = finished(status_path, cfg, fingerprint=method)
        if earlier:
            return "skipped" if earlier == "ok" else "failed earlier"
        recording.make_room(
            cell,
            training.checkpoint_dir(cfg, cell),
            method,
            trains=cls.trainable and name not in cfg.checkpoints,
            label=f"{protocol.name}/{name}/seed{seed}",
        )
        start = time.monotonic()
        from benchmark import metrics  # the metric code: only when a cell runs

        try:
            model, info = training.build_models(name, data, cfg, seed, cell)
            sample_dir = cfg.out / "samples" / cell.relative_to(cfg.out / "records")
            torch.manual_seed(seed)
            modes = scored_modes(protocol, baselines.get(name))
            tasks = [t for t in eval_tasks(protocol, data, seed) if t.mode in modes]
            # each metric variant (a mode, a K) is scored as soon as its last task is sampled
            # and its outputs let go: few-shot at paper scale holds one K's outputs, not five
            last = {variant_of(protocol, t): i for i, t in enumerate(tasks)}
            values, pending, sample_time = [], defaultdict(list), 0.0
            for i, task in enumerate(tasks):
                tick = time.monotonic()
                samples = sampling.sample_task(model, task, data, cfg)
                sampling.save_samples(samples, sample_dir, cfg.preset.save_inputs)
                sample_time += time.monotonic() - tick
                variant = variant_of(protocol, task)
                pending[variant].append(samples)
                if last[variant] == i:
                    values += metrics.evaluate(pending.pop(variant), ctx)
            left = [m for m in protocol.modes if m not in modes]
            written = [
                rec.write(cfg.out, to_record(value, base, **ids))
                for value in values + recording.not_applicable(values, left, name)
            ]
            if cfg.profile and baselines.get(name).trainable:  # oracles have no speed to report
                try:
                    written += _profile_cell(model, data, cfg, cell, base, ids)
                except (RuntimeError, OSError) as exc:  # a profiler failure is not a model's
                    log.warning(f"profiling {name} failed: {exc}; the cell's metrics stand")
            status = rec.Record(
                metric=rec.CELL,
                status="ok",
                provenance={**base, "wall_time_s": round(time.monotonic() - start, 3)},
                extra={
                    "how": info["how"],
                    "final_losses": info["losses"],
                    "train_steps": max(
                        (sc["total_steps"] for sc in info["schedule"].values()), default=0
                    ),
                    "schedule": info["schedule"],
                    "sampling_s": round(sample_time, 3),
                    # what a complete cell holds: a rerun recomputes it if any goes missing
                    "records": sorted(p.name for p in written),
                },
                **ids,
            )
            rec.write(cfg.out, status)
            recording.drop_replaced(cell)
            return "done"
        except (DiskFull, KeyboardInterrupt):
            raise
        except (CellFailure, UserError, RuntimeError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.warning(f"{protocol.name}/{name}/seed{seed} failed: {reason}")
            rec.write(
                cfg.out,
                rec.Record(
                    metric=rec.CELL,
                    status="failed",
                    reason=reason,
                    provenance={**base, "wall_time_s": round(time.monotonic() - start, 3)},
                    **ids,
                ),
            )
            recording.drop_replaced(cell)
            return "failed"


def _profile_cell(model, data, cfg, cell, base, ids) -> list[Path]:
    from benchmark import profiling

    net = next(iter(model.models.values())) if isinstance(model, training.Pairwise) else model
    trace_dir = cfg.out / "traces" / cell.relative_to(cfg.out / "records")
    values = profiling.profile_translator(
        net,
        net.task,
        batch_sizes=cfg.preset.profile_batch_sizes,
        device=cfg.device,
        repeats=cfg.preset.profile_repeats,
        warmup=1,
        trace_dir=trace_dir,
        results_dir=cfg.out,
        shots=max(data.protocol.shots, default=1),
        modes=profiling.profile_modes(data.protocol, net.reference_guided),
    )
    written = [rec.write(cfg.out, to_record(value, base, **ids)) for value in values]
    shaky = [v for v in values if v.metric == "latency_ms" and v.extra.get("unstable")]
    if shaky:
        worst = max(v.extra["spread"] for v in shaky)
        sizes = ", ".join(v.variant for v in shaky)
        log.warning(
            f"speed profile of {net.name} at {sizes}: {unstable_note(worst)}; quality metrics "
            "are unaffected, `python -m benchmark profile` remeasures speed"
        )
    return written


class MetricsContext:
    """Prepares the protocol's metrics (classifier training or loading) only when a cell first
    needs them, so a finished grid reruns in seconds; records the classifier's own scores once."""

    def __init__(self, data: ProtocolData, cfg: RunConfig, located: Located | None) -> None:
        """``located``: the protocol's classifier, found before any work; None when the grid
        had nothing to run on this protocol (found here should a cell need it after all)."""
        self.data, self.cfg, self.located, self._ctx = data, cfg, located, None

    def get(self) -> Any:
        if self._ctx is None:
            from benchmark import metrics

            data, cfg, protocol = self.data, self.cfg, self.data.protocol
            if self.located is None:
                self.located = locate_instrument(data, cfg)
            clf = self.located.load(protocol, data, cfg.device, cfg.cache_dir)
            log.info(
                f"protocol classifier {protocol.name}: {clf.id} ({clf.instrument}, {clf.path})"
            )
            self._ctx = metrics.prepare(
                protocol, data, cfg.device, cfg.cache_dir, cfg.weights_dir, seed=0, classifier=clf
            )
            ids = {
                "protocol": protocol.name,
                "protocol_hash": protocol.hash,
                "baseline": CLASSIFIER_ROW,
                "seed": 0,
                "config": "",
                "preset": cfg.preset.name,
            }
            base = base_provenance(cfg, data)
            for value in self._ctx.classifier_report():
                record = to_record(value, base, **ids)
                if not rec.record_path(cfg.out, record).is_file():
                    rec.write(cfg.out, record)
        return self._ctx


def plan_cells(cfg: RunConfig, data: ProtocolData) -> list[str]:
    kind = data.protocol.kind
    return [b for b in cfg.baselines if how_to_run(baselines.get(b), kind) is not None]


def locate_instrument(data: ProtocolData, cfg: RunConfig) -> Located:
    from benchmark import instruments

    return instruments.locate(
        data.protocol,
        cfg.classifiers.get(data.protocol.name),
        cfg.weights_dir,
        cfg.train_classifiers,
    )


def has_work(data: ProtocolData, cfg: RunConfig) -> bool:
    """Whether a cell of this protocol is left to run: not finished, or failed and retried.
    The same first look a cell takes (``run_cell``), without a word: the cell says why."""
    protocol = data.protocol
    for name in plan_cells(cfg, data):
        method = method_fingerprint(baselines.get(name), cfg.checkpoints.get(name))
        for seed in cfg.seeds:
            cell = rec.cell_dir(cfg.out, protocol.name, protocol.hash, name, seed)
            if not finished(cell / f"{rec.CELL}.json", cfg, fingerprint=method, quiet=True):
                return True
    return False


def run(cfg: RunConfig) -> dict[str, int]:
    """Run the whole grid; returns the count of cells per outcome: done, skipped (finished
    earlier), failed, failed earlier (not retried), busy (left to another run)."""
    counts = {"done": 0, "skipped": 0, "failed": 0, "failed earlier": 0, "busy": 0}
    cfg.out.mkdir(parents=True, exist_ok=True)
    loaded = [load_protocol(name, cfg) for name in cfg.protocols]  # validate all data first
    for data in loaded:
        datasets.verify(data, cfg.cache_dir)
    located = {  # and find every instrument a cell will measure with before any work (and
        # check every --classifier given); a finished protocol needs none
        d.protocol.name: locate_instrument(d, cfg)
        for d in loaded
        if d.protocol.name in cfg.classifiers or has_work(d, cfg)
    }
    total = sum(len(plan_cells(cfg, d)) * len(cfg.seeds) for d in loaded)
    log.info(
        f"grid: {len(loaded)} protocols, {len(cfg.baselines)} baselines, {len(cfg.seeds)} seeds "
        f"= {total} cells (preset {cfg.preset.name}, device {devices.describe(cfg.device)})"
    )
    grid = Progress(total, "grid", every=0)
    start = time.monotonic()
    for data in loaded:
        protocol = data.protocol
        log.info(f"== {protocol.name} (protocol hash {protocol.hash})")
        mctx = MetricsContext(data, cfg, located.get(protocol.name))
        for name in plan_cells(cfg, data):
            for seed in cfg.seeds:
                outcome = run_cell(data, mctx, name, seed, cfg)
                counts[outcome] += 1
                grid.update(detail=f"{protocol.name}/{name}/seed{seed} {outcome}", force=True)
    log.info(
        f"grid finished in {fmt_seconds(time.monotonic() - start)}: {counts['done']} run, "
        f"{counts['skipped']} already done, {counts['failed']} failed, "
        f"{counts['failed earlier']} failed in an earlier run, {counts['busy']} busy"
    )
    if cfg.report:
        from benchmark.report import render_all

        page = render_all(cfg.out, cfg.out / "report")
        log.info(f"leaderboard: {page}")
    failed = counts["failed"] + counts["failed earlier"]
    if failed:
        log.warning(
            f"{failed} cell(s) failed (reasons above and in the leaderboard); fix the cause and "
            "rerun the same command with --retry-failed to run them again"
        )
    if counts["busy"]:
        log.warning(
            f"{counts['busy']} cell(s) were being run by another process and were left to it; "
            "rerun the same command after it finishes to see them here"
        )
    return counts
