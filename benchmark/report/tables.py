"""Text outputs: leaderboard.md (for a README), tables.tex (booktabs, for a paper) and
results.csv (tidy, one row per record, for anyone's own analysis)."""

from __future__ import annotations

import re

import pandas as pd

from benchmark.records import Record
from benchmark.report.labels import LOCAL_LABEL, SPEED_LABEL
from benchmark.report.model import Cell, Column, Results, Row, Table, flatten, fmt_mean_std


def cell_text(cell: Cell, seeds: int | None = None) -> str:
    """Plain text of a cell: "16.18 ± 0.15", "16.18", "failed", "skipped", "-". The seed count
    is said only where it differs from the table's usual ``seeds`` (given in the caption), and
    always as "2/3 seeds" when some seeds failed."""
    s = cell.summary
    if s is None:
        return {"failed": "failed", "skipped": "skipped"}.get(cell.status, "-")
    mean, std = fmt_mean_std(s)
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


def fidelity_line(table: Table) -> str:
    """Whose evaluation code the protocol reproduces, and every named way it does not, from the
    protocol each record carries: "Follows X step for step, except: ..."; "" for records made
    before protocols said so."""
    proto = next(
        (
            r.provenance["protocol"]
            for r in table.records
            if isinstance(r.provenance.get("protocol"), dict)
        ),
        {},
    )
    follows, deviations = proto.get("follows"), list(proto.get("deviations") or ())
    if follows:
        text = f"Follows {follows} step for step"
        return text + (f", except: {'; '.join(deviations)}" if deviations else "")
    return f"Own pipeline: {'; '.join(deviations)}" if deviations else ""


def _used(table: Table) -> set[str]:
    return {c.extractor for c in table.columns if c.extractor}


def _describe_columns(table: Table, cols: list[Column]) -> str:
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
        f"{_describe_columns(table, cols)}: {reason}" for reason, cols in table.not_computed.items()
    ]


def row_shared_failure(row: Row, columns: list[Column]) -> tuple[str, str] | None:
    """(status, reason) when a row failed the same way in every metric column (a training run
    that died, a seed that ran out of memory): one note, not the same reason per column."""
    cells = [row.cells[c.key] for c in columns]
    shared = {(c.status, c.reason) for c in cells}
    if len(cells) > 1 and all(c.failures for c in cells) and len(shared) == 1:
        return shared.pop()
    return None


def failure_notes(table: Table) -> list[str]:
    """Failed and skipped cells, one line per distinct reason naming who it hit:
    "failed: diverged (seeds 0, 1, 2) — drit (every column)"."""
    hits: dict[tuple[str, str], dict[str, list[str]]] = {}

    def hit(status: str, reason: str, baseline: str, where: str) -> None:
        hits.setdefault((status, reason), {}).setdefault(baseline, []).append(where)

    for row in _ordered_rows(table):
        shown: set[str] = set()
        shared = row_shared_failure(row, table.columns)
        if shared:
            hit(*shared, row.baseline, "every column")
            shown.update(row.cells[table.columns[0].key].failures.values())
        else:
            for c in table.columns:
                cell = row.cells[c.key]
                if cell.failures:
                    hit(cell.status, cell.reason, row.baseline, table.short_label(c))
                    shown.update(cell.failures.values())
        if row.speed.failures:
            hit(row.speed.status, row.speed.reason, row.baseline, SPEED_LABEL)
            shown.update(row.speed.failures.values())
        unshown = {s: m for s, m in row.cell_failures.items() if m not in shown}
        if unshown:  # the cell failed after its metrics were written (e.g. while profiling)
            hit("failed", Cell(failures=unshown).reason, row.baseline, "run")
    notes = []
    for (status, reason), who in hits.items():
        by_where: dict[tuple[str, ...], list[str]] = {}  # baselines hit in the same columns
        for baseline, where in who.items():
            by_where.setdefault(tuple(where), []).append(baseline)
        hit_text = "; ".join(f"{', '.join(bs)} ({', '.join(w)})" for w, bs in by_where.items())
        notes.append(f"{status}: {reason} — {hit_text}")
    return notes


def _ordered_rows(table: Table) -> list[Row]:
    """Methods first, oracles (the metric's brackets) last."""
    return [r for r in table.rows if not r.oracle] + [r for r in table.rows if r.oracle]


def _has_speed(table: Table) -> bool:
    return any(r.speed.by_seed or r.speed.failures for r in table.rows)


# --- Markdown ---------------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(results: Results) -> str:
    lines = [
        "# Leaderboard",
        "",
        "Mean ± std over seeds; the best method per column is in **bold** (oracles, in italics,",
        "bracket each metric and are never marked best). Tables of different protocol hashes",
        "are not comparable.",
        "",
    ]
    for t in results.tables:
        speed = _has_speed(t)
        head = ["Baseline"] + [f"{t.short_label(c)} {c.arrow}" for c in t.columns]
        head += [f"{SPEED_LABEL} ↓"] if speed else []
        lines += [f"## {_md_escape(t.title)}", ""]
        clf = classifier_line(t)
        lines += [f"{_md_escape(clf)}.", ""] if clf else []
        how = fidelity_line(t)
        lines += [f"{_md_escape(how)}.", ""] if how else []
        lines += [f"{seeds_caption(t)}.", ""]
        if t.columns or speed:
            lines.append("| " + " | ".join(_md_escape(h) for h in head) + " |")
            lines.append("|---" + "|---:" * (len(head) - 1) + "|")
            for row in _ordered_rows(t):
                cells = [row.cells[c.key] for c in t.columns] + ([row.speed] if speed else [])
                texts = [cell_text(c, t.seed_count) for c in cells]
                texts = [f"**{x}**" if c.best else _md_escape(x) for x, c in zip(texts, cells)]
                name = f"*{row.baseline}* (oracle)" if row.oracle else row.baseline
                name += " (external)" if row.external else ""
                lines.append("| " + " | ".join([_md_escape(name)] + texts) + " |")
        for title, notes in (
            ("Not computed", not_computed_notes(t)),
            ("Failed or skipped cells", failure_notes(t)),
        ):
            if notes:
                lines += ["", f"{title}:", ""] + [f"- {_md_escape(n)}" for n in notes]
        lines.append("")
    return "\n".join(lines)


# --- LaTeX ------------------------------------------------------------------------------------

_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_TEX_ARROW = {"lower": r"$\downarrow$", "higher": r"$\uparrow$"}


def tex_escape(text: str) -> str:
    text = "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)
    return text.replace("±", r"$\pm$").replace("—", "---")


def _tex_label(slug: str) -> str:
    """A \\label key: escapes do not work inside one, so anything but [A-Za-z0-9:-] becomes -."""
    return re.sub(r"[^A-Za-z0-9:-]", "-", slug)


def _tex_cell(cell: Cell, seeds: int | None) -> str:
    if cell.summary is None:
        return rf"\textit{{{cell.status}}}" if cell.status in ("failed", "skipped") else "--"
    text = tex_escape(cell_text(cell, seeds))
    return rf"\textbf{{{text}}}" if cell.best else text


def _tex_head(t: Table, speed: bool) -> list[str]:
    """Variant groups over their columns (\\cmidrule under each), then metric names, then the
    extractor in small type; the grouping row only when some column has a variant."""
    out = []
    groups = t.column_groups()
    if any(v for v, _ in groups):
        spans, rules, col = [], [], 2
        for variant, cols in groups:
            spans.append(rf"\multicolumn{{{len(cols)}}}{{c}}{{{tex_escape(variant)}}}")
            if variant:
                rules.append(rf"\cmidrule(lr){{{col}-{col + len(cols) - 1}}}")
            col += len(cols)
        out.append(" & " + " & ".join(spans + ([""] if speed else [])) + " \\\\")
        out.append(" ".join(rules))
    names = [f"{tex_escape(c.metric_label)} {_TEX_ARROW[c.direction]}" for c in t.columns]
    extractors = [tex_escape(t.extractor_label(c.extractor)) for c in t.columns]
    if speed:
        names.append(f"{tex_escape(SPEED_LABEL)} {_TEX_ARROW['lower']}")
        extractors.append("")
    out.append("Baseline & " + " & ".join(names) + " \\\\")
    if any(extractors):
        out.append(
            " & " + " & ".join(f"{{\\scriptsize {e}}}" if e else "" for e in extractors) + " \\\\"
        )
    return out


# graphicx evaluates \width (the tabular's natural width) inside the size argument: shrink to
# the line width only when wider, so a wide table (AFHQ's latent and reference columns) fits
FIT_WIDTH = r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%"


def latex(results: Results) -> str:
    """One booktabs table per protocol version; needs ``booktabs`` and ``graphicx`` (a table
    wider than the text is scaled down to the line width, a narrower one is left as it is)."""
    out = [
        "% Generated by `python -m benchmark report`; requires \\usepackage{booktabs,graphicx}.",
        "% Mean $\\pm$ std over seeds; best method per column in bold; oracles below the rule.",
        "",
    ]
    for t in results.tables:
        speed = _has_speed(t)
        ncols = len(t.columns) + speed
        clf = classifier_line(t)
        caption = f"{tex_escape(t.title)}. {tex_escape(seeds_caption(t))}; best in bold." + (
            f" {tex_escape(clf)}." if clf else ""
        )
        how = fidelity_line(t)  # for the author, not the reader: a comment above the table
        out += [f"% {how}."] if how else []
        out += [
            "\\begin{table}[t]",
            "\\centering",
            f"\\caption{{{caption}}}",
            f"\\label{{tab:{_tex_label(t.slug)}}}",
            FIT_WIDTH,
            f"\\begin{{tabular}}{{l{'r' * ncols}}}",
            "\\toprule",
            *_tex_head(t, speed),
            "\\midrule",
        ]
        methods = [r for r in t.rows if not r.oracle]
        oracles = [r for r in t.rows if r.oracle]
        for group, style in ((methods, "{}"), (oracles, "\\textit{{{}}}")):
            if group is oracles and oracles and methods:
                out.append("\\midrule")
            for row in group:
                cells = [row.cells[c.key] for c in t.columns] + ([row.speed] if speed else [])
                out.append(
                    " & ".join(
                        [style.format(tex_escape(row.baseline))]
                        + [_tex_cell(c, t.seed_count) for c in cells]
                    )
                    + " \\\\"
                )
        out += ["\\bottomrule", "\\end{tabular}}"]  # closes FIT_WIDTH
        notes = [f"Not computed: {n}" for n in not_computed_notes(t)] + failure_notes(t)
        if notes:
            out.append("\\par\\smallskip\\footnotesize " + "; ".join(tex_escape(n) for n in notes))
        out += ["\\end{table}", ""]
    return "\n".join(out)


# --- CSV --------------------------------------------------------------------------------------

CORE_FIELDS = (
    "protocol",
    "protocol_hash",
    "baseline",
    "seed",
    "metric",
    "variant",
    "extractor",
    "value",
    "std",
    "direction",
    "status",
    "reason",
    "config",
    "preset",
)


def _row(r: Record) -> dict[str, object]:
    row: dict[str, object] = {k: getattr(r, k) for k in CORE_FIELDS}
    for k, v in flatten(r.provenance).items():
        row[f"provenance.{k}"] = v
    for k, v in r.extra.items():
        if isinstance(v, str | int | float | bool) or v is None:  # lists (kernels) stay out
            row[f"extra.{k}"] = v
    return row


def tidy_frame(results: Results) -> pd.DataFrame:
    """One row per record, provenance flattened to ``provenance.<dotted.key>`` columns."""
    frame = pd.DataFrame([_row(r) for r in results.records])
    first = list(CORE_FIELDS)
    rest = sorted(c for c in frame.columns if c not in CORE_FIELDS)
    return frame[first + rest]


def csv_text(results: Results) -> str:
    return tidy_frame(results).to_csv(index=False)
