"""One registry shape (benchmark.registry) for baselines, protocols and metric families: names
are unique with both origins named on a clash, ``package.module:Name`` paths and entry points
bring in code from any installed package."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import baselines
import protocols
from baselines.oracles import Identity
from benchmark import features, metrics
from benchmark.errors import UserError
from benchmark.registry import Registry

REPO = Path(__file__).resolve().parents[1]

PACKAGE = '''
from baselines import Translator
from baselines.oracles import Identity


class MyIdentity(Identity):
    """A user's method: the identity oracle under its own name, ranked as a method."""

    name = "my_identity"
    oracle = False


class Clash(Identity):
    name = "identity"
'''


@pytest.fixture
def user_package(tmp_path, monkeypatch) -> Iterator[Path]:
    """``mypkg`` with a Translator, installed as a distribution with an entry point; the
    suite's registries and ``sys.modules`` are left as they were (later tests run every
    registered baseline)."""
    for reg in (baselines.REGISTRY, protocols.REGISTRY, metrics.REGISTRY):
        reg.names()  # load the built-ins before the snapshot
        monkeypatch.setattr(reg, "_items", dict(reg._items))
        monkeypatch.setattr(reg, "_origins", dict(reg._origins))
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text(PACKAGE)
    dist = tmp_path / "mypkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mypkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[i2i_bench.baselines]\nmy_identity = mypkg:MyIdentity\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("mypkg", None)


def test_every_kind_lists_the_suites_own_entries():
    assert {"identity", "munit", "stargan_v2"} <= set(baselines.names())
    assert set(protocols.names()) == {
        "edges2shoes",
        "afhq",
        "animal_faces",
        "celeba_attributes",
        "celeba_stargan",
    }
    assert {"fid", "kid", "lpips_diversity"} <= set(metrics.families())


def test_a_second_object_under_a_taken_name_is_refused_naming_both(user_package):
    import mypkg

    with pytest.raises(UserError) as err:
        baselines.register(mypkg.Clash)
    assert "baselines.oracles.Identity" in str(err.value) and "mypkg.Clash" in str(err.value)
    assert baselines.get("identity") is Identity

    class Again(protocols.get("afhq").__class__):
        pass

    with pytest.raises(UserError, match="protocol name 'afhq' is claimed twice"):
        protocols.register(Again)
    with pytest.raises(UserError, match="metric family name 'fid' is claimed twice"):
        metrics.family("fid", (metrics.Metric("fid", False, "FID"),))(lambda c, g, v: [])
    with pytest.raises(ValueError, match="metric 'fid' declared twice differently"):
        metrics.family("fid2", (metrics.Metric("fid", True, "FID"),))(lambda c, g, v: [])
    assert "fid2" not in metrics.families() and metrics.METRICS["fid"].direction == "lower"


def test_a_path_brings_in_a_class_by_its_own_name(user_package):
    cls = baselines.get("mypkg:MyIdentity")
    assert cls.name == "my_identity" and baselines.get("my_identity") is cls
    assert baselines.get("baselines.oracles:Identity") is Identity
    for bad, needle in (
        ("nopkg.mod:X", "cannot import nopkg.mod"),
        ("mypkg:Nothing", "mypkg has no Nothing"),
        ("mypkg:PACKAGE_NAME_MISSING", "has no"),
        ("baselines.oracles:_Oracle", "has no name"),
        ("protocols.base:Protocol", "not a subclass of baselines.Translator"),
        ("mispelt", "unknown baseline 'mispelt'"),
    ):
        with pytest.raises(UserError, match=needle):
            baselines.get(bad)


def test_an_entry_point_group_adds_installed_packages(user_package):
    found = Registry("baseline", "i2i_bench.baselines", lambda: None)
    import mypkg

    assert found.names() == ["my_identity"] and found.get("my_identity") is mypkg.MyIdentity
    assert "mypkg" in found.origin("my_identity")


def test_a_run_takes_a_method_from_any_package_by_path(user_package, tmp_path):
    """`run_all.py --baselines identity mypkg:MyIdentity`: recorded under the class's name."""
    out = tmp_path / "out"
    args = [sys.executable, "run_all.py", "--preset", "smoke", "--protocols", "afhq"]
    args += ["--baselines", "identity", "mypkg:MyIdentity", "--out", str(out), "--device", "cpu"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--no-profile", "--no-report"]
    env_path = f"{user_package}:{REPO}"
    done = subprocess.run(
        args,
        cwd=REPO,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cells = sorted(p.parent.parent.name for p in out.glob("records/afhq-*/*/seed0/_cell.json"))
    assert cells == ["identity", "my_identity"]


def test_the_suites_registries_are_one_helper():
    """Each kind is a Registry with its own entry-point group (no hand-kept dicts left)."""
    from benchmark.cli import SUBCOMMANDS

    kinds = (
        baselines.REGISTRY,
        protocols.REGISTRY,
        metrics.REGISTRY,
        features.EXTRACTORS,
        SUBCOMMANDS,
    )
    assert {r.group for r in kinds} == {
        "i2i_bench.baselines",
        "i2i_bench.protocols",
        "i2i_bench.metrics",
        "i2i_bench.extractors",
        "i2i_bench.subcommands",
    }
    assert SUBCOMMANDS.get("run").module == "benchmark.run_cli"
    with pytest.raises(UserError, match="unknown subcommand 'rn'"):
        SUBCOMMANDS.get("rn")
    assert features.EXTRACTORS.names() == ["inception-v3-compat", "inception-v3-torchvision"]
    with pytest.raises(UserError, match="unknown feature extractor 'inception-v4'"):
        features.build_standard("inception-v4", None, torch.device("cpu"))
    with pytest.raises(UserError, match="not a benchmark.features.Standard"):
        features.build_standard("baselines.oracles:Identity", None, torch.device("cpu"))


def test_built_in_entries_are_found_by_file_name(tmp_path, monkeypatch):
    """A new module is a new entry, no list to edit; shared modules are skipped."""
    from benchmark.registry import import_modules

    pkg = tmp_path / "found_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("SEEN = []\n")
    for name in ("zeta", "alpha", "shared", "_private"):
        (pkg / f"{name}.py").write_text(f"from found_pkg import SEEN\nSEEN.append({name!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import_modules("found_pkg", skip=("shared",))
    assert sys.modules["found_pkg"].SEEN == ["alpha", "zeta"]
    for name in ("found_pkg", "found_pkg.alpha", "found_pkg.zeta"):
        sys.modules.pop(name, None)
