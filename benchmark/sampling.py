"""Sampling a cell: every evaluation task's inputs through the trained model, K outputs each,
checked for shape and NaN, and the first inputs saved as PNG files for the sample grids.

Each batch of ``EVAL_BATCH`` inputs of output j is sampled with torch seeded from the task's
base seed, j and the batch's first input, so a stochastic method draws the same latents for
it whichever process samples it: under torchrun (benchmark.distributed) batch b goes to rank
b % world size and rank 0 gathers the outputs, the same tensors as one process. The base seed
is one draw from torch's global generator on rank 0 (the cell seeds it with its seed before its
first task, and sampling leaves it as it found it but for that draw): a function of the cell
seed and the task's index, the same in one process and under torchrun."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from baselines.base import Translator
from benchmark import distributed
from benchmark.atomic import atomic_path
from benchmark.errors import CellFailure
from benchmark.plan import EvalTask, kind_of
from benchmark.run_config import RunConfig
from benchmark.samples import TaskSamples
from benchmark.training import Pairwise
from protocols.base import Item, ProtocolData, to_uint8

EVAL_BATCH = 32


def batch_seed(base: int, j: int, start: int) -> int:
    """The seed of one batch: output ``j`` of the inputs from ``start`` on, in a task whose
    base seed is ``base``."""
    digest = hashlib.sha256(f"{base}/{j}/{start}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # torch takes 63 bits


@torch.no_grad()
def sample_task(
    model: Translator | Pairwise, task: EvalTask, data: ProtocolData, cfg: RunConfig
) -> TaskSamples | None:
    """Run one evaluation task: K outputs for every input, checked for shape and NaN. Under
    torchrun every rank samples its share of the batches; rank 0 gets the samples, the other
    ranks None. A failure on any rank fails the task on every rank."""
    if isinstance(model, Pairwise):
        net, target = model.route(task.source_domain, task.target_domain)
    else:
        net, target = model, task.target
    x_all, index = distinct_inputs(task, data)
    n, k = len(task.inputs), data.protocol.outputs_per_input
    main, world, rank = distributed.is_main(), distributed.world_size(), distributed.rank()
    outs = torch.empty(n, k, *x_all.shape[1:]) if main else None
    dev = cfg.device
    shots = kind_of(data.protocol.kind).references_are_shots  # K images each, not one style
    base = distributed.broadcast(int(torch.randint(2**62, ())) if main else 0)

    def batch(j: int, lo: int) -> torch.Tensor:
        hi = min(n, lo + EVAL_BATCH)
        torch.manual_seed(batch_seed(base, j, lo))
        x = x_all[index[lo:hi]].to(dev)
        kwargs: dict[str, Any] = {}
        if torch.is_tensor(target):
            kwargs["target"] = target[lo:hi].to(dev)
        elif target is not None:
            kwargs["target"] = target
        if task.references is not None:
            refs = task.references[j][lo:hi]
            r = torch.stack([data.images(row) for row in refs]).to(dev)
            kwargs["reference"] = r if shots else r[:, 0]
        y = net.translate(x, **kwargs)
        if tuple(y.shape) != tuple(x.shape):
            raise CellFailure(
                f"{net.name} returned shape {tuple(y.shape)} for input {tuple(x.shape)}"
            )
        if not torch.isfinite(y).all():
            raise CellFailure(f"{net.name} produced NaN/inf images on task {task.task}")
        # raw: each metric clamps or quantises as its protocol says (StarGAN v2 scores LPIPS
        # on unclamped outputs)
        return y.float().cpu()

    batches = [(j, lo) for j in range(k) for lo in range(0, n, EVAL_BATCH)]
    gpus = []  # whose generator sampling leaves as it found it, but for the base seed
    if dev.type == "cuda":
        gpus = [torch.cuda.current_device() if dev.index is None else dev.index]
    with torch.random.fork_rng(devices=gpus):
        for first in range(0, len(batches), world):  # one batch per rank, then gathered
            mine = batches[first + rank] if first + rank < len(batches) else None
            y, error = None, None
            try:
                y = batch(*mine) if mine else None
            except Exception as exc:  # every rank fails the task; the first batch's reason
                error = exc
            distributed.agree(error)
            for done, out in distributed.gather((mine, y)) or []:
                if done is not None:
                    j, lo = done
                    outs[lo : lo + len(out), j] = out
    if not main:
        return None
    return samples_of(task, data, x_all, index, outs, bool(net.multimodal), cfg.preset.save_inputs)


def distinct_inputs(task: EvalTask, data: ProtocolData) -> tuple[torch.Tensor, torch.Tensor]:
    """Each distinct input image once, and the row of it behind each of the task's inputs:
    few-shot sends every content image into every target class, so at paper scale 30,000
    groups share 1,000 images."""
    rows: dict[tuple[str, str | None], tuple[int, Item]] = {}
    index = torch.tensor(
        [rows.setdefault((it.path, it.crop), (len(rows), it))[0] for it in task.inputs]
    )
    return data.images([it for _, it in rows.values()]), index


def samples_of(
    task: EvalTask,
    data: ProtocolData,
    x_all: torch.Tensor,
    index: torch.Tensor,
    outs: torch.Tensor,
    multimodal: bool,
    save_inputs: int,
) -> TaskSamples:
    """What the metrics score for one task, whoever made the outputs (a Translator here, the
    user's own code through a manifest: benchmark.external)."""
    n, k = outs.shape[:2]
    # references only of the inputs saved as samples: metrics never read them, and few-shot
    # K=20 for all 30,000 inputs at 128 px would take 118 GB
    shown = min(n, save_inputs) if task.references is not None else 0
    refs_t = None
    if shown:
        refs_t = torch.stack(
            [
                torch.stack([data.images(task.references[j][i]) for j in range(k)])
                for i in range(shown)
            ]
        ).flatten(1, 2)
    return TaskSamples(
        task=task.task,
        mode=task.mode,
        inputs=x_all,
        input_index=None if len(x_all) == n else index,
        outputs=outs,
        target_class=task.target_class,
        real_target=data.images(task.real),
        real_target_name=task.real_name,
        real_target_labels=torch.tensor([it.domain for it in task.real]),
        target_attrs=task.target_attrs,
        edited_attr=task.edited_attr,
        ground_truth=data.images(task.ground_truth) if task.ground_truth else None,
        references=refs_t,
        input_factors=[it.factors for it in task.inputs] if data.synthetic else None,
        multimodal=multimodal,
        extra=dict(task.extra),
    )


def save_samples(samples: TaskSamples, folder: Path, count: int) -> None:
    """PNG files of the first ``count`` inputs, for sample grids and the metrics CLI."""
    from PIL import Image

    def png(t: torch.Tensor, path: Path) -> None:
        # atomic like every other file: a full disk is one line naming it, never half a PNG
        with atomic_path(path, suffix=".png") as tmp:
            Image.fromarray(to_uint8(t).permute(1, 2, 0).numpy()).save(tmp)

    for i in range(min(count, samples.num_inputs)):
        d = folder / f"{samples.task}--{samples.mode}" / f"{i:04d}"
        d.mkdir(parents=True, exist_ok=True)
        png(samples.input(i), d / "input.png")
        for j in range(samples.outputs_per_input):
            png(samples.outputs[i, j], d / f"out_{j:02d}.png")
        if samples.ground_truth is not None:
            png(samples.ground_truth[i], d / "target.png")
        if samples.references is not None:
            for j, r in enumerate(samples.references[i][:4]):
                png(r, d / f"ref_{j:02d}.png")
