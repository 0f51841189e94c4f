"""The CI gate end to end through ``benchmark.cli.main``: exit codes, verdicts and the table."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

import benchmark.cli
from benchmark import records
from benchmark.errors import UserError
from benchmark.records import CELL, Record
from benchmark.regress import DEFAULT_RULES, load_rules, seed_margin, tolerance_for

HASH = "abc123def456"


def rec(
    metric: str,
    value: float | None,
    *,
    seed: int = 0,
    baseline: str = "munit",
    protocol: str = "afhq",
    phash: str = HASH,
    direction: str = "lower",
    status: str = "ok",
    **kw,
) -> Record:
    return Record(
        protocol=protocol,
        protocol_hash=phash,
        baseline=baseline,
        seed=seed,
        metric=metric,
        value=value,
        direction=direction,
        status=status,
        **kw,
    )


def write_grid(root: Path, recs: list[Record]) -> Path:
    for r in recs:
        records.write(root, r)
    return root


def base_grid(**over) -> list[Record]:
    """One ok cell with an FID (lower better) and an accuracy (higher better)."""
    values = {"fid": 20.0, "accuracy": 0.80, **over}
    return [
        rec(CELL, None),
        rec("fid", values["fid"], extractor="domain-clf"),
        rec("accuracy", values["accuracy"], direction="higher"),
    ]


def gate(capsys, results: Path, reference: Path, *extra: str) -> tuple[int, str, str]:
    code = benchmark.cli.main(
        ["regress", "--results", str(results), "--reference", str(reference), *extra]
    )
    out = capsys.readouterr()
    return code, out.out, out.err


def table_rows(out: str) -> list[list[str]]:
    rows = [line.strip("|").split(" | ") for line in out.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in r] for r in rows[1:]]  # drop the header


def test_identical_passes(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", base_grid())
    cur = write_grid(tmp_path / "cur", base_grid())
    code, out, _ = gate(capsys, cur, ref)
    assert code == 0
    assert "Benchmark gate passed" in out and "2 unchanged" in out
    assert table_rows(out) == []


def test_fid_worse_beyond_tolerance_fails_with_row(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", base_grid())
    cur = write_grid(tmp_path / "cur", base_grid(fid=23.0))  # +15% > default 10%
    code, out, _ = gate(capsys, cur, ref)
    assert code == 1
    assert "Benchmark gate FAILED" in out
    (row,) = table_rows(out)
    assert row[:3] == ["afhq", "munit", "fid ↓ (domain-clf)"]
    assert row[3:6] == ["20", "23", "+3 (+15.0%)"]
    assert row[6] == "2 (10% of ref)"
    assert row[7] == "**REGRESSED**"


def test_fid_better_passes(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", base_grid())
    cur = write_grid(tmp_path / "cur", base_grid(fid=15.0))
    code, out, _ = gate(capsys, cur, ref)
    assert code == 0
    (row,) = table_rows(out)
    assert row[2].startswith("fid") and row[-1] == "improved"


def test_fid_worse_within_tolerance_passes(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", base_grid())
    cur = write_grid(tmp_path / "cur", base_grid(fid=21.0))  # +5% < 10%
    code, out, _ = gate(capsys, cur, ref)
    assert code == 0
    assert table_rows(out)[0][-1] == "within tolerance"


def test_accuracy_lower_fails(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", base_grid())
    cur = write_grid(tmp_path / "cur", base_grid(accuracy=0.75))  # -5 points > 2 points
    code, out, _ = gate(capsys, cur, ref)
    assert code == 1
    (row,) = table_rows(out)
    assert row[2] == "accuracy ↑" and row[-1] == "**REGRESSED**"
    # higher accuracy is an improvement, not a regression
    cur2 = write_grid(tmp_path / "cur2", base_grid(accuracy=0.90))
    code, out, _ = gate(capsys, cur2, ref)
    assert code == 0 and table_rows(out)[0][-1] == "improved"


def seeds_grid(fids: list[float]) -> list[Record]:
    out = []
    for seed, fid in enumerate(fids):
        out += [rec(CELL, None, seed=seed), rec("fid", fid, seed=seed)]
    return out


def test_within_seed_ci_passes_though_beyond_relative(tmp_path, capsys):
    # Reference 10/12/14 (sd 2); one current seed at 14.5 is +21%, beyond the 10% floor, but
    # well inside the t bound t(0.975, 2) * 2 * sqrt(1/3 + 1) = 9.94.
    ref = write_grid(tmp_path / "ref", seeds_grid([10.0, 12.0, 14.0]))
    cur = write_grid(tmp_path / "cur", seeds_grid([14.5]))
    code, out, _ = gate(capsys, cur, ref)
    assert code == 0
    (row,) = table_rows(out)
    assert row[-1] == "within tolerance"
    expected = sps.t.ppf(0.975, 2) * 2.0 * math.sqrt(1 / 3 + 1)
    assert row[6] == f"{expected:.4g} (95% CI, seeds 3/1)"
    assert row[3] == "12 ± 2 (3 seeds)"


def test_beyond_seed_ci_fails(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", seeds_grid([10.0, 10.2, 9.8]))
    cur = write_grid(tmp_path / "cur", seeds_grid([13.0, 13.2, 12.8]))
    code, out, _ = gate(capsys, cur, ref)
    assert code == 1
    assert table_rows(out)[0][-1] == "**REGRESSED**"


def test_seed_margin_matches_pooled_two_sample_t():
    rng = np.random.default_rng(0)
    ref, cur = rng.normal(5, 1, 4), rng.normal(5, 1, 3)
    margin = seed_margin(list(ref), list(cur), 0.95)
    # the bound is where scipy's pooled two-sample t-test hits p = 0.05 (two-sided)
    res = sps.ttest_ind(cur, ref, equal_var=True)
    se = abs((cur.mean() - ref.mean()) / res.statistic)
    assert margin == pytest.approx(sps.t.ppf(0.975, 5) * se, rel=1e-9)
    assert seed_margin([1.0], [2.0], 0.95) is None


def test_protocol_hash_mismatch_is_not_comparable(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", base_grid())
    cur = write_grid(tmp_path / "cur", [rec("fid", 20.0, phash="999999999999")])
    code, out, err = gate(capsys, cur, ref)
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: not comparable: protocol afhq hash 999999999999 != {HASH}; rerun with the "
        "reference's protocol version or --update the reference"
    )


def test_missing_reference_dir_is_bad_input(tmp_path, capsys):
    cur = write_grid(tmp_path / "cur", base_grid())
    code, _, err = gate(capsys, cur, tmp_path / "nope")
    assert code == 2
    assert "reference folder" in err and "nope" in err and "does not exist" in err
    assert len(err.strip().splitlines()) == 1


def test_empty_or_unreadable_results_are_bad_input(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", base_grid())
    (tmp_path / "empty" / "records").mkdir(parents=True)
    code, _, err = gate(capsys, tmp_path / "empty", ref)
    assert code == 2 and "holds no records" in err
    cur = write_grid(tmp_path / "cur", base_grid())
    broken = next((cur / "records").rglob("fid*.json"))
    broken.write_text("{not json")
    code, _, err = gate(capsys, cur, ref)
    assert code == 2 and "unreadable record" in err and broken.name in err


def test_failed_cell_now_fails(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", base_grid())
    cur = write_grid(
        tmp_path / "cur",
        [
            rec(CELL, None, status="failed", reason="loss diverged (NaN) at step 40"),
            rec("fid", 20.0, extractor="domain-clf"),
            rec("accuracy", 0.8, direction="higher"),
        ],
    )
    code, out, _ = gate(capsys, cur, ref)
    assert code == 1
    (row,) = table_rows(out)
    assert row[2] == "cell seed0" and row[3] == "ok"
    assert "loss diverged" in row[4] and row[-1] == "**CELL FAILED**"
    # a failed cell without metrics: each lost metric is missing and says why
    cur2 = write_grid(tmp_path / "cur2", [rec(CELL, None, status="failed", reason="OOM")])
    code, out, _ = gate(capsys, cur2, ref)
    assert code == 1
    rows = table_rows(out)
    assert [r[-1] for r in rows] == ["**MISSING**", "**MISSING**", "**CELL FAILED**"]
    assert rows[0][4] == "no record; cell seed0 failed: OOM"


def test_missing_metric_fails(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", base_grid())
    cur = write_grid(tmp_path / "cur", base_grid()[:2])  # accuracy record gone
    code, out, _ = gate(capsys, cur, ref)
    assert code == 1
    (row,) = table_rows(out)
    assert row[2] == "accuracy ↑" and row[4] == "no record" and row[-1] == "**MISSING**"


def test_failed_metric_now_fails(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", base_grid())
    grid = base_grid()
    grid[1] = rec("fid", None, extractor="domain-clf", status="failed", reason="NaN features")
    cur = write_grid(tmp_path / "cur", grid)
    code, out, _ = gate(capsys, cur, ref)
    assert code == 1
    assert table_rows(out)[0][-1] == "**FAILED**" and "NaN features" in out


def test_new_metric_and_baseline_are_listed_not_failures(tmp_path, capsys):
    broken = rec("is", None, direction="higher", status="failed", reason="no classifier")
    ref = write_grid(tmp_path / "ref", base_grid() + [broken])
    cur = write_grid(
        tmp_path / "cur",
        base_grid()
        + [
            rec("is", 2.5, direction="higher"),  # failed in the reference, works now
            rec("kid", None, status="failed", reason="too few samples"),
            rec(CELL, None, baseline="funit"),
            rec("fid", 30.0, baseline="funit"),
        ],
    )
    code, out, _ = gate(capsys, cur, ref)
    assert code == 0
    rows = table_rows(out)
    assert {(r[1], r[2].split()[0], r[-1]) for r in rows} == {
        ("munit", "is", "fixed"),
        ("munit", "kid", "new"),
        ("funit", "fid", "new"),
    }


def test_profile_metrics_are_not_gated(tmp_path, capsys):
    """Speed is never gated; a tolerance file asking for it: tests/test_seeds_and_filters.py."""
    ref = write_grid(tmp_path / "ref", base_grid() + [rec("latency_ms", 10.0)])
    cur = write_grid(tmp_path / "cur", base_grid() + [rec("latency_ms", 50.0)])
    code, out, _ = gate(capsys, cur, ref)
    assert code == 0 and "1 not gated" in out
    assert table_rows(out) == []


def test_toml_tolerance_file_overrides_by_pattern(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", base_grid())
    cur = write_grid(tmp_path / "cur", base_grid(fid=23.0))
    tol = tmp_path / "tol.toml"
    tol.write_text(
        '[[rules]]\nmetric = "fid"\nrtol = 0.5\n\n'
        '[[rules]]\nmetric = "fid"\nbaseline = "other"\nrtol = 0.01\n'
    )
    code, out, _ = gate(capsys, cur, ref, "--tolerance-file", str(tol))
    assert code == 0 and table_rows(out)[0][6] == "10 (50% of ref)"


def test_tolerance_rules_cascade_and_validate(tmp_path):
    rules = list(DEFAULT_RULES)
    assert tolerance_for(rules, ("p", "quick", "b", "fid", "", "")).rtol == 0.10
    assert tolerance_for(rules, ("p", "quick", "b", "accuracy", "", "")).atol == 0.02
    assert not tolerance_for(rules, ("p", "quick", "b", "flops", "", "")).gate
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rules": [{"metric": "fid", "rtoll": 0.1}]}))
    with pytest.raises(UserError, match="unknown key 'rtoll'"):
        load_rules(bad)
    bad.write_text(json.dumps({"rules": [{"metric": "fid", "atol": -1}]}))
    with pytest.raises(UserError, match="'atol' must be >= 0"):
        load_rules(bad)


def test_update_writes_reference_and_rerun_passes(tmp_path, capsys):
    ref_root = write_grid(tmp_path / "reference", base_grid())
    grid = base_grid(fid=30.0) + [rec("latency_ms", 3.0)]
    cur_grid = [Record(**{**r.__dict__, "protocol_hash": "feed00000000"}) for r in grid]
    cur = write_grid(tmp_path / "cur", cur_grid)
    # the protocol changed version: not comparable until the reference is updated
    assert gate(capsys, cur, ref_root)[0] == 2
    sample = cur / "samples" / "grid.png"
    sample.parent.mkdir()
    sample.write_bytes(b"png")
    code, out, _ = gate(capsys, cur, ref_root, "--update")
    assert code == 0
    assert "reference updated: 3 records" in out and f"afhq@{HASH} -> feed00000000" in out
    assert "FAILED (accepted by --update)" in out and "**REGRESSED**" in out
    files = sorted(p for p in ref_root.rglob("*") if p.is_file())
    gated = [r for r in cur_grid if r.metric != "latency_ms"]  # no timing, samples, old version
    assert files == sorted(records.record_path(ref_root, r) for r in gated)
    copied = records.read(ref_root / "records/afhq-feed00000000/munit/seed0/fid--domain-clf.json")
    assert copied.value == 30.0
    code, out, _ = gate(capsys, cur, ref_root)
    assert code == 0 and "2 unchanged" in out


def test_update_keeps_protocols_the_run_did_not_produce(tmp_path, capsys):
    other = rec("fid", 5.0, protocol="celeba", phash="c0ffee000000")
    ref_root = write_grid(tmp_path / "reference", base_grid() + [other])
    cur = write_grid(tmp_path / "cur", base_grid(fid=19.0))
    assert gate(capsys, cur, ref_root, "--update")[0] == 0
    kept = records.read(records.record_path(ref_root, other))
    assert (kept.protocol, kept.value) == ("celeba", 5.0)
    code, out, _ = gate(capsys, cur, ref_root)
    assert code == 1  # celeba is in the reference and not in this run: missing
    assert [(r[0], r[-1]) for r in table_rows(out)] == [("celeba", "**MISSING**")]


def test_update_creates_missing_reference_and_markdown_file(tmp_path, capsys):
    cur = write_grid(tmp_path / "cur", base_grid())
    ref_root = tmp_path / "new-ref"
    md = tmp_path / "comment.md"
    code, out, _ = gate(capsys, cur, ref_root, "--update", "--markdown", str(md))
    assert code == 0 and md.read_text() in out
    assert [r[-1] for r in table_rows(md.read_text())] == ["new", "new"]
    code, out, _ = gate(capsys, cur, ref_root, "--markdown", str(md))
    assert code == 0 and "2 unchanged" in md.read_text()
    assert not list(ref_root.glob(".records*"))


def test_presets_share_one_reference(tmp_path, capsys):
    def grid(preset: str, phash: str, fid: float) -> list[Record]:
        return [
            rec(CELL, None, preset=preset, phash=phash),
            rec("fid", fid, preset=preset, phash=phash),
        ]

    quick = grid("quick", "0000000000aa", 20.0)
    ref_root = write_grid(tmp_path / "reference", grid("smoke", "0000000000bb", 50.0) + quick)
    cur = write_grid(tmp_path / "cur", grid("smoke", "0000000000bb", 80.0))
    code, out, _ = gate(capsys, cur, ref_root)
    assert code == 1  # a smoke run is held to the smoke reference only: quick is not "missing"
    assert [(r[0], r[-1]) for r in table_rows(out)] == [("afhq (smoke)", "**REGRESSED**")]
    tol = tmp_path / "tol.json"
    tol.write_text(json.dumps({"rules": [{"preset": "smoke", "metric": "fid", "rtol": 1.0}]}))
    assert gate(capsys, cur, ref_root, "--tolerance-file", str(tol))[0] == 0
    assert gate(capsys, cur, ref_root, "--update")[0] == 0
    assert records.read(records.record_path(ref_root, quick[1])).value == 20.0  # kept
    assert gate(capsys, cur, ref_root)[0] == 0
    paper = write_grid(tmp_path / "paper", grid("paper", "0000000000cc", 10.0))
    code, _, err = gate(capsys, paper, ref_root)
    assert code == 2 and "has no records of preset paper" in err


def test_same_skip_reason_on_both_sides_is_not_listed(tmp_path, capsys):
    """Offline runs skip Inception metrics identically every time: no row, exit 0."""
    for side in ("ref", "cur"):
        records.write(tmp_path / side, _skip_record())
        records.write(tmp_path / side, records.Record(**_IDS, metric="l1", value=0.5))
    code = benchmark.cli.main(
        ["regress", "--results", str(tmp_path / "cur"), "--reference", str(tmp_path / "ref")]
    )
    out = capsys.readouterr().out
    assert code == 0 and "weights missing" not in out and "still failing" not in out


_IDS = dict(
    protocol="afhq", protocol_hash="abc", baseline="munit", seed=0, config="tiny", preset="smoke"
)


def _skip_record():
    return records.Record(
        **_IDS,
        metric="fid",
        extractor="inception-v3-compat",
        value=None,
        status="skipped",
        reason="weights missing: put X in Y",
    )


def _on(device: str, **over) -> list[Record]:
    return [dataclasses.replace(r, provenance={"device": device}) for r in base_grid(**over)]


def test_results_from_another_kind_of_device_get_a_note_not_a_verdict(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", _on("cpu x86_64 (2 cores, 2 torch threads)"))
    gpu = "cuda:1 NVIDIA H200 (CUDA 12.8)"
    code, out, _ = gate(capsys, write_grid(tmp_path / "gpu", _on(gpu)), ref)
    assert code == 0 and "Note: the reference ran on cpu x86_64" in out
    assert "these results on NVIDIA H200;" in out
    # core counts and the GPU's index do not make another kind of device
    more_cores = write_grid(tmp_path / "cpu16", _on("cpu x86_64 (16 cores, 16 torch threads)"))
    assert "Note:" not in gate(capsys, more_cores, ref)[1]
    gpu_ref = write_grid(tmp_path / "gpu_ref", _on("cuda:0 NVIDIA H200 (CUDA 12.8)"))
    code, out, _ = gate(capsys, write_grid(tmp_path / "gpu2", _on(gpu, fid=30.0)), gpu_ref)
    assert code == 1 and "Note:" not in out


def test_update_keeps_the_old_file_of_every_unchanged_result(tmp_path, capsys):
    """A refreshed reference's diff shows only what moved: an unchanged number keeps its old
    record byte for byte, provenance (code revision, timings) included."""
    old_prov = {"code_revision": "aaaa111", "wall_time_s": 10.0}
    ref_root = write_grid(
        tmp_path / "reference", [dataclasses.replace(r, provenance=old_prov) for r in base_grid()]
    )
    before = {p: p.read_bytes() for p in (ref_root / "records").rglob("*.json")}
    new_prov = {"code_revision": "bbbb222", "wall_time_s": 12.5}
    cur = write_grid(
        tmp_path / "cur",
        [dataclasses.replace(r, provenance=new_prov) for r in base_grid(accuracy=0.9)],
    )
    code, out, _ = gate(capsys, cur, ref_root, "--update")
    assert code == 0 and "reference updated: 1 records" in out
    after = {p: p.read_bytes() for p in (ref_root / "records").rglob("*.json")}
    assert set(after) == set(before)
    changed = {p.name for p in after if after[p] != before[p]}
    assert changed == {"accuracy.json"}
    moved = records.read(next(p for p in after if p.name == "accuracy.json"))
    assert moved.value == 0.9 and moved.provenance["code_revision"] == "bbbb222"
