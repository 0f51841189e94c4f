"""The model-quality CI gate: compare a results folder with the committed reference.

``python -m benchmark regress`` exits 0 when nothing got worse, 1 when something did (a metric
worse beyond its tolerance, a cell that ran in the reference and fails now, a metric the
reference has and the run lost) and 2 when the two folders cannot be compared at all. It prints
a Markdown table of what changed, fit for a pull-request comment; ``--update`` deliberately makes
the current records the new reference. ``--baselines`` and ``--protocols`` gate only those
cells, on both sides. Speed and cost (``records.PROFILE_METRICS``: timing, memory, FLOPs,
parameter counts) are never gated, whatever a tolerance file says.

A metric regresses when the current mean over seeds is worse than the reference mean by more than
its margin. The margin is the larger of a practical floor (``rtol * |reference|`` or ``atol``) and,
where the reference has two or more seeds, the 95% bound of a two-sample t interval on the
difference of means. The t bound is used instead of the reference's bootstrap CI because with the
usual 2-10 seeds a bootstrap interval is too narrow and ignores the current run's own seed noise:
simulated under "nothing changed", a single-seed rerun falls outside a 3-seed reference's bootstrap
CI 24% of the time, against 2.5% for this bound.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import math
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scipy import stats as sps

from benchmark import records, stats
from benchmark.errors import UserError
from benchmark.records import PROFILE_METRICS, Record

log = logging.getLogger("benchmark")

PATTERN_KEYS = ("protocol", "preset", "baseline", "metric", "variant", "extractor")
SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "rtol": (int, float),
    "atol": (int, float),
    "confidence": (int, float),
    "gate": (bool,),
    "statistical": (bool,),
}

# Lowest-priority rules; a tolerance file's rules apply after these, later keys winning.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "metric": "*",
        "rtol": 0.05,
        "atol": 1e-3,
        "confidence": 0.95,
        "gate": True,
        "statistical": True,
    },
    # FID-like distances: unbounded and scale-dependent, so a relative change is what matters.
    {"metric": "*fid*", "rtol": 0.10, "atol": 0.1},
    {"metric": "kid*", "rtol": 0.25, "atol": 1e-3},  # small values, noisy subset estimate
    # Accuracy-like fractions in [0, 1]: two points either way, whatever the level.
    {"metric": "*acc*", "rtol": 0.0, "atol": 0.02},
    {"metric": "top*", "rtol": 0.0, "atol": 0.02},
    {"metric": "lpips*", "rtol": 0.10, "atol": 0.005},
)
# Speed and cost (timing, memory, FLOPs, parameters) change with the machine and its load, not
# with model quality: never gated, whatever a rule says (``tolerance_for``; ``load_rules`` warns
# about a rule that asks for it).

Group = tuple[str, str, str, str, str, str]  # in PATTERN_KEYS order
Version = tuple[str, str]  # (protocol, preset): one reference may hold several presets


def group_of(rec: Record) -> Group:
    return (rec.protocol, rec.preset, rec.baseline, rec.metric, rec.variant, rec.extractor or "")


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    confidence: float
    gate: bool
    statistical: bool


def load_rules(path: Path | None) -> list[dict[str, Any]]:
    """Default rules followed by the tolerance file's (JSON or TOML, by extension)."""
    rules = [dict(r) for r in DEFAULT_RULES]
    if path is None:
        return rules
    path = Path(path)
    if not path.is_file():
        raise UserError(f"tolerance file {path} does not exist; fix --tolerance-file")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            try:
                import tomllib
            except ImportError as exc:  # Python 3.10
                raise UserError(
                    f"tolerance file {path}: TOML needs Python 3.11+; write it as .json instead"
                ) from exc
            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise UserError(f"tolerance file {path}: name it .json or .toml")
    except ValueError as exc:  # json.JSONDecodeError and tomllib.TOMLDecodeError
        raise UserError(f"tolerance file {path} does not parse: {exc}") from exc
    if not isinstance(data, dict) or set(data) != {"rules"} or not isinstance(data["rules"], list):
        raise UserError(
            f"tolerance file {path}: expected one top-level list 'rules' "
            '(JSON {"rules": [...]}, TOML [[rules]])'
        )
    for i, rule in enumerate(data["rules"], 1):
        rules.append(_check_rule(path, i, rule))
        _warn_if_gating_speed(path, i, rule)
    return rules


def _warn_if_gating_speed(path: Path, i: int, rule: dict[str, Any]) -> None:
    """One line for a rule that asks to gate speed or cost by name (a pattern narrower than
    ``*``): it is ignored for those metrics. A rule for every metric stays silent."""
    pattern = rule.get("metric", "*")
    if rule.get("gate") is not True or set(pattern) <= {"*"}:
        return
    named = [m for m in PROFILE_METRICS if fnmatch.fnmatchcase(m, pattern)]
    if named:
        log.warning(
            f"warning: tolerance file {path}: rule {i} would gate {', '.join(named)}; speed, "
            "memory, FLOPs and parameter counts are never gated, so it is ignored for them"
        )


def _check_rule(path: Path, i: int, rule: Any) -> dict[str, Any]:
    where = f"tolerance file {path}: rule {i}"
    if not isinstance(rule, dict):
        raise UserError(f"{where} is not a table/object")
    for key, value in rule.items():
        if key in PATTERN_KEYS:
            if not isinstance(value, str):
                raise UserError(f"{where}: '{key}' must be a glob string like \"fid*\"")
        elif key in SETTING_TYPES:
            types = SETTING_TYPES[key]
            if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
                raise UserError(f"{where}: '{key}' must be {types[0].__name__}, not {value!r}")
            if key in ("rtol", "atol") and value < 0:
                raise UserError(f"{where}: '{key}' must be >= 0")
            if key == "confidence" and not 0 < value < 1:
                raise UserError(f"{where}: 'confidence' must be in (0, 1), e.g. 0.95")
        else:
            allowed = ", ".join(PATTERN_KEYS + tuple(SETTING_TYPES))
            raise UserError(f"{where}: unknown key '{key}'; allowed: {allowed}")
    return rule


def tolerance_for(rules: Sequence[dict[str, Any]], group: Group) -> Tolerance:
    """Apply every rule whose patterns all match, in order; later rules override key by key."""
    settings: dict[str, Any] = {}
    for rule in rules:
        if all(
            fnmatch.fnmatchcase(val, rule.get(key, "*")) for key, val in zip(PATTERN_KEYS, group)
        ):
            settings.update({k: v for k, v in rule.items() if k in SETTING_TYPES})
    if group[3] in PROFILE_METRICS:  # Record.kind == "profile": never gated
        settings["gate"] = False
    return Tolerance(**settings)


@dataclass
class Side:
    """One results folder, indexed: per metric group and per cell, every seed's record."""

    root: Path
    hashes: dict[Version, str] = field(default_factory=dict)  # each (protocol, preset)'s hash
    metrics: dict[Group, list[Record]] = field(default_factory=lambda: defaultdict(list))
    cells: dict[tuple[str, str, str, int], Record] = field(default_factory=dict)
    files: list[tuple[Path, Record]] = field(default_factory=list)

    def only_presets(self, presets: set[str]) -> Side:
        """The part a run of these presets is held to (a smoke run is not missing quick)."""
        return self.where(presets=presets)

    def where(
        self,
        *,
        protocols: Iterable[str] | None = None,
        presets: Iterable[str] | None = None,
        baselines: Iterable[str] | None = None,
    ) -> Side:
        """The records of these protocols, presets and baselines (None: all)."""
        keep_p, keep_s, keep_b = (
            None if x is None else set(x) for x in (protocols, presets, baselines)
        )

        def keep(protocol: str, preset: str, baseline: str = "") -> bool:
            return (
                (keep_p is None or protocol in keep_p)
                and (keep_s is None or preset in keep_s)
                and (keep_b is None or not baseline or baseline in keep_b)
            )

        side = Side(self.root)
        side.hashes = {v: h for v, h in self.hashes.items() if keep(*v)}
        side.metrics.update({g: r for g, r in self.metrics.items() if keep(*g[:3])})
        side.cells = {k: r for k, r in self.cells.items() if keep(*k[:3])}
        side.files = [(p, r) for p, r in self.files if keep(r.protocol, r.preset, r.baseline)]
        if keep_b is not None:  # a protocol version counts where the chosen baselines have records
            held = {(r.protocol, r.preset) for _, r in side.files}
            side.hashes = {v: h for v, h in side.hashes.items() if v in held}
        return side

    def names(self, what: str) -> set[str]:
        """The protocols or baselines this side holds records of."""
        return {getattr(r, what) for _, r in self.files}


def load_side(root: Path, label: str, *, allow_empty: bool = False) -> Side:
    """Read every record under ``root/records`` (``benchmark.records.read_folder``) and index
    it; refuse what cannot be gated: a folder holding two versions of one protocol."""
    root = Path(root)
    make = (
        "create it with `python -m benchmark regress --update`"
        if label == "reference"
        else records.RUN_ALL
    )
    side = Side(root)
    seen: dict[Version, set[str]] = defaultdict(set)
    for path, rec in records.read_folder(
        root, label, allow_empty=allow_empty, option=f"--{label}", make=make
    ):
        side.files.append((path, rec))
        seen[(rec.protocol, rec.preset)].add(rec.protocol_hash)
        if rec.kind == "cell":
            side.cells[(rec.protocol, rec.preset, rec.baseline, rec.seed)] = rec
        else:
            side.metrics[group_of(rec)].append(rec)
    base = root / "records"
    for (name, preset), hashes in seen.items():
        if len(hashes) > 1:
            listed = ", ".join(sorted(hashes))
            raise UserError(
                f"{label} {root} holds protocol {name} (preset {preset or 'none'}) at hashes "
                f"{listed}; gate one version: delete the stale {base}/{name}-<hash> folders"
            )
        side.hashes[(name, preset)] = hashes.pop()
    return side


def _instruments(side: Side) -> dict[Version, set[str]]:
    """The protocol classifiers each (protocol, preset) was measured with (extractor ids)."""
    found: dict[Version, set[str]] = defaultdict(set)
    for _, rec in side.files:
        if rec.extractor and rec.extractor.startswith("protocol:"):
            found[(rec.protocol, rec.preset)].add(rec.extractor.partition("@")[2])
    return found


def check_instruments(current: Side, reference: Side) -> None:
    """Numbers measured with another classifier are not comparable: one line per protocol
    instead of every one of its records reported missing and new."""
    here, there = _instruments(current), _instruments(reference)
    lines = [
        f"{name}: classifier {', '.join(sorted(here[v]))} here, {', '.join(sorted(there[v]))} "
        "in the reference: not comparable; pass --classifier or rebuild the reference"
        for v in sorted(set(here) & set(there))
        if here[v] != there[v]
        for name in [v[0]]
    ]
    if lines:
        raise UserError("\n".join(lines))


def check_comparable(current: Side, reference: Side) -> None:
    check_instruments(current, reference)
    for version in sorted(set(current.hashes) & set(reference.hashes)):
        name, a, b = version[0], current.hashes[version], reference.hashes[version]
        if a != b:
            raise UserError(
                f"not comparable: protocol {name} hash {a} != {b}; rerun with the "
                "reference's protocol version or --update the reference"
            )
    configs = {group_of(r)[:3]: r.config for _, r in reference.files if r.config}
    for _, rec in current.files:
        ref_config = configs.get(group_of(rec)[:3])
        if rec.config and ref_config and rec.config != ref_config:
            raise UserError(
                f"not comparable: baseline {rec.baseline} on {rec.protocol} ran with "
                f"config {rec.config} but the reference with {ref_config}; rerun "
                "with the reference's config or --update the reference"
            )


@dataclass
class Row:
    group: Group
    verdict: str
    failing: bool
    reference: str = ""
    current: str = ""
    delta: str = ""
    tolerance: str = ""
    direction: str = ""


ORDER = (
    "REGRESSED",
    "FAILED",
    "MISSING",
    "CELL FAILED",
    "improved",
    "new",
    "fixed",
    "within tolerance",
    "still failing",
)


@dataclass
class Comparison:
    rows: list[Row]
    unchanged: int
    not_gated: int

    @property
    def failed(self) -> bool:
        return any(r.failing for r in self.rows)


def _ok_values(recs: Iterable[Record]) -> list[float]:
    return [
        float(r.value)
        for r in recs
        if r.status == "ok" and r.value is not None and math.isfinite(r.value)
    ]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _describe(values: Sequence[float]) -> str:
    if len(values) == 1:
        return _fmt(values[0])
    return f"{_fmt(stats.mean(values))} ± {_fmt(stats.std(values))} ({len(values)} seeds)"


def seed_margin(ref: Sequence[float], cur: Sequence[float], confidence: float) -> float | None:
    """Two-sided ``confidence`` bound on |mean(cur) - mean(ref)| under "nothing changed".

    Pooled two-sample t interval; with one current seed the reference's spread stands in for
    it, which makes this the reference mean's t CI widened by the current run's own noise.
    """
    n, m = len(ref), len(cur)
    if n < 2:
        return None
    s_ref = stats.std(ref)
    if m >= 2:
        df = n + m - 2
        s = math.sqrt(((n - 1) * s_ref**2 + (m - 1) * stats.std(cur) ** 2) / df)
    else:
        df, s = n - 1, s_ref
    return float(sps.t.ppf((1 + confidence) / 2, df)) * s * math.sqrt(1 / n + 1 / m)


def _compare_metric(
    group: Group, tol: Tolerance, ref: list[Record], cur: list[Record]
) -> Row | None:
    """The verdict on one metric group; None when both sides are identical (same means, or the
    same skip/failure reason)."""
    ref_vals, cur_vals = _ok_values(ref), _ok_values(cur)
    direction = (ref or cur)[0].direction  # the reference defines the gate
    row = Row(group, "", False, direction=direction)
    if not ref_vals:  # nothing to hold the run to: list what it did, never fail
        row.reference = _reason(ref) if ref else ""
        if cur_vals:
            row.verdict = "fixed" if ref else "new"
            row.current = _describe(cur_vals)
        elif ref and cur and _reason(ref) == _reason(cur):
            return None  # skipped/failed the same way on both sides: unchanged, not news
        else:
            row.verdict = "still failing" if ref else "new"
            row.current = _reason(cur) if cur else "no record"
        return row
    row.reference = _describe(ref_vals)
    if not cur_vals:
        row.failing = True
        row.verdict = "FAILED" if cur else "MISSING"
        row.current = _reason(cur) if cur else "no record"
        return row
    ref_mean, cur_mean = stats.mean(ref_vals), stats.mean(cur_vals)
    if cur_mean == ref_mean:
        return None
    row.current = _describe(cur_vals)
    delta = cur_mean - ref_mean
    rel = f" ({delta / abs(ref_mean):+.1%})" if ref_mean else ""
    row.delta = f"{delta:+.4g}{rel}"
    floor = max(tol.atol, tol.rtol * abs(ref_mean))
    margin, why = floor, (f"{tol.rtol * 100:g}% of ref" if floor > tol.atol else "abs")
    stat = seed_margin(ref_vals, cur_vals, tol.confidence) if tol.statistical else None
    if stat is not None and stat > floor:
        margin, why = stat, f"{tol.confidence:.0%} CI, seeds {len(ref_vals)}/{len(cur_vals)}"
    row.tolerance = f"{_fmt(margin)} ({why})"
    worse = delta if direction == "lower" else -delta
    if worse > margin:
        row.verdict, row.failing = "REGRESSED", True
    elif -worse > margin:
        row.verdict = "improved"
    else:
        row.verdict = "within tolerance"
    return row


def _reason(recs: Sequence[Record]) -> str:
    bad = [r for r in recs if r.status != "ok" or r.value is None]
    first = bad[0] if bad else recs[0]
    return f"{first.status}: {first.reason or 'no value'}"


def _missing_because(current: Side, group: Group) -> str:
    """Point a missing metric at its cell's failure, where a cell of that pair failed."""
    for (*pair, seed), cell in sorted(current.cells.items()):
        if tuple(pair) == group[:3] and cell.status != "ok":
            return f"no record; cell seed{seed} {cell.status}: {cell.reason or 'no reason'}"
    return "no record"


def compare(current: Side, reference: Side, rules: Sequence[dict[str, Any]]) -> Comparison:
    rows: list[Row] = []
    unchanged = not_gated = 0
    for group in sorted(set(current.metrics) | set(reference.metrics)):
        tol = tolerance_for(rules, group)
        if not tol.gate:
            not_gated += 1
            continue
        row = _compare_metric(
            group, tol, reference.metrics.get(group, []), current.metrics.get(group, [])
        )
        if row is None:
            unchanged += 1
            continue
        if row.verdict == "MISSING":
            row.current = _missing_because(current, group)
        rows.append(row)
    for key in sorted(set(current.cells) & set(reference.cells)):
        ref_cell, cur_cell = reference.cells[key], current.cells[key]
        if ref_cell.status == cur_cell.status:
            continue
        protocol, preset, baseline, seed = key
        group = (protocol, preset, baseline, f"cell seed{seed}", "", "")
        failing = ref_cell.status == "ok"
        verdict = (
            "CELL FAILED" if failing else ("fixed" if cur_cell.status == "ok" else "still failing")
        )
        rows.append(
            Row(
                group,
                verdict,
                failing,
                reference=ref_cell.status,
                current=f"{cur_cell.status}: {cur_cell.reason or ''}".rstrip(": "),
            )
        )
    rows.sort(key=lambda r: (ORDER.index(r.verdict), r.group))
    return Comparison(rows, unchanged, not_gated)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _version(version: Version, phash: str) -> str:
    name, preset = version
    return f"{name}" + (f" ({preset})" if preset else "") + f"@{phash}"


def render_markdown(
    cmp: Comparison, current: Side, reference: Side, *, accepted: bool = False, selection: str = ""
) -> str:
    counts: dict[str, int] = defaultdict(int)
    for row in cmp.rows:
        counts[row.verdict] += 1
    head = "FAILED" if cmp.failed else "passed"
    head += " (accepted by --update)" if accepted and cmp.failed else ""
    head += f"** (only `{selection}`)" if selection else "**"
    parts = [f"{counts[v]} {v.lower()}" for v in ORDER if counts[v]]
    parts += [f"{cmp.unchanged} unchanged"] if cmp.unchanged else []
    parts += [f"{cmp.not_gated} not gated"] if cmp.not_gated else []
    lines = [f"**Benchmark gate {head}: " + (", ".join(parts) or "nothing to compare") + ".", ""]
    if cmp.rows:
        lines += [
            "| protocol | baseline | metric | reference | current | delta | tolerance | verdict |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in cmp.rows:
            protocol, preset, baseline, metric, variant, extractor = r.group
            arrow = {"lower": " ↓", "higher": " ↑"}.get(r.direction, "")
            label = metric + arrow + (f" [{variant}]" if variant else "")
            label += f" ({extractor})" if extractor else ""
            verdict = f"**{r.verdict}**" if r.failing else r.verdict
            cells = (
                protocol + (f" ({preset})" if preset else ""),
                baseline,
                label,
                r.reference,
                r.current,
                r.delta,
                r.tolerance,
                verdict,
            )
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    versions = ", ".join(_version(v, h) for v, h in sorted(reference.hashes.items()))
    lines.append(
        f"Reference `{reference.root}` ({versions or 'empty'}) vs `{current.root}`; "
        "↓/↑: lower/higher is better."
    )
    mismatch = device_mismatch(current, reference)
    if mismatch:
        lines += ["", mismatch]
    return "\n".join(lines) + "\n"


def device_kind(description: str) -> str:
    """ "cpu x86_64" or the GPU's name, from a record's provenance device (benchmark.device
    describe): what decides floating-point results, without core counts or the cuda:N index."""
    kind = description.split(" (", 1)[0]
    head, _, rest = kind.partition(" ")
    return rest if head.startswith("cuda") else kind


def _device_kinds(side: Side) -> set[str]:
    return {
        device_kind(str(r.provenance["device"]))
        for r in side.cells.values()
        if r.provenance.get("device")
    }


def device_mismatch(current: Side, reference: Side) -> str | None:
    """A note (never a verdict) when the two sides ran on different kinds of device: training
    and metrics differ across devices by floating-point order alone, so such deltas are noise."""
    ours, theirs = _device_kinds(current), _device_kinds(reference)
    if not ours or not theirs or ours == theirs:
        return None
    return (
        f"Note: the reference ran on {', '.join(sorted(theirs))} and these results on "
        f"{', '.join(sorted(ours))}; numbers differ across devices by floating-point order "
        "alone, so gate against a reference made on the same kind of machine "
        "(`regress --update` there)."
    )


# what a reference record says about the model; provenance (code revision, wall time) and extra
# (timings, per-task detail that follows from the value) are not compared
RESULT_FIELDS = (
    "protocol_hash", "metric", "variant", "extractor", "value", "std", "direction", "status",
    "reason", "config", "preset",
)  # fmt: skip


def same_result(a: Record, b: Record) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in RESULT_FIELDS)


def update_reference(
    current: Side,
    reference: Side,
    rules: Sequence[dict[str, Any]],
    *,
    by_baseline: bool = False,
) -> int:
    """Make the current gated records the reference for their protocols; returns records written
    (new or changed). A record whose result is unchanged keeps its old file, provenance and all,
    so a refreshed reference's diff shows only what moved.

    Protocols (and presets of a protocol) the current run did not produce keep their
    reference. With ``by_baseline`` (``--update --baselines``) only the (protocol, preset,
    baseline) triples the current side holds are replaced; everything else keeps its reference.
    The new ``records/`` is built in a temp folder beside it and swapped in with two
    renames, so a reader sees the old or the new reference, and an interruption leaves
    ``.records.old`` to recover from.
    """
    produced = {(r.protocol, r.preset, r.baseline) for _, r in current.files}

    def replaced(rec: Record) -> bool:
        if by_baseline:
            return (rec.protocol, rec.preset, rec.baseline) in produced
        return (rec.protocol, rec.preset) in current.hashes

    reference_root = reference.root
    reference_root.mkdir(parents=True, exist_ok=True)
    target = reference_root / "records"
    tmp = Path(tempfile.mkdtemp(dir=reference_root, prefix=".records.new-"))
    try:
        kept = [(path, reference) for path, rec in reference.files if not replaced(rec)]
        fresh = [
            (path, current)
            for path, rec in current.files
            if rec.kind == "cell" or tolerance_for(rules, group_of(rec)).gate
        ]
        before = {p.relative_to(reference.root / "records"): r for p, r in reference.files}
        now = dict(current.files)
        written = 0
        for path, side in kept + fresh:
            rel = path.relative_to(side.root / "records")
            if side is current:
                old_rec = before.get(rel)
                if old_rec is not None and same_result(old_rec, now[path]):
                    path = reference.root / "records" / rel  # unchanged: keep the old file
                else:
                    written += 1
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        old = reference_root / ".records.old"
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def _names(given: Sequence[str] | None, flag: str) -> list[str] | None:
    """``--baselines a,b`` or ``--baselines a b`` (or both): the names, in order, once each."""
    if given is None:
        return None
    names = [n.strip() for item in given for n in item.split(",") if n.strip()]
    if not names:
        raise UserError(f"{flag}: give at least one name, e.g. {flag} munit,cyclegan")
    return list(dict.fromkeys(names))


def _selection(protocols: Sequence[str] | None, baselines: Sequence[str] | None) -> str:
    parts = [f"--protocols {','.join(protocols)}"] if protocols else []
    parts += [f"--baselines {','.join(baselines)}"] if baselines else []
    return " ".join(parts)


def check_names(
    flag: str, what: str, chosen: Sequence[str], sides: Sequence[Side], presets: set[str]
) -> None:
    """Every name given to a filter is one these sides hold records of: a typo is one line
    listing the known names, never an empty comparison that passes."""
    known = set().union(*(side.names(what) for side in sides))
    unknown = [n for n in chosen if n not in known]
    if unknown:
        where = " or ".join(
            f"{label} {side.root}" for label, side in zip(("results", "reference"), sides)
        )
        listed = ", ".join(sorted(p or "none" for p in presets))
        raise UserError(
            f"{flag} {','.join(unknown)}: no records of that {what} in {where} (preset "
            f"{listed}; names are case-sensitive); known: {', '.join(sorted(known)) or 'none'}"
        )


def check_partial_update(current: Side, reference: Side) -> None:
    """``--update --baselines`` replaces some baselines of a protocol and keeps the others: only
    safe when both sides measured that protocol at one version with one classifier (a reference
    holding two of either cannot be gated)."""
    fix = "update that protocol whole, without --baselines"
    for version in sorted(set(current.hashes) & set(reference.hashes)):
        a, b = current.hashes[version], reference.hashes[version]
        if a != b:
            raise UserError(
                f"--update --baselines: protocol {version[0]} is at hash {a} here and {b} in the "
                f"reference, which cannot hold both; {fix}"
            )
    here, there = _instruments(current), _instruments(reference)
    for version in sorted(set(here) & set(there)):
        if here[version] != there[version]:
            raise UserError(
                f"--update --baselines: protocol {version[0]} was measured with classifier "
                f"{', '.join(sorted(here[version]))} here and {', '.join(sorted(there[version]))} "
                f"in the reference, which cannot hold both; {fix}"
            )


def run(args: argparse.Namespace) -> int:
    rules = load_rules(args.tolerance_file)
    protocols = _names(args.protocols, "--protocols")
    baselines = _names(args.baselines, "--baselines")
    current = load_side(args.results, "results")
    everything = load_side(args.reference, "reference", allow_empty=args.update)
    run_presets = {preset for _, preset in current.hashes}
    # an update takes the selection from this run; a comparison from either side
    sides = [current] if args.update else [current, everything.only_presets(run_presets)]
    for flag, what, chosen in (
        ("--protocols", "protocol", protocols),
        ("--baselines", "baseline", baselines),
    ):
        if chosen is not None:
            check_names(flag, what, chosen, sides, run_presets)
    selection = _selection(protocols, baselines)
    current = current.where(protocols=protocols, baselines=baselines)
    presets = {preset for _, preset in current.hashes} or run_presets
    reference = everything.where(presets=presets, protocols=protocols, baselines=baselines)
    if args.update and selection and not current.files:
        raise UserError(f"results {current.root} hold no records of {selection}; nothing to update")
    if not args.update and not reference.files:
        listed = ", ".join(sorted(p or "none" for p in presets))
        if selection and not current.files:
            raise UserError(
                f"{selection}: neither results {current.root} nor reference {everything.root} "
                f"holds records of these together (preset {listed}); widen the selection"
            )
        if selection:
            raise UserError(
                f"reference {everything.root} has no records of {selection} (preset {listed}); "
                f"create them with `python -m benchmark regress --update {selection}` after a "
                "run that has them"
            )
        raise UserError(
            f"reference {everything.root} has no records of preset {listed}; create them with "
            "`python -m benchmark regress --update` after a run of that preset"
        )
    if not args.update:
        check_comparable(current, reference)
    elif baselines is not None:
        check_partial_update(current, everything)
    cmp = compare(current, reference, rules)
    text = render_markdown(cmp, current, reference, accepted=args.update, selection=selection)
    if args.markdown:
        records.atomic_write_text(Path(args.markdown), text)
    sys.stdout.write(text)
    if not args.update:
        return 1 if cmp.failed else 0
    written = update_reference(current, everything, rules, by_baseline=baselines is not None)
    changes = [
        f"{_version(v, reference.hashes.get(v, 'new'))} -> {h}"
        for v, h in sorted(current.hashes.items())
        if reference.hashes.get(v) != h
    ]
    print(
        f"reference updated: {written} records written (new or changed; unchanged ones keep "
        f"their file) to {Path(args.reference) / 'records'}"
        + (f"; protocol versions changed: {', '.join(changes)}" if changes else "")
        + (f"; only {selection}, every other record kept" if selection else "")
        + "; commit that folder to make it the gate's reference"
    )
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "regress",
        help="CI gate: compare results with the reference; exit 1 on a regression",
        description="Compare every (protocol, preset, baseline, metric, variant, extractor) with the "
        "reference. Exit 0: nothing regressed; 1: something did; 2: not comparable.",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=Path("results/latest"),
        help="results folder containing records/ (default: results/latest, where run_all.py writes)",
    )
    p.add_argument(
        "--reference",
        type=Path,
        default=Path("results/reference"),
        help="reference folder containing records/ (default: results/reference)",
    )
    p.add_argument(
        "--tolerance-file",
        type=Path,
        default=None,
        help="JSON or TOML file of tolerance rules (see docs/regress.md)",
    )
    p.add_argument(
        "--protocols",
        nargs="+",
        default=None,
        metavar="NAME",
        help="compare only these protocols, on both sides (comma- or space-separated; default: "
        "all); with --update, update only these",
    )
    p.add_argument(
        "--baselines",
        nargs="+",
        default=None,
        metavar="NAME",
        help="compare only these baselines, on both sides (comma- or space-separated; default: "
        "all); with --update, replace only these baselines' records",
    )
    p.add_argument(
        "--update",
        action="store_true",
        help="make the current gated records the reference (deliberately)",
    )
    p.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="also write the Markdown report to this file (e.g. a PR comment)",
    )
    p.set_defaults(func=run)
