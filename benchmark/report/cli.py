"""``python -m benchmark report RESULTS_DIR [--out DIR] [--metrics M,M] [--baselines A,B]
[--names ID=NAME,...] [--highlight ID] [--digits N] | --compare A B [--protocol P] [--metric M]]``:
render every report (the paper tables shaped by the options), or answer "is A better than B"
with p-values."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmark import stats
from benchmark.errors import UserError, output_folder
from benchmark.report.model import Cell, Column, Results, Table, collect


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="render the leaderboard (HTML, Markdown, LaTeX, CSV) or compare two baselines",
        description=(
            "Render the leaderboard from the records in RESULTS_DIR, or, with --compare A B, "
            "run paired tests over shared seeds and print whether A is better than B."
        ),
    )
    p.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    p.add_argument("--out", type=Path, default=None, help="output folder (RESULTS_DIR/report)")
    p.add_argument(
        "--metrics",
        metavar="M,M",
        help="paper tables' columns: metric names (fid,lpips_diversity), 'all' for every column, "
        "'latency' for speed (default: each protocol's headline, its source paper's columns)",
    )
    p.add_argument(
        "--baselines",
        metavar="A,B",
        help="paper tables' rows, in this order (default: every baseline)",
    )
    p.add_argument(
        "--names",
        action="append",
        metavar="ID=NAME,...",
        help='display names instead of those the records carry: munit=MUNIT,mine="Ours (full)"',
    )
    p.add_argument(
        "--highlight",
        metavar="ID",
        help="your method: its name in bold, last among the methods, shown as 'Ours' unless "
        "--names names it",
    )
    p.add_argument(
        "--digits",
        metavar="N",
        help="decimals of every metric column, 0 to 6 (default: per column, from its largest "
        "value: about four significant figures)",
    )
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare baseline A with B")
    p.add_argument("--protocol", help="with --compare: a protocol name, name-hash or hash")
    p.add_argument("--metric", help='with --compare: a metric ("fid") or column label')
    p.set_defaults(func=run)


RENDER_OPTIONS = ("metrics", "baselines", "names", "highlight", "digits")
MAX_DIGITS = 6


def _list(flag: str, value: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(x.strip() for x in value.split(",") if x.strip()))
    if not items:
        raise UserError(f"{flag}: give one or more names separated by commas, got '{value}'")
    return items


def _split_unquoted(text: str) -> list[str]:
    """Split at commas outside double or single quotes: mine="Ours, full",munit=MUNIT."""
    parts, current, quote = [], [], ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if quote:
        raise UserError(f"--names: unbalanced {quote} in '{text}'")
    return parts + ["".join(current)]


def parse_names(values: list[str]) -> dict[str, str]:
    """``ID=NAME`` pairs, comma separated (a NAME with a comma or spaces in quotes), from one
    or more ``--names``; anything else is a one-line UserError."""
    names: dict[str, str] = {}
    for value in values:
        for item in _split_unquoted(value):
            if not item.strip():
                continue
            key, eq, name = item.partition("=")
            key, name = key.strip(), name.strip()
            if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
                name = name[1:-1].strip()
            if not eq or not key or not name:
                raise UserError(
                    f"--names: expected ID=NAME[,ID=NAME...] (munit=MUNIT), got '{item.strip()}'"
                )
            names[key] = name
    return names


def render_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options that shape the rendered report, as ``collect`` takes them (only those
    given); a malformed value is a one-line UserError naming its flag."""
    given = [f"--{o}" for o in RENDER_OPTIONS if getattr(args, o) is not None]
    if args.compare is not None:
        if given:
            raise UserError(f"{', '.join(given)}: shape the rendered report, not --compare")
        return {}
    if args.protocol or args.metric:
        raise UserError("--protocol and --metric only apply with --compare A B")
    options: dict[str, Any] = {}
    if args.metrics is not None:
        options["metrics"] = _list("--metrics", args.metrics)
    if args.baselines is not None:
        options["baselines"] = _list("--baselines", args.baselines)
    if args.names is not None:
        options["names"] = parse_names(args.names)
    if args.highlight is not None:
        if not args.highlight.strip():
            raise UserError("--highlight: give a baseline id")
        options["highlight"] = args.highlight.strip()
    if args.digits is not None:
        try:
            digits = int(args.digits)
        except ValueError:
            digits = -1
        if not 0 <= digits <= MAX_DIGITS:
            raise UserError(f"--digits: a whole number from 0 to {MAX_DIGITS}, got '{args.digits}'")
        options["digits"] = digits
    return options


def run(args: argparse.Namespace) -> int:
    options = render_options(args)
    if args.compare is None:
        from benchmark.report import render_all

        if not Path(args.results_dir).is_dir():
            raise UserError(
                f"results folder {args.results_dir} does not exist; run `python run_all.py` first"
            )
        out = args.out if args.out is not None else Path(args.results_dir) / "report"
        output_folder(out, "--out")
        page = render_all(args.results_dir, out, **options)
        print(f"leaderboard: {page}")
        also = ("leaderboard.md", "tables.tex", "paper.tex", "results.csv")
        print(f"also: {', '.join(str(out / name) for name in also)}")
        return 0
    a, b = args.compare
    print("\n".join(compare(collect(args.results_dir), a, b, args.protocol, args.metric)))
    return 0


def _table_matches(t: Table, protocol: str | None) -> bool:
    return protocol is None or protocol in (t.protocol, t.slug, t.protocol_hash)


def _column_matches(c: Column, metric: str | None) -> bool:
    if metric is None:
        return True
    m = metric.lower()
    return m in (c.metric.lower(), c.name.lower(), c.label.lower())


def compare(
    results: Results, a: str, b: str, protocol: str | None = None, metric: str | None = None
) -> list[str]:
    """Paired tests of A against B in every (protocol version, column) both have numbers for."""
    known = sorted({r.baseline for r in results.records})
    for name in (a, b):
        if name not in known:
            raise UserError(
                f"no records for baseline '{name}' in {results.root}; known: {', '.join(known)}"
            )
    tables = [t for t in results.tables if _table_matches(t, protocol)]
    if not tables:
        names = sorted({t.slug for t in results.tables})
        raise UserError(f"no protocol matches --protocol {protocol}; known: {', '.join(names)}")
    lines: list[str] = []
    verdicts: list[str] = []
    for t in tables:
        rows = {r.baseline: r for r in t.rows}
        if a not in rows or b not in rows:
            continue
        pairs: list[tuple[str, str, Cell, Cell]] = [
            (c.label, c.direction, rows[a].cells[c.key], rows[b].cells[c.key])
            for c in t.columns
            if _column_matches(c, metric)
        ]
        if metric is None or metric.lower() in ("latency", "latency_ms", "speed"):
            pairs.append(("latency bs=1 (ms)", "lower", rows[a].speed, rows[b].speed))
        found = []
        for label, direction, ca, cb in pairs:
            if not ca.by_seed or not cb.by_seed:
                continue
            res = stats.paired_test(ca.by_seed, cb.by_seed, direction, a=a, b=b)
            found.append("  " + stats.describe(res, label))
            verdicts.append(res.verdict)
        if found:
            lines += [t.title] + found
    if not verdicts:
        where = f" on {protocol}" if protocol else ""
        what = f" for metric {metric}" if metric else ""
        raise UserError(
            f"{a} and {b} share no scored column{where}{what} in {results.root}; "
            "check the names with `python -m benchmark report RESULTS_DIR`"
        )
    counts = {v: verdicts.count(v) for v in ("better", "worse", "undecided", "tie")}
    lines.append(
        f"summary: {a} better in {counts['better']}, worse in {counts['worse']}, "
        f"not significantly different in {counts['undecided'] + counts['tie']} of "
        f"{len(verdicts)} comparisons (p-values are per comparison, not corrected for "
        "multiple comparisons)"
    )
    return lines
