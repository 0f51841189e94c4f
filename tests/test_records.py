"""Records: atomic, never half-written, resumable, locked per cell."""

from __future__ import annotations

import errno
import json
import os

import pytest

from benchmark import records as rec
from benchmark.errors import DiskFull


def _record(**kw):
    base = dict(protocol="afhq", protocol_hash="abc123", baseline="identity", seed=0, metric="fid")
    base.update(kw)
    return rec.Record(**base)


def test_write_read_round_trip(tmp_path):
    r = _record(value=12.5, variant="latent", extractor="protocol:afhq@0123")
    path = rec.write(tmp_path, r)
    assert path.parent == rec.cell_dir(tmp_path, "afhq", "abc123", "identity", 0)
    back = rec.read(path)
    assert back.key == r.key and back.value == 12.5
    assert [x.key for x in rec.iter_records(tmp_path)] == [r.key]


def test_non_finite_value_is_recorded_as_failed(tmp_path):
    back = rec.read(rec.write(tmp_path, _record(value=float("nan"))))
    assert back.value is None and back.status == "failed" and "non-finite" in back.reason


def test_crash_during_replace_keeps_old_record_and_no_temp(tmp_path, monkeypatch):
    path = rec.write(tmp_path, _record(value=1.0))

    def boom(src, dst):
        raise OSError(errno.EIO, "simulated crash")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        rec.write(tmp_path, _record(value=2.0))
    monkeypatch.undo()
    assert json.loads(path.read_text())["value"] == 1.0
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(DiskFull, match="cannot write .*fid.json .No space left.*rerun"):
        rec.write(tmp_path, _record(value=3.0))
    monkeypatch.undo()
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


def test_temp_files_are_never_read_as_records(tmp_path):
    path = rec.write(tmp_path, _record(value=1.0))
    (path.parent / ".fid.json.123.tmp").write_text("{half")
    assert len(list(rec.iter_records(tmp_path))) == 1


def test_records_of_other_protocol_versions_live_apart(tmp_path):
    a = rec.write(tmp_path, _record(protocol_hash="aaaa"))
    b = rec.write(tmp_path, _record(protocol_hash="bbbb"))
    assert a.parent != b.parent and a.exists() and b.exists()


def test_cell_status_file_never_collides_with_a_metric_named_cell(tmp_path):
    a = rec.write(tmp_path, _record(metric=rec.CELL))
    b = rec.write(tmp_path, _record(metric="cell"))
    assert a != b and a.name == "_cell.json"
