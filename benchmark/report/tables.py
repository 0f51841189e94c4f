"""leaderboard.md (for a README) and the plain-text pieces every table format shares: cell text,
captions, the classifier and fidelity lines, notes on what failed or was not computed, the
protocols' names as a paper writes them, reasons shortened for a reader, and the marks that tie
a cell to its note."""

from __future__ import annotations

import re
from typing import Any

from benchmark.report.labels import LOCAL_LABEL, SPEED_LABEL
from benchmark.report.model import Cell, Column, Results, Row, Table, fmt_mean_std
from benchmark.report.numbers import Format

# a protocol as a paper names it (caption and heading words); the record keeps the id
PROTOCOL_TITLES = {
    "afhq": "AFHQ, StarGAN v2 protocol",
    "animal_faces": "Animal Faces, FUNIT protocol",
    "edges2shoes": "edges2shoes, BicycleGAN protocol",
    "celeba_attributes": "CelebA attribute editing, official test split",
    "celeba_stargan": "CelebA attribute editing, StarGAN protocol",
}
# what ties a cell to the note below its table, in order of first use (then doubled: ††)
MARKS = ("†", "‡", "§", "¶", "‖")
NOT_APPLICABLE = "does not apply"  # the runner's reason for a mode a method has no input for
MISSING = "n/a"  # a number that does not apply (a method without reference-guided synthesis)
NO_RECORD = "–"  # no record at all


def not_applicable(cell: Cell) -> bool:
    """Skipped on every seed because the metric does not apply to the method (a mode it takes
    no input for): "n/a", not a skip to fix."""
    return (
        cell.status == "skipped"
        and bool(cell.failures)
        and all(NOT_APPLICABLE in reason for reason in cell.failures.values())
    )


def mark(index: int) -> str:
    return MARKS[index % len(MARKS)] * (index // len(MARKS) + 1)


def cell_text(cell: Cell, seeds: int | None = None, fmt: Format | None = None) -> str:
    """Plain text of a cell: "16.18 ± 0.15", "16.18", "failed", "skipped", "-". The seed count
    is said only where it differs from the table's usual ``seeds`` (given in the caption), and
    always as "2/3 seeds" when some seeds failed. ``fmt`` is the column's format
    (``Column.fmt``); without it each number chooses its own precision."""
    s = cell.summary
    if s is None:
        return {"failed": "failed", "skipped": "skipped"}.get(cell.status, "-")
    mean, std = fmt.mean_std(s) if fmt is not None else fmt_mean_std(s)
    text = f"{mean} ± {std}" if std else mean
    if cell.failures:
        text += f" ({s.n}/{s.n + len(cell.failures)} seeds)"
    elif s.n != seeds:
        text += f" ({s.n} seed{'s' * (s.n != 1)})"
    return text


def seeds_caption(table: Table) -> str:
    """ "1 seed per cell" when every number rests on the same seed count, else the usual one."""
    n = table.seed_count
    if n is None:
        return "No numbers"
    per = "1 seed per cell (no std)" if n == 1 else f"Mean ± std over {n} seeds per cell"
    return per if table.uniform_seeds else f"{per} unless marked"


def classifier_line(table: Table) -> str:
    """The protocol classifier, said once: "Feature extractor protocol:afhq@845d...: held-out
    top-1 1.000, top-5 0.983"; "" when the table has no classifier records."""
    by_ext: dict[str, list[str]] = {}
    for (ext, variant), cell in table.classifier.items():
        name = variant.replace("top", "top-") if variant else "accuracy"
        by_ext.setdefault(ext, []).append(f"{name} {cell_text(cell, table.seed_count)}")
    return "; ".join(
        f"Feature extractor {ext or '(unnamed)'}"
        + (f" (“{table.extractor_label(ext)}” in the columns)" if ext in _used(table) else "")
        + f": held-out {', '.join(parts)}"
        + ("" if table.official_instrument(ext) else f" ({LOCAL_LABEL})")
        for ext, parts in by_ext.items()
    )


def protocol_info(table: Table) -> dict[str, Any]:
    """The frozen protocol the table's records carry (``provenance.protocol``); {} for records
    made before they carried it."""
    return next(
        (
            r.provenance["protocol"]
            for r in table.records
            if isinstance(r.provenance.get("protocol"), dict)
        ),
        {},
    )


def fidelity_line(table: Table) -> str:
    """Whose evaluation code the protocol reproduces, and every named way it does not, from the
    protocol each record carries: "Follows X step for step, except: ..."; "" for records made
    before protocols said so."""
    proto = protocol_info(table)
    follows, deviations = proto.get("follows"), list(proto.get("deviations") or ())
    if follows:
        text = f"Follows {follows} step for step"
        return text + (f", except: {'; '.join(deviations)}" if deviations else "")
    return f"Own pipeline: {'; '.join(deviations)}" if deviations else ""


def protocol_title(table: Table) -> str:
    """ "AFHQ, StarGAN v2 protocol": the protocol as a paper names it; a protocol the table
    does not know is named by its dataset's words ("Foo (Bar et al.)") or its id."""
    if table.protocol in PROTOCOL_TITLES:
        return PROTOCOL_TITLES[table.protocol]
    dataset = str(protocol_info(table).get("dataset") or "").split(":")[0].strip()
    return dataset or table.protocol.replace("_", " ")


def preset(table: Table) -> str:
    """The preset the numbers were made with ("smoke", "paper"); "" when records do not say."""
    found = {r.preset for r in table.records if r.preset and r.kind == "metric"}
    found = found or {str(protocol_info(table).get("preset") or "")} - {""}
    return found.pop() if len(found) == 1 else ""


def sample_counts(table: Table) -> str:
    """ "6 inputs × 3 outputs per task", "every test input × 10 outputs per task", from the
    protocol the records carry; "" when they carry none."""
    proto = protocol_info(table)
    inputs, outputs = proto.get("num_test_inputs"), proto.get("outputs_per_input")
    if not isinstance(inputs, int) or not isinstance(outputs, int):
        return ""
    tasks = proto.get("tasks") or ()
    who = f"{inputs} input{'s' * (inputs != 1)}" if inputs > 0 else "every test input"
    per = " per task" if len(tasks) > 1 else ""
    return f"{who} × {outputs} output{'s' * (outputs != 1)}{per}"


# where a reason stops saying what happened and starts saying how to fix it on this machine
_HINT = re.compile(
    r"(:\s+|;\s+|\s+\(|,\s+)(?=(put|pass|install|download|run|set|see|use|rerun|try)\b)", re.I
)
_PATHLIKE = re.compile(r"(^|[\s(\"'=])(~?/|[A-Za-z]:\\|\.\.?/)\S*")


def short_reason(reason: str, names: dict[str, str] | None = None) -> str:
    """A reason as a paper's reader needs it: what happened, without the install hint or the
    paths of this machine ("AlexNet weights missing: put X in /root/..." -> "AlexNet weights
    missing"), baseline ids as their display ``names``."""
    text = " ".join(reason.split())
    hint = _HINT.search(text)
    if hint:
        text = text[: hint.start()]
    text = _PATHLIKE.sub(lambda m: m.group(1) + "…", text).rstrip(" :;,(")
    for raw, shown in sorted((names or {}).items(), key=lambda kv: -len(kv[0])):
        if raw != shown:
            text = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(raw)}(?![A-Za-z0-9_])", shown, text)
    return text or "no reason recorded"


def display_names(table: Table) -> dict[str, str]:
    return {r.baseline: r.name for r in table.rows}


def ordered_columns(table: Table) -> list[Column]:
    """The protocol's headline columns first (its source paper's order), then the rest."""
    head = table.headline
    keys = {c.key for c in head}
    return head + [c for c in table.columns if c.key not in keys]


def header_text(table: Table, col: Column) -> str:
    """ "KID ×10³ latent (protocol clf.) ↓": the label, the scale the numbers are printed at,
    the variant, the extractor and the direction."""
    scale = f" {col.fmt.scale_label}" if col.fmt.scale_label else ""
    variant = f" {col.variant}" if col.variant else ""
    ext = table.extractor_label(col.extractor)
    return f"{col.metric_label}{scale}{variant}{f' ({ext})' if ext else ''} {col.arrow}"


def _used(table: Table) -> set[str]:
    return {c.extractor for c in table.columns if c.extractor}


def describe_columns(table: Table, cols: list[Column]) -> str:
    """ "FID, KID, IS with inception-v3-compat (latent, reference)": columns grouped by extractor
    and by the variants a metric has, so a note names many columns in a few words."""
    variants: dict[tuple[str, str], list[str]] = {}
    for c in cols:
        variants.setdefault((c.extractor or "", c.metric_label), []).append(c.variant)
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (ext, label), vs in variants.items():
        groups.setdefault((ext, tuple(v for v in vs if v)), []).append(label)
    parts = []
    for (ext, vs), labels in groups.items():
        text = ", ".join(labels) + (f" with {table.extractor_label(ext)}" if ext else "")
        parts.append(text + (f" ({', '.join(vs)})" if vs else ""))
    return "; ".join(parts)


def not_computed_notes(table: Table) -> list[str]:
    """One line per reason for the columns no baseline could compute (dropped from the table)."""
    return [
        f"{describe_columns(table, cols)}: {reason}" for reason, cols in table.not_computed.items()
    ]


def row_shared_failure(row: Row, columns: list[Column]) -> tuple[str, str] | None:
    """(status, reason) when a row failed the same way in every metric column (a training run
    that died, a seed that ran out of memory): one note, not the same reason per column."""
    cells = [row.cells[c.key] for c in columns]
    shared = {(c.status, c.reason) for c in cells}
    if len(cells) > 1 and all(c.failures for c in cells) and len(shared) == 1:
        return shared.pop()
    return None


def failure_groups(
    table: Table, applicable_only: bool = False
) -> list[tuple[tuple[str, str], str]]:
    """Failed and skipped cells, one entry per distinct (status, reason) naming who it hit:
    ((status, reason), "failed: diverged (seeds 0, 1, 2) — DRIT (every column)"). A cell with
    failures is tied to its entry by ``(cell.status, cell.reason)``; ``applicable_only`` leaves
    out the cells whose metric does not apply to the method (``not_applicable``)."""
    hits: dict[tuple[str, str], dict[str, list[str]]] = {}

    def hit(status: str, reason: str, name: str, where: str) -> None:
        hits.setdefault((status, reason), {}).setdefault(name, []).append(where)

    for row in _ordered_rows(table):
        shown: set[str] = set()
        shared = row_shared_failure(row, table.columns)
        if shared:
            hit(*shared, row.name, "every column")
            shown.update(row.cells[table.columns[0].key].failures.values())
        else:
            for c in table.columns:
                cell = row.cells[c.key]
                if cell.failures and not (applicable_only and not_applicable(cell)):
                    hit(cell.status, cell.reason, row.name, table.short_label(c))
                    shown.update(cell.failures.values())
        if row.speed.failures:
            hit(row.speed.status, row.speed.reason, row.name, SPEED_LABEL)
            shown.update(row.speed.failures.values())
        unshown = {s: m for s, m in row.cell_failures.items() if m not in shown}
        if unshown:  # the cell failed after its metrics were written (e.g. while profiling)
            hit("failed", Cell(failures=unshown).reason, row.name, "run")
    groups = []
    for (status, reason), who in hits.items():
        by_where: dict[tuple[str, ...], list[str]] = {}  # baselines hit in the same columns
        for name, where in who.items():
            by_where.setdefault(tuple(where), []).append(name)
        hit_text = "; ".join(f"{', '.join(bs)} ({', '.join(w)})" for w, bs in by_where.items())
        groups.append(((status, reason), f"{status}: {reason} — {hit_text}"))
    return groups


def failure_notes(table: Table) -> list[str]:
    """Failed and skipped cells, one line per distinct reason naming who it hit:
    "failed: diverged (seeds 0, 1, 2) — drit (every column)"."""
    return [text for _, text in failure_groups(table)]


def _ordered_rows(table: Table) -> list[Row]:
    """Methods first, the highlighted one (``report --highlight``) last among them, where a
    paper puts its own; oracles (the metric's brackets) after them."""
    rows = sorted(table.rows, key=lambda r: r.highlight)
    return [r for r in rows if not r.oracle] + [r for r in rows if r.oracle]


def _has_speed(table: Table) -> bool:
    return any(r.speed.by_seed or r.speed.failures for r in table.rows)


# --- Markdown ---------------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("*", "\\*")


def _md_cell(cell: Cell, fmt: Format, seeds: int | None, marks: dict[tuple[str, str], str]) -> str:
    """ "**16.20 ± 0.20**" (best), "n/a" (does not apply), "–" (no record), "skipped†" and
    "failed‡" (their reasons in the notes below the table, by mark), "0.0000" (a measured
    zero)."""
    if cell.status == "missing":
        return NO_RECORD
    if not_applicable(cell):
        return MISSING
    text = _md_escape(cell_text(cell, seeds, fmt))
    if cell.best:
        text = f"**{text}**"
    if cell.near_best:
        text += " ≈"
    return text + marks.get((cell.status, cell.reason), "") if cell.failures else text


def _md_name(row: Row) -> str:
    name = _md_escape(row.name)
    if row.highlight:
        name = f"**{name}**"
    if row.oracle:
        name = f"*{name}* (oracle)"
    return name + (" (external)" if row.external else "")


def markdown(results: Results) -> str:
    """leaderboard.md: every protocol version, display names, each column at its format with
    the protocol's headline columns first, the best in bold, and every failed or skipped cell
    tied by a mark (†, ‡, ...) to its reason below the table."""
    lines = [
        "# Leaderboard",
        "",
        "Mean ± std over seeds; the best method per column is in **bold** (oracles, in italics,",
        "bracket each metric and are never marked best); n/a: the number does not apply to the",
        "method; ≈: not significantly worse than the best (one-sided paired t-test over 3 or",
        "more shared seeds, Holm-corrected, α = 0.05). Tables of different protocol hashes are",
        "not comparable.",
        "",
    ]
    for t in results.tables:
        speed = _has_speed(t)
        cols = ordered_columns(t)
        head = ["Baseline"] + [header_text(t, c) for c in cols]
        head += [f"{SPEED_LABEL} ↓"] if speed else []
        lines += [f"## {_md_escape(t.title)}", ""]
        clf = classifier_line(t)
        lines += [f"{_md_escape(clf)}.", ""] if clf else []
        how = fidelity_line(t)
        lines += [f"{_md_escape(how)}.", ""] if how else []
        lines += [f"{seeds_caption(t)}.", ""]
        groups = failure_groups(t, applicable_only=True)
        seeds = t.seed_count  # the usual count, said once above the table
        marks = {key: mark(i) for i, (key, _) in enumerate(groups)}
        if cols or speed:
            lines.append("| " + " | ".join(_md_escape(h) for h in head) + " |")
            lines.append("|---" + "|---:" * (len(head) - 1) + "|")
            for row in _ordered_rows(t):
                texts = [_md_cell(row.cells[c.key], c.fmt, seeds, marks) for c in cols]
                if speed:
                    texts.append(_md_cell(row.speed, t.speed_fmt, seeds, marks))
                lines.append("| " + " | ".join([_md_name(row)] + texts) + " |")
        failures = [f"{marks[key]} {_md_escape(text)}" for key, text in groups]
        for title, notes in (
            ("Not computed", [_md_escape(n) for n in not_computed_notes(t)]),
            ("Failed or skipped cells", failures),
        ):
            if notes:
                lines += ["", f"{title}:", ""] + [f"- {n}" for n in notes]
        lines.append("")
    return "\n".join(lines)
