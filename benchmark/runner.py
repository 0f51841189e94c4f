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

import dataclasses
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

import baselines
from benchmark import datasets, distributed, locks, recording, sampling, training
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
    """Run one (protocol, baseline, seed) cell; returns 'done', 'skipped', 'failed' or 'busy'.

    Under torchrun every rank runs every cell (benchmark.distributed): rank 0 alone claims it,
    trains, scores, profiles and writes; the other ranks follow its decisions, load the
    checkpoint it saved, and sample and extract features for their share of the batches. A
    cell one rank fails fails on every rank, so every rank returns the same outcome."""
    distributed.init(cfg.device)  # joined already when the device was chosen from a flag
    main = distributed.is_main()
    protocol = data.protocol
    cell = rec.cell_dir(cfg.out, protocol.name, protocol.hash, name, seed)
    status_path = cell / f"{rec.CELL}.json"
    cls = baselines.get(name)
    method = method_fingerprint(cls, cfg.checkpoints.get(name))
    # quiet: said under the claim; rank 0 looks, the other ranks follow its decision
    earlier = distributed.broadcast(
        main and finished(status_path, cfg, fingerprint=method, quiet=True)
    )
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
    if distributed.world_size() > 1:  # sampled and featurised by this many processes
        base["world_size"] = distributed.world_size()
    with locks.cell_lock(cell) if main else nullcontext(True) as mine:
        if not distributed.broadcast(mine):
            if main:
                log.info(
                    f"{protocol.name}/{name}/seed{seed}: {locks.holder(cell)} is running it; "
                    "leaving it to that run"
                )
            return "busy"
        # another run may have finished it meanwhile
        earlier = distributed.broadcast(main and finished(status_path, cfg, fingerprint=method))
        if earlier:
            return "skipped" if earlier == "ok" else "failed earlier"
        if main:
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
            # rank 0 trains (one process per cell), then the other ranks load its checkpoint
            model, info = distributed.main_first(lambda: _build_models(name, data, cfg, seed, cell))
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
                samples = sampling.sample_task(model, task, data, cfg)  # None off rank 0
                variant = variant_of(protocol, task)
                if samples is not None:
                    sampling.save_samples(samples, sample_dir, cfg.preset.save_inputs)
                    pending[variant].append(samples)
                sample_time += time.monotonic() - tick
                if last[variant] == i:
                    values += _evaluate(metrics, pending.pop(variant, []), ctx)

            def record() -> None:  # rank 0 writes; its failure fails the cell on every rank
                left = [m for m in protocol.modes if m not in modes]
                written = [
                    rec.write(cfg.out, to_record(value, base, **ids))
                    for value in values + recording.not_applicable(values, left, name)
                ]
                if cfg.profile and cls.trainable:  # oracles have no speed to report
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

            distributed.on_main(record)
            return "done"
        except (DiskFull, KeyboardInterrupt):
            raise
        except (CellFailure, UserError, RuntimeError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.warning(f"{protocol.name}/{name}/seed{seed} failed: {reason}")
            if main:
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


def _build_models(name, data, cfg, seed, cell):
    """The cell's models: trained (rank 0), or loaded from the checkpoint rank 0 saved."""
    cls = baselines.get(name)
    ckpts = training.checkpoint_dir(cfg, cell)
    if (
        not distributed.is_main()
        and cls.trainable
        and name not in cfg.checkpoints
        and not any(ckpts.glob("model*.pt"))
    ):
        raise CellFailure(
            f"rank {distributed.rank()} sees no checkpoint of rank 0 in {ckpts}: under torchrun "
            "every process needs the results folder (one machine, or a shared file system)"
        )
    return training.build_models(name, data, cfg, seed, cell)


def _evaluate(metrics, group, ctx) -> list:
    """``metrics.evaluate`` on rank 0 while every rank extracts features for its share of the
    batches (benchmark.distributed.lead); the values on every rank."""

    def score(pool):
        ctx.store.pool = pool
        try:
            return metrics.evaluate(group, ctx)
        finally:
            ctx.store.pool = None

    from benchmark import features  # torchvision and friends: only when a cell runs

    return distributed.lead(features.jobs(ctx.extractors), score)


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
            # under torchrun rank 0 first: a classifier it trains (--train-classifiers) is then
            # loaded by the others from the cache
            located = self.located
            clf = distributed.main_first(
                lambda: located.load(protocol, data, cfg.device, cfg.cache_dir)
            )
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
            for value in self._ctx.classifier_report() if distributed.is_main() else []:
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


OUTCOMES = ("done", "skipped", "failed", "failed earlier", "busy")


def new_counts() -> dict[str, int]:
    """Cells per outcome, all at 0: what ``run`` returns (and a launcher, benchmark.launchers)."""
    return dict.fromkeys(OUTCOMES, 0)


def prepare(cfg: RunConfig) -> tuple[list[ProtocolData], dict[str, Located]]:
    """Everything a grid checks before any work: every protocol's data loaded and its training
    images decoded once, and every instrument a cell will measure with found (every
    ``--classifier`` given checked; a finished protocol needs none). A mistake is a UserError."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    loaded = [load_protocol(name, cfg) for name in cfg.protocols]  # validate all data first
    for data in loaded:
        datasets.verify(data, cfg.cache_dir)
    located = {
        d.protocol.name: locate_instrument(d, cfg)
        for d in loaded
        if d.protocol.name in cfg.classifiers or has_work(d, cfg)
    }
    return loaded, located


def grid_cells(cfg: RunConfig, loaded: list[ProtocolData]) -> list[tuple[ProtocolData, str, int]]:
    """The grid's cells in the order a run takes them: (protocol data, baseline, seed)."""
    return [(d, name, seed) for d in loaded for name in plan_cells(cfg, d) for seed in cfg.seeds]


def announce(cfg: RunConfig, loaded: list[ProtocolData], device: str | None = None) -> int:
    """Log the grid's size; returns its number of cells."""
    total = len(grid_cells(cfg, loaded))
    log.info(
        f"grid: {len(loaded)} protocols, {len(cfg.baselines)} baselines, {len(cfg.seeds)} seeds "
        f"= {total} cells (preset {cfg.preset.name}, "
        f"device {device or devices.describe(cfg.device)})"
    )
    return total


def cell_state(cfg: RunConfig, data: ProtocolData, name: str, seed: int) -> str | None:
    """A cell's first look, as ``run_cell`` takes it before its claim, without a word: "ok"
    (finished), "failed" (failed earlier, not retried) or None (it has to run)."""
    cell = rec.cell_dir(cfg.out, data.protocol.name, data.protocol.hash, name, seed)
    method = method_fingerprint(baselines.get(name), cfg.checkpoints.get(name))
    return finished(cell / f"{rec.CELL}.json", cfg, fingerprint=method, quiet=True)


def lost_cell_record(
    cfg: RunConfig,
    data: ProtocolData,
    name: str,
    seed: int,
    reason: str,
    *,
    wall_time_s: float,
    device: str,
) -> rec.Record:
    """The failed status record of a cell whose process died before recording it (killed,
    out of memory, an import error in a cluster job): the record ``run_cell`` writes for a
    failed cell, with ``reason`` and the device as the launcher knows it (``device``, in
    words: the launcher never touches the job's GPU)."""
    protocol = data.protocol
    cls = baselines.get(name)
    base = base_provenance(dataclasses.replace(cfg, device=torch.device("cpu")), data)
    base.update(
        device=device,
        seed=seed,
        oracle=cls.oracle,
        display_name=cls.display_name or name,
        method=method_fingerprint(cls, cfg.checkpoints.get(name)),
    )
    return rec.Record(
        metric=rec.CELL,
        status="failed",
        reason=reason,
        provenance={**base, "wall_time_s": round(wall_time_s, 3)},
        protocol=protocol.name,
        protocol_hash=protocol.hash,
        baseline=name,
        seed=seed,
        config=cfg.preset.config,
        preset=cfg.preset.name,
    )


def summarise(cfg: RunConfig, counts: dict[str, int], seconds: float) -> None:
    """The end of a grid, run here or by a launcher: the outcome counts, the leaderboard
    (rendered once, when asked for), how to retry failed cells and what was left to others."""
    log.info(
        f"grid finished in {fmt_seconds(seconds)}: {counts['done']} run, "
        f"{counts['skipped']} already done, {counts['failed']} failed, "
        f"{counts['failed earlier']} failed in an earlier run, {counts['busy']} busy"
    )
    if cfg.report and distributed.is_main():  # under torchrun, rank 0 alone writes
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


def run(cfg: RunConfig) -> dict[str, int]:
    """Run the whole grid; returns the count of cells per outcome: done, skipped (finished
    earlier), failed, failed earlier (not retried), busy (left to another run)."""
    counts = new_counts()
    loaded, located = prepare(cfg)
    total = announce(cfg, loaded)
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
    summarise(cfg, counts, time.monotonic() - start)
    return counts
