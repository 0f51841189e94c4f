"""``python -m benchmark report RESULTS_DIR [--out DIR] [--compare A B [--protocol P]
[--metric M]]``: render every report, or answer "is A better than B" with p-values."""

from __future__ import annotations

import argparse
from pathlib import Path

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
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare baseline A with B")
    p.add_argument("--protocol", help="with --compare: a protocol name, name-hash or hash")
    p.add_argument("--metric", help='with --compare: a metric ("fid") or column label')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.compare is None:
        if args.protocol or args.metric:
            raise UserError("--protocol and --metric only apply with --compare A B")
        from benchmark.report import render_all

        if not Path(args.results_dir).is_dir():
            raise UserError(
                f"results folder {args.results_dir} does not exist; run `python run_all.py` first"
            )
        out = args.out if args.out is not None else Path(args.results_dir) / "report"
        output_folder(out, "--out")
        page = render_all(args.results_dir, out)
        print(f"leaderboard: {page}")
        print(f"also: {out / 'leaderboard.md'}, {out / 'tables.tex'}, {out / 'results.csv'}")
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
