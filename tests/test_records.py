"""Records: atomic, never half-written, resumable, locked per cell."""

from __future__ import annotations

import errno
import json
import os

import pytest

from benchmark import records as rec
from benchmark.errors import DiskFull, UserError


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


# --- the one reader of a results folder (report and gate) ------------------------------------


def _refused(root, match, **kw) -> str:
    with pytest.raises(UserError, match=match) as info:
        rec.read_folder(root, **kw)
    msg = str(info.value)
    assert "\n" not in msg and str(root) in msg
    return msg


def test_read_folder_returns_every_record_with_its_file(tmp_path):
    a = rec.write(tmp_path, _record(value=1.0))
    b = rec.write(tmp_path, _record(metric=rec.CELL))
    got = rec.read_folder(tmp_path)
    assert [p for p, _ in got] == sorted([a, b])
    assert {r.key for _, r in got} == {rec.read(a).key, rec.read(b).key}


def test_read_folder_refuses_a_missing_folder(tmp_path):
    msg = _refused(tmp_path / "nope", "results folder .*nope does not exist; run `python run_all")
    assert "fix" not in msg
    msg = _refused(
        tmp_path / "nope", "reference folder", label="reference", option="--reference", make="x"
    )
    assert msg.endswith("does not exist; x (or fix --reference)")


def test_read_folder_refuses_a_folder_without_records(tmp_path):
    _refused(tmp_path, "has no records/ folder; pass a folder written by run_all.py")
    _refused(tmp_path, "point --results at a folder", option="--results")


def test_read_folder_names_an_interrupted_update(tmp_path):
    (tmp_path / ".records.old").mkdir()
    for allow_empty in (False, True):  # never mistaken for an empty reference
        _refused(tmp_path, r"\.records\.old but no records/.*interrupted", allow_empty=allow_empty)


def test_read_folder_refuses_no_records(tmp_path):
    (tmp_path / "records" / "afhq-abc").mkdir(parents=True)
    _refused(tmp_path, "holds no records under records/; run `python run_all.py` first")
    assert rec.read_folder(tmp_path, allow_empty=True) == []
    assert rec.read_folder(tmp_path / "nope", allow_empty=True) == []


def test_read_folder_skips_hidden_files_and_folders(tmp_path):
    path = rec.write(tmp_path, _record(value=1.0))
    (path.parent / ".fid.json").write_text("{half")
    hidden = tmp_path / "records" / ".records.new-1" / "x.json"
    hidden.parent.mkdir()
    hidden.write_text("{half")
    assert [p for p, _ in rec.read_folder(tmp_path)] == [path]
    assert len(list(rec.iter_records(tmp_path))) == 1
    (tmp_path / "records" / "afhq-abc123").rename(tmp_path / "records" / ".afhq-abc123")
    _refused(tmp_path, "holds no records")  # only hidden ones


def test_read_folder_names_a_corrupt_record(tmp_path):
    path = rec.write(tmp_path, _record(value=1.0))
    path.write_text("[1, 2]")
    msg = _refused(tmp_path, "unreadable record .*: not a JSON object but an array; delete it")
    assert str(path) in msg


def test_a_direction_other_than_lower_or_higher_is_refused(tmp_path):
    path = rec.write(tmp_path, _record(value=1.0, direction="sideways"))
    with pytest.raises(UserError, match="'direction' 'sideways' is not lower/higher") as info:
        rec.read(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    _refused(tmp_path, "unreadable record .*'direction' 'sideways'")
    for direction in ("lower", "higher"):
        assert rec.read(rec.write(tmp_path, _record(direction=direction))).direction == direction


def test_kind_follows_the_metric_and_is_not_written(tmp_path):
    kinds = {rec.CELL: "cell", "latency_ms": "profile", "params": "profile", "fid": "metric"}
    kinds["cell"] = "metric"  # only the status record's own name is a cell
    for metric, kind in kinds.items():
        r = _record(metric=metric)
        assert r.kind == kind
        path = rec.write(tmp_path, r)
        assert "kind" not in json.loads(path.read_text())
        assert rec.read(path).kind == kind
    assert all(_record(metric=m).kind == "profile" for m in rec.PROFILE_METRICS)
