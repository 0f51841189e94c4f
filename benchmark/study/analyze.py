"""``python -m benchmark study analyze STUDY --out RESULTS``: a human study's answers -> records.

A study folder holds ``trials.json`` (the design, the protocol, and every trial: its kind,
practice, test or catch; the two images; the side a careful viewer picks where there is one;
the method shown and what it is shown against) and ``answers.jsonl`` (one line per answer:
participant, trial, the side clicked as the page showed it, and whether that participant's page
showed the trial's sides swapped). Every answer is mapped back to trials.json's sides first.

Then, in this order:

- practice answers are set aside, and participants whose catch-trial accuracy is below
  ``--min-catch-accuracy`` are dropped (named, with their accuracy);
- real-vs-fake: each method's *fooling rate*, the share of test answers that took its output
  for the real image, with a Wilson 95% interval (statsmodels ``proportion_confint``);
- method-vs-method: each pair's *preference* (the share of its answers choosing the first
  method, names sorted) with a Wilson interval; per method, the share of all its comparisons
  it won (for two methods, its preference over the other); with three or more methods,
  Bradley-Terry log-strengths (choix's maximum-likelihood fit, centred on mean 0, so that
  ``P(i preferred to j) = 1 / (1 + exp(s_j - s_i))``) with 95% percentile intervals from a
  seeded bootstrap over participants;
- agreement: Fleiss' kappa over the test trials two or more kept participants answered, the
  categories being the two images (trials.json's sides), so participants who pick the same
  image of each trial agree (statsmodels ``fleiss_kappa``, which needs as many answers per
  trial: the count that uses the most answers is kept, trials with more are subsampled,
  seeded), or why it is not given.

Each method's numbers become records (``benchmark.records``) of the study's protocol version,
seed 0, variant the design, direction higher, so the leaderboard and the LaTeX tables show
them beside the computed metrics; ``STUDY/analysis.json`` keeps everything, and a short summary
is printed. Every mistake in the files is one line (``UserError``).
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import records
from benchmark.errors import UserError, output_folder
from benchmark.records import Record

TRIALS = "trials.json"
ANSWERS = "answers.jsonl"
ANALYSIS = "analysis.json"
DESIGNS = ("real-vs-fake", "method-vs-method")
KINDS = ("practice", "test", "catch")
SIDES = ("left", "right")
REAL = "real"  # what a real-vs-fake trial shows the method against
DEFAULT_MIN_CATCH_ACCURACY = 0.8
CONFIDENCE = 0.95
WILSON = "wilson"
BOOTSTRAP = "bootstrap"
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
SEED = 0  # the seed a study's records carry (they have no training seed)
# a prior of this many pseudo-comparisons per pair keeps the Bradley-Terry fit finite when a
# method won (or lost) every one of its comparisons; with a strongly connected comparison graph
# the fit is the plain maximum-likelihood estimate
BT_ALPHA = 0.01
MIN_KAPPA_TRIALS = 2  # trials answered by 2+ participants below which no kappa is given

FOOLING = "human_fooling_rate"
PREFERENCE = "human_preference"
BT_SCORE = "human_bt_score"
# what the leaderboard calls them (records carry the label: benchmark.report.model)
LABELS = {
    FOOLING: "Human fooling rate",
    PREFERENCE: "Human preference",
    BT_SCORE: "Human BT score",
}


# ---------------------------------------------------------------------------------------------
# the files


@dataclass(frozen=True)
class Trial:
    id: str
    kind: str  # practice | test | catch
    correct: str | None  # the side a careful viewer picks (the real image), or None
    method: str | None  # the method shown (method-vs-method: the one on trials.json's left)
    against: str | None  # the other method, or "real"


@dataclass(frozen=True)
class Study:
    folder: Path
    name: str
    design: str
    protocol: str
    protocol_hash: str
    preset: str
    trials: dict[str, Trial]

    @property
    def trials_path(self) -> Path:
        return self.folder / TRIALS


@dataclass(frozen=True)
class Answer:
    participant: str
    trial: str
    choice: str  # in trials.json's sides (the page's swap undone)
    where: str  # "FILE:LINE", for messages


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def _name(v: Any) -> str | None:
    """An id or method name as text (JSON numbers allowed); None when absent or empty."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float | str) and str(v).strip():
        return str(v)
    return None


def _protocol_name(v: Any) -> str:
    if isinstance(v, dict):  # a protocol's description rather than its name
        v = v.get("name")
    return _name(v) or ""


def load_study(folder: Path) -> Study:
    """``folder/trials.json``, checked: a one-line UserError for anything the analysis cannot
    use (no file, not JSON, an unknown design or trial kind, a test trial without its method,
    a trial that can be scored but says no correct side, a repeated trial id)."""
    folder = Path(folder)
    path = folder / TRIALS
    if not folder.is_dir():
        raise UserError(f"study folder {folder} does not exist; pass the folder holding {TRIALS}")
    if not path.is_file():
        raise UserError(
            f"{path} does not exist; make the study first (`python -m benchmark study make`)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not readable JSON ({exc}); make the study again") from exc
    if not isinstance(data, dict) or not isinstance(data.get("trials"), list):
        raise UserError(f"{path} has no 'trials' list; make the study again")
    design = data.get("design")
    if design not in DESIGNS:
        raise UserError(f"{path}: design {design!r} is not one of {', '.join(DESIGNS)}")
    trials: dict[str, Trial] = {}
    for i, raw in enumerate(data["trials"]):
        trial = _trial(raw, design, f"{path}: trial {i + 1}")
        if trial.id in trials:
            raise UserError(f"{path}: trial id {trial.id!r} appears twice; ids must be unique")
        trials[trial.id] = trial
    preset = data.get("preset")
    return Study(
        folder=folder,
        name=_name(data.get("study")) or folder.name,
        design=design,
        protocol=_protocol_name(data.get("protocol")),
        protocol_hash=_name(data.get("protocol_hash")) or "",
        preset=preset if isinstance(preset, str) else "",
        trials=trials,
    )


def _trial(raw: Any, design: str, where: str) -> Trial:
    if not isinstance(raw, dict):
        raise UserError(f"{where} is not a JSON object")
    tid = _name(raw.get("id"))
    if tid is None:
        raise UserError(f"{where} has no 'id'")
    where = f"{where} ({tid!r})"
    kind = raw.get("kind")
    if kind not in KINDS:
        raise UserError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    correct = raw.get("correct")
    if correct is not None and correct not in SIDES:
        raise UserError(f"{where}: 'correct' {correct!r} is not left, right or null")
    method, against = _name(raw.get("method")), _name(raw.get("against"))
    if kind == "catch" and correct is None:
        raise UserError(f"{where}: a catch trial needs its 'correct' side")
    if kind == "test":
        if method is None:
            raise UserError(f"{where}: a test trial needs its 'method'")
        if design == "real-vs-fake" and correct is None:
            raise UserError(f"{where}: a real-vs-fake test trial needs its 'correct' (real) side")
        if design == "method-vs-method" and against is None:
            raise UserError(f"{where}: a method-vs-method test trial needs 'against'")
    return Trial(tid, kind, correct, method, against)


def load_answers(files: Sequence[Path], study: Study) -> tuple[list[Answer], int]:
    """Every answer of ``files`` (JSON lines), mapped to trials.json's sides, and how many
    repeated answers (a participant's second answer to a trial) were ignored. A missing file,
    a line that is not an answer, or answers to trials the study does not have are a one-line
    UserError."""
    if not files:
        raise UserError("no answer files given")
    seen: set[tuple[str, str]] = set()
    out: list[Answer] = []
    repeated = 0
    for path in map(Path, files):
        if not path.is_file():
            raise UserError(
                f"no answers: {path} does not exist; collect them with "
                "`python -m benchmark study serve` or pass --answers FILE"
            )
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"answers {path} are unreadable ({exc})") from exc
        unknown: list[str] = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            answer = _answer(line, f"{path}:{n}")
            trial = study.trials.get(answer.trial)
            if trial is None:
                unknown.append(answer.trial)
                continue
            key = (answer.participant, answer.trial)
            if key in seen:
                repeated += 1
                continue
            seen.add(key)
            out.append(answer)
        if unknown:
            names = sorted(set(unknown))
            shown = ", ".join(repr(t) for t in names[:5]) + (", ..." if len(names) > 5 else "")
            raise UserError(
                f"{path}: {len(unknown)} answer(s) to {len(names)} trial(s) not in "
                f"{study.trials_path} ({shown}); were they collected for another study?"
            )
    if not out:
        raise UserError(f"no answers in {', '.join(map(str, files))}")
    return out, repeated


def _answer(line: str, where: str) -> Answer:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise UserError(f"{where} is not a JSON line ({exc}); remove or fix the line") from exc
    if not isinstance(data, dict):
        raise UserError(f"{where} is not a JSON object")
    participant, trial = _name(data.get("participant")), _name(data.get("trial"))
    for key, value in (("participant", participant), ("trial", trial)):
        if value is None:
            raise UserError(f"{where} has no '{key}'")
    choice, swapped = data.get("choice"), data.get("swapped")
    if choice not in SIDES:
        raise UserError(f"{where}: choice {choice!r} is not left or right")
    if not isinstance(swapped, bool):
        # guessing would silently flip the answer: without it the side chosen is unknown
        raise UserError(f"{where}: 'swapped' is {swapped!r}, expected true or false")
    return Answer(participant, trial, _other(choice) if swapped else choice, where)


# ---------------------------------------------------------------------------------------------
# the numbers


@dataclass(frozen=True)
class Proportion:
    """``count`` of ``nobs`` answers, with its Wilson interval."""

    count: int
    nobs: int

    @property
    def value(self) -> float:
        return self.count / self.nobs

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.count, self.nobs)


def wilson(count: int, nobs: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(count, nobs, alpha=1.0 - confidence, method=WILSON)
    return (float(lo), float(hi))


@dataclass(frozen=True)
class Participant:
    id: str
    catch_correct: int
    catch_answered: int
    test_answered: int

    @property
    def catch_accuracy(self) -> float | None:
        return self.catch_correct / self.catch_answered if self.catch_answered else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "participant": self.id,
            "catch_accuracy": self.catch_accuracy,
            "catch_correct": self.catch_correct,
            "catch_answered": self.catch_answered,
            "test_answered": self.test_answered,
        }


@dataclass
class MethodResult:
    """One method's number: a record of the leaderboard."""

    method: str
    metric: str
    value: float
    interval: tuple[float, float]
    interval_method: str
    against: str
    n_trials: int  # distinct test trials behind it
    n_answers: int
    count: int | None = None  # answers for it (a proportion's numerator)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "metric": self.metric,
            "value": self.value,
            "interval": list(self.interval),
            "interval_method": self.interval_method,
            "against": self.against,
            "n_trials": self.n_trials,
            "n_answers": self.n_answers,
            "count": self.count,
            **self.detail,
        }


@dataclass(frozen=True)
class Pair:
    """Method ``a`` against ``b`` (names sorted): ``preference.value`` is the share choosing a."""

    a: str
    b: str
    preference: Proportion
    n_trials: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "a_chosen": self.preference.count,
            "n_answers": self.preference.nobs,
            "n_trials": self.n_trials,
            "preference": self.preference.value,
            "interval": list(self.preference.interval),
            "interval_method": WILSON,
        }


@dataclass(frozen=True)
class Agreement:
    kappa: float | None
    n_trials: int  # trials the kappa is over
    raters: int  # answers per trial it used
    overlapping: int  # test trials answered by 2+ kept participants
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "fleiss_kappa": self.kappa,
            "n_trials": self.n_trials,
            "raters_per_trial": self.raters,
            "trials_with_2plus_answers": self.overlapping,
            "note": self.note,
        }


@dataclass
class Analysis:
    study: Study
    min_catch_accuracy: float
    answer_files: list[str]
    kept: list[Participant]
    dropped: list[Participant]
    results: list[MethodResult]  # fooling rates or preferences, one per method
    pairs: list[Pair]
    bt: list[MethodResult]  # Bradley-Terry scores (method-vs-method, 3+ methods)
    agreement: Agreement
    n_trials: int  # test trials answered by kept participants
    n_answers: int  # their test answers
    practice_answers: int
    repeated_answers: int
    notes: list[str] = field(default_factory=list)

    @property
    def without_catch(self) -> list[str]:
        """Kept participants who answered no catch trial (nothing to judge them by)."""
        return [p.id for p in self.kept if not p.catch_answered]

    def records(self) -> list[Record]:
        """The leaderboard's records: one per method and metric."""
        s = self.study
        if not s.protocol or not s.protocol_hash:
            raise UserError(
                f"{s.trials_path} names no protocol and protocol_hash; the records need them "
                "to join that protocol's leaderboard (make the study again)"
            )
        out = []
        for r in [*self.results, *self.bt]:
            prov: dict[str, Any] = {
                "study": s.name,
                "design": s.design,
                "n_participants": len(self.kept),
                "n_dropped": len(self.dropped),
                "n_trials": r.n_trials,
                "n_answers": r.n_answers,
                "interval": [r.interval[0], r.interval[1]],
                "interval_method": r.interval_method,
                "against": r.against,
                "protocol": s.protocol,
                "min_catch_accuracy": self.min_catch_accuracy,
                "metric_label": LABELS[r.metric],
                **r.detail,
            }
            out.append(
                Record(
                    protocol=s.protocol,
                    protocol_hash=s.protocol_hash,
                    baseline=r.method,
                    seed=SEED,
                    metric=r.metric,
                    value=r.value,
                    variant=s.design,
                    extractor=None,
                    direction="higher",
                    preset=s.preset,
                    provenance=prov,
                    extra={} if r.count is None else {"count": r.count, "nobs": r.n_answers},
                )
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        s = self.study
        return {
            "study": s.name,
            "design": s.design,
            "protocol": s.protocol,
            "protocol_hash": s.protocol_hash,
            "preset": s.preset,
            "answer_files": self.answer_files,
            "min_catch_accuracy": self.min_catch_accuracy,
            "participants": {
                "kept": [p.to_dict() for p in self.kept],
                "dropped": [p.to_dict() for p in self.dropped],
                "without_catch_answers": self.without_catch,
            },
            "n_participants": len(self.kept),
            "n_dropped": len(self.dropped),
            "n_trials": self.n_trials,
            "n_answers": self.n_answers,
            "practice_answers_ignored": self.practice_answers,
            "repeated_answers_ignored": self.repeated_answers,
            "results": [r.to_dict() for r in self.results],
            "pairs": [p.to_dict() for p in self.pairs],
            "bradley_terry": [r.to_dict() for r in self.bt],
            "agreement": self.agreement.to_dict(),
            "notes": self.notes,
        }

    def summary(self) -> list[str]:
        """A few lines for the terminal: who was dropped, one line per method, agreement."""
        s = self.study
        where = f"{s.protocol}@{s.protocol_hash}" if s.protocol else "no protocol"
        lines = [
            f"study {s.name} ({s.design}, {where}): {len(self.kept)} participants kept, "
            f"{self.n_answers} test answers on {self.n_trials} trials"
        ]
        threshold = f"{self.min_catch_accuracy:.0%}"
        if self.dropped:
            who = ", ".join(
                f"{p.id} ({p.catch_accuracy:.0%} of {p.catch_answered})" for p in self.dropped
            )
            lines.append(
                f"dropped {len(self.dropped)} below {threshold} catch-trial accuracy: {who}"
            )
        else:
            lines.append(f"dropped nobody (catch-trial accuracy threshold {threshold})")
        label = {FOOLING: "fooling rate", PREFERENCE: "preference", BT_SCORE: "BT score"}
        width = max((len(r.method) for r in [*self.results, *self.bt]), default=0)
        for r in [*self.results, *self.bt]:
            lo, hi = r.interval
            lines.append(
                f"  {label[r.metric]:<13} {r.method:<{width}}  {r.value:.3f} "
                f"[{lo:.3f}, {hi:.3f}] ({r.interval_method}; {r.n_answers} answers, "
                f"vs {r.against})"
            )
        for p in self.pairs if len(self.pairs) > 1 else ():
            lo, hi = p.preference.interval
            lines.append(
                f"  {p.a} over {p.b}: {p.preference.value:.3f} [{lo:.3f}, {hi:.3f}] "
                f"({p.preference.nobs} answers)"
            )
        a = self.agreement
        if a.kappa is not None:
            lines.append(
                f"agreement: Fleiss' kappa {a.kappa:.3f} over {a.n_trials} trials, "
                f"{a.raters} answers each"
            )
        else:
            lines.append(f"agreement: {a.note}")
        lines += [f"note: {n}" for n in self.notes]
        return lines


def analyze(
    study_dir: Path,
    answer_files: Sequence[Path] | None = None,
    min_catch_accuracy: float = DEFAULT_MIN_CATCH_ACCURACY,
) -> Analysis:
    """The study in ``study_dir`` judged from ``answer_files`` (default its answers.jsonl):
    the catch filter, per-method numbers with intervals, pairs, Bradley-Terry, agreement."""
    if not 0.0 <= min_catch_accuracy <= 1.0 or math.isnan(min_catch_accuracy):
        raise UserError(f"--min-catch-accuracy {min_catch_accuracy} is not between 0 and 1")
    study = load_study(study_dir)
    files = [Path(f) for f in answer_files] if answer_files else [study.folder / ANSWERS]
    answers, repeated = load_answers(files, study)
    trials = study.trials
    notes: list[str] = []

    people = _participants(answers, trials)
    dropped = [
        p for p in people if p.catch_accuracy is not None and p.catch_accuracy < min_catch_accuracy
    ]
    gone = {p.id for p in dropped}
    kept = [p for p in people if p.id not in gone]
    if not kept:
        raise UserError(
            f"no participant left: all {len(people)} scored below the catch-trial accuracy "
            f"threshold {min_catch_accuracy:g} (--min-catch-accuracy)"
        )
    if not any(t.kind == "catch" for t in trials.values()):
        notes.append("the study has no catch trials: nobody was filtered")
    elif any(not p.catch_answered for p in kept):
        notes.append(
            f"{sum(not p.catch_answered for p in kept)} participant(s) answered no catch trial "
            "and were kept"
        )
    tests = [a for a in answers if a.participant not in gone and trials[a.trial].kind == "test"]
    if not tests:
        raise UserError(
            f"no test answers from the {len(kept)} participant(s) kept after the catch filter "
            f"(threshold {min_catch_accuracy:g})"
        )
    practice = sum(trials[a.trial].kind == "practice" for a in answers)

    pairs: list[Pair] = []
    bt: list[MethodResult] = []
    if study.design == "real-vs-fake":
        results = _fooling(tests, trials)
    else:
        results, pairs = _preferences(tests, trials)
        methods = sorted({r.method for r in results})
        if len(methods) >= 3:
            bt, note = _bradley_terry(tests, trials, methods)
            notes += [note] if note else []
        if not results:
            notes.append("no test answer compared two different methods")
    return Analysis(
        study=study,
        min_catch_accuracy=min_catch_accuracy,
        answer_files=[str(f) for f in files],
        kept=kept,
        dropped=dropped,
        results=results,
        pairs=pairs,
        bt=bt,
        agreement=agreement(tests),
        n_trials=len({a.trial for a in tests}),
        n_answers=len(tests),
        practice_answers=practice,
        repeated_answers=repeated,
        notes=notes,
    )


def _participants(answers: Iterable[Answer], trials: dict[str, Trial]) -> list[Participant]:
    correct: Counter[str] = Counter()
    catch: Counter[str] = Counter()
    test: Counter[str] = Counter()
    order: dict[str, None] = {}
    for a in answers:
        order.setdefault(a.participant)
        t = trials[a.trial]
        if t.kind == "catch":
            catch[a.participant] += 1
            correct[a.participant] += a.choice == t.correct
        elif t.kind == "test":
            test[a.participant] += 1
    return [Participant(p, correct[p], catch[p], test[p]) for p in order]


def _fooling(tests: list[Answer], trials: dict[str, Trial]) -> list[MethodResult]:
    """Per method, the share of its test answers that picked its output as the real image."""
    fooled: Counter[str] = Counter()
    nobs: Counter[str] = Counter()
    seen: dict[str, set[str]] = defaultdict(set)
    against: dict[str, set[str]] = defaultdict(set)
    for a in tests:
        t = trials[a.trial]
        m = t.method or ""
        nobs[m] += 1
        fooled[m] += a.choice != t.correct
        seen[m].add(t.id)
        against[m].add(t.against or REAL)
    out = []
    for m in sorted(nobs):
        p = Proportion(fooled[m], nobs[m])
        out.append(
            MethodResult(
                m,
                FOOLING,
                p.value,
                p.interval,
                WILSON,
                ", ".join(sorted(against[m])),
                len(seen[m]),
                p.nobs,
                p.count,
            )
        )
    return out


def _comparisons(tests: list[Answer], trials: dict[str, Trial]) -> list[tuple[Answer, str, str]]:
    """(answer, winner, loser) for every test answer between two different methods."""
    out = []
    for a in tests:
        t = trials[a.trial]
        left, right = t.method or "", t.against or ""
        if left == right:
            continue  # a method against itself says nothing about either
        out.append((a, left, right) if a.choice == "left" else (a, right, left))
    return out


def _preferences(
    tests: list[Answer], trials: dict[str, Trial]
) -> tuple[list[MethodResult], list[Pair]]:
    comps = _comparisons(tests, trials)
    won: Counter[tuple[str, str]] = Counter()  # (winner, loser)
    pair_trials: dict[tuple[str, str], set[str]] = defaultdict(set)
    for a, w, lo in comps:
        won[(w, lo)] += 1
        pair_trials[(w, lo) if w < lo else (lo, w)].add(a.trial)
    pairs = [
        Pair(a, b, Proportion(won[(a, b)], won[(a, b)] + won[(b, a)]), len(pair_trials[(a, b)]))
        for a, b in sorted(pair_trials)
    ]
    methods = sorted({m for pair in pair_trials for m in pair})
    results = []
    for m in methods:
        mine = [p for p in pairs if m in (p.a, p.b)]
        wins = sum(won[(m, o)] for o in methods if o != m)
        total = sum(p.preference.nobs for p in mine)
        others = sorted(p.b if p.a == m else p.a for p in mine)
        by_other = {}
        for p in mine:
            other = p.b if p.a == m else p.a
            share = p.preference if p.a == m else Proportion(won[(m, other)], p.preference.nobs)
            by_other[other] = {
                "value": share.value,
                "interval": list(share.interval),
                "count": share.count,
                "nobs": share.nobs,
            }
        overall = Proportion(wins, total)
        results.append(
            MethodResult(
                m,
                PREFERENCE,
                overall.value,
                overall.interval,
                WILSON,
                ", ".join(others),
                len(set().union(*(pair_trials[(p.a, p.b)] for p in mine))),
                total,
                wins,
                {"pairs": by_other},
            )
        )
    return results, pairs


def _bt_fit(mat: np.ndarray) -> tuple[np.ndarray, bool]:
    """Bradley-Terry log-strengths from ``mat[i, j]`` = times i was preferred to j, centred on
    mean 0, and whether the prior was needed (the plain MLE does not exist)."""
    import choix
    from scipy.sparse.csgraph import connected_components

    n_comp, _ = connected_components(mat > 0, directed=True, connection="strong")
    params = None
    if n_comp == 1:
        try:
            params = choix.ilsr_pairwise_dense(mat)
        except RuntimeError:  # did not converge: take the regularised fit
            params = None
    regularised = params is None or not np.all(np.isfinite(params))
    if regularised:
        params = choix.ilsr_pairwise_dense(mat, alpha=BT_ALPHA)
    params = np.asarray(params, dtype=np.float64)
    return params - params.mean(), regularised


def _bradley_terry(
    tests: list[Answer], trials: dict[str, Trial], methods: list[str]
) -> tuple[list[MethodResult], str | None]:
    index = {m: i for i, m in enumerate(methods)}
    comps = _comparisons(tests, trials)
    people = sorted({a.participant for a, _, _ in comps})
    who = {p: i for i, p in enumerate(people)}
    per = np.zeros((len(people), len(methods), len(methods)))
    n_answers: Counter[str] = Counter()
    seen: dict[str, set[str]] = defaultdict(set)
    for a, w, lo in comps:
        per[who[a.participant], index[w], index[lo]] += 1
        for m in (w, lo):
            n_answers[m] += 1
            seen[m].add(a.trial)
    point, regularised = _bt_fit(per.sum(axis=0))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    boot = np.empty((BOOTSTRAP_RESAMPLES, len(methods)))
    for b in range(BOOTSTRAP_RESAMPLES):
        weights = np.bincount(rng.integers(0, len(people), len(people)), minlength=len(people))
        boot[b] = _bt_fit(np.tensordot(weights, per, axes=1))[0]
    tail = (1.0 - CONFIDENCE) / 2.0 * 100.0
    lo, hi = np.percentile(boot, [tail, 100.0 - tail], axis=0)
    detail = {
        "scale": "Bradley-Terry log-strength, mean 0 over the study's methods",
        "bootstrap": {
            "over": "participants",
            "resamples": BOOTSTRAP_RESAMPLES,
            "seed": BOOTSTRAP_SEED,
        },
        "regularised": regularised,
    }
    out = [
        MethodResult(
            m,
            BT_SCORE,
            float(point[i]),
            (float(lo[i]), float(hi[i])),
            BOOTSTRAP,
            ", ".join(o for o in methods if o != m),
            len(seen[m]),
            n_answers[m],
            None,
            dict(detail),
        )
        for i, m in enumerate(methods)
    ]
    note = (
        f"the Bradley-Terry fit needed a prior of {BT_ALPHA} pseudo-comparisons per pair (a "
        "method won or lost all its comparisons)"
        if regularised
        else None
    )
    return out, note


def agreement(tests: Iterable[Answer], seed: int = BOOTSTRAP_SEED) -> Agreement:
    """Fleiss' kappa over the trials answered by 2+ participants, each with the same number
    of answers (statsmodels' formula needs it): the number m that uses the most answers (the
    larger m on a tie); a trial with more than m answers keeps a seeded random m of them."""
    by_trial: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for a in tests:
        by_trial[a.trial].append((a.participant, a.choice))
    multi = {t: v for t, v in by_trial.items() if len(v) >= 2}
    if len(multi) < MIN_KAPPA_TRIALS:
        return Agreement(
            None,
            0,
            0,
            len(multi),
            f"too few overlaps for Fleiss' kappa: {len(multi)} test trial(s) answered by 2+ "
            f"kept participants (at least {MIN_KAPPA_TRIALS} needed)",
        )
    sizes = sorted({len(v) for v in multi.values()})
    m = max(sizes, key=lambda k: (k * sum(len(v) >= k for v in multi.values()), k))
    rng = np.random.default_rng(seed)
    table = []
    for t in sorted(multi):
        answers = sorted(multi[t])
        if len(answers) < m:
            continue
        if len(answers) > m:
            answers = [answers[i] for i in sorted(rng.choice(len(answers), m, replace=False))]
        table.append([sum(c == side for _, c in answers) for side in SIDES])
    from statsmodels.stats.inter_rater import fleiss_kappa

    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        kappa = float(fleiss_kappa(np.asarray(table), method="fleiss"))
    subsampled = sum(len(v) > m for v in multi.values())
    left_out = sum(len(v) < m for v in multi.values())
    note = f"{len(table)} trials with {m} answers each"
    if subsampled:
        note += f"; {subsampled} trial(s) with more answers subsampled to {m} (seeded)"
    if left_out:
        note += f"; {left_out} trial(s) with fewer answers left out"
    if not math.isfinite(kappa):
        return Agreement(
            None,
            len(table),
            m,
            len(multi),
            f"Fleiss' kappa undefined: every answer on the {len(table)} overlapping trials "
            "chose the same side",
        )
    return Agreement(kappa, len(table), m, len(multi), note)


# ---------------------------------------------------------------------------------------------
# the command


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``study analyze`` (the study command's parser calls this)."""
    p.add_argument("study", type=Path, help=f"the study folder (holding {TRIALS})")
    p.add_argument(
        "--answers",
        type=Path,
        action="append",
        default=None,
        metavar="FILE",
        help=f"an answers file, JSON lines (repeatable; default: STUDY/{ANSWERS})",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="RESULTS",
        help="results folder the records go into (the leaderboard's, e.g. results/)",
    )
    p.add_argument(
        "--min-catch-accuracy",
        type=float,
        default=DEFAULT_MIN_CATCH_ACCURACY,
        metavar="P",
        help="drop participants whose catch-trial accuracy is below P "
        f"(default {DEFAULT_MIN_CATCH_ACCURACY})",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Analyse, write the records into ``--out`` and ``STUDY/analysis.json``, print a summary."""
    out = output_folder(args.out, "--out")  # before any work: a typo costs nothing
    threshold = getattr(args, "min_catch_accuracy", DEFAULT_MIN_CATCH_ACCURACY)
    result = analyze(args.study, getattr(args, "answers", None), threshold)
    recs = result.records()
    paths = [records.write(out, r) for r in recs]
    data = result.to_dict()
    data["records"] = [str(p) for p in paths]
    target = Path(args.study) / ANALYSIS
    records.atomic_write_text(target, json.dumps(data, indent=1, sort_keys=True) + "\n")
    print("\n".join(result.summary()))
    print(f"wrote {len(paths)} records to {out} and the analysis to {target}")
    return 0
