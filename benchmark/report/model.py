"""Records on disk -> the tables every report format renders (HTML, Markdown, LaTeX, plots).

Everything a report shows is derived here, once, from the record files alone, so the HTML page,
the Markdown, the LaTeX and the CSV can never disagree. Two rules carry the suite's promise:
records with different protocol hashes never share a table, and a column is one (metric,
variant, feature extractor): "FID (inception-v3-compat)" and "FID (protocol:afhq@...)" are
different numbers and are never averaged together. Two things are kept out of the columns so
the rankings stay readable: columns no baseline could compute (every record skipped, e.g. the
Inception weights are not installed) become one "not computed" note per reason, and the
protocol classifier's own held-out accuracy is a line about the table, never a ranked row.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark import records as rec_io
from benchmark import stats
from benchmark.errors import UserError
from benchmark.records import Record
from benchmark.report.labels import (
    SPEED_VARIANT,
    extractor_label,
    is_protocol_extractor,
    metric_label,
    metric_order,
    variant_order,
)
from benchmark.report.numbers import Format, column_format, ranks
from benchmark.report.papers import HEADLINES, PREFERRED_EXTRACTORS

# written by benchmark.profiling into the same cells as the metric records
# the protocol classifier's held-out accuracy, written under a pseudo-baseline by the runner
# (benchmark.metrics.MetricContext.classifier_report): shown about the table, never ranked
CLASSIFIER_METRIC = "classifier_accuracy"
# provenance keys that differ on every record and say nothing about comparability
VOLATILE_PROVENANCE = ("written_at", "wall_time_s")
ZERO_BELOW = 1e-9  # |x| below this is numerical noise around 0 (a CIS of -2.7e-18), shown as 0


def oracle_names(records: Iterable[Record]) -> frozenset[str]:
    """Baselines that bracket a metric (copy input, real image, ground truth): shown, never
    marked best. Their records say so (``provenance.oracle``), so the report imports no
    baseline code."""
    return frozenset(r.baseline for r in records if r.provenance.get("oracle") is True)


@dataclass(frozen=True)
class Column:
    metric: str
    variant: str
    extractor: str | None
    direction: str  # "lower" or "higher"
    declared: str | None = None  # the label its metric declares (records carry it)
    fmt: Format = Format()  # how its numbers print (set once the table's values are known)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.metric, self.variant, self.extractor or "")

    @property
    def sort_key(self) -> tuple:
        """Grouped by variant (natural order), then metrics in the label table's order."""
        return (variant_order(self.variant), metric_order(self.metric), self.extractor or "")

    @property
    def metric_label(self) -> str:
        return self.declared or metric_label(self.metric)

    @property
    def name(self) -> str:
        """Metric and variant, without the extractor: "FID latent", "Top-1 acc. k=5"."""
        return f"{self.metric_label} {self.variant}" if self.variant else self.metric_label

    @property
    def label(self) -> str:
        """Unambiguous across tables: the extractor's full id."""
        return f"{self.name} ({self.extractor})" if self.extractor else self.name

    @property
    def arrow(self) -> str:
        return "↓" if self.direction == "lower" else "↑"


@dataclass
class Cell:
    """One baseline's number in one column, over its seeds."""

    by_seed: dict[int, float] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)  # seed -> reason
    skipped_seeds: set[int] = field(default_factory=set)  # deliberate skips, not errors
    rank: int | None = None  # 1 best, 2 second among methods, at the printed precision
    # not the best, yet not significantly worse than it (>= 3 shared seeds, paired t-test,
    # Holm-corrected over the column's methods: stats.not_worse_than_best)
    near_best: bool = False

    @property
    def best(self) -> bool:
        return self.rank == 1

    @property
    def summary(self) -> stats.Summary | None:
        if not self.by_seed:
            return None
        return stats.summarize([self.by_seed[s] for s in sorted(self.by_seed)])

    @property
    def status(self) -> str:
        """ok | partial (some seeds failed) | failed | skipped | missing."""
        if self.by_seed:
            return "partial" if self.failures else "ok"
        if self.failures:
            return "skipped" if set(self.failures) <= self.skipped_seeds else "failed"
        return "missing"

    @property
    def reason(self) -> str:
        """The distinct failure reasons, seeds named, in one line."""
        by_reason: dict[str, list[int]] = defaultdict(list)
        for seed in sorted(self.failures):
            by_reason[self.failures[seed]].append(seed)
        return "; ".join(
            f"{msg} (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})"
            for msg, seeds in by_reason.items()
        )


@dataclass
class Row:
    baseline: str
    oracle: bool
    cells: dict[tuple[str, str, str], Cell]
    speed: Cell  # latency at batch size 1 (ms), from profile records
    cell_failures: dict[int, str]  # seed -> reason, from the "_cell" status records
    external: bool = False  # scored from a folder of outputs (``python -m benchmark score``)
    display: str = ""  # the name a table shows ("StarGAN v2"); records carry it
    highlight: bool = False  # the author's own method (``report --highlight``)

    @property
    def name(self) -> str:
        return self.display or self.baseline


@dataclass
class Table:
    """One protocol version: baselines x columns, plus what the numbers rest on."""

    protocol: str
    protocol_hash: str
    current: bool  # False: an older version of the protocol, kept but labelled
    current_hash: str
    synthetic: bool | None
    columns: list[Column]
    rows: list[Row]
    records: list[Record]
    last_written: str
    # reason -> the columns every record of which was skipped for it (dropped from the table)
    not_computed: dict[str, list[Column]] = field(default_factory=dict)
    # (extractor, variant "top1"/"top5") -> the protocol classifier's held-out accuracy
    classifier: dict[tuple[str, str], Cell] = field(default_factory=dict)
    speed_fmt: Format = Format()

    @property
    def headline(self) -> list[Column]:
        """The columns the protocol's source paper reports, in its order (papers.HEADLINES),
        each with the paper's extractor where computed, else the protocol classifier."""
        out = []
        for metric, variant in HEADLINES.get(self.protocol, ()):
            found = [c for c in self.columns if (c.metric, c.variant) == (metric, variant)]
            if found:
                rank = {e: i for i, e in enumerate(PREFERRED_EXTRACTORS)}
                out.append(min(found, key=lambda c: (rank.get(c.extractor or "", 99), c.key)))
        return out

    @property
    def slug(self) -> str:
        return f"{self.protocol}-{self.protocol_hash}"

    def official_instrument(self, extractor: str | None) -> bool:
        """Whether every record measured with this protocol classifier used the file the
        protocol pins (benchmark.instruments); a local one is comparable only by its sha."""
        seen = {  # the numbers' records: a skipped one measured nothing
            r.provenance.get("instrument", "unknown (recorded before instruments were pinned)")
            for r in self.records
            if r.extractor == extractor and r.status == "ok"
        }
        return seen <= {"official"}

    def extractor_label(self, extractor: str | None) -> str:
        n = len({c.extractor for c in self.columns if is_protocol_extractor(c.extractor)})
        return extractor_label(extractor, n)

    def short_label(self, col: Column) -> str:
        """ "FID latent (protocol clf.)": the label of a column within this table."""
        ext = self.extractor_label(col.extractor)
        return f"{col.name} ({ext})" if ext else col.name

    def column_groups(self) -> list[tuple[str, list[Column]]]:
        """Consecutive columns of one variant ("latent", "k=5"); columns are sorted by it."""
        groups: list[tuple[str, list[Column]]] = []
        for col in self.columns:
            if groups and groups[-1][0] == col.variant:
                groups[-1][1].append(col)
            else:
                groups.append((col.variant, [col]))
        return groups

    @property
    def seed_count(self) -> int | None:
        """The usual number of seeds behind a cell (the most common; the larger on a tie).
        Said once in the caption; a cell says its own count only when it differs."""
        counts = Counter(
            s.n
            for row in self.rows
            for cell in [*row.cells.values(), row.speed]
            if (s := cell.summary) is not None
        )
        if not counts:
            return None
        return max(counts, key=lambda n: (counts[n], n))

    @property
    def uniform_seeds(self) -> bool:
        """Every number in the table rests on the same number of seeds, none failed."""
        cells = [c for row in self.rows for c in [*row.cells.values(), row.speed]]
        return len({c.summary.n for c in cells if c.summary is not None}) <= 1 and not any(
            c.by_seed and c.failures for c in cells
        )

    @property
    def title(self) -> str:
        data = {True: " [synthetic data]", False: "", None: ""}[self.synthetic]
        old = "" if self.current else f" [older version; current is {self.current_hash}]"
        return f"{self.protocol} @ {self.protocol_hash}{data}{old}"

    def column_provenance(self, col: Column) -> dict[str, list[str]]:
        recs = [
            r
            for r in self.records
            if (r.metric, r.variant, r.extractor or "") == col.key and r.status == "ok"
        ]
        return distinct_provenance(recs)

    def provenance(self) -> dict[str, list[str]]:
        """Every provenance field with its distinct values across the table's records; more
        than one value (two code revisions, two dataset fingerprints) is worth seeing."""
        return distinct_provenance(
            r for r in self.records if r.kind != "profile" and r.metric != CLASSIFIER_METRIC
        )

    def classifier_provenance(self) -> dict[str, list[str]]:
        """The classifier records' own fields (training steps, per-class accuracy, weights
        hash): those the rest of the table shares are said once, in ``provenance``."""
        recs = [r for r in self.records if r.metric == CLASSIFIER_METRIC]
        own = distinct_provenance(recs)
        shared = self.provenance()
        out = {k: v for k, v in own.items() if shared.get(k) != v and k.split(".")[0] != "protocol"}
        extras = distinct_values((flatten(r.extra) for r in recs), _fmt_any)
        out.update({f"extra.{k}": v for k, v in extras.items()})
        return out

    def wall_time_s(self) -> float:
        total = 0.0
        for r in self.records:
            if r.kind == "cell":
                total += _as_float(r.provenance.get("wall_time_s")) or 0.0
        return total


# ``report --metrics`` words beside the metric names: every column, and the speed column
ALL_METRICS = "all"
SPEED_METRIC = "latency"


@dataclass(frozen=True)
class Selection:
    """What the paper tables show (``report --metrics/--baselines``); empty: each protocol's
    headline columns (papers.HEADLINES) and every baseline."""

    metrics: tuple[str, ...] = ()  # metric names, ALL_METRICS or SPEED_METRIC, in column order
    baselines: tuple[str, ...] = ()  # baseline ids, in row order


@dataclass
class Results:
    root: Path
    records: list[Record]
    tables: list[Table]
    profiles: dict[str, dict[str, list[Record]]]  # baseline -> table slug -> profile records
    selection: Selection = field(default_factory=Selection)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys; lists become JSON text so every value fits a CSV cell."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k in sorted(data, key=str):
            out.update(flatten(data[k], f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(data, list | tuple):
        out[prefix] = json.dumps(data, default=str)
    else:
        out[prefix] = data
    return out


def distinct_values(
    flat: Iterable[dict[str, Any]], fmt: Callable[[Any], str] = str
) -> dict[str, list[str]]:
    seen: dict[str, set[str]] = defaultdict(set)
    for d in flat:
        for k, v in d.items():
            if k.split(".")[-1] in VOLATILE_PROVENANCE:
                continue
            seen[k].add(fmt(v))
    return {k: sorted(seen[k]) for k in sorted(seen)}


def distinct_provenance(recs: Iterable[Record]) -> dict[str, list[str]]:
    return distinct_values(flatten(r.provenance) for r in recs)


def _si(x: float) -> tuple[float, str]:
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if abs(x) >= scale:
            return scale, suffix
    return 1.0, ""


def fmt_number(x: float | None, digits: int = 4) -> str:
    """About ``digits`` significant figures without exponents: 223.9, 16.18, 0.4501."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if abs(x) < ZERO_BELOW:
        return "0"
    scale, suffix = _si(x)
    if suffix:  # params, FLOPs
        return f"{fmt_number(x / scale, digits)}{suffix}"
    if abs(x) < 1e-4:
        return f"{x:.{digits - 1}e}"
    decimals = max(0, min(6, digits - 1 - math.floor(math.log10(abs(x)))))
    return f"{x:.{decimals}f}"


def _fmt_any(v: Any) -> str:
    return fmt_number(v) if isinstance(v, float) else str(v)


def fmt_mean_std(s: stats.Summary) -> tuple[str, str]:
    """Mean and std at the mean's precision; the std is "" for a single seed."""
    mean = fmt_number(s.mean)
    if s.n < 2 or not math.isfinite(s.std):
        return mean, ""
    scale, suffix = _si(s.mean)
    if suffix:  # "53.50M ± 0.7071M"
        return mean, f"{fmt_number(s.std / scale)}{suffix}"
    if "e" in mean:
        return mean, fmt_number(s.std)
    decimals = len(mean.split(".")[1]) if "." in mean else 0
    return mean, f"{s.std:.{decimals}f}"


def _as_float(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


def load_records(results_dir: Path) -> list[Record]:
    """Every record under ``results_dir/records``; a missing or empty folder or a corrupt
    record is a one-line UserError naming the path (``benchmark.records.read_folder``)."""
    return [rec for _, rec in rec_io.read_folder(results_dir)]


def _declared_label(recs: list[Record]) -> str | None:
    """The label the metric's family declared, as its newest records carry it (records written
    before labels were declared carry none: the report's own table names them)."""
    labels = [r.provenance["metric_label"] for r in recs if r.provenance.get("metric_label")]
    return _majority(labels) if labels else None


def _majority(values: Iterable[str]) -> str:
    return Counter(values).most_common(1)[0][0]


def _build_table(
    protocol: str,
    phash: str,
    recs: list[Record],
    current_hash: str,
    oracles: frozenset[str],
    names: dict[str, str],
    highlight: str | None,
    digits: int | None,
) -> Table:
    metric_recs = [r for r in recs if r.kind == "metric" and r.metric != CLASSIFIER_METRIC]
    by_key: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in metric_recs:
        by_key[(r.metric, r.variant, r.extractor or "")].append(r)
    all_columns = sorted(
        (
            Column(
                m,
                v,
                e or None,
                _majority(r.direction for r in by_key[(m, v, e)]),
                _declared_label(by_key[(m, v, e)]),
            )
            for (m, v, e) in by_key
        ),
        key=lambda c: c.sort_key,
    )
    not_computed: dict[str, list[Column]] = defaultdict(list)
    columns = []
    for col in all_columns:
        col_recs = by_key[col.key]
        if all(r.status == "skipped" for r in col_recs):
            for reason in sorted({r.reason or "skipped (no reason recorded)" for r in col_recs}):
                not_computed[reason].append(col)
        else:
            columns.append(col)
    classifier: dict[tuple[str, str], Cell] = defaultdict(Cell)
    for r in recs:
        if r.metric == CLASSIFIER_METRIC:
            _add(classifier[(r.extractor or "", r.variant)], r)
    baselines = sorted({r.baseline for r in recs if r.metric != CLASSIFIER_METRIC})
    rows = []
    for b in baselines:
        mine = [r for r in recs if r.baseline == b]
        cell_failures = {
            r.seed: r.reason or "failed (no reason recorded)"
            for r in mine
            if r.kind == "cell" and r.status != "ok"
        }
        cells = {c.key: Cell() for c in columns}
        for r in mine:
            key = (r.metric, r.variant, r.extractor or "")
            if key not in cells:
                continue
            _add(cells[key], r)
        for cell in cells.values():
            for seed, reason in cell_failures.items():
                if seed not in cell.by_seed:
                    cell.failures.setdefault(seed, reason)
        speed = Cell()
        for r in mine:
            if r.metric == "latency_ms" and r.variant == SPEED_VARIANT:
                _add(speed, r)
        external = any("external" in r.provenance for r in mine)
        shown = names.get(b) or _majority_or(
            (r.provenance["display_name"] for r in mine if r.provenance.get("display_name")), b
        )
        if b == highlight and b not in names:
            shown = "Ours"
        rows.append(
            Row(b, b in oracles, cells, speed, cell_failures, external, shown, b == highlight)
        )
    columns = [
        dataclasses.replace(
            col,
            fmt=column_format(
                col.metric,
                [m for r in rows if (m := _mean(r.cells[col.key])) is not None],
                digits,
            ),
        )
        for col in columns
    ]
    speed_fmt = column_format("latency_ms", [m for r in rows if (m := _mean(r.speed)) is not None])
    for col in columns:
        _rank([r.cells[col.key] for r in rows if not r.oracle], col.direction, col.fmt)
    _rank([r.speed for r in rows if not r.oracle], "lower", speed_fmt, test=False)
    synthetic_values = {
        r.provenance.get("dataset", {}).get("synthetic")
        for r in recs
        if isinstance(r.provenance.get("dataset"), dict)
    } - {None}
    synthetic = synthetic_values.pop() if len(synthetic_values) == 1 else None
    return Table(
        protocol=protocol,
        protocol_hash=phash,
        current=phash == current_hash,
        current_hash=current_hash,
        synthetic=bool(synthetic) if synthetic is not None else None,
        columns=columns,
        rows=rows,
        records=recs,
        last_written=max(str(r.provenance.get("written_at", "")) for r in recs),
        not_computed=dict(not_computed),
        classifier=dict(sorted(classifier.items())),
        speed_fmt=speed_fmt,
    )


def _add(cell: Cell, r: Record) -> None:
    if r.status == "ok" and r.value is not None:
        cell.by_seed[r.seed] = float(r.value)
    else:
        cell.failures[r.seed] = r.reason or r.status
        if r.status == "skipped":
            cell.skipped_seeds.add(r.seed)


def _mean(cell: Cell) -> float | None:
    return cell.summary.mean if cell.summary is not None else None


def _majority_or(values: Iterable[str], default: str) -> str:
    found = list(values)
    return _majority(found) if found else default


def _rank(cells: list[Cell], direction: str, fmt: Format, test: bool = True) -> None:
    """Best and second among methods on the printed values (numbers.ranks); with ``test``,
    which of the others are not significantly worse than the best (a column without a best
    marks nobody)."""
    scored = [c for c in cells if c.summary is not None]
    means = [c.summary.mean for c in scored]
    for c, rank in zip(scored, ranks(means, direction, fmt), strict=True):
        c.rank = rank
    if not test or not any(c.rank == 1 for c in scored):
        return
    by_seed = {str(i): c.by_seed for i, c in enumerate(scored)}
    verdict = stats.not_worse_than_best(by_seed, direction)
    for i, c in enumerate(scored):
        c.near_best = c.rank != 1 and verdict.get(str(i), False)


def _check_options(
    recs: list[Record],
    names: dict[str, str],
    highlight: str | None,
    metrics: Iterable[str],
    baselines: Iterable[str],
) -> None:
    """Every name an option gives must be in the records: one line naming the flag and the
    names it could have been (raised before anything is rendered)."""
    known = sorted({r.baseline for r in recs if r.metric != CLASSIFIER_METRIC})
    asked = [("--names", b) for b in names] + [("--baselines", b) for b in baselines]
    asked += [("--highlight", highlight)] if highlight is not None else []
    for flag, b in asked:
        if b not in known:
            raise UserError(f"{flag}: no records for baseline '{b}'; known: {', '.join(known)}")
    measured = {r.metric for r in recs if r.kind == "metric" and r.metric != CLASSIFIER_METRIC}
    words = sorted(measured | {ALL_METRICS, SPEED_METRIC})
    for m in metrics:
        if m not in words:
            raise UserError(f"--metrics: unknown metric '{m}'; known: {', '.join(words)}")


def collect(
    results_dir: Path,
    names: dict[str, str] | None = None,
    highlight: str | None = None,
    digits: int | None = None,
    metrics: Iterable[str] | None = None,
    baselines: Iterable[str] | None = None,
) -> Results:
    """Load and validate every record, then group them into per-protocol-version tables.

    ``names`` overrides the display names records carry (``--names munit="MUNIT (ours)"``);
    ``highlight`` is the author's method, shown as "Ours" unless named; ``digits`` fixes the
    decimals of every metric column instead of choosing them per column; ``metrics`` and
    ``baselines`` choose the paper tables' columns and rows (``Results.selection``). A name
    the records do not have is a UserError naming the flag and the known names."""
    recs = load_records(results_dir)
    selection = Selection(tuple(metrics or ()), tuple(baselines or ()))
    _check_options(recs, names or {}, highlight, selection.metrics, selection.baselines)
    oracles = oracle_names(recs)
    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in recs:
        groups[(r.protocol, r.protocol_hash)].append(r)
    # the current version of a protocol is the one written most recently
    latest: dict[str, tuple[str, str]] = {}
    for (proto, phash), rs in groups.items():
        stamp = (max(str(r.provenance.get("written_at", "")) for r in rs), phash)
        if proto not in latest or stamp > latest[proto]:
            latest[proto] = stamp
    tables = [
        _build_table(proto, phash, rs, latest[proto][1], oracles, names or {}, highlight, digits)
        for (proto, phash), rs in groups.items()
    ]
    tables.sort(key=lambda t: t.last_written, reverse=True)  # newest old version first
    tables.sort(key=lambda t: (t.protocol, not t.current))
    profiles: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for t in tables:
        for r in t.records:
            if r.kind == "profile":
                profiles[r.baseline][t.slug].append(r)
    return Results(
        root=Path(results_dir),
        records=recs,
        tables=tables,
        profiles={b: dict(v) for b, v in sorted(profiles.items())},
        selection=selection,
    )
