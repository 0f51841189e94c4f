"""``study serve``: answers in, one line each, and every bad request refused with nothing written.

The server runs in a thread of the test (``make_server`` on a free port), and once as the real
command line in a subprocess (``start_cli_server``, which the browser test uses too).
"""

from __future__ import annotations

import json
import math
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from benchmark.study.make import StudyOptions, make_study
from benchmark.study.order import plan
from benchmark.study.serve import make_server
from tests.study.test_make import make_results

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"participant", "trial", "choice", "rt_ms", "swapped", "received_at"}
# the command line, as `python -m benchmark` runs it
CLI = "import sys; from benchmark.__main__ import launch; sys.exit(launch(sys.argv[1:]))"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_results(tmp_path_factory.mktemp("results"))


@pytest.fixture
def study(results: Path, tmp_path: Path) -> Path:
    out = tmp_path / "study"
    make_study(
        StudyOptions(
            results=results,
            protocol="edges2shoes",
            design="real-vs-fake",
            methods=("bicyclegan",),
            out=out,
            trials=12,
            practice=3,
            catch_rate=0.2,
        )
    )
    return out


def serve_in_thread(folder: Path) -> tuple[str, callable]:
    server = make_server(folder, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(10)

    return f"http://127.0.0.1:{server.server_address[1]}", stop


@pytest.fixture
def url(study: Path) -> Iterator[str]:
    base, stop = serve_in_thread(study)
    yield base
    stop()


def post(base: str, body: object, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(
        base + "/answer", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get(base: str, path: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(base + path, timeout=30) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "")


def trial_ids(study: Path) -> list[str]:
    return [t["id"] for t in json.loads((study / "trials.json").read_text())["trials"]]


def answer(study: Path, who: str, trial: str, choice: str = "left", **kw) -> dict:
    return {"participant": who, "trial": trial, "choice": choice, "rt_ms": 812} | kw


def lines(study: Path) -> list[dict]:
    path = study / "answers.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


# --- valid answers -------------------------------------------------------------------------------


def test_a_valid_answer_is_one_line(study: Path, url: str) -> None:
    ids = trial_ids(study)
    status, reply = post(url, answer(study, "alice", ids[5], "right", rt_ms=1234.5))
    assert status == 200 and reply == {"ok": True, "answered": 1, "total": len(ids)}
    (rec,) = lines(study)
    assert set(rec) == FIELDS
    assert (rec["participant"], rec["trial"], rec["choice"], rec["rt_ms"]) == (
        "alice",
        ids[5],
        "right",
        1234.5,
    )
    seed = json.loads((study / "study.json").read_text())["seed"]
    order = [(t, t.startswith("p")) for t in ids]
    assert rec["swapped"] is plan(seed, "alice", order).swapped[ids[5]]
    assert datetime.fromisoformat(rec["received_at"].replace("Z", "+00:00")).tzinfo is not None
    # the page may send swapped; it must agree with the seed
    status, _ = post(
        url, answer(study, "alice", ids[6], swapped=plan(seed, "alice", order).swapped[ids[6]])
    )
    assert status == 200 and len(lines(study)) == 2


def _bad_cases(ids: list[str]) -> list[tuple[str, object, bytes | None, str]]:
    ok = {"participant": "alice", "trial": ids[0], "choice": "left", "rt_ms": 500}
    return [
        ("malformed JSON", None, b'{"participant": "alice",', "malformed JSON"),
        ("not UTF-8", None, b'{"participant": "\xff"}', "malformed JSON"),
        ("not an object", ["alice", ids[0]], None, "JSON object"),
        ("unknown trial", ok | {"trial": "q999"}, None, "unknown trial"),
        ("trial not a string", ok | {"trial": 1}, None, "unknown trial"),
        ("choice up", ok | {"choice": "up"}, None, "choice must be"),
        ("choice missing", {k: v for k, v in ok.items() if k != "choice"}, None, "choice"),
        ("choice a list", ok | {"choice": ["left"]}, None, "choice must be"),
        ("no participant", {k: v for k, v in ok.items() if k != "participant"}, None,
         "participant"),
        ("participant with a space", ok | {"participant": "al ice"}, None, "participant"),
        ("participant too long", ok | {"participant": "a" * 65}, None, "participant"),
        ("rt negative", ok | {"rt_ms": -1}, None, "rt_ms"),
        ("rt a string", ok | {"rt_ms": "500"}, None, "rt_ms"),
        ("rt a bool", ok | {"rt_ms": True}, None, "rt_ms"),
        ("rt not finite", None, json.dumps(ok | {"rt_ms": math.inf}).encode(), "rt_ms"),
        ("swapped wrong", ok | {"swapped": "yes"}, None, "disagrees with the study's seed"),
    ]  # fmt: skip


def test_bad_answers_are_400_and_nothing_is_written(study: Path, url: str) -> None:
    ids = trial_ids(study)
    for what, body, raw, reason in _bad_cases(ids):
        status, reply = post(url, body, raw)
        assert status == 400, what
        assert reason in reply["error"], (what, reply)
        assert not (study / "answers.jsonl").exists(), what
    status, _ = post(url, answer(study, "alice", ids[0]))
    assert status == 200
    before = (study / "answers.jsonl").read_bytes()
    for what, body, raw, _ in _bad_cases(ids):
        assert post(url, body, raw)[0] == 400, what
    assert (study / "answers.jsonl").read_bytes() == before


def test_a_second_answer_to_a_trial_is_refused(study: Path, url: str) -> None:
    ids = trial_ids(study)
    assert post(url, answer(study, "alice", ids[2]))[0] == 200
    status, reply = post(url, answer(study, "alice", ids[2], "right"))
    assert status == 400 and "already answered" in reply["error"]
    assert post(url, answer(study, "bob", ids[2]))[0] == 200  # another participant may
    assert [(r["participant"], r["choice"]) for r in lines(study)] == [
        ("alice", "left"), ("bob", "left")
    ]  # fmt: skip


def test_progress_lets_a_participant_continue(study: Path, url: str) -> None:
    ids = trial_ids(study)
    for t in (ids[4], ids[0], ids[9]):
        assert post(url, answer(study, "carol", t))[0] == 200
    status, body, kind = get(url, "/progress?participant=carol")
    assert status == 200 and kind.startswith("application/json")
    assert json.loads(body) == {"participant": "carol", "answered": [ids[4], ids[0], ids[9]],
                                "total": len(ids)}  # fmt: skip
    assert json.loads(get(url, "/progress?participant=dave")[1])["answered"] == []
    assert get(url, "/progress?participant=a%20b")[0] == 400
    assert get(url, "/progress")[0] == 400


def test_answers_survive_a_restart_and_a_second_server(study: Path, url: str) -> None:
    ids = trial_ids(study)
    assert post(url, answer(study, "erin", ids[1]))[0] == 200
    other, stop = serve_in_thread(study)  # a second server on the same folder
    try:
        assert json.loads(get(other, "/progress?participant=erin")[1])["answered"] == [ids[1]]
        assert post(other, answer(study, "erin", ids[1]))[0] == 400
        assert post(other, answer(study, "erin", ids[3]))[0] == 200
        # the first server sees what the second appended
        assert post(url, answer(study, "erin", ids[3]))[0] == 400
        assert json.loads(get(url, "/progress?participant=erin")[1])["answered"] == [
            ids[1], ids[3]
        ]  # fmt: skip
    finally:
        stop()
    assert len(lines(study)) == 2


def test_concurrent_answers_are_whole_lines(study: Path, url: str) -> None:
    ids = trial_ids(study)
    results: list[int] = []

    def send(who: str, trial: str) -> None:
        results.append(post(url, answer(study, who, trial))[0])

    jobs = [threading.Thread(target=send, args=(f"p{i}", t)) for i in range(4) for t in ids]
    jobs += [threading.Thread(target=send, args=("same", ids[0])) for _ in range(8)]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(60)
    assert results.count(200) == 4 * len(ids) + 1 and results.count(400) == 7
    recs = lines(study)  # every line parses: no interleaved writes
    assert len(recs) == 4 * len(ids) + 1
    assert len({(r["participant"], r["trial"]) for r in recs}) == len(recs)


def test_a_torn_last_line_is_skipped_and_closed(study: Path) -> None:
    ids = trial_ids(study)
    (study / "answers.jsonl").write_text(
        json.dumps(answer(study, "fay", ids[0]) | {"swapped": False, "received_at": "x"})
        + '\n{"participant": "fay", "tri'
    )
    base, stop = serve_in_thread(study)
    try:
        assert json.loads(get(base, "/progress?participant=fay")[1])["answered"] == [ids[0]]
        assert post(base, answer(study, "fay", ids[1]))[0] == 200
    finally:
        stop()
    text = (study / "answers.jsonl").read_text().splitlines()
    assert len(text) == 3 and json.loads(text[2])["trial"] == ids[1]
    base, stop = serve_in_thread(study)  # a restart reads the two answers, skips the torn line
    try:
        assert json.loads(get(base, "/progress?participant=fay")[1])["answered"] == ids[:2]
    finally:
        stop()


# --- what is served ------------------------------------------------------------------------------


def test_only_the_page_and_images_are_served(study: Path, url: str) -> None:
    status, body, kind = get(url, "/")
    assert status == 200 and kind.startswith("text/html") and b"study.js" in body
    for path in ("/index.html", "/study.js", "/study.css", "/study.json"):
        assert get(url, path)[0] == 200, path
    image = json.loads((study / "study.json").read_text())["trials"][0]["left"]
    status, body, kind = get(url, "/" + image)
    assert status == 200 and kind == "image/png" and body == (study / image).read_bytes()
    (study / "answers.jsonl").write_text("")
    for path in ("/trials.json", "/answers.jsonl", "/trials.csv", "/images/",
                 "/images/../trials.json", "/%2e%2e/trials.json", "/study.json/../trials.json",
                 "/nope"):  # fmt: skip
        assert get(url, path)[0] == 404, path
    status, reply = post(url, None, b"x" * 5000)
    assert status == 413 and "error" in reply
    req = urllib.request.Request(url + "/progress", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 404
    assert (study / "answers.jsonl").read_text() == ""


# --- the command line ----------------------------------------------------------------------------


def start_cli_server(study: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """``python -m benchmark study serve STUDY --port 0`` in a subprocess; its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "study", "serve", str(study), "--port", "0", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if "http://" in line:
                return proc, line.split("http://", 1)[1].split("/", 1)[0]
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"study serve did not start: {proc.stderr.read()}")


def stop_cli_server(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out


def test_the_command_serves_on_this_machine_only(study: Path) -> None:
    proc, host = start_cli_server(study)
    try:
        assert host.startswith("127.0.0.1:")
        base = f"http://{host}"
        assert post(base, answer(study, "gus", trial_ids(study)[0]))[0] == 200
    finally:
        code, out = stop_cli_server(proc)
    assert code == 0 and "stopped: 1 answers from 1 participants" in out


def test_command_line_refusals(study: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from benchmark.cli import main

    assert main(["study", "serve", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "is not a study folder" in err and "\n" not in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["study", "serve", str(study), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"cannot listen on 127.0.0.1:{port}" in err and "\n" not in err
