"""tables.tex, the tables a paper ``\\input``s (booktabs only), and paper.tex, a document that
compiles them as they are: ``write_paper``.

One table per current protocol version (an older version is named in a comment, never printed:
a paper reports the current one; leaderboard.md keeps them all). Its columns are the protocol's
headline (the metrics its source paper reports, papers.HEADLINES) unless ``report --metrics``
chose others; its rows every baseline, or ``--baselines`` in that order. Names are display names,
the author's method (``--highlight``) in bold and last among the methods, oracles in italics
below a rule and never ranked. Each number is mean ± std over seeds at its column's format (KID
×10³, the scale in the header); the best in a column is bold and the second underlined, decided
on the printed values among the methods shown. A cell that is not a plain number carries a mark
(†, ‡, ...) explained below the table: not computed, failed, or resting on fewer seeds. The
caption says what a reader needs (protocol, preset, seeds and sample counts, feature
extractor); hashes, machine paths, install hints and the full reasons are TeX comments only.

Width: a tabular is never scaled. Its width is estimated from its characters (Computer Modern
widths at 10 pt, measured with pdflatex: the ``\\small`` size of an 11 pt paper) against a text
width of ``TEXT_WIDTH_IN`` (5.5 in, the NeurIPS and ICLR text; a 6.5 in article holds it with
room); a table wider than ``FILL`` of it is split, the headline columns from the rest, then by
mode or K, then into column chunks, each part its own table and label. paper.tex sets the text
to that width, so pdflatex checks the estimate (tests/report/test_paper_tables.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.records import atomic_write_text
from benchmark.report.labels import LOCAL_LABEL, is_protocol_extractor
from benchmark.report.model import (
    ALL_METRICS,
    SPEED_METRIC,
    Cell,
    Column,
    Results,
    Row,
    Table,
    distinct_provenance,
)
from benchmark.report.numbers import Format, ranks
from benchmark.report.papers import HEADLINES, PREFERRED_EXTRACTORS
from benchmark.report.tables import (
    _has_speed,
    classifier_line,
    display_names,
    fidelity_line,
    mark,
    not_applicable,
    not_computed_notes,
    preset,
    protocol_title,
    sample_counts,
    short_reason,
)

TEXT_WIDTH_IN = 5.5
TEXT_WIDTH_PT = TEXT_WIDTH_IN * 72.27  # 397.5 pt
FILL = 0.95  # a table wider than this share of the text width (estimated) is split
TABCOLSEP_PT = 6.0  # LaTeX's default \tabcolsep, either side of every column but the outer ones
SCRIPT = 0.7  # \scriptsize (the extractor row) against the table's size

# --- escaping ---------------------------------------------------------------------------------

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
    "<": r"\textless{}",  # OT1 prints < > | as ¡ ¿ —
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': "''",
    "`": r"\textasciigrave{}",
    "±": r"$\pm$",
    "×": r"$\times$",
    "−": r"$-$",
    "—": "---",
    "–": "--",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "→": r"$\rightarrow$",
    "∞": r"$\infty$",
    "≈": r"$^{\approx}$",
    "“": "``",
    "”": "''",
    "‘": "`",
    "’": "'",
    "…": r"\ldots{}",
    "†": r"\textsuperscript{\dag}",
    "‡": r"\textsuperscript{\ddag}",
    "§": r"\textsuperscript{\S}",
    "¶": r"\textsuperscript{\P}",
    "‖": r"\textsuperscript{$\|$}",
    **{ch: rf"\textsuperscript{{{d}}}" for ch, d in zip("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789", strict=True)},
    "⁻": r"\textsuperscript{-}",
}
_TEX_ARROW = {"lower": r"$\downarrow$", "higher": r"$\uparrow$"}
# a command-line flag: typewriter, its two hyphens kept apart (never an en dash)
_FLAG = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")


def _escape_chars(text: str) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ch == "-" and text[i + 1 : i + 2] == "-":
            out.append("-{}")  # "--" would print an en dash
        elif ord(ch) < 0x180 or ch.isspace():  # ASCII and the Latin letters pdflatex's utf8 has
            out.append(" " if ch.isspace() else ch)
        else:
            out.append("?")
    return "".join(out)


def tex_escape(text: str) -> str:
    """Any text as LaTeX that prints it: specials escaped, ``--flag`` in typewriter with its
    hyphens apart, the report's symbols (±, ×, ↓, ∞, ³, †) as their commands."""
    out, pos = [], 0
    for m in _FLAG.finditer(text):
        out.append(_escape_chars(text[pos : m.start()]))
        out.append(rf"\texttt{{-{{}}-{_escape_chars(m.group()[2:])}}}")
        pos = m.end()
    out.append(_escape_chars(text[pos:]))
    return "".join(out)


def _tex_label(slug: str) -> str:
    """A \\label key: escapes do not work inside one, so anything but [A-Za-z0-9:-] becomes -."""
    return re.sub(r"[^A-Za-z0-9:-]", "-", slug)


def _comment(text: str) -> str:
    return "% " + " ".join(text.split())


# --- width ------------------------------------------------------------------------------------


def _widths(groups: dict[float, str]) -> dict[str, float]:
    return {ch: w for w, chars in groups.items() for ch in chars}


# Computer Modern at 10 pt (cmr10, cmbx10), as pdflatex sets each character (\settowidth)
_RM = _widths(
    {
        2.78: "!',.:;[]`il",
        3.06: "j",
        3.33: "- ",
        3.61: "I",
        3.83: "f",
        3.89: "()t",
        3.92: "r",
        3.94: "s",
        4.44: "cez",
        4.72: "?",
        5.0: "*/0123456789ao",
        5.14: "Jg",
        5.28: "kqx",
        5.42: "vy",
        5.56: "Sbdhnpu",
        6.11: "Z",
        6.25: "L",
        6.53: "F",
        6.81: "EP",
        7.08: "B",
        7.22: "CT",
        7.36: "Rw",
        7.5: "AHNUX",
        7.64: "DV",
        7.75: "Y",
        7.78: "+=@KOQ±×−<>|",
        7.85: "G",
        8.33: "m",
        9.17: "M",
        10.0: "∞%&#$",
        10.42: "W",
    }
)
_BF = _widths(
    {
        3.19: "',.:;[]`il",
        3.5: "!",
        3.51: "j",
        3.83: "- ",
        4.36: "I",
        4.47: "()t",
        4.54: "s",
        4.6: "f",
        4.74: "r",
        5.11: "cz",
        5.27: "e",
        5.43: "?",
        5.59: "a",
        5.75: "*/0123456789o",
        5.91: "g",
        5.94: "J",
        6.07: "kqx",
        6.23: "vy",
        6.39: "Sbdhnpu",
        6.92: "L",
        7.03: "Z",
        7.24: "F",
        7.56: "E",
        7.86: "P",
        8.0: "T",
        8.18: "B",
        8.31: "C",
        8.47: "w",
        8.62: "R",
        8.64: "OQ",
        8.69: "AX",
        8.82: "D",
        8.85: "UV",
        8.94: "+=@<>|",
        8.98: "Y",
        9.0: "HN",
        9.01: "K",
        9.04: "G",
        9.58: "m",
        10.92: "M",
        12.05: "W",
    }
)
# what the two tables above do not hold: arrows (math), superscripts (marks, ³), the rest wide
_OTHER = {"↓": 5.0, "↑": 5.0, "±": 7.78, "×": 7.78, "−": 7.78, "∞": 10.0, "≈": 5.5}
_SUPERSCRIPT = "†‡§¶‖⁰¹²³⁴⁵⁶⁷⁸⁹⁻"


def text_pt(text: str, bold: bool = False, italic: bool = False) -> float:
    """Estimated width in pt of ``text`` set in Computer Modern at 10 pt (bold: cmbx10;
    italic about a tenth wider than roman); an unknown character counts as wide."""
    table = _BF if bold else _RM
    total = 0.0
    for ch in text:
        if ch in table:
            total += table[ch]
        elif ch in _OTHER:
            total += _OTHER[ch] * (1.15 if bold else 1.0)
        elif ch in _SUPERSCRIPT:
            total += 4.0
        else:
            total += 10.0 if ord(ch) > 0x17F else 6.5
    return total * (1.1 if italic else 1.0)


@dataclass(frozen=True)
class Tex:
    """A piece of a table: its LaTeX and its estimated natural width in pt."""

    tex: str
    pt: float


def _plain(text: str, bold: bool = False, italic: bool = False) -> Tex:
    tex = tex_escape(text)
    tex = rf"\textbf{{{tex}}}" if bold else rf"\textit{{{tex}}}" if italic else tex
    return Tex(tex, text_pt(text, bold, italic))


# --- what a paper table shows -----------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A column of a paper table: a metric column, or the speed column (``column`` None)."""

    column: Column | None
    fmt: Format

    @property
    def key(self) -> tuple[str, str, str]:
        return self.column.key if self.column else ("latency_ms", "bs=1", "")

    @property
    def variant(self) -> str:
        return self.column.variant if self.column else ""

    @property
    def direction(self) -> str:
        return self.column.direction if self.column else "lower"

    @property
    def extractor(self) -> str | None:
        return self.column.extractor if self.column else None

    @property
    def label(self) -> str:
        """ "FID", "KID ×10³", "Latency (ms)": the header's words, arrow apart."""
        if self.column is None:
            return "Latency (ms)"
        scale = self.fmt.scale_label
        return f"{self.column.metric_label} {scale}" if scale else self.column.metric_label

    def cell(self, row: Row) -> Cell:
        return row.cells[self.key] if self.column else row.speed


def _preferred(cols: list[Column]) -> Column:
    """The paper's extractor where computed (papers.PREFERRED_EXTRACTORS), else the protocol
    classifier: as ``Table.headline`` chooses."""
    rank = {e: i for i, e in enumerate(PREFERRED_EXTRACTORS)}
    return min(cols, key=lambda c: (rank.get(c.extractor or "", 99), c.key))


def _by_variant(cols: list[Col]) -> list[Col]:
    """Columns of one mode or K together (first appearance order), each group in the given
    order, so the header can put one label over each group."""
    order: dict[str, list[Col]] = {}
    for c in cols:
        order.setdefault(c.variant, []).append(c)
    return [c for group in order.values() for c in group]


def selected_columns(table: Table, metrics: Iterable[str]) -> list[Col]:
    """The protocol's headline columns, or every column of each metric asked for (one per mode
    or K, at the paper's extractor), ``all`` for every column, ``latency`` for the speed."""
    metrics = list(metrics)
    if not metrics:
        return _by_variant([Col(c, c.fmt) for c in (table.headline or table.columns)])
    speed = _has_speed(table) and bool({ALL_METRICS, SPEED_METRIC} & set(metrics))
    if ALL_METRICS in metrics:
        head = table.headline
        rest = [c for c in table.columns if c not in head]
        cols = [Col(c, c.fmt) for c in head + rest]
    else:
        cols = []
        for m in metrics:
            variants: dict[str, list[Column]] = {}
            for c in table.columns:
                if c.metric == m:
                    variants.setdefault(c.variant, []).append(c)
            cols += [Col(c, c.fmt) for c in map(_preferred, variants.values())]
    return _by_variant(cols + ([Col(None, table.speed_fmt)] if speed else []))


def _requested_missing(table: Table, metrics: Iterable[str]) -> dict[str, list[Column]]:
    """reason -> the asked-for columns no baseline could compute (dropped from the table)."""
    metrics = list(metrics)
    heads = set(HEADLINES.get(table.protocol, ()))
    out: dict[str, list[Column]] = {}
    for reason, cols in table.not_computed.items():
        for c in cols:
            asked = (
                ALL_METRICS in metrics or c.metric in metrics
                if metrics
                else (c.metric, c.variant) in heads
            )
            present = any((x.metric, x.variant) == (c.metric, c.variant) for x in table.columns)
            if asked and not present:
                out.setdefault(reason, []).append(c)
    return out


def selected_rows(table: Table, baselines: Iterable[str]) -> list[Row]:
    """Methods then oracles; ``baselines`` picks and orders them, else every row with the
    highlighted method last among the methods (where a paper puts its own)."""
    baselines = list(baselines)
    if baselines:
        by_id = {r.baseline: r for r in table.rows}
        rows = [by_id[b] for b in baselines if b in by_id]
    else:
        rows = sorted(table.rows, key=lambda r: r.highlight)
    return [r for r in rows if not r.oracle] + [r for r in rows if r.oracle]


def _ranks(table: Table, rows: list[Row], cols: list[Col]) -> dict[int, int | None]:
    """id(cell) -> 1 best, 2 second among the methods shown (``Cell.rank`` when they are all
    of the table's methods; else decided again, on the printed values, among those shown)."""
    shown = [r for r in rows if not r.oracle]
    everyone = {r.baseline for r in shown} == {r.baseline for r in table.rows if not r.oracle}
    out: dict[int, int | None] = {}
    for col in cols:
        cells = [col.cell(r) for r in shown]
        if everyone:
            out.update({id(c): c.rank for c in cells})
            continue
        scored = [c for c in cells if c.summary is not None]
        means = [c.summary.mean for c in scored if c.summary is not None]
        for c, rank in zip(scored, ranks(means, col.direction, col.fmt), strict=True):
            out[id(c)] = rank
    return out


# --- one table --------------------------------------------------------------------------------

_VARIANT_WORDS = {"latent": "latent-guided synthesis", "reference": "reference-guided synthesis"}
_VARIANT_HEAD = {"latent": "Latent-guided", "reference": "Reference-guided"}
_EXTRACTORS = {  # feature extractor id -> (the caption's words, the header's short name)
    "inception-v3-compat": ("Inception-v3 features (torch-fidelity weights)", "torch-fidelity"),
    "inception-v3-torchvision": ("Inception-v3 features (torchvision weights)", "torchvision"),
}


def _k(variant: str) -> str | None:
    m = re.fullmatch(r"k=(\d+)", variant)
    return m.group(1) if m else None


def variant_scope(variant: str) -> str:
    """A mode or K as a caption says it: "latent-guided synthesis", "K = 5 shots"."""
    if variant in _VARIANT_WORDS:
        return _VARIANT_WORDS[variant]
    k = _k(variant)
    if k is not None:
        return f"K = {k} shot{'s' * (k != '1')}"
    return variant.replace("_", " ")


def _variant_head(variant: str) -> Tex:
    if variant in _VARIANT_HEAD:
        return _plain(_VARIANT_HEAD[variant])
    k = _k(variant)
    if k is not None:
        return Tex(f"$K={k}$", text_pt(f"K={k}") * 1.1)
    return _plain(variant.replace("_", " "))


def _variant_slug(variant: str) -> str:
    """ "latent", "k5", "blond-hair": the label's suffix for a part of one mode or K."""
    return re.sub(r"[^a-z0-9]+", "-", variant.lower().replace("=", "")).strip("-")


def _extractor_words(table: Table, ext: str) -> tuple[str, str]:
    """(caption words, header short name) of a feature extractor; the protocol classifier's
    held-out accuracy and, for a classifier other than the pinned one, that it is local."""
    if ext in _EXTRACTORS:
        return _EXTRACTORS[ext]
    if not is_protocol_extractor(ext):
        return f"{ext} features", ext
    words = "the protocol classifier's features"
    acc = [
        f"{v.replace('top', 'top-')} {Format(3).num(c.summary.mean)}"
        for (e, v), c in table.classifier.items()
        if e == ext and v and c.summary is not None
    ]
    more = [f"held-out {', '.join(acc)}"] if acc else []
    more += [] if table.official_instrument(ext) else [LOCAL_LABEL]
    return words + (f" ({'; '.join(more)})" if more else ""), "classifier"


NEAR_MARK = Tex(r"$^{\approx}$", 5.5)
NEAR_NOTE = "not significantly worse than the best"


def _number(cell: Cell, col: Col, rank: int | None, near: bool = False) -> Tex:
    """ "16.20 ± 0.20" at the column's format, bold when best, underlined when second, and
    ``NEAR_MARK`` when not significantly worse than the best."""
    s = cell.summary
    assert s is not None
    mean, std = col.fmt.mean_std(s)
    text = (f"{mean} ± {std}" if std else mean).replace("-", "−")  # a minus, not a hyphen
    piece = _plain(text, bold=rank == 1)
    if rank == 2:
        piece = Tex(rf"\underline{{{piece.tex}}}", piece.pt)
    return Tex(piece.tex + NEAR_MARK.tex, piece.pt + NEAR_MARK.pt) if near else piece


def _note(cell: Cell, seeds: int | None, names: dict[str, str]) -> str | None:
    """What a mark below the table says about a cell that is not a plain number."""
    s = cell.summary
    if cell.failures:
        reasons = sorted({short_reason(m, names) for m in cell.failures.values()})
        if s is None:
            word = "not computed" if cell.status == "skipped" else "failed"
            return f"{word}: {'; '.join(reasons)}"
        bad = sorted(cell.failures)
        which = f"seed{'s' * (len(bad) > 1)} {', '.join(map(str, bad))}"
        return f"mean over {s.n} of {s.n + len(bad)} seeds ({which}: {'; '.join(reasons)})"
    if s is not None and seeds is not None and s.n != seeds:
        return f"mean over {s.n} seed{'s' * (s.n != 1)}"
    return None


def _absent(cell: Cell) -> bool:
    """No number because none applies: no record, or a mode the method takes no input for."""
    return cell.status == "missing" or not_applicable(cell)


def _mark_tex(m: str) -> Tex:
    return Tex(tex_escape(m), 4.0 * len(m))


def _header_cell(col: Col, content_pt: float) -> Tex:
    """The metric's label and direction; on two lines (a nested tabular) when one line would
    be the widest thing in its column and the label has a space to break at."""
    words = col.label.split(" ")
    arrow = _TEX_ARROW[col.direction]
    one = Tex(f"{tex_escape(col.label)} {arrow}", text_pt(col.label + " ↓"))
    if one.pt <= content_pt or len(words) < 2:
        return one
    best = min(
        range(1, len(words)),
        key=lambda i: max(text_pt(" ".join(words[:i])), text_pt(" ".join(words[i:]) + " ↓")),
    )
    top, bottom = " ".join(words[:best]), " ".join(words[best:])
    tex = rf"\begin{{tabular}}[b]{{@{{}}c@{{}}}}{tex_escape(top)}\\{tex_escape(bottom)} {arrow}"
    return Tex(tex + r"\end{tabular}", max(text_pt(top), text_pt(bottom + " ↓")))


@dataclass
class Built:
    """A tabular, its estimated width, the notes its marks point to, and what the caption and
    the comments above it say."""

    lines: list[str]
    width_pt: float
    notes: list[tuple[str, str]]  # (mark, note)
    extractors: list[str] = field(default_factory=list)
    extractor_row: bool = False
    ranked: bool = False
    near: bool = False  # some cell is marked not significantly worse than the best
    rows: int = 0  # rows printed (a row with no number in any of the columns is left out)


def build_tabular(
    table: Table,
    cols: list[Col],
    rows: list[Row],
    one_variant: bool,
    seeds: int | None = None,
) -> Built:
    """The tabular of ``cols`` x ``rows`` (rows without a number or a failure in any of the
    columns left out), and its width estimate: every column's widest cell and header plus
    \\tabcolsep either side (none outside, ``@{}``)."""
    rows = [r for r in rows if not all(_absent(c.cell(r)) for c in cols)]
    seeds = table.seed_count if seeds is None else seeds  # the table's usual count (caption)
    names = display_names(table)
    ranked = _ranks(table, rows, cols)
    # the significance test is of the whole column: shown only when every method is
    everyone = {r.baseline for r in rows if not r.oracle} == {
        r.baseline for r in table.rows if not r.oracle
    }
    near_any = False
    notes: dict[str, str] = {}  # note -> mark, in order of first use

    def marked(note: str | None) -> Tex | None:
        if note is None:
            return None
        notes.setdefault(note, mark(len(notes)))
        return _mark_tex(notes[note])

    body: list[tuple[Tex, list[Tex] | Tex]] = []  # (name, cells or one merged cell)
    for row in rows:
        name = _plain(row.name, bold=row.highlight and not row.oracle, italic=row.oracle)
        cells = [col.cell(row) for col in cols]
        shared = {(c.status, c.reason) for c in cells}
        if len(cells) > 1 and all(c.summary is None and c.failures for c in cells):
            if len(shared) == 1:
                m = marked(_note(cells[0], seeds, names))
                word = "not computed" if cells[0].status == "skipped" else "failed"
                text = _plain(word, italic=True)
                tex = text.tex + (m.tex if m else "")
                body.append((name, Tex(tex, text.pt + (m.pt if m else 0.0))))
                continue
        pieces = []
        for col, cell in zip(cols, cells, strict=True):
            if _absent(cell):
                pieces.append(Tex("--", 5.0))
                continue
            m = marked(_note(cell, seeds, names))
            near = everyone and cell.near_best
            near_any |= near
            piece = (
                Tex("--", 5.0)
                if cell.summary is None
                else _number(cell, col, ranked.get(id(cell)), near)
            )
            pieces.append(Tex(piece.tex + (m.tex if m else ""), piece.pt + (m.pt if m else 0.0)))
        body.append((name, pieces))

    # widths: the widest cell of each column (a merged cell spreads over them all)
    content = [
        max((p[i].pt for _, p in body if isinstance(p, list)), default=5.0)
        for i in range(len(cols))
    ]
    merged = max((p.pt for _, p in body if isinstance(p, Tex)), default=0.0)
    heads = [_header_cell(col, content[i]) for i, col in enumerate(cols)]
    widths = [max(content[i], heads[i].pt) for i in range(len(cols))]
    pair_ext = {}
    for c in cols:
        if c.column is not None and c.extractor:
            pair_ext.setdefault((c.column.metric, c.variant), set()).add(c.extractor)
    extractor_row = any(len(v) > 1 for v in pair_ext.values())
    short = [
        _extractor_words(table, c.extractor)[1] if extractor_row and c.extractor else ""
        for c in cols
    ]
    widths = [max(w, text_pt(s) * SCRIPT) for w, s in zip(widths, short, strict=True)]
    groups: list[tuple[str, int]] = []  # (variant, columns), consecutive
    for c in cols:
        if groups and groups[-1][0] == c.variant:
            groups[-1] = (c.variant, groups[-1][1] + 1)
        else:
            groups.append((c.variant, 1))
    group_row = not one_variant and any(v for v, _ in groups)
    if group_row:  # a group label wider than its columns widens the last of them
        at = 0
        for variant, n in groups:
            span = sum(widths[at : at + n]) + 2 * TABCOLSEP_PT * (n - 1)
            need = _variant_head(variant).pt if variant else 0.0
            widths[at + n - 1] += max(0.0, need - span)
            at += n
    name_pt = max([text_pt("Method")] + [n.pt for n, _ in body])
    total_cols = sum(widths) + 2 * TABCOLSEP_PT * (len(cols) - 1)
    if merged > total_cols:  # a merged "failed" wider than the columns it spans
        widths[-1] += merged - total_cols
    width = name_pt + sum(widths) + 2 * TABCOLSEP_PT * len(cols)

    lines = [rf"\begin{{tabular}}{{@{{}}l{'c' * len(cols)}@{{}}}}", r"\toprule"]
    if group_row:
        spans, rules, at = [], [], 2
        for variant, n in groups:
            label = _variant_head(variant).tex if variant else ""
            spans.append(rf"\multicolumn{{{n}}}{{c}}{{{label}}}")
            if variant:
                rules.append(rf"\cmidrule(lr){{{at}-{at + n - 1}}}")
            at += n
        lines += [" & " + " & ".join(spans) + r" \\", " ".join(rules)]
    lines.append("Method & " + " & ".join(h.tex for h in heads) + r" \\")
    if extractor_row:
        cells = [rf"{{\scriptsize {tex_escape(s)}}}" if s else "" for s in short]
        lines.append(" & " + " & ".join(cells) + r" \\")
    lines.append(r"\midrule")
    methods = sum(1 for r in rows if not r.oracle)
    for i, (name, pieces) in enumerate(body):
        if i == methods and 0 < methods:
            lines.append(r"\midrule")
        if isinstance(pieces, Tex):
            cells_tex = rf"\multicolumn{{{len(cols)}}}{{c}}{{{pieces.tex}}}"
        else:
            cells_tex = " & ".join(p.tex for p in pieces)
        lines.append(f"{name.tex} & {cells_tex} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    extractors = list(dict.fromkeys(c.extractor for c in cols if c.extractor))
    return Built(
        lines=lines,
        width_pt=width,
        notes=[(m, n) for n, m in notes.items()],
        extractors=extractors,
        extractor_row=extractor_row,
        ranked=any(v in (1, 2) for v in ranked.values()),
        near=near_any,
        rows=len(rows),
    )


def _fits(built: Built) -> bool:
    return built.width_pt <= FILL * TEXT_WIDTH_PT


@dataclass
class Part:
    """One printed table: a protocol's columns, or the share of them a split gave it."""

    table: Table
    cols: list[Col]
    rows: list[Row]
    label: str
    scope: list[str]  # caption words for the share ("latent-guided synthesis", "continued")
    built: Built


def _groups(cols: list[Col]) -> list[tuple[str, list[Col]]]:
    out: dict[str, list[Col]] = {}
    for c in cols:
        out.setdefault(c.variant, []).append(c)
    return list(out.items())


def _packs(units: list[list[Col]], fits: Callable[[list[Col]], bool]) -> list[list[list[Col]]]:
    """Consecutive units (columns, or a mode's or a K's columns) packed into as few tables as a
    greedy pass needs, as even in size as that many allows (4 + 3 columns, not 6 + 1); a unit
    too wide alone is a pack of its own."""

    def flat(pack: list[list[Col]]) -> list[Col]:
        return [c for unit in pack for c in unit]

    greedy: list[list[list[Col]]] = [[]]
    for unit in units:  # a unit joins the pack while the pack still fits
        if greedy[-1] and not fits(flat(greedy[-1]) + unit):
            greedy.append([])
        greedy[-1].append(unit)
    k = len(greedy)
    sizes = [len(units) // k + (i < len(units) % k) for i in range(k)]
    even = [units[sum(sizes[:i]) : sum(sizes[: i + 1])] for i in range(k)]
    return even if all(fits(flat(p)) for p in even) else greedy


def _scope(variants: list[str]) -> list[str]:
    """Caption words for the modes or K a part holds: "latent-guided synthesis", "K = 1, 5
    shots"; none where the header's group row names them (modes, attributes) or for a part
    with the unvaried columns."""
    if not variants or "" in variants:
        return []
    if len(variants) == 1:
        return [variant_scope(variants[0])]
    ks = [_k(v) for v in variants]
    return [f"K = {', '.join(k for k in ks if k)} shots"] if all(ks) else []


def split(table: Table, cols: list[Col], rows: list[Row]) -> list[Part]:
    """The table as it fits the text: whole; else its headline columns and the rest apart;
    then modes or K apart (consecutive ones together while they fit); then a mode's columns in
    chunks (never scaled). Labels are ``tab:<protocol>`` and a suffix per split (``-more``,
    ``-latent``, ``-k5``, ``-k1-k10`` for K = 1 to 10 together, ``-2`` for a second chunk)."""
    base = f"tab:{_tex_label(table.protocol)}"

    seeds = table.seed_count

    def build(cs: list[Col]) -> Built:
        one = len({c.variant for c in cs}) == 1
        return build_tabular(table, cs, rows, one_variant=one, seeds=seeds)

    def fits(cs: list[Col]) -> bool:
        return _fits(build(cs))

    def part(cs: list[Col], suffix: list[str], scope: list[str]) -> Part:
        variants = list(dict.fromkeys(c.variant for c in cs))
        label = "-".join([base, *suffix])
        return Part(table, cs, rows, label, _scope(variants) + scope, build(cs))

    if fits(cols):
        return [part(cols, [], [])]
    head = {c.key for c in table.headline}
    classes = [
        ([], [], [c for c in cols if c.key in head]),
        (["more"], ["further metrics"], [c for c in cols if c.key not in head]),
    ]
    classes = [x for x in classes if x[2]]
    if len(classes) == 1:
        classes = [([], [], cols)]
    out = []
    for suffix, scope, class_cols in classes:
        if fits(class_cols):
            out.append(part(class_cols, suffix, scope))
            continue
        groups = _groups(class_cols)
        for pack in _packs([g for _, g in groups], fits):
            variants = [g[0].variant for g in pack]
            slugs = [_variant_slug(v) for v in (variants[0], variants[-1]) if v]
            vsuffix = suffix + (list(dict.fromkeys(slugs)) if len(groups) > 1 else [])
            flat = [c for g in pack for c in g]
            if len(pack) > 1 or fits(flat):
                out.append(part(flat, vsuffix, scope))
                continue
            chunks = _packs([[c] for c in flat], fits)
            for i, chunk in enumerate(chunks):
                more = [str(i + 1)] if i else []
                cs = [c for unit in chunk for c in unit]
                out.append(part(cs, vsuffix + more, scope + (["continued"] if i else [])))
    return out


# --- captions and notes -----------------------------------------------------------------------


def _seeds_words(table: Table) -> str:
    n = table.seed_count
    counts = sample_counts(table)
    of = f" of {counts}" if counts else ""
    if n is None:
        return ""
    if n == 1:
        return f"One seed{of} (no std)"
    return f"Mean ± std over {n} seeds{of}"


def _device(table: Table) -> str:
    found = {str(r.provenance.get("device")) for r in table.records if r.metric == "latency_ms"}
    found.discard("None")
    return found.pop() if len(found) == 1 else ""


def caption(p: Part) -> str:
    """Two sentences a reader needs: which protocol (and which share of it), the preset and
    whether the data is the synthetic twin; then seeds and samples, the feature extractor
    (the protocol classifier's held-out accuracy), and what bold and underline mean."""
    t = p.table
    what = ", ".join([protocol_title(t), *p.scope])
    made = preset(t)
    where = []
    if made:
        where.append(f"{made} preset")
    if t.synthetic:
        where.append("on the synthetic twin" if made else "synthetic twin")
    first = f"{what}: {' '.join(where)}." if where else f"{what}."
    second = [s for s in [_seeds_words(t)] if s]
    by_ext: dict[str, list[str]] = {}
    for c in p.cols:
        if c.column is not None and c.extractor:
            by_ext.setdefault(c.extractor, [])
            if c.column.metric_label not in by_ext[c.extractor]:
                by_ext[c.extractor].append(c.column.metric_label)
    for ext, labels in by_ext.items():
        words, short = _extractor_words(t, ext)
        shown = f" (“{short}” in the header)" if p.built.extractor_row else ""
        second.append(f"{', '.join(labels)} on {words}{shown}")
    if any(c.column is None for c in p.cols):
        device = _device(t)
        second.append("latency of one image" + (f" on {device}" if device else ""))
    if p.built.ranked:
        second.append("best in bold, second underlined")
    if p.built.near:
        second.append(
            "≈ not significantly worse than the best (one-sided paired t-test over seeds, "
            "Holm-corrected, alpha 0.05)"
        )
    if any(r.oracle for r in p.rows):
        second.append("oracles in italics, not ranked")
    text = first + (" " + "; ".join(second) + "." if second else "")
    return tex_escape(text)


def _comments(p: Part, first: bool) -> list[str]:
    """For the author, never printed: the protocol hash, whose code the protocol follows, the
    protocol classifier (its id, held-out accuracy and whether it is the pinned file, em dashes
    as TeX writes them), the extractors' weights, and every reason in full."""
    t = p.table
    out = [_comment(f"{p.label}: {t.protocol} @ {t.protocol_hash} (protocol hash)")]
    if first:
        how = fidelity_line(t)
        out += [_comment(how + ".")] if how else []
        clf = classifier_line(t)
        out += [_comment(clf.replace("—", "---") + ".")] if clf else []
        for ext in p.built.extractors:
            prov = distinct_provenance(
                r for r in t.records if r.extractor == ext and r.status == "ok"
            )
            sha = prov.get("extractor.weights_sha256") or prov.get("weights_sha256") or []
            out.append(
                _comment(f"extractor {ext}" + (f", weights sha256 {', '.join(sha)}" if sha else ""))
            )
        out += [_comment(f"not computed: {n}") for n in not_computed_notes(t)]
    reasons = sorted(
        {
            f"{c.cell(r).status}: {c.cell(r).reason}"
            for r in p.rows
            for c in p.cols
            if c.cell(r).failures and not not_applicable(c.cell(r))
        }
    )
    out += [_comment(r) for r in reasons]
    return out


def render_part(p: Part, first: bool, missing: dict[str, list[Column]]) -> list[str]:
    notes = [rf"{tex_escape(m)}\,{tex_escape(n)}" for m, n in p.built.notes]
    names = display_names(p.table)
    if first:
        for reason, cols in missing.items():
            labels = ", ".join(dict.fromkeys(c.metric_label for c in cols))
            notes.append(tex_escape(f"{labels} not computed: {short_reason(reason, names)}"))
    out = _comments(p, first) + [
        r"\begin{table}[tbp]",
        r"\centering",
        r"\small",
        rf"\caption{{{caption(p)}}}",
        rf"\label{{{p.label}}}",
        *p.built.lines,
    ]
    if notes:
        body = "; ".join(notes)
        out.append(rf"\par\smallskip{{\footnotesize\raggedright {body}.\par}}")
    return out + [r"\end{table}", ""]


def paper_parts(results: Results) -> list[Part]:
    """Every printed table of tables.tex, in order."""
    out = []
    for t in results.tables:
        if not t.current:
            continue
        cols = selected_columns(t, results.selection.metrics)
        rows = selected_rows(t, results.selection.baselines)
        if cols and rows:  # a part whose columns none of the rows has is left out
            out += [p for p in split(t, cols, rows) if p.built.rows]
    return out


def latex(results: Results, parts: list[Part] | None = None) -> str:
    """tables.tex: needs ``\\usepackage{booktabs}`` only."""
    parts = paper_parts(results) if parts is None else parts
    out = [
        "% Generated by `python -m benchmark report`; needs \\usepackage{booktabs}.",
        f"% Sized for a {TEXT_WIDTH_IN}in text (paper.tex sets it); split, never scaled.",
        "% Mean $\\pm$ std over seeds; best per column in bold, second underlined; oracles"
        " below the rule, never ranked.",
        _comment(f"records: {results.root}"),
    ]
    old = [t for t in results.tables if not t.current]
    out += [
        _comment(
            f"left out: {t.protocol} @ {t.protocol_hash}, an older protocol version "
            f"(current is {t.current_hash}; see leaderboard.md)"
        )
        for t in old
    ]
    shown = {p.table.slug for p in parts}
    out += [
        _comment(f"left out: {t.protocol} @ {t.protocol_hash}, no column or row selected")
        for t in results.tables
        if t.current and t.slug not in shown
    ]
    out.append("")
    seen: set[str] = set()
    for p in parts:
        first = p.table.slug not in seen
        seen.add(p.table.slug)
        missing = _requested_missing(p.table, results.selection.metrics)
        out += render_part(p, first, missing)
    return "\n".join(out)


def paper(results: Results, parts: list[Part] | None = None) -> str:
    """paper.tex: an article at the text width the tables were sized for, inputting them."""
    floats = len(paper_parts(results) if parts is None else parts) + 20
    margin = (8.5 - TEXT_WIDTH_IN) / 2 - 1  # centred on letter paper (1in is LaTeX's offset)
    return "\n".join(
        [
            "% Generated by `python -m benchmark report`: every table of tables.tex at the text",
            f"% width it was sized for ({TEXT_WIDTH_IN}in). Compile beside it: pdflatex paper.tex",
            r"\documentclass{article}",
            r"\usepackage{booktabs}",
            rf"\setlength{{\textwidth}}{{{TEXT_WIDTH_IN}in}}",
            rf"\setlength{{\oddsidemargin}}{{{margin}in}}",
            rf"\setlength{{\evensidemargin}}{{{margin}in}}",
            rf"\extrafloats{{{floats}}}",
            r"\begin{document}",
            r"\input{tables.tex}",
            r"\end{document}",
            "",
        ]
    )


def write_paper(out_dir: str | Path, results: Results) -> list[Path]:
    """Write tables.tex and paper.tex into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    tables_tex, paper_tex = out / "tables.tex", out / "paper.tex"
    parts = paper_parts(results)
    atomic_write_text(tables_tex, latex(results, parts))
    atomic_write_text(paper_tex, paper(results, parts))
    return [tables_tex, paper_tex]
