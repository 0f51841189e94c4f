"""``run --seeds`` as a count or a list; ``regress --baselines/--protocols`` gating only some
cells; speed, FLOPs and parameter counts never gated whatever a tolerance file says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark import records, runner
from benchmark.cli import main
from benchmark.errors import UserError
from benchmark.records import CELL, PROFILE_METRICS, Record
from benchmark.regress import load_rules, tolerance_for
from benchmark.run_cli import parse_seeds
from tests.test_regress import HASH, gate, rec, table_rows, write_grid

FIX = "pass a count (--seeds 3 runs seeds 0,1,2) or a list of seeds (--seeds 0,3,7)"

# --- --seeds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seeds",
    [("1", [0]), ("3", [0, 1, 2]), ("0,3,7", [0, 3, 7]), ("7,3,0", [7, 3, 0]), (" 2, 5 ", [2, 5])]
    + [("7,", [7]), ("0,", [0])],
)
def test_seeds_count_or_list(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    "text, message",
    [
        ("0,x", f"--seeds 0,x: 'x' is not a seed (a whole number >= 0); {FIX}"),
        ("-1", f"--seeds -1: a count must be at least 1; {FIX}"),
        ("0", f"--seeds 0: a count must be at least 1; {FIX}"),
        ("1,1", "--seeds 1,1: seed 1 is listed twice; list each seed once"),
        ("three", f"--seeds three: not a whole number; {FIX}"),
        ("0,-2", f"--seeds 0,-2: '-2' is not a seed (a whole number >= 0); {FIX}"),
        ("0,,3", f"--seeds 0,,3: an empty entry; {FIX}"),
        ("2.5", f"--seeds 2.5: not a whole number; {FIX}"),
    ],
)
def test_bad_seeds_are_one_line_naming_the_flag_and_the_fix(text, message):
    with pytest.raises(UserError) as exc:
        parse_seeds(text)
    assert str(exc.value) == message


def _run(argv: list[str], tmp_path: Path, monkeypatch) -> list:
    """``python -m benchmark run ...`` up to the grid: its exit code, then the seeds the runner
    was given (none when the command line was refused)."""
    seen: list = []

    def grid(cfg):
        seen.append(cfg.seeds)
        return {"failed": 0, "failed earlier": 0}

    monkeypatch.setattr(runner, "run", grid)
    code = main(["run", "--preset", "smoke", "--no-report", "--out", str(tmp_path / "r"), *argv])
    return [code, *seen]


def test_seeds_through_the_command_line(tmp_path, monkeypatch, capsys):
    assert _run([], tmp_path, monkeypatch) == [0, [0]]
    assert _run(["--seeds", "3"], tmp_path, monkeypatch) == [0, [0, 1, 2]]
    assert _run(["--seeds", "0,3,7"], tmp_path, monkeypatch) == [0, [0, 3, 7]]
    assert _run(["--seeds=5,2"], tmp_path, monkeypatch) == [0, [5, 2]]
    for bad in ("0,x", "-1", "0", "1,1"):
        assert _run(["--seeds", bad], tmp_path, monkeypatch) == [2]  # the grid never started
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith(f"error: --seeds {bad}: ")


def test_seeds_help_says_both_forms(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "a count (--seeds 3 runs seeds 0,1,2; default 1)" in text
    assert "a comma-separated list of seeds run in that order (--seeds 0,3,7;" in text


# --- regress --baselines / --protocols -------------------------------------------------------


def cell(baseline: str, fid: float = 20.0, protocol: str = "afhq", phash: str = HASH):
    """One ok cell: its status, an FID (lower better) and an accuracy (higher better)."""
    ids = dict(baseline=baseline, protocol=protocol, phash=phash)
    return [
        rec(CELL, None, **ids),
        rec("fid", fid, extractor="domain-clf", **ids),
        rec("accuracy", 0.80, direction="higher", **ids),
    ]


@pytest.fixture()
def two_in_ref_one_now(tmp_path) -> tuple[Path, Path]:
    """A reference holding munit and cyclegan; a run of munit alone, unchanged."""
    ref = write_grid(tmp_path / "ref", cell("munit") + cell("cyclegan", 30.0))
    cur = write_grid(tmp_path / "cur", cell("munit"))
    return cur, ref


def test_without_filters_the_other_baseline_is_missing(two_in_ref_one_now, capsys):
    code, out, _ = gate(capsys, *two_in_ref_one_now)
    assert code == 1 and "2 missing" in out
    assert [(r[1], r[2], r[-1]) for r in table_rows(out)] == [
        ("cyclegan", "accuracy ↑", "**MISSING**"),
        ("cyclegan", "fid ↓ (domain-clf)", "**MISSING**"),
    ]


@pytest.mark.parametrize(
    "filters",
    [
        ["--baselines", "munit"],
        ["--baselines", "munit,munit"],
        ["--protocols", "afhq", "--baselines", "munit"],
    ],
)
def test_filtering_the_baseline_gates_only_its_cells(two_in_ref_one_now, capsys, filters):
    code, out, err = gate(capsys, *two_in_ref_one_now, *filters)
    assert (code, err) == (0, "")
    assert out.startswith("**Benchmark gate passed** (only `")
    assert "2 unchanged" in out and "missing" not in out and "cyclegan" not in out


def test_filters_compare_both_sides_and_still_catch_a_regression(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", cell("munit") + cell("cyclegan") + cell("unit"))
    cur = write_grid(tmp_path / "cur", cell("munit") + cell("cyclegan", 40.0) + cell("unit", 40.0))
    code, out, _ = gate(capsys, cur, ref, "--baselines", "munit,cyclegan")  # comma form
    assert code == 1
    assert [(r[1], r[-1]) for r in table_rows(out)] == [("cyclegan", "**REGRESSED**")]
    code, out, _ = gate(capsys, cur, ref, "--baselines", "munit", "unit")  # space form
    assert code == 1
    assert [(r[1], r[-1]) for r in table_rows(out)] == [("unit", "**REGRESSED**")]
    assert gate(capsys, cur, ref, "--baselines", "munit")[0] == 0
    # a chosen baseline the run lost is still missing: the filter selects, it does not excuse
    lost = write_grid(tmp_path / "lost", cell("cyclegan"))
    code, out, _ = gate(capsys, lost, ref, "--baselines", "munit,cyclegan")
    assert code == 1
    assert {(r[1], r[-1]) for r in table_rows(out)} == {("munit", "**MISSING**")}


def test_filtering_the_protocol(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", cell("munit") + cell("munit", 5.0, "celeba", "c0ffee000000"))
    cur = write_grid(tmp_path / "cur", cell("munit"))
    code, out, _ = gate(capsys, cur, ref)
    assert code == 1 and {r[0] for r in table_rows(out)} == {"celeba"}
    code, out, _ = gate(capsys, cur, ref, "--protocols", "afhq")
    assert code == 0 and "2 unchanged" in out and "celeba" not in out


@pytest.mark.parametrize(
    "filters, flag, what, known",
    [
        (["--baselines", "munit,funit"], "--baselines funit", "baseline", "cyclegan, munit"),
        (["--baselines", "MUNIT"], "--baselines MUNIT", "baseline", "cyclegan, munit"),
        (["--protocols", "afhq,edges"], "--protocols edges", "protocol", "afhq"),
    ],
)
def test_a_name_in_neither_side_is_one_line_listing_the_known(
    two_in_ref_one_now, capsys, filters, flag, what, known
):
    cur, ref = two_in_ref_one_now
    code, out, err = gate(capsys, cur, ref, *filters)
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: {flag}: no records of that {what} in results {cur} or reference {ref} "
        f"(preset none; names are case-sensitive); known: {known}"
    )


def test_a_baseline_only_the_run_has_cannot_pass_vacuously(two_in_ref_one_now, tmp_path, capsys):
    cur, ref = two_in_ref_one_now
    new = write_grid(tmp_path / "new", cell("munit") + cell("funit"))
    code, _, err = gate(capsys, new, ref, "--baselines", "funit")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "has no records of --baselines funit (preset none)" in err
    assert "regress --update --baselines funit" in err
    code, _, err = gate(capsys, cur, ref, "--baselines", ",")
    assert code == 2 and "--baselines: give at least one name" in err


def test_names_that_exist_only_apart_are_one_line(tmp_path, capsys):
    grid = cell("munit") + cell("funit", protocol="animal_faces", phash="f00d00000000")
    ref, cur = write_grid(tmp_path / "ref", grid), write_grid(tmp_path / "cur", grid)
    code, out, err = gate(capsys, cur, ref, "--protocols", "afhq", "--baselines", "funit")
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: --protocols afhq --baselines funit: neither results {cur} nor reference {ref} "
        "holds records of these together (preset none); widen the selection"
    )


def test_update_with_a_baseline_filter_replaces_only_its_records(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", cell("munit") + cell("cyclegan", 30.0))
    before = {p: p.read_bytes() for p in (ref / "records").rglob("*.json")}
    cur = write_grid(tmp_path / "cur", cell("munit", 25.0) + cell("cyclegan", 99.0))
    code, out, _ = gate(capsys, cur, ref, "--baselines", "munit", "--update")
    assert code == 0 and "reference updated: 1 records" in out
    assert "only --baselines munit, every other record kept" in out
    after = {p: p.read_bytes() for p in (ref / "records").rglob("*.json")}
    assert set(after) == set(before)
    assert {p.name for p in after if after[p] != before[p]} == {"fid--domain-clf.json"}
    fid = records.read(records.record_path(ref, cell("munit")[1]))
    assert fid.value == 25.0
    kept = records.read(records.record_path(ref, cell("cyclegan")[1]))
    assert kept.value == 30.0  # cyclegan's worse number was not accepted
    assert gate(capsys, cur, ref, "--baselines", "munit")[0] == 0
    assert gate(capsys, cur, ref)[0] == 1  # cyclegan 99 against its kept 30


def test_update_with_a_baseline_filter_refuses_what_would_mix_versions(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", cell("munit") + cell("cyclegan"))
    before = sorted(p.read_bytes() for p in (ref / "records").rglob("*.json"))
    cur = write_grid(tmp_path / "cur", cell("munit", phash="feed00000000"))
    code, out, err = gate(capsys, cur, ref, "--baselines", "munit", "--update")
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: --update --baselines: protocol afhq is at hash feed00000000 here and {HASH} in "
        "the reference, which cannot hold both; update that protocol whole, without --baselines"
    )
    assert sorted(p.read_bytes() for p in (ref / "records").rglob("*.json")) == before
    # a baseline this run does not hold is refused too, never deleted from the reference
    code, _, err = gate(capsys, cur, ref, "--baselines", "cyclegan", "--update")
    assert (
        code == 2 and f"--baselines cyclegan: no records of that baseline in results {cur} (" in err
    )
    assert sorted(p.read_bytes() for p in (ref / "records").rglob("*.json")) == before


def test_update_with_a_protocol_filter_keeps_the_other_protocols(tmp_path, capsys):
    celeba = cell("munit", 5.0, "celeba", "c0ffee000000")
    ref = write_grid(tmp_path / "ref", cell("munit") + celeba)
    cur = write_grid(
        tmp_path / "cur", cell("munit", 25.0) + cell("munit", 50.0, "celeba", "c0ffee000000")
    )
    assert gate(capsys, cur, ref, "--protocols", "afhq", "--update")[0] == 0
    assert records.read(records.record_path(ref, cell("munit")[1])).value == 25.0
    assert records.read(records.record_path(ref, celeba[1])).value == 5.0


# --- speed is never gated ---------------------------------------------------------------------


def test_a_tolerance_file_gating_latency_is_ignored_with_one_warning(tmp_path, capsys):
    ref = write_grid(tmp_path / "ref", cell("munit") + [rec("latency_ms", 10.0)])
    cur = write_grid(tmp_path / "cur", cell("munit") + [rec("latency_ms", 100.0)])  # 10x slower
    tol = tmp_path / "tol.json"
    rules = [
        {"metric": "latency_ms", "gate": True, "rtol": 0.0, "atol": 0.0, "statistical": False},
        {"metric": "fid", "rtol": 0.2},
    ]
    tol.write_text(json.dumps({"rules": rules}))
    code, out, err = gate(capsys, cur, ref, "--tolerance-file", str(tol))
    assert code == 0
    assert "Benchmark gate passed" in out and "1 not gated" in out and "latency" not in out
    (line,) = err.strip().splitlines()
    assert line.endswith(
        f"warning: tolerance file {tol}: rule 1 would gate latency_ms; speed, memory, FLOPs and "
        "parameter counts are never gated, so it is ignored for them"
    )
    # and an update never copies them into the reference
    assert gate(capsys, cur, ref, "--tolerance-file", str(tol), "--update")[0] == 0
    assert not records.record_path(ref, rec("latency_ms", 100.0)).exists()


def test_no_rule_gates_profile_metrics(tmp_path, caplog):
    tol = tmp_path / "tol.toml"
    tol.write_text(
        '[[rules]]\nmetric = "*"\ngate = true\n\n'  # every metric: silent, still not speed
        '[[rules]]\nmetric = "fl*"\ngate = true\n\n'
        '[[rules]]\nbaseline = "munit"\nmetric = "params"\ngate = true\natol = 0\n'
    )
    rules = load_rules(tol)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    assert "rule 2 would gate flops;" in warned[0] and "rule 3 would gate params;" in warned[1]
    for metric in PROFILE_METRICS:
        assert not tolerance_for(rules, ("afhq", "quick", "munit", metric, "", "")).gate
        assert Record("afhq", HASH, "munit", 0, metric).kind == "profile"
    assert tolerance_for(rules, ("afhq", "quick", "munit", "fid", "", "")).gate
