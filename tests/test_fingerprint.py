"""A method's fingerprint (benchmark.fingerprint) follows the code that computes its outputs and
nothing else, and a grid recomputes a cell whose method changed, replacing its old records."""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

import baselines
import protocols
from benchmark import metrics, presets, sampling, training
from benchmark import records as rec
from benchmark.fingerprint import method_fingerprint
from benchmark.recording import REPLACED, TRAINED_BY
from benchmark.runner import RunConfig, run

PACKAGES = ("fp_alpha", "fp_other", "fp_method", "fp_vcs")
ALPHA = {
    "fp_alpha/__init__.py": "",
    "fp_alpha/model.py": (
        "from fp_other.lib import other_scale\n"
        "from fp_alpha.helpers import scale\n"
        "from . import consts\n\n\n"
        "class Method:\n"
        "    def run(self, x):\n"
        "        from fp_alpha import lazy  # imported on first use: still the method's code\n\n"
        "        return scale(x) * consts.FACTOR + other_scale(x) + lazy.BIAS\n"
    ),
    "fp_alpha/helpers.py": "def scale(x):\n    return 2 * x\n",
    "fp_alpha/consts.py": "FACTOR = 1\n",
    "fp_alpha/lazy.py": "BIAS = 0\n",
    "fp_alpha/unrelated.py": "UNUSED = 1\n",
    "fp_alpha/sub.py": "from fp_other.base import Base\n\n\nclass Child(Base):\n    pass\n",
    "fp_other/__init__.py": "",
    "fp_other/lib.py": "def other_scale(x):\n    return x\n",
    "fp_other/base.py": "class Base:\n    def run(self, x):\n        return x\n",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _forget() -> None:
    for name in list(sys.modules):
        if name.partition(".")[0] in PACKAGES:
            del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture
def packages(tmp_path, monkeypatch) -> Iterator[Callable[[str], type]]:
    """Temp packages on sys.path; the returned loader imports a ``module:Class`` afresh, as a new
    process would after an edit."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)

    def load(path: str) -> type:
        _forget()
        module, _, name = path.partition(":")
        return getattr(importlib.import_module(module), name)

    yield load
    _forget()


@pytest.mark.parametrize(
    ("edited", "changes"),
    [
        ("fp_alpha/model.py", True),  # the method's own module
        ("fp_alpha/helpers.py", True),  # a helper it imports from its package
        ("fp_alpha/consts.py", True),  # ... by a relative import
        ("fp_alpha/lazy.py", True),  # ... inside a function
        ("fp_alpha/unrelated.py", False),  # a module of its package it does not use
        ("fp_other/lib.py", False),  # a module of another package
    ],
)
def test_the_fingerprint_follows_the_methods_code_and_only_it(tmp_path, packages, edited, changes):
    _write(tmp_path, ALPHA)
    before = method_fingerprint(packages("fp_alpha.model:Method"))
    assert before["class"] == "fp_alpha.model:Method"
    assert before["files"] == [
        "fp_alpha/consts.py",
        "fp_alpha/helpers.py",
        "fp_alpha/lazy.py",
        "fp_alpha/model.py",
    ]
    assert method_fingerprint(packages("fp_alpha.model:Method")) == before  # deterministic
    (tmp_path / edited).write_text((tmp_path / edited).read_text() + "# edited\n")
    after = method_fingerprint(packages("fp_alpha.model:Method"))
    assert (after["fingerprint"] != before["fingerprint"]) is changes
    assert (after["source_sha256"] != before["source_sha256"]) is changes


def test_a_base_class_of_another_source_package_counts_an_installed_librarys_does_not(
    tmp_path, packages
):
    _write(tmp_path, ALPHA)
    before = method_fingerprint(packages("fp_alpha.sub:Child"))
    assert before["files"] == ["fp_alpha/sub.py", "fp_other/base.py"]
    (tmp_path / "fp_other/base.py").write_text(
        "class Base:\n    def run(self, x):\n        return -x\n"
    )
    assert (
        method_fingerprint(packages("fp_alpha.sub:Child"))["fingerprint"] != before["fingerprint"]
    )
    # torch.nn.Module (a Translator's base) is pinned by torch's version, not its source
    files = method_fingerprint(baselines.get("identity"))["files"]
    assert "baselines/oracles.py" in files and all(f.startswith("baselines/") for f in files)


def test_files_moved_unchanged_to_another_place_change_the_source_hash(tmp_path, packages):
    """The package-relative paths are hashed with the contents: a rename is a change."""
    files = {
        "fp_alpha/__init__.py": "",
        "fp_alpha/a/__init__.py": "",
        "fp_alpha/a/model.py": "from .helpers import scale\n\n\nclass Method:\n    pass\n",
        "fp_alpha/a/helpers.py": "def scale(x):\n    return 2 * x\n",
    }
    _write(tmp_path, files)
    before = method_fingerprint(packages("fp_alpha.a.model:Method"))
    (tmp_path / "fp_alpha/a").rename(tmp_path / "fp_alpha/b")
    after = method_fingerprint(packages("fp_alpha.b.model:Method"))
    assert before["files"] == ["fp_alpha/a/helpers.py", "fp_alpha/a/model.py"]
    assert after["files"] == ["fp_alpha/b/helpers.py", "fp_alpha/b/model.py"]
    assert after["source_sha256"] != before["source_sha256"]


def test_a_checkpoints_bytes_are_part_of_the_fingerprint(tmp_path, packages):
    _write(tmp_path, ALPHA)
    cls = packages("fp_alpha.model:Method")
    ckpt = tmp_path / "weights.pt"
    ckpt.write_bytes(b"weights one")
    without, one = method_fingerprint(cls), method_fingerprint(cls, ckpt)
    ckpt.write_bytes(b"weights two!")
    two = method_fingerprint(cls, ckpt)
    assert without["checkpoint_sha256"] is None
    assert one["checkpoint_sha256"] == hashlib.sha256(b"weights one").hexdigest()
    assert two["checkpoint_sha256"] == hashlib.sha256(b"weights two!").hexdigest()
    assert len({without["fingerprint"], one["fingerprint"], two["fingerprint"]}) == 3
    assert one["source_sha256"] == two["source_sha256"] == without["source_sha256"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_vcs_revision_is_the_head_of_the_repository_holding_the_package(tmp_path, packages):
    _write(tmp_path, ALPHA)  # tmp_path is in no repository
    assert method_fingerprint(packages("fp_alpha.model:Method"))["vcs_revision"] is None
    repo = tmp_path / "repo"
    _write(repo, {"fp_vcs/__init__.py": "class M:\n    pass\n", ".gitignore": "venv/\n"})
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "method")
    sys.path.insert(0, str(repo))
    try:
        found = method_fingerprint(packages("fp_vcs:M"))
    finally:
        sys.path.remove(str(repo))
    assert found["vcs_revision"] == _git(repo, "rev-parse", "HEAD")
    # a package the repository ignores (installed into a virtualenv inside it) is not its code
    _write(repo / "venv", {"fp_vcs/__init__.py": "class M:\n    pass\n"})
    sys.path.insert(0, str(repo / "venv"))
    try:
        assert method_fingerprint(packages("fp_vcs:M"))["vcs_revision"] is None
    finally:
        sys.path.remove(str(repo / "venv"))


def test_package_and_version_come_from_the_distribution_that_holds_the_file(tmp_path, packages):
    _write(tmp_path, ALPHA)
    dist = tmp_path / "fp_alpha-1.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fp_alpha\nVersion: 1.2\n")
    found = method_fingerprint(packages("fp_alpha.model:Method"))
    assert (found["package"], found["version"]) == ("fp_alpha", "1.2")
    other = method_fingerprint(packages("fp_other.base:Base"))
    assert (other["package"], other["version"]) == (None, None)


# --- the grid -------------------------------------------------------------------------------
METHOD = '''
import torch

from baselines import Translator

SHIFT = {shift}


class Shift(Translator):
    """Adds SHIFT to its input; "training" writes SHIFT into its one weight."""

    name = "fp_shift_for_tests"
    supports = frozenset({{"paired", "unpaired", "multi_domain", "few_shot", "attributes"}})

    def __init__(self, task, config="tiny"):
        super().__init__(task, config)
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.opt = torch.optim.SGD([self.w], lr=0.1)

    def optimizers(self):
        return {{"g": self.opt}}

    def train_step(self, batch):
        self.step += 1
        with torch.no_grad():
            self.w.fill_(SHIFT)
        return {{"shift": SHIFT}}

    def translate(self, x, *, target=None, latent=None, reference=None):
        return (x + SHIFT).clamp(-1, 1)
'''


@pytest.fixture
def method(tmp_path, monkeypatch, packages) -> Iterator[Callable[[float], dict]]:
    """Writes ``fp_method`` with a given SHIFT and registers it afresh (as a new process would
    see the edited file); returns its fingerprint. The suite's registries stay as they were."""
    for reg in (baselines.REGISTRY, protocols.REGISTRY, metrics.REGISTRY):
        reg.names()
        monkeypatch.setattr(reg, "_items", dict(reg._items))
        monkeypatch.setattr(reg, "_origins", dict(reg._origins))
    path = "fp_method:Shift"

    def write(shift: float) -> dict:
        _write(tmp_path, {"fp_method/__init__.py": METHOD.format(shift=shift)})
        for name in ("fp_shift_for_tests", path):
            baselines.REGISTRY.remove(name)
        packages("fp_method:Shift")  # forget the old module
        return method_fingerprint(baselines.get(path))

    yield write


def _records(out: Path) -> dict[str, rec.Record]:
    return {p.name: r for p, r in rec.read_folder(out) if r.baseline == "fp_shift_for_tests"}


def test_a_changed_method_reruns_its_cell_and_replaces_its_records(
    tmp_path, tmp_path_factory, method, monkeypatch, caplog
):
    cfg = RunConfig(
        protocols=["afhq"],
        baselines=["fp_shift_for_tests"],
        seeds=[0],
        preset=presets.get("smoke"),
        out=tmp_path / "results",
        device=torch.device("cpu"),
        cache_dir=tmp_path_factory.mktemp("cache"),
        profile=False,
        report=False,
    )
    old = method(0.0)
    assert run(cfg)["done"] == 1
    first = _records(cfg.out)
    assert first and all(r.provenance["method"] == old for r in first.values())
    status = first[f"{rec.CELL}.json"]
    cell_dir = rec.cell_dir(cfg.out, "afhq", status.protocol_hash, status.baseline, 0)
    ckpts = training.checkpoint_dir(cfg, cell_dir)
    mtimes = {p: p.stat().st_mtime_ns for p in cfg.out.rglob("*.json")}
    assert run(cfg)["skipped"] == 1  # unchanged: nothing is computed again
    assert {p: p.stat().st_mtime_ns for p in cfg.out.rglob("*.json")} == mtimes

    # the method is edited; the next run is interrupted after training, before any record
    new = method(0.5)
    assert new["fingerprint"] != old["fingerprint"]
    with monkeypatch.context() as mp, caplog.at_level("INFO", logger="benchmark"):
        mp.setattr(sampling, "sample_task", _interrupt)
        with pytest.raises(KeyboardInterrupt):
            run(cfg)
    said = (
        f"afhq/fp_shift_for_tests/seed0: fp_shift_for_tests's code changed since its records "
        f"(fingerprint {old['fingerprint']} -> {new['fingerprint']}); computing the cell again"
    )
    assert said in caplog.messages
    assert _records(cfg.out) == {}  # the old records are hidden, none mixes with the new
    assert (cell_dir / REPLACED / f"{rec.CELL}.json").is_file()
    # training started over under the new code instead of resuming the old code's weights
    assert torch.load(ckpts / "model.pt", weights_only=False)["nets"]["w"].item() == 0.5
    assert new["fingerprint"] in (ckpts / TRAINED_BY).read_text()

    caplog.clear()
    assert run(cfg)["done"] == 1  # no _cell record: the interrupted cell is computed again
    second = _records(cfg.out)
    assert set(second) == set(first)
    assert all(r.provenance["method"] == new for r in second.values())
    assert any(second[k].value != first[k].value for k in first if first[k].value is not None)
    assert not (cell_dir / REPLACED).exists()

    # an uninterrupted rerun after an edit: trains from scratch, replaces, cleans up
    newer = method(0.25)
    with caplog.at_level("INFO", logger="benchmark"):
        assert run(cfg)["done"] == 1
    assert any(f"-> {newer['fingerprint']})" in m for m in caplog.messages)
    third = _records(cfg.out)
    assert set(third) == set(first)
    assert all(r.provenance["method"] == newer for r in third.values())
    assert third[f"{rec.CELL}.json"].extra["final_losses"] == {"all": {"shift": 0.25}}
    assert not (cell_dir / REPLACED).exists()


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt
