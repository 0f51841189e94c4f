"""Hostile inputs (issue #20): corrupt annotation, sidecar and record files, 16-bit and
decompression-bomb images, Ctrl-C while importing. Each is the command a user types, in a
subprocess: exit status 2 (130 for Ctrl-C), one ``error:`` line naming the file as the last line
of stderr, no traceback, and nothing half-written. Commands of one case run side by side: each
spends seconds importing torch."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import protocols
from benchmark import records as rec
from benchmark.errors import UserError
from protocols.base import read_sidecar, to_8bit, to_tensor
from protocols.celeba_attributes import SELECTED, read_attributes, read_partition

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 300
INTERRUPTED = "interrupted: finished records are kept; rerun the same command to resume"
Done = subprocess.CompletedProcess


def _bench(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "benchmark", *map(str, args)]


def _run(
    tmp: Path, protocol: str, data: Path, entry: tuple[str, ...] = ("run_all.py",)
) -> list[str]:
    """The smoke grid of one protocol x identity on ``data``, into ``tmp/out``."""
    return [
        sys.executable, *entry, "--preset", "smoke", "--no-profile", "--no-report",
        "--protocols", protocol, "--baselines", "identity", "--data", f"{protocol}={data}",
        "--out", str(tmp / "out"), "--cache-dir", str(tmp / "cache"), "--device", "cpu",
    ]  # fmt: skip


def _env(tmp: Path) -> dict[str, str]:
    """No standard weights: Inception metrics are skipped alike on every machine."""
    return {**os.environ, "TORCH_HOME": str(tmp / "torch-home")}


def _cli(tmp: Path, *commands: list[str]) -> list[Done]:
    """Run the commands side by side from the repository root and wait for all."""

    def one(cmd: list[str]) -> Done:
        return subprocess.run(
            cmd, cwd=REPO, env=_env(tmp), capture_output=True, text=True, timeout=TIMEOUT
        )

    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(one, commands))


def _refused(done: Done, *named: Path | str) -> str:
    """The one ``error:`` line of a command that must exit 2; it names every ``named``."""
    err = done.stderr
    assert "Traceback" not in err + done.stdout, err[-3000:]
    assert done.returncode == 2, err[-3000:]
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and err.rstrip().splitlines()[-1] == lines[0], err[-3000:]
    for name in named:
        assert str(name) in lines[0]
    return lines[0]


def _copy(twins: dict[str, Path], name: str, tmp: Path) -> Path:
    return Path(shutil.copytree(twins[name], tmp / name))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> dict[str, Path]:
    """32 px twins written by ``data synth``; tests copy them before breaking anything."""
    root = tmp_path_factory.mktemp("twins")
    names = ("afhq", "celeba_attributes", "animal_faces", "edges2shoes")
    synth = [_bench("data", "synth", n, "--out", root / n, "--size", "32") for n in names]
    for done in _cli(root, *synth):
        assert done.returncode == 0, done.stderr[-3000:]
    return {n: root / n for n in names}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, twins) -> Path:
    """The results folder of a finished afhq smoke run (never written to by the tests)."""
    tmp = tmp_path_factory.mktemp("smoke")
    (done,) = _cli(tmp, _run(tmp, "afhq", twins["afhq"]))
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "out"


# 1. CelebA annotation files


def test_attribute_file_of_random_bytes_is_one_line(tmp_path, twins):
    data = _copy(twins, "celeba_attributes", tmp_path)
    attr = data / "list_attr_celeba.txt"
    attr.write_bytes(random.Random(0).randbytes(4000))
    check, run = _cli(
        tmp_path,
        _bench("data", "check", "celeba_attributes", data),
        _run(tmp_path, "celeba_attributes", data),
    )
    for done in (check, run):
        line = _refused(done, attr)
        assert "not a text attribute file" in line and "restore it from the CelebA release" in line
    assert not (tmp_path / "out" / "records").exists()


def _edit_line(path: Path, number: int, edit: Callable[[str], str]) -> None:
    lines = path.read_text().split("\n")
    lines[number - 1] = edit(lines[number - 1])
    path.write_text("\n".join(lines))


@pytest.mark.parametrize(
    ("name", "number", "edit", "needle"),
    [
        ("list_attr_celeba.txt", 3, lambda ln: ln.rsplit(maxsplit=1)[0], "line 3: 40 columns"),
        ("list_attr_celeba.txt", 5, lambda ln: ln[:-2] + " 0", "line 5: value '0' is not 1"),
        ("list_attr_celeba.txt", 1, lambda ln: "many", "line 1: should be the image count"),
        ("list_eval_partition.txt", 7, lambda ln: ln[:-1] + "3", "line 7: expected a file name"),
        ("list_eval_partition.txt", 2, lambda ln: ln + " 0", "line 2: expected a file name"),
    ],
)
def test_malformed_annotation_line_names_file_and_line(tmp_path, twins, name, number, edit, needle):
    path = tmp_path / name
    shutil.copy(twins["celeba_attributes"] / name, path)
    _edit_line(path, number, edit)
    with pytest.raises(UserError, match=f"{path}, {needle}") as caught:
        if name == "list_attr_celeba.txt":
            read_attributes(path, SELECTED, real=False)
        else:
            read_partition(path)
    assert "\n" not in str(caught.value)


def test_both_celeba_protocols_refuse_undecodable_annotations(tmp_path, twins):
    data = _copy(twins, "celeba_attributes", tmp_path)
    (data / "list_eval_partition.txt").write_bytes(b"000001.jpg 0\n\xff\xfe\n")
    with pytest.raises(UserError, match="list_eval_partition.txt is not a text partition file"):
        pdef = protocols.get("celeba_attributes")
        pdef.load(data, pdef.spec(synthetic=True))
    (data / "list_attr_celeba.txt").write_bytes(random.Random(1).randbytes(4000))
    pdef = protocols.get("celeba_stargan")
    with pytest.raises(UserError, match="list_attr_celeba.txt is not a text attribute file"):
        pdef.load(data, pdef.spec(synthetic=True))


# 2. record files that parse but are not records


def _corrupt_record(path: Path, how: str) -> None:
    data = json.loads(path.read_text())
    texts = {"null": "null", "list": "[1]", "types": json.dumps({**data, "seed": "0"})}
    path.write_text(texts[how])


def test_regress_refuses_a_record_that_is_not_a_record(tmp_path, smoke):
    reference = _tree(smoke)
    cases = {}
    for how in ("null", "list", "types"):
        results = Path(shutil.copytree(smoke, tmp_path / how))
        broken = sorted((results / "records").rglob("fid--latent--*.json"))[0]
        _corrupt_record(broken, how)
        cases[how] = (results, broken, _tree(results))
    regress = [
        _bench("regress", "--results", results, "--reference", smoke)
        for results, _, _ in cases.values()
    ]
    for done, (how, (results, broken, before)) in zip(_cli(tmp_path, *regress), cases.items()):
        line = _refused(done, broken)
        assert ("'seed' is text" if how == "types" else "not a JSON object") in line
        assert _tree(results) == before
    assert _tree(smoke) == reference


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"seed": True}, "'seed' is true/false, expected an integer"),
        ({"extra": []}, "'extra' is an array, expected an object"),
        ({"extractor": 3}, "'extractor' is a number, expected text or null"),
        ({"value": "twelve"}, "'value' 'twelve' is not a finite number"),
        ({"metric": ""}, "'metric' is text, expected non-empty text"),
    ],
)
def test_record_with_a_wrong_field_type_is_one_line(tmp_path, change, needle):
    good = rec.Record(
        protocol="afhq", protocol_hash="abc", baseline="identity", seed=0, metric="fid"
    )
    path = rec.write(tmp_path, good)
    assert rec.read(path).key == good.key
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(UserError, match=f"unreadable record {path}: {needle}"):
        list(rec.iter_records(tmp_path))


# 3. a synthetic sidecar that is not an object


def test_sidecar_that_is_not_an_object_is_one_line(tmp_path, twins):
    data = _copy(twins, "afhq", tmp_path)
    sidecar = data / "synthetic.json"
    sidecar.write_text("[1]")
    for done in _cli(tmp_path, _bench("data", "check", "afhq", data), _run(tmp_path, "afhq", data)):
        assert "not a JSON object" in _refused(done, sidecar)
    assert not (tmp_path / "out" / "records").exists()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ({"counts": [96]}, "'counts' is not an object"),
        ({"counts": {"train": {"cat": "96"}}}, "'counts' is not an object"),
        ({"factors": {"train/cat/a.jpg": [1]}}, "'factors' is not an object"),
        ({"factors": {"train/cat/a.jpg": {"content": 3}}}, "'factors' is not an object"),
    ],
)
def test_sidecar_with_wrong_types_is_one_line(tmp_path, content, needle):
    (tmp_path / "synthetic.json").write_text(json.dumps(content))
    with pytest.raises(UserError, match=f"corrupt {tmp_path / 'synthetic.json'}: {needle}"):
        read_sidecar(tmp_path)


@pytest.mark.parametrize(
    ("protocol", "counts", "needle"),
    [
        ("afhq", {"train": 5}, "counts.train.cat is not where it belongs"),
        ("animal_faces", {"train_classes": {"a": 1}}, "counts.train_classes is {'a': 1}, not"),
        ("edges2shoes", {"val": {"a": 200}}, "counts.val is {'a': 200}, not a whole number"),
    ],
)
def test_sidecar_counts_in_the_wrong_shape_are_one_line(tmp_path, twins, protocol, counts, needle):
    """Whole numbers in the wrong nesting pass the generic sidecar check; each loader reads its
    counts through one helper that names the file."""
    data = _copy(twins, protocol, tmp_path)
    side = json.loads((data / "synthetic.json").read_text())
    (data / "synthetic.json").write_text(json.dumps({**side, "counts": counts}))
    pdef = protocols.get(protocol)
    with pytest.raises(UserError, match=f"corrupt {data / 'synthetic.json'}: {re.escape(needle)}"):
        pdef.load(data, pdef.spec(synthetic=True))


# 4. high bit depths


def _as_8bit(img: Image.Image) -> np.ndarray:
    """What a run sees, back in 0..255, (H, W, 3)."""
    x = to_tensor(img, img.size[0])
    return np.rint((x.permute(1, 2, 0).numpy() + 1) * 127.5).astype(int)


def test_16bit_png_in_a_run_is_scaled_not_clipped(tmp_path, twins):
    data = _copy(twins, "afhq", tmp_path)
    old, new = "val/cat/flickr_cat_000001.jpg", "val/cat/flickr_cat_000001.png"
    (data / old).unlink()
    Image.fromarray(np.full((32, 32), 30000, np.uint16)).save(data / new)
    side = json.loads((data / "synthetic.json").read_text())
    side["factors"][new] = side["factors"].pop(old)
    (data / "synthetic.json").write_text(json.dumps(side))
    with Image.open(data / new) as img:
        assert img.mode == "I;16"
    pdef = protocols.get("afhq")
    loaded = pdef.load(data, pdef.spec(synthetic=True))
    (item,) = [it for it in loaded.test.items if it.path == new]
    pixels = np.rint((loaded.image(item).numpy() + 1) * 127.5)
    assert (pixels == round(30000 / 257)).all()  # 117 in every channel, not 255
    (done,) = _cli(tmp_path, _run(tmp_path, "afhq", data))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]


def test_high_bit_depth_modes_map_by_their_range():
    big_endian = Image.frombytes("I;16B", (4, 4), np.full((4, 4), 65535, ">u2").tobytes())
    assert (_as_8bit(big_endian) == 255).all()
    wide = np.array([[0, 257], [30000, 65535]], np.int32)
    assert _as_8bit(Image.fromarray(wide))[..., 0].tolist() == [[0, 1], [117, 255]]
    as_8bit = np.array([[0, 7], [128, 255]], np.int32)  # all in 0..255: taken as they are
    assert _as_8bit(Image.fromarray(as_8bit))[..., 0].tolist() == as_8bit.tolist()
    assert to_8bit(Image.new("RGB", (2, 2))).mode == "RGB"  # 8-bit modes untouched
    for bad, needle in (
        (np.array([[-1.0, 3.0]], np.float32), "outside 0..65535"),
        (np.array([[70000, 3]], np.int32), "outside 0..65535"),
        (np.array([[0.25, 1.0]], np.float32), "float pixels in 0..1 are ambiguous"),
    ):
        with pytest.raises(ValueError, match=needle):
            to_8bit(Image.fromarray(bad))


# 5. Ctrl-C while the modules import


def _default_sigint() -> None:
    """In the child: a shell that started pytest in the background may leave SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("entry", [("run_all.py",), ("-m", "benchmark", "run")])
def test_ctrl_c_while_importing_is_one_line(tmp_path, twins, entry):
    """Interrupted once torch's library is mapped, i.e. mid-import on any machine; should the
    imports be done by then, the CLI's own handler prints the same line."""
    proc = subprocess.Popen(
        _run(tmp_path, "afhq", twins["afhq"], entry),
        cwd=REPO,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    maps, deadline = Path(f"/proc/{proc.pid}/maps"), time.monotonic() + 60
    while "libtorch" not in maps.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in out + err and err.rstrip().splitlines()[-1] == INTERRUPTED
    assert not list((tmp_path / "out").rglob(".*.tmp"))
    list(rec.iter_records(tmp_path / "out"))  # whatever was written is whole


# 6. a decompression bomb among the training images


def test_decompression_bomb_is_one_line(tmp_path, twins):
    data = _copy(twins, "afhq", tmp_path)
    (data / "train/cat/flickr_cat_000001.jpg").unlink()
    bomb = data / "train/cat/flickr_cat_000001.png"
    Image.new("1", (15000, 15000)).save(bomb)  # 225 Mpixel, a few KB on disk
    check, run = _cli(tmp_path, _bench("data", "check", "afhq", data), _run(tmp_path, "afhq", data))
    for done in (check, run):
        assert "decompression bomb" in _refused(done, bomb)
    assert not (tmp_path / "out" / "records").exists()
