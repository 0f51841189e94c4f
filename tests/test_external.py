"""The outputs-folder route: a manifest, outputs written by other code, scored like a baseline.

Equivalence is the proof: writing each input as its own output through the manifest gives the
identity oracle's records, and the random_real oracle's outputs give its records, every metric
to 1e-6, on every protocol's twin.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

import protocols
from benchmark import records as rec
from benchmark import runner, sampling, training
from benchmark.cli import main
from benchmark.external import output_file, tasks_for
from benchmark.plan import scored_modes
from protocols.base import to_uint8
from tests.test_runner import _cfg

PROTOCOLS = ["edges2shoes", "afhq", "animal_faces", "celeba_attributes", "celeba_stargan"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def grid(tmp_path_factory, cache) -> Path:
    """The oracles' records as the grid writes them (smoke preset)."""
    out = tmp_path_factory.mktemp("grid")
    cfg = _cfg(out, cache, protocols=PROTOCOLS, baselines=["identity", "random_real"])
    assert runner.run(cfg)["failed"] == 0
    return cfg.out


def _manifest(protocol: str, folder: Path, cache: Path) -> dict:
    args = ["manifest", protocol, "--preset", "smoke", "--out", str(folder)]
    assert main([*args, "--cache-dir", str(cache)]) == 0
    return json.loads((folder / "manifest.json").read_text())


def _score(protocol: str, folder: Path, name: str, out: Path, cache: Path, *extra: str) -> int:
    args = ["score", protocol, "--manifest", str(folder / "manifest.json"), "--outputs"]
    args += [str(folder), "--name", name, "--out", str(out), "--cache-dir", str(cache)]
    return main([*args, "--no-report", "--device", "cpu", *extra])


def _values(root: Path, protocol: str, baseline: str) -> dict[tuple, rec.Record]:
    return {
        (r.metric, r.variant, r.extractor): r
        for _, r in rec.read_folder(root)
        if r.protocol == protocol and r.baseline == baseline and r.kind == "metric"
    }


def _assert_same(grid: Path, grid_name: str, out: Path, name: str, protocol: str) -> None:
    want, got = _values(grid, protocol, grid_name), _values(out, protocol, name)
    assert want and set(want) == set(got)
    for key, a in want.items():
        b = got[key]
        assert (b.status, b.direction) == (a.status, a.direction), key
        if a.value is None:
            assert b.value is None, key
        else:
            assert b.value == pytest.approx(a.value, rel=1e-6, abs=1e-6), key
    numbers = [r.value for r in want.values() if r.value is not None]
    assert len(numbers) >= 4 and len({round(v, 4) for v in numbers}) >= 3  # far from degenerate


def _write(folder: Path, output: str, image: torch.Tensor) -> None:
    path = folder / output
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(image).permute(1, 2, 0).numpy()).save(path)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_input_as_its_output_reproduces_the_identity_oracle(protocol, grid, cache, tmp_path):
    folder = tmp_path / "gen"
    manifest = _manifest(protocol, folder, cache)
    assert manifest["protocol"] == protocol and manifest["image_size"] == 32
    for item in manifest["items"]:
        (folder / item["output"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / item["input"], folder / item["output"])
    out = tmp_path / "results"
    assert _score(protocol, folder, "mine", out, cache) == 0
    _assert_same(grid, "identity", out, "mine", protocol)
    cell = next(out.glob(f"records/{protocol}-*/mine/seed0/_cell.json"))
    status = rec.read(cell)
    assert status.extra["how"] == "external" and status.provenance["oracle"] is False
    ext = status.provenance["external"]
    assert len(ext["outputs_sha256"]) == 64 and len(ext["manifest_sha256"]) == 64
    assert status.provenance["method"]["fingerprint"] == ext["outputs_sha256"][:16]


@pytest.mark.parametrize("protocol", ["afhq", "animal_faces"])
def test_the_random_real_oracles_outputs_reproduce_its_records(protocol, grid, cache, tmp_path):
    """Outputs made the way the grid makes them (same seeds, same order), written as PNG."""
    folder = tmp_path / "gen"
    manifest = _manifest(protocol, folder, cache)
    cfg = _cfg(tmp_path, cache, protocols=[protocol], baselines=["random_real"])
    data = runner.load_protocol(protocol, cfg)
    model, _ = training.build_models("random_real", data, cfg, 0, cfg.out / "records" / "x")
    torch.manual_seed(0)
    modes = scored_modes(data.protocol, type(model))
    for task in [t for t in tasks_for(data, 0, data.protocol.modes) if t.mode in modes]:
        outs = sampling.sample_task(model, task, data, cfg).outputs
        for n in range(outs.shape[0]):
            for j in range(outs.shape[1]):
                _write(folder, output_file(task, n, j), outs[n, j])
    assert len(list(folder.rglob("outputs/**/*.png"))) == len(manifest["items"])
    out = tmp_path / "results"
    assert _score(protocol, folder, "rr", out, cache) == 0
    _assert_same(grid, "random_real", out, "rr", protocol)


@pytest.fixture
def filled(tmp_path, cache) -> tuple[Path, dict]:
    folder = tmp_path / "gen"
    manifest = _manifest("afhq", folder, cache)
    for item in manifest["items"]:
        (folder / item["output"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / item["input"], folder / item["output"])
    return folder, manifest


def _refused(capsys, folder: Path, out: Path, cache: Path, needle: str, *extra: str) -> None:
    assert _score("afhq", folder, "mine", out, cache, *extra) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0] and "Traceback" not in err, err
    assert not (out / "records").exists()  # nothing written


def test_bad_outputs_are_one_line_naming_the_first_and_the_count(filled, tmp_path, cache, capsys):
    folder, manifest = filled
    out = tmp_path / "results"
    items = manifest["items"]
    (folder / items[0]["output"]).unlink()
    (folder / items[1]["output"]).write_bytes(b"not a png")
    Image.new("RGB", (31, 32)).save(folder / items[2]["output"])
    _refused(capsys, folder, out, cache, f"{folder / items[0]['output']}: missing; 3 bad file(s)")
    shutil.copy(folder / items[3]["input"], folder / items[0]["output"])
    _refused(capsys, folder, out, cache, "unreadable")
    Image.new("RGB", (32, 32)).save(folder / items[1]["output"])
    _refused(capsys, folder, out, cache, "31x32 pixels, expected 32x32")
    Image.new("RGB", (32, 32)).save(folder / items[2]["output"])
    stray = folder / "outputs" / "cat2dog" / "sketch" / "000000_s0.png"
    stray.parent.mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(stray)
    _refused(capsys, folder, out, cache, "mode sketch is not in the manifest")
    stray.unlink()
    assert _score("afhq", folder, "mine", out, cache) == 0


def test_a_manifest_of_another_protocol_or_a_suite_name_is_refused(filled, tmp_path, cache, capsys):
    folder, _ = filled
    out = tmp_path / "results"
    assert _score("edges2shoes", folder, "mine", out, cache) == 2
    assert "was made for afhq" in capsys.readouterr().err
    assert _score("afhq", folder, "identity", out, cache) == 2
    assert "a baseline of the suite has that name" in capsys.readouterr().err
    assert _score("afhq", folder, "mine", out, cache, "--preset", "quick") == 2
    assert "was made with preset smoke" in capsys.readouterr().err
    assert not (out / "records").exists()


def test_rescoring_replaces_the_records_whole(filled, tmp_path, cache):
    """New outputs under the same name: the records are the new ones only, with the new hash."""
    folder, manifest = filled
    out = tmp_path / "results"
    assert _score("afhq", folder, "mine", out, cache) == 0
    first = _values(out, "afhq", "mine")
    for item in manifest["items"]:
        _write(folder, item["output"], -torch.ones(3, 32, 32))  # a black image each time
    assert _score("afhq", folder, "mine", out, cache) == 0
    second = _values(out, "afhq", "mine")
    assert set(first) == set(second)
    assert first[("fid", "latent", "protocol:afhq@845d5b41e828")].value != pytest.approx(
        second[("fid", "latent", "protocol:afhq@845d5b41e828")].value
    )
    hashes = {r.provenance["external"]["outputs_sha256"] for r in second.values()}
    assert len(hashes) == 1
    cell = next(out.glob("records/afhq-*/mine/seed0"))
    assert not (cell / ".replaced").exists()


def test_a_manifest_may_leave_a_mode_out_and_says_so(tmp_path, cache):
    folder = tmp_path / "gen"
    args = ["manifest", "afhq", "--preset", "smoke", "--modes", "latent", "--out", str(folder)]
    assert main([*args, "--cache-dir", str(cache)]) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {it["mode"] for it in manifest["items"]} == {"latent"}
    for item in manifest["items"]:
        (folder / item["output"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / item["input"], folder / item["output"])
    out = tmp_path / "results"
    assert _score("afhq", folder, "mine", out, cache) == 0
    skipped = [r for r in _values(out, "afhq", "mine").values() if r.variant == "reference"]
    assert skipped and all(r.status == "skipped" for r in skipped)
    assert "without reference outputs" in skipped[0].reason
    assert protocols.get("afhq").spec().modes == ("latent", "reference")
    from benchmark.report import render_all

    page = render_all(out, out / "report")
    html = Path(page).read_text()
    assert "mine" in html and "(external)" in html
    assert "mine (external)" in (out / "report" / "leaderboard.md").read_text()
