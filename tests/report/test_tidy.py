"""results.csv and profile.csv (benchmark.report.tidy): fixed columns, one observation per row,
every key column filled so a groupby drops nothing, and the main table in one pandas line."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd
import pytest

from benchmark import records
from benchmark.records import CELL, Record
from benchmark.report import render_all, tidy
from benchmark.report.model import collect

AFHQ_HASH, E2S_HASH, FS_HASH = "a1b2c3d4e5f6", "123456789abc", "fedcba987654"
PROTO_EXT = f"protocol:afhq@{AFHQ_HASH}"
TASKS = ("cat2dog", "dog2cat")


def _prov(name: str, modes: list[str], display: str | None, **kw) -> dict:
    prov = {"protocol": {"name": name, "modes": modes}, "oracle": False, **kw}
    if display is not None:
        prov["display_name"] = display
    return prov


def _afhq(baseline: str, seed: int, display: str | None, fid: dict[str, float], **kw) -> Record:
    """A FID record as fidelity.py writes it: the task mean, per-task numbers and counts."""
    kw.setdefault("instrument", "official")
    return Record(
        "afhq",
        AFHQ_HASH,
        baseline,
        seed,
        "fid",
        sum(fid.values()) / len(fid),
        std=0.5,
        variant="latent",
        extractor=PROTO_EXT,
        preset="smoke",
        provenance=_prov(
            "afhq",
            ["latent", "reference"],
            display,
            n_real={t: 96 for t in fid},
            n_fake={t: 18 for t in fid},
            **kw,
        ),
        extra={"per_task": fid},
    )


def _records() -> list[Record]:
    recs = []
    for seed, (a, b) in enumerate(((16.0, 20.0), (17.0, 21.0), (18.0, 22.0))):
        recs.append(_afhq("stargan_v2", seed, "StarGAN v2", dict(zip(TASKS, (a, b), strict=True))))
        recs.append(_afhq("munit", seed, "MUNIT", dict(zip(TASKS, (a + 5, b + 5), strict=True))))
    mine = {TASKS[0]: 30.0, TASKS[1]: 32.0}
    recs.append(_afhq("mine", 0, "mine", mine, external={"sha": "x"}, instrument="local"))
    # an oracle, with no display name recorded (older records): the baseline stands in
    identity = _afhq("identity", 0, None, {TASKS[0]: 50.0, TASKS[1]: 50.0})
    identity.provenance["oracle"] = True
    recs.append(identity)
    # a failed record: one task's number stands, the other is NaN
    bad = _afhq("drit", 0, "DRIT", {TASKS[0]: 40.0, TASKS[1]: math.nan})
    bad.value, bad.status, bad.reason = None, "failed", "non-finite value on task(s) dog2cat"
    recs.append(bad)
    # a skipped column: no number, its reason
    recs.append(
        Record(
            "afhq",
            AFHQ_HASH,
            "stargan_v2",
            0,
            "fid",
            None,
            variant="reference",
            extractor="inception-v3-compat",
            status="skipped",
            reason="weights-inception missing",
            preset="smoke",
            provenance=_prov("afhq", ["latent", "reference"], "StarGAN v2"),
        )
    )
    # a single-mode protocol: empty variant, no extractor, paired counts
    for seed in (0, 1):
        recs.append(
            Record(
                "edges2shoes",
                E2S_HASH,
                "pix2pix",
                seed,
                "l1",
                0.2 + seed / 10,
                preset="smoke",
                provenance=_prov("edges2shoes", ["latent"], "pix2pix", n_pairs={"e2s": 60}),
            )
        )
    # few-shot: K in the variant, the protocol's one mode is reference; diversity counts
    for variant in ("k=1", "reference/k=5"):
        recs.append(
            Record(
                "animal_faces",
                FS_HASH,
                "funit",
                0,
                "lpips_diversity",
                0.3,
                variant=variant,
                direction="higher",
                preset="smoke",
                provenance=_prov(
                    "animal_faces",
                    ["reference"],
                    "FUNIT",
                    n_inputs={variant: 6},
                    outputs_per_input={variant: 3},
                ),
            )
        )
    # the protocol classifier's own accuracy: an instrument, not a method
    recs.append(
        Record(
            "afhq",
            AFHQ_HASH,
            "protocol_classifier",
            0,
            "classifier_accuracy",
            0.95,
            variant="top1",
            extractor=PROTO_EXT,
            direction="higher",
            preset="smoke",
        )
    )
    # speed profile and a cell status: not in results.csv
    speed = dict(preset="smoke", provenance=_prov("afhq", ["latent", "reference"], "StarGAN v2"))
    speed["provenance"]["device"] = "cpu x86_64 (2 cores)"
    recs += [
        Record("afhq", AFHQ_HASH, "stargan_v2", 0, "latency_ms", 12.5, variant="bs=8", **speed),
        Record(
            "afhq",
            AFHQ_HASH,
            "stargan_v2",
            0,
            "throughput",
            600.0,
            variant="bs=8,reference",
            extra={"unit": "images/s"},
            **speed,
        ),
        Record("afhq", AFHQ_HASH, "stargan_v2", 0, "params", 5e6, **speed),
        Record("afhq", AFHQ_HASH, "stargan_v2", 0, CELL, None, preset="smoke"),
    ]
    return recs


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tidy")
    for r in _records():
        records.write(root, r)
    return root


@pytest.fixture(scope="module")
def frame(results: Path) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(tidy.csv_text(collect(results))))


def test_fixed_columns_in_order_and_std_left_out(frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == tidy.COLUMNS
    assert list(frame.columns) == [
        "protocol",
        "preset",
        "protocol_hash",
        "baseline",
        "display_name",
        "is_oracle",
        "is_external",
        "seed",
        "metric",
        "mode",
        "k",
        "task",
        "extractor",
        "instrument",
        "value",
        "n_real",
        "n_fake",
        "status",
        "reason",
    ]
    assert frame.is_oracle.dtype == bool and frame.is_external.dtype == bool


def test_a_task_mean_and_each_task_are_rows_with_their_counts(frame: pd.DataFrame) -> None:
    sg = frame[
        (frame.baseline == "stargan_v2") & (frame.metric == "fid") & (frame["mode"] == "latent")
    ]
    assert len(sg) == 3 * 3  # 3 seeds x (all + 2 tasks)
    assert list(sg[sg.seed == 1].task) == ["all", "cat2dog", "dog2cat"]  # all first
    seed1 = sg[sg.seed == 1].set_index("task").value
    assert seed1.to_dict() == {"all": 19.0, "cat2dog": 17.0, "dog2cat": 21.0}
    assert set(sg.n_real) == {96} and set(sg.n_fake) == {18}
    assert set(sg.display_name) == {"StarGAN v2"} and set(sg.extractor) == {PROTO_EXT}
    assert set(sg.status) == {"ok"} and sg.reason.isna().all()
    assert set(sg.instrument) == {"official"}
    assert set(frame[frame.baseline == "mine"].instrument) == {"local"}
    assert frame[frame.protocol == "edges2shoes"].instrument.isna().all()  # no classifier


def test_a_failed_record_keeps_the_tasks_that_have_a_number(frame: pd.DataFrame) -> None:
    drit = frame[frame.baseline == "drit"].set_index("task")
    assert drit.loc["all", "status"] == "failed" and math.isnan(drit.loc["all", "value"])
    assert "non-finite" in drit.loc["all", "reason"]
    assert drit.loc["cat2dog", "status"] == "ok" and drit.loc["cat2dog", "value"] == 40.0
    assert drit.loc["dog2cat", "status"] == "failed" and math.isnan(drit.loc["dog2cat", "value"])
    skipped = frame[(frame.baseline == "stargan_v2") & (frame["mode"] == "reference")]
    assert len(skipped) == 1 and skipped.status.iloc[0] == "skipped"
    assert skipped.reason.iloc[0] == "weights-inception missing"


def test_variant_splits_into_mode_and_k_and_no_key_is_empty(frame: pd.DataFrame) -> None:
    fs = frame[frame.protocol == "animal_faces"]
    assert sorted(zip(fs["mode"], fs.k, strict=True)) == [("reference", 1), ("reference", 5)]
    assert set(fs.n_fake) == {18}  # 6 inputs x 3 outputs
    e2s = frame[frame.protocol == "edges2shoes"]
    assert set(e2s["mode"]) == {"latent"}  # the protocol's one mode fills the empty variant
    assert set(e2s.extractor) == {tidy.NO_EXTRACTOR} and set(e2s.task) == {"all"}
    assert set(e2s.n_fake) == {60} and e2s.n_real.isna().all()
    for key in ("protocol", "baseline", "display_name", "metric", "mode", "task", "extractor"):
        assert frame[key].notna().all(), key
    # a groupby on the key columns keeps every row
    keys = ["protocol", "display_name", "metric", "mode", "task", "extractor"]
    assert frame.groupby(keys).size().sum() == len(frame)


def test_method_rows_only(frame: pd.DataFrame) -> None:
    assert "protocol_classifier" not in set(frame.baseline)
    assert not {"classifier_accuracy", CELL, "latency_ms", "params"} & set(frame.metric)
    assert frame[frame.baseline == "identity"].is_oracle.all()
    assert set(frame[frame.baseline == "identity"].display_name) == {"identity"}
    assert frame[frame.baseline == "mine"].is_external.all()
    assert not frame[frame.baseline != "mine"].is_external.any()
    assert not frame[frame.baseline != "identity"].is_oracle.any()


def test_the_main_table_is_one_pandas_line(frame: pd.DataFrame) -> None:
    # the README's line
    table = frame.query("protocol == 'afhq' and task == 'all'").pivot_table(
        index="display_name", columns=["metric", "mode", "extractor"], values="value"
    )
    assert table.loc["StarGAN v2", ("fid", "latent", PROTO_EXT)] == pytest.approx(19.0)
    assert table.loc["MUNIT", ("fid", "latent", PROTO_EXT)] == pytest.approx(24.0)
    assert "DRIT" not in table.index  # no number: no row
    assert ("fid", "reference", "inception-v3-compat") not in table.columns  # skipped only
    spread = frame.query("task == 'all' and metric == 'fid' and baseline == 'munit'").value
    assert spread.std() == pytest.approx(1.0)  # seeds are rows: their spread is a groupby


def test_profile_csv_splits_batch_size_and_mode(results: Path) -> None:
    prof = pd.read_csv(io.StringIO(tidy.profile_csv_text(collect(results))))
    assert tuple(prof.columns) == tidy.PROFILE_COLUMNS
    rows = {r.metric: r for r in prof.itertuples()}
    assert set(rows) == {"latency_ms", "throughput", "params"}
    assert (rows["latency_ms"].batch_size, rows["latency_ms"].mode) == (8, "latent")
    assert (rows["throughput"].batch_size, rows["throughput"].mode) == (8, "reference")
    assert math.isnan(rows["params"].batch_size) and pd.isna(rows["params"].mode)
    assert rows["latency_ms"].unit == "ms" and rows["throughput"].unit == "images/s"
    assert rows["params"].unit == "parameters"
    assert rows["latency_ms"].display_name == "StarGAN v2"
    assert rows["latency_ms"].device == "cpu x86_64 (2 cores)"


def test_split_variant() -> None:
    assert tidy.split_variant("latent") == ("latent", None)
    assert tidy.split_variant("reference/k=5") == ("reference", 5)
    assert tidy.split_variant("k=10", ["reference"]) == ("reference", 10)
    assert tidy.split_variant("", ["latent", "reference"]) == ("latent", None)
    assert tidy.split_variant("") == ("latent", None)


def test_render_all_writes_both_csvs(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    render_all(results, out)
    written = pd.read_csv(out / "results.csv")
    assert tuple(written.columns) == tidy.COLUMNS and len(written) > 0
    assert tuple(pd.read_csv(out / "profile.csv").columns) == tidy.PROFILE_COLUMNS


def test_display_names_are_those_the_tables_show(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "named"
    render_all(results, out, names={"munit": "MUNIT (ours)"})
    written = pd.read_csv(out / "results.csv")
    assert set(written[written.baseline == "munit"].display_name) == {"MUNIT (ours)"}
    assert set(written[written.baseline == "stargan_v2"].display_name) == {"StarGAN v2"}
