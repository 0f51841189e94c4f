"""``python -m benchmark study serve STUDY``: the page, its images, and every answer appended to
``STUDY/answers.jsonl``.

The standard library's ``ThreadingHTTPServer`` (one thread per request) serves an allow-list:
the page (``index.html``, ``study.js``, ``study.css``), ``study.json`` and ``images/<hash>.png``;
``trials.json`` (the answers), ``trials.csv`` and ``answers.jsonl`` are never served.

- ``POST /answer`` takes ``{"participant", "trial", "choice": "left"|"right", "rt_ms"}`` (and
  ``swapped``, which must agree with ``benchmark.study.order``). A valid answer is one line of
  ``answers.jsonl`` with the server's ``swapped`` and ``received_at``, written with one
  ``write`` under a lock (a thread lock and ``flock``, so two servers on one folder do not
  interleave) and fsynced before the reply. Malformed JSON, an unknown trial, a bad choice,
  participant or time, or a second answer to a trial by the same participant is HTTP 400 with
  ``{"error": reason}`` and nothing written.
- ``GET /progress?participant=X`` lists the trials X has answered, so a reload continues.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import re
import threading
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from benchmark.errors import UserError
from benchmark.study.make import ANSWERS, PAGE_FILES
from benchmark.study.order import Plan, plan

log = logging.getLogger("benchmark")

PARTICIPANT = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MAX_BODY = 4096
MAX_RT_MS = 7 * 24 * 3600 * 1000  # a week: "unlimited time", but not a clock error
STATIC = {"/": "index.html", "/study.json": "study.json"} | {f"/{f}": f for f in PAGE_FILES}
IMAGE = re.compile(r"/images/[0-9a-f]{16}\.png")


class AnswerError(Exception):
    """An answer refused: HTTP 400 with this reason, nothing written."""


def _load(folder: Path, name: str) -> dict[str, Any]:
    path = folder / name
    if not path.is_file():
        raise UserError(
            f"{folder} is not a study folder (no {name}); make one with "
            "python -m benchmark study make RESULTS ... --out STUDY"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path} ({exc}); make the study again") from exc
    if not isinstance(data, dict) or not isinstance(data.get("trials"), list):
        raise UserError(f"{path} has no list of trials; make the study again")
    return data


class Study:
    """A study folder being served: its trials, and who answered what (read from
    ``answers.jsonl``, including lines another server on the same folder appended)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.page = _load(self.folder, "study.json")
        self.trials = _load(self.folder, "trials.json")
        try:
            self.order = [(str(t["id"]), bool(t["practice"])) for t in self.page["trials"]]
            self.seed = int(self.page["seed"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(
                f"{self.folder / 'study.json'} is incomplete ({exc}); remake it"
            ) from exc
        self.ids = {tid for tid, _ in self.order}
        if self.ids != {str(t.get("id")) for t in self.trials["trials"]}:
            raise UserError(
                f"{self.folder}: study.json and trials.json list different trials; remake it"
            )
        for f in PAGE_FILES:
            if not (self.folder / f).is_file():
                raise UserError(f"{self.folder} lacks the page file {f}; make the study again")
        self.path = self.folder / ANSWERS
        self._lock = threading.Lock()
        self._answered: dict[str, list[str]] = {}
        self._offset = 0
        self._skipped = 0
        with self._lock:
            self._read_new(None)

    @property
    def name(self) -> str:
        return str(self.page.get("study", self.folder.name))

    def plan(self, participant: str) -> Plan:
        return plan(self.seed, participant, self.order)

    # reading what is already there --------------------------------------------------------------

    def _take(self, line: bytes) -> None:
        try:
            rec = json.loads(line)
            who, trial = rec["participant"], rec["trial"]
            if not isinstance(who, str) or not isinstance(trial, str):
                raise TypeError("participant and trial must be strings")
        except (ValueError, KeyError, TypeError) as exc:
            self._skipped += 1
            log.warning(f"{self.path}: a line that is no answer is skipped ({exc})")
            return
        done = self._answered.setdefault(who, [])
        if trial not in done:
            done.append(trial)

    def _read_new(self, fd: int | None) -> bytes:
        """Take the complete lines appended since the last read; return the unfinished tail
        (a writer that died mid-line), if any. Called under the lock."""
        if fd is None:
            if not self.path.exists():
                return b""
            data = self.path.read_bytes()[self._offset :]
        else:
            size = os.fstat(fd).st_size
            data = os.pread(fd, max(0, size - self._offset), self._offset)
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            if line.strip():
                self._take(line)
        self._offset += end
        return data[end:]

    # answers ------------------------------------------------------------------------------------

    def check(self, body: bytes) -> dict[str, Any]:
        """The answer ``body`` as the line to write (without its time), or AnswerError."""
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise AnswerError(f"malformed JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise AnswerError("the answer must be a JSON object")
        who = data.get("participant")
        if not isinstance(who, str) or not PARTICIPANT.fullmatch(who):
            raise AnswerError(
                "participant must be 1 to 64 letters, digits or _ . @ -, got " + repr(who)[:80]
            )
        trial = data.get("trial")
        if not isinstance(trial, str) or trial not in self.ids:
            raise AnswerError(f"unknown trial {repr(trial)[:80]}")
        choice = data.get("choice")
        if not isinstance(choice, str) or choice not in ("left", "right"):
            raise AnswerError(f"choice must be 'left' or 'right', got {repr(choice)[:80]}")
        rt = data.get("rt_ms")
        if (
            isinstance(rt, bool)
            or not isinstance(rt, int | float)
            or not math.isfinite(rt)
            or not 0 <= rt <= MAX_RT_MS
        ):
            raise AnswerError(f"rt_ms must be a number of milliseconds >= 0, got {repr(rt)[:80]}")
        swapped = self.plan(who).swapped[trial]
        if "swapped" in data and data["swapped"] is not swapped:
            raise AnswerError(
                f"swapped={data['swapped']!r} disagrees with the study's seed for {who} on "
                f"{trial} (expected {swapped}): the page is not this study's"
            )
        return {
            "participant": who,
            "trial": trial,
            "choice": choice,
            "rt_ms": rt,
            "swapped": swapped,
        }

    def record(self, answer: dict[str, Any]) -> int:
        """Append ``answer`` (from ``check``) as one line; the participant's answer count.
        AnswerError for a second answer to the same trial."""
        who, trial = answer["participant"], answer["trial"]
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                tail = self._read_new(fd)
                if trial in self._answered.get(who, ()):
                    raise AnswerError(f"{who} already answered {trial}; answers are final")
                stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
                line = json.dumps(answer | {"received_at": stamp.replace("+00:00", "Z")})
                data = (b"\n" if tail else b"") + line.encode("utf-8") + b"\n"
                before = os.fstat(fd).st_size
                try:
                    written = os.write(fd, data)
                    if written != len(data):
                        raise OSError(f"short write ({written} of {len(data)} bytes)")
                    os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, before)  # never leave half a line behind
                    raise
                self._offset = before + len(data)
                done = self._answered.setdefault(who, [])
                done.append(trial)
                return len(done)
            finally:
                os.close(fd)  # closing releases the flock

    def progress(self, who: str) -> list[str]:
        with self._lock:
            if self.path.exists():
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH)
                    self._read_new(fd)
                finally:
                    os.close(fd)
            return list(self._answered.get(who, ()))

    def counts(self) -> tuple[int, int]:
        """(answers, participants) recorded so far."""
        with self._lock:
            return sum(map(len, self._answered.values())), len(self._answered)


class StudyHandler(SimpleHTTPRequestHandler):
    study: Study  # set on the subclass ``make_server`` builds
    server_version = "i2i-bench-study"
    sys_version = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(self.study.folder), **kwargs)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        log.debug("study serve: %s - %s", self.address_string(), format % args)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def _json(self, status: int, obj: dict[str, Any]) -> None:
        body = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _static(self) -> bool:
        """Point ``self.path`` at an allowed file; False when the path is not one."""
        path = urlsplit(self.path).path
        if path in STATIC:
            self.path = "/" + STATIC[path]
            return True
        if IMAGE.fullmatch(path):
            self.path = path
            return True
        return False

    def do_HEAD(self) -> None:
        if self._static():
            super().do_HEAD()
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/progress":
            who = parse_qs(url.query).get("participant", [""])[0]
            if not PARTICIPANT.fullmatch(who):
                self._json(
                    HTTPStatus.BAD_REQUEST,
                    {"error": "participant must be 1 to 64 letters, digits or _ . @ -"},
                )
                return
            answered = self.study.progress(who)
            self._json(
                HTTPStatus.OK,
                {"participant": who, "answered": answered, "total": len(self.study.order)},
            )
        elif self._static():
            super().do_GET()
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/answer":
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found; answers go to POST /answer"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
            return
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"over {MAX_BODY} bytes"})
            return
        body = self.rfile.read(length)
        try:
            answer = self.study.check(body)
            n = self.study.record(answer)
        except AnswerError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        except OSError as exc:
            log.error(f"study serve: cannot write {self.study.path} ({exc})")
            self._json(
                HTTPStatus.SERVICE_UNAVAILABLE,
                {"error": f"the server cannot write its answers file ({exc.strerror or exc})"},
            )
            return
        self._json(HTTPStatus.OK, {"ok": True, "answered": n, "total": len(self.study.order)})


class StudyServer(ThreadingHTTPServer):
    """The standard library's threading server, with a deeper listen queue: a class of
    participants starting at once must not see connections reset."""

    request_queue_size = 128
    daemon_threads = True
    study: Study


def make_server(folder: str | Path, host: str = "127.0.0.1", port: int = 0) -> StudyServer:
    """A server of the study ``folder`` on ``host:port`` (0: a free port), not yet serving."""
    study = Study(folder)
    handler = type("BoundStudyHandler", (StudyHandler,), {"study": study})
    try:
        server = StudyServer((host, port), handler)
    except OSError as exc:
        raise UserError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port "
            "(0 picks a free one) or --host"
        ) from exc
    server.study = study
    return server


def serve(folder: str | Path, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Serve until Ctrl-C; prints the address first (with the port chosen for ``port`` 0)."""
    server = make_server(folder, host, port)
    study = server.study
    bound_host, bound_port = server.server_address[:2]
    answers, people = study.counts()
    everywhere = " (every interface)" if bound_host == "0.0.0.0" else ""
    print(
        f"serving study '{study.name}' ({len(study.order)} trials; {answers} answers from "
        f"{people} participants so far) at http://{bound_host}:{bound_port}/{everywhere}; "
        f"answers go to {study.path}; Ctrl-C stops",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        answers, people = study.counts()
        print(f"stopped: {answers} answers from {people} participants in {study.path}", flush=True)
    finally:
        server.server_close()
    return 0
