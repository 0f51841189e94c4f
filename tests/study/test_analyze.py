"""``study analyze`` on simulated participants whose behaviour is known: the catch filter drops
the careless, the intervals are statsmodels' Wilson intervals of the kept answers (counted here
from the simulation itself, not from the analysis), Bradley-Terry recovers known strengths,
Fleiss' kappa matches its formula, and the records reach the leaderboard."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from statsmodels.stats.proportion import proportion_confint

from benchmark.errors import UserError
from benchmark.records import read_folder
from benchmark.report.model import collect
from benchmark.study import analyze as study
from benchmark.study.analyze import Answer, agreement

PROTOCOL, PHASH = "afhq", "abc123def456"


@dataclass
class Sim:
    """A study folder being simulated: its trials and, per participant, what each answer
    meant (which method the participant chose, whether they were fooled)."""

    folder: Path
    design: str
    rng: np.random.Generator
    trials: list[dict] = field(default_factory=list)
    answers: list[dict] = field(default_factory=list)
    truth: list[dict] = field(default_factory=list)  # one per test answer: participant, ...

    def trial(self, kind: str, correct=None, method=None, against=None) -> dict:
        t = {
            "id": f"t{len(self.trials):03d}",
            "kind": kind,
            "left": f"img/{len(self.trials)}_l.png",
            "right": f"img/{len(self.trials)}_r.png",
            "correct": correct,
            "method": method,
            "against": against,
        }
        self.trials.append(t)
        return t

    def answer(self, participant: str, trial: dict, side: str) -> None:
        """``side`` in trials.json's terms; the page swaps sides at random, as the page does."""
        swapped = bool(self.rng.random() < 0.5)
        shown = side if not swapped else ("left" if side == "right" else "right")
        self.answers.append(
            {
                "participant": participant,
                "trial": trial["id"],
                "choice": shown,
                "rt_ms": int(self.rng.integers(300, 3000)),
                "swapped": swapped,
                "received_at": "2025-01-01T00:00:00Z",
            }
        )

    def save(self, **extra) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {
            "study": self.folder.name,
            "design": self.design,
            "protocol": PROTOCOL,
            "protocol_hash": PHASH,
            "trials": self.trials,
            **extra,
        }
        (self.folder / "trials.json").write_text(json.dumps(data), encoding="utf-8")
        lines = "".join(json.dumps(a) + "\n" for a in self.answers)
        (self.folder / "answers.jsonl").write_text(lines, encoding="utf-8")
        return self.folder


def _side(rng: np.random.Generator) -> str:
    return "left" if rng.random() < 0.5 else "right"


def _catch(sim: Sim, n: int) -> list[dict]:
    return [sim.trial("catch", correct=_side(sim.rng)) for _ in range(n)]


def _answer_catch(sim: Sim, who: str, catches: list[dict], p_correct: float) -> None:
    for t in catches:
        right = sim.rng.random() < p_correct
        sim.answer(
            who, t, t["correct"] if right else ("left" if t["correct"] == "right" else "right")
        )


def preference_study(tmp_path: Path, seed: int = 1) -> Sim:
    """40 careful participants prefer A over B with probability 0.7 and pass catch trials; 10
    careless ones answer everything at random."""
    sim = Sim(tmp_path / "ab-study", "method-vs-method", np.random.default_rng(seed))
    practice = [sim.trial("practice", method="A", against="B") for _ in range(3)]
    tests = [
        sim.trial("test", method=m, against=o)
        for i in range(40)
        for m, o in [("A", "B") if i % 2 else ("B", "A")]
    ]
    catches = _catch(sim, 10)
    people = [(f"careful{i:02d}", 0.7, 0.97) for i in range(40)]
    people += [(f"careless{i:02d}", 0.5, 0.5) for i in range(10)]
    for who, p_a, p_catch in people:
        for t in practice:
            sim.answer(who, t, _side(sim.rng))
        _answer_catch(sim, who, catches, p_catch)
        for t in tests:
            chose_a = bool(sim.rng.random() < p_a)
            a_side = "left" if t["method"] == "A" else "right"
            sim.answer(who, t, a_side if chose_a else ("right" if a_side == "left" else "left"))
            sim.truth.append({"participant": who, "chose_a": chose_a})
    sim.save()
    return sim


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    study.add_arguments(p)
    return p.parse_args(list(argv))


def test_careless_participants_are_dropped_and_the_preference_is_wilsons(tmp_path):
    sim = preference_study(tmp_path)
    result = study.analyze(sim.folder, None, 0.8)

    dropped = {p.id for p in result.dropped}
    careless = {f"careless{i:02d}" for i in range(10)}
    assert dropped <= careless  # no careful participant is lost
    assert len(dropped) >= 8  # and (nearly) every careless one goes
    for p in result.dropped:
        assert p.catch_accuracy < 0.8 and p.catch_answered == 10
    assert len(result.kept) == 50 - len(dropped)
    assert result.practice_answers == 50 * 3

    kept = {p.id for p in result.kept}
    mine = [t for t in sim.truth if t["participant"] in kept]
    count, nobs = sum(t["chose_a"] for t in mine), len(mine)
    lo, hi = proportion_confint(count, nobs, alpha=0.05, method="wilson")

    by = {r.method: r for r in result.results}
    assert set(by) == {"A", "B"}
    a, b = by["A"], by["B"]
    assert (a.count, a.n_answers) == (count, nobs)
    assert a.value == pytest.approx(count / nobs)
    assert a.interval == pytest.approx((lo, hi), abs=1e-12)
    assert lo < 0.7 < hi
    assert b.value == pytest.approx(1 - count / nobs)
    assert (a.against, a.n_trials, a.interval_method) == ("B", 40, "wilson")
    [pair] = result.pairs
    assert (pair.a, pair.b, pair.preference.count, pair.preference.nobs) == ("A", "B", count, nobs)
    assert result.bt == []  # two methods: the preference says it all


def test_the_careless_drag_the_preference_towards_a_coin_without_the_filter(tmp_path):
    sim = preference_study(tmp_path)
    everyone = study.analyze(sim.folder, None, 0.0)
    assert everyone.dropped == []
    a = next(r for r in everyone.results if r.method == "A")
    assert a.n_answers == 50 * 40
    assert a.value == pytest.approx(sum(t["chose_a"] for t in sim.truth) / (50 * 40))


def fooling_study(tmp_path: Path) -> Sim:
    """30 careful participants are fooled by X 30% and by Y 10% of the time; 1 careless."""
    sim = Sim(tmp_path / "rvf", "real-vs-fake", np.random.default_rng(7))
    tests = [
        sim.trial("test", correct=_side(sim.rng), method=m, against="real")
        for m in ("X", "Y")
        for _ in range(30)
    ]
    catches = _catch(sim, 8)
    rates = {"X": 0.3, "Y": 0.1}
    for i in range(31):
        who, careless = f"p{i:02d}", i == 30
        _answer_catch(sim, who, catches, 0.0 if careless else 1.0)
        for t in tests:
            fooled = bool(sim.rng.random() < (0.5 if careless else rates[t["method"]]))
            real = t["correct"]
            sim.answer(who, t, ("left" if real == "right" else "right") if fooled else real)
            sim.truth.append({"participant": who, "method": t["method"], "fooled": fooled})
    sim.save(preset="quick")
    return sim


def test_fooling_rate_of_a_simulated_30_percent(tmp_path):
    sim = fooling_study(tmp_path)
    result = study.analyze(sim.folder, None, 0.8)
    assert [p.id for p in result.dropped] == ["p30"]
    assert result.dropped[0].catch_accuracy == 0.0
    for method, rate in (("X", 0.3), ("Y", 0.1)):
        mine = [t for t in sim.truth if t["method"] == method and t["participant"] != "p30"]
        count = sum(t["fooled"] for t in mine)
        lo, hi = proportion_confint(count, len(mine), alpha=0.05, method="wilson")
        r = next(r for r in result.results if r.method == method)
        assert (r.metric, r.count, r.n_answers, r.n_trials) == (study.FOOLING, count, 900, 30)
        assert r.interval == pytest.approx((lo, hi), abs=1e-12)
        assert lo < rate < hi
        assert r.against == "real"

    [x, y] = result.records()
    assert (x.baseline, x.metric, x.variant, x.direction) == (
        "X",
        "human_fooling_rate",
        "real-vs-fake",
        "higher",
    )
    assert (x.protocol, x.protocol_hash, x.seed, x.preset, x.extractor) == (
        PROTOCOL,
        PHASH,
        0,
        "quick",
        None,
    )
    prov = x.provenance
    assert prov["interval"] == pytest.approx(list(result.results[0].interval))
    assert {k: prov[k] for k in ("study", "design", "n_participants", "n_dropped", "n_trials")} == {
        "study": "rvf",
        "design": "real-vs-fake",
        "n_participants": 30,
        "n_dropped": 1,
        "n_trials": 30,
    }
    assert (prov["interval_method"], prov["against"], prov["protocol"]) == (
        "wilson",
        "real",
        PROTOCOL,
    )


def _bt_mle(wins: np.ndarray) -> np.ndarray:
    """Bradley-Terry by direct maximisation of the likelihood (independent of choix)."""
    n = wins.shape[0]

    def nll(free: np.ndarray) -> float:
        s = np.append(free, -free.sum())
        d = s[:, None] - s[None, :]
        return float(np.sum(wins * np.logaddexp(0.0, -d)))

    res = minimize(nll, np.zeros(n - 1), method="BFGS", options={"gtol": 1e-10})
    return np.append(res.x, -res.x.sum())


def test_bradley_terry_recovers_three_known_strengths(tmp_path):
    sim = Sim(tmp_path / "three", "method-vs-method", np.random.default_rng(3))
    strength = {"mid": 0.0, "strong": 0.8, "weak": -0.8}  # sorted names: mid, strong, weak
    names = sorted(strength)
    tests = [
        sim.trial("test", method=m, against=o)
        for m in names
        for o in names
        if m != o
        for _ in range(10)
    ]
    catches = _catch(sim, 5)
    wins = np.zeros((3, 3))
    for i in range(30):
        who = f"p{i}"
        _answer_catch(sim, who, catches, 1.0)
        for t in tests:
            left, right = t["method"], t["against"]
            p_left = 1 / (1 + math.exp(strength[right] - strength[left]))
            side = "left" if sim.rng.random() < p_left else "right"
            w, lo = (left, right) if side == "left" else (right, left)
            wins[names.index(w), names.index(lo)] += 1
            sim.answer(who, t, side)
    sim.save()
    result = study.analyze(sim.folder)

    bt = {r.method: r for r in result.bt}
    assert sorted(bt, key=lambda m: -bt[m].value) == ["strong", "mid", "weak"]
    mle = _bt_mle(wins)
    for i, m in enumerate(names):
        r = bt[m]
        assert r.value == pytest.approx(mle[i], abs=1e-4)
        lo, hi = r.interval
        assert lo < r.value < hi
        assert lo < strength[m] < hi  # the strengths' mean is 0 already
        assert (r.metric, r.interval_method, r.n_answers) == (study.BT_SCORE, "bootstrap", 1200)
    assert bt["strong"].interval[0] > bt["mid"].interval[1] > bt["weak"].interval[1]
    # the analysis is seeded: the same answers give the same intervals
    again = {r.method: r.interval for r in study.analyze(sim.folder).bt}
    assert again == {m: r.interval for m, r in bt.items()}

    # per method, the share of its comparisons it won; per pair, the share choosing the first
    prefs = {r.method: r for r in result.results}
    for i, m in enumerate(names):
        won, total = wins[i].sum(), wins[i].sum() + wins[:, i].sum()
        assert (prefs[m].count, prefs[m].n_answers) == (won, total)
        assert prefs[m].interval == pytest.approx(
            proportion_confint(won, total, alpha=0.05, method="wilson"), abs=1e-12
        )
    for p in result.pairs:
        ia, ib = names.index(p.a), names.index(p.b)
        assert (p.preference.count, p.preference.nobs) == (
            wins[ia, ib],
            wins[ia, ib] + wins[ib, ia],
        )
    assert prefs["strong"].detail["pairs"]["weak"]["count"] == wins[1, 2]


def _fleiss(table: list[list[int]]) -> float:
    """Fleiss (1971), from the formula."""
    t = np.asarray(table, dtype=float)
    n = t.sum(axis=1)[0]
    p_i = ((t**2).sum(axis=1) - n) / (n * (n - 1))
    p_j = t.sum(axis=0) / t.sum()
    pe = (p_j**2).sum()
    return (p_i.mean() - pe) / (1 - pe)


def _answers(rows: dict[str, list[str]]) -> list[Answer]:
    return [
        Answer(f"p{k}", trial, choice, "x")
        for trial, choices in rows.items()
        for k, choice in enumerate(choices)
    ]


def test_fleiss_kappa_matches_the_formula():
    rows = {
        "t1": ["left", "left", "left"],
        "t2": ["left", "left", "right"],
        "t3": ["right", "right", "right"],
        "t4": ["left", "right", "right"],
        "t5": ["left", "left", "left"],
    }
    a = agreement(_answers(rows))
    table = [[c.count("left"), c.count("right")] for c in rows.values()]
    assert a.kappa == pytest.approx(_fleiss(table), abs=1e-12)
    assert (a.n_trials, a.raters, a.overlapping) == (5, 3, 5)


def test_fleiss_kappa_with_unequal_overlaps_and_too_few():
    rows = {
        "t1": ["left"] * 4,
        "t2": ["right"] * 3,
        "t3": ["left", "right", "left"],
        "t4": ["left"],
    }
    a = agreement(_answers(rows))
    # 3 answers per trial uses the most answers (9 against 4 with 4 each or 6 with 2 each)
    assert (a.raters, a.n_trials, a.overlapping) == (3, 3, 3)
    assert a.kappa == pytest.approx(_fleiss([[3, 0], [0, 3], [2, 1]]), abs=1e-12)
    assert "subsampled" in a.note

    few = agreement(_answers({"t1": ["left", "left"], "t2": ["left"], "t3": ["right"]}))
    assert few.kappa is None and "too few overlaps" in few.note
    same = agreement(_answers({"t1": ["left", "left"], "t2": ["left", "left"]}))
    assert same.kappa is None and "undefined" in same.note


def test_the_swap_is_undone_before_anything_is_counted(tmp_path):
    sim = Sim(tmp_path / "swap", "real-vs-fake", np.random.default_rng(0))
    t = sim.trial("test", correct="left", method="X", against="real")
    row = {"trial": t["id"], "rt_ms": 1, "received_at": ""}
    sim.answers = [
        {**row, "participant": "a", "choice": "left", "swapped": True},  # clicked the fake
        {**row, "participant": "b", "choice": "right", "swapped": True},  # clicked the real
        {**row, "participant": "c", "choice": "right", "swapped": False},  # clicked the fake
        {**row, "participant": "c", "choice": "left", "swapped": False},  # a repeat: ignored
    ]
    sim.save()
    result = study.analyze(sim.folder)
    [r] = result.results
    assert (r.count, r.n_answers) == (2, 3)
    assert result.repeated_answers == 1
    assert "no catch trials" in " ".join(result.notes)


def test_the_command_writes_records_the_leaderboard_shows(tmp_path, capsys):
    sim = preference_study(tmp_path)
    out = tmp_path / "results"
    assert study.run(_args(str(sim.folder), "--out", str(out))) == 0
    printed = capsys.readouterr().out
    assert "dropped" in printed and "careless" in printed
    assert any(
        line.strip().startswith("preference") and " A " in line for line in printed.splitlines()
    )

    recs = {r.baseline: r for _, r in read_folder(out)}
    assert set(recs) == {"A", "B"}
    assert recs["A"].metric == "human_preference" and recs["A"].direction == "higher"
    analysis = json.loads((sim.folder / "analysis.json").read_text())
    assert analysis["n_dropped"] == len(analysis["participants"]["dropped"]) >= 8
    assert recs["A"].value == pytest.approx(analysis["results"][0]["value"])
    assert len(analysis["records"]) == 2
    assert analysis["agreement"]["fleiss_kappa"] is not None

    [table] = collect(out).tables
    assert (table.protocol, table.protocol_hash) == (PROTOCOL, PHASH)
    [col] = table.columns
    assert (col.metric, col.variant, col.direction) == (
        "human_preference",
        "method-vs-method",
        "higher",
    )
    assert col.metric_label == "Human preference"
    rows = {row.baseline: row.cells[col.key].by_seed for row in table.rows}
    assert rows == {"A": {0: recs["A"].value}, "B": {0: recs["B"].value}}


def test_answers_from_several_files(tmp_path):
    sim = preference_study(tmp_path)
    lines = (sim.folder / "answers.jsonl").read_text().splitlines(keepends=True)
    first, second = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    first.write_text("".join(lines[: len(lines) // 2]))
    second.write_text("".join(lines[len(lines) // 2 :]))
    split = study.analyze(sim.folder, [first, second], 0.8)
    whole = study.analyze(sim.folder, None, 0.8)
    assert split.to_dict()["results"] == whole.to_dict()["results"]


def test_user_errors_are_one_line(tmp_path):
    sim = preference_study(tmp_path)
    out = tmp_path / "results"

    careless = tmp_path / "careless.jsonl"
    careless.write_text(
        "".join(
            json.dumps(a) + "\n" for a in sim.answers if a["participant"].startswith("careless0")
        )
    )
    with pytest.raises(UserError, match="no participant left: all 10 .*threshold 0.95"):
        study.analyze(sim.folder, [careless], 0.95)
    with pytest.raises(UserError, match="no answers: .*nowhere.jsonl does not exist"):
        study.analyze(sim.folder, [tmp_path / "nowhere.jsonl"])
    with pytest.raises(UserError, match="between 0 and 1"):
        study.analyze(sim.folder, None, 80)

    stray = tmp_path / "stray.jsonl"
    stray.write_text(json.dumps({**sim.answers[0], "trial": "t999"}) + "\n")
    with pytest.raises(UserError, match="1 trial.*not in .*trials.json.*'t999'"):
        study.analyze(sim.folder, [stray])
    stray.write_text(json.dumps({k: v for k, v in sim.answers[0].items() if k != "swapped"}) + "\n")
    with pytest.raises(UserError, match="stray.jsonl:1: 'swapped'"):
        study.analyze(sim.folder, [stray])
    stray.write_text("{not json\n")
    with pytest.raises(UserError, match="stray.jsonl:1 is not a JSON line"):
        study.analyze(sim.folder, [stray])

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="trials.json does not exist"):
        study.run(_args(str(empty), "--out", str(out)))
    (empty / "trials.json").write_text(json.dumps({"design": "real-vs-fake", "trials": []}))
    with pytest.raises(UserError, match="answers.jsonl does not exist"):
        study.analyze(empty)
    (empty / "trials.json").write_text(json.dumps({"design": "a-vs-b", "trials": []}))
    with pytest.raises(UserError, match="design 'a-vs-b'"):
        study.analyze(empty)

    with pytest.raises(UserError) as caught:
        study.analyze(sim.folder, [careless], 0.95)
    assert "\n" not in str(caught.value)


def test_a_method_that_wins_every_comparison_still_gets_a_finite_score(tmp_path):
    sim = Sim(tmp_path / "sweep", "method-vs-method", np.random.default_rng(5))
    names = ["low", "mid", "top"]
    tests = [sim.trial("test", method=m, against=o) for m in names for o in names if m != o]
    for i in range(6):
        for t in tests:
            if "top" in (t["method"], t["against"]):
                side = "left" if t["method"] == "top" else "right"
            else:
                side = _side(sim.rng)
            sim.answer(f"p{i}", t, side)
    sim.save()
    result = study.analyze(sim.folder)
    bt = {r.method: r for r in result.bt}
    assert all(math.isfinite(r.value) and all(map(math.isfinite, r.interval)) for r in bt.values())
    assert bt["top"].value > max(bt["low"].value, bt["mid"].value) + 2
    assert sum(r.value for r in bt.values()) == pytest.approx(0.0, abs=1e-9)
    assert bt["top"].detail["regularised"] is True
    assert any("prior" in n for n in result.notes)
