"""``python -m benchmark study make``: a self-contained study folder from the samples a run saved.

A run saves, for its first inputs, ``samples/<protocol>-<hash>/<baseline>/seed<k>/<task>--<mode>/
<NNNN>/{input,out_00,...,target,ref_00}.png`` (``benchmark.sampling.save_samples``). A study
draws its trials from those folders (each baseline at its lowest seed, as the sample grids do)
and writes:

- ``trials.json``: every trial with its kind, images, correct side and methods (for the
  analysis; never served to participants);
- ``study.json``: what the page needs (images, practice answers only, the seed for each
  participant's order and swaps; no method names, no test or catch answers);
- ``trials.csv``: one row per trial, image URLs relative to the folder, for crowdsourcing
  platforms that run their own page;
- ``index.html``, ``study.js``, ``study.css`` and ``images/``: the page, offline, and every image
  under a name made of its content hash, so neither the URL nor the file name gives away a method
  or which image is real.

Designs: ``real-vs-fake`` (pix2pix, BicycleGAN: a real image against a method's output, "which
is real?") and ``method-vs-method`` (MUNIT: the input and two methods' outputs for it, "which
looks more realistic?"). Catch trials pit an image against a flat grey or heavily blurred copy;
their answer is known, so the analysis can drop participants who were not looking.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
import os
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter, UnidentifiedImageError

from benchmark import records
from benchmark.errors import UserError
from benchmark.study.order import fnv1a32, mulberry32, shuffle

log = logging.getLogger("benchmark")

DESIGNS = ("real-vs-fake", "method-vs-method")
PRESENTATIONS = ("side-by-side", "sequential")
GROUND_TRUTH = "ground_truth"  # the paired target (target.png)
RANDOM_REAL = "random_real"  # the oracle returning a real image of the target domain
REAL_SOURCES = (GROUND_TRUTH, RANDOM_REAL)
QUESTIONS = {
    "real-vs-fake": "Which image is real?",
    "method-vs-method": "Which image looks more realistic and matches the input better?",
}
PAGE_DIR = Path(__file__).parent / "page"
PAGE_FILES = ("index.html", "study.js", "study.css")
ANSWERS = "answers.jsonl"
MAX_SEED = 2**31 - 1

Key = tuple[str, str]  # (task--mode, input folder "0003")


@dataclass(frozen=True)
class StudyOptions:
    """What ``study make`` was asked for; the defaults follow pix2pix's AMT study."""

    results: Path
    protocol: str
    design: str
    methods: tuple[str, ...]
    out: Path
    against: str | None = None
    trials: int = 40
    practice: int = 10
    display_ms: int = 1000
    catch_rate: float = 0.1
    seed: int = 0
    name: str | None = None
    tasks: tuple[str, ...] = ()
    display_px: int = 256
    presentation: str = "side-by-side"
    question: str | None = None


@dataclass
class Baseline:
    """One baseline's saved samples at its lowest seed with any: input folder per key."""

    name: str
    seed_dir: Path | None
    folders: dict[Key, Path] = field(default_factory=dict)

    def outputs(self, key: Key) -> list[Path]:
        folder = self.folders.get(key)
        return sorted(folder.glob("out_[0-9][0-9].png")) if folder else []

    def with_outputs(self) -> dict[Key, list[Path]]:
        found = {key: self.outputs(key) for key in sorted(self.folders)}
        return {key: outs for key, outs in found.items() if outs}


@dataclass
class Trial:
    kind: str  # practice | test | catch
    left: Path | bytes
    right: Path | bytes
    correct: str | None
    method: str | None
    against: str | None
    task: str | None
    input: Path | None = None
    left_source: str = ""
    right_source: str = ""
    id: str = ""


# --- reading the samples ------------------------------------------------------------------------


def _seed_of(path: Path) -> int:
    m = re.fullmatch(r"seed(\d+)", path.name)
    return int(m.group(1)) if m else -1


def _index(base_dir: Path) -> Baseline:
    seeds = sorted((p for p in base_dir.iterdir() if _seed_of(p) >= 0), key=_seed_of)
    for seed_dir in seeds:
        folders = {
            (tm.name, d.name): d
            for tm in sorted(p for p in seed_dir.iterdir() if p.is_dir() and "--" in p.name)
            for d in sorted(tm.iterdir())
            if d.is_dir() and d.name.isdigit()
        }
        if folders:
            return Baseline(base_dir.name, seed_dir, folders)
    return Baseline(base_dir.name, None)


def _written_at(results: Path, slug: str) -> str:
    """When the newest record of a protocol version was written ("" without records)."""
    newest = ""
    for path in records.record_files(results / "records" / slug):
        try:
            stamp = str(json.loads(path.read_text()).get("provenance", {}).get("written_at", ""))
        except (OSError, ValueError, AttributeError):
            continue
        newest = max(newest, stamp)
    return newest


def resolve_protocol(results: Path, protocol: str) -> str:
    """``protocol`` (a name, or ``name-hash``) as the samples folder of one protocol version;
    of several versions, the one whose records were written last (as the leaderboard's
    current version), else the folder changed last."""
    root = Path(results) / "samples"
    if not Path(results).is_dir():
        raise UserError(f"results folder {results} does not exist; pass the --out of a run")
    if not root.is_dir():
        raise UserError(
            f"{results} has no samples/ folder: a study is made of the sample images a run "
            f"saves; run the grid into it first (python run_all.py --out {results} ...)"
        )
    slugs = sorted(p.name for p in root.iterdir() if p.is_dir())
    if protocol in slugs:
        return protocol
    matches = [s for s in slugs if s.rpartition("-")[0] == protocol]
    if not matches:
        found = ", ".join(slugs) or "none"
        raise UserError(f"no samples for protocol '{protocol}' in {root} (found: {found})")
    if len(matches) > 1:
        matches.sort(key=lambda s: (_written_at(results, s), (root / s).stat().st_mtime))
        log.info(
            f"study: {protocol} has {len(matches)} versions in {root}; using {matches[-1]}, the "
            f"newest (pass --protocol {matches[0]} for another)"
        )
    return matches[-1]


def _preset(results: Path, slug: str) -> str:
    """The preset the protocol version's records name ("" when they name none)."""
    for path in records.record_files(Path(results) / "records" / slug):
        try:
            return str(json.loads(path.read_text()).get("preset") or "")
        except (OSError, ValueError, AttributeError):
            continue
    return ""


def load_baselines(results: Path, slug: str) -> dict[str, Baseline]:
    root = Path(results) / "samples" / slug
    return {p.name: _index(p) for p in sorted(root.iterdir()) if p.is_dir()}


# --- images -------------------------------------------------------------------------------------


class ImageStore:
    """Images copied into ``folder`` under their content hash (``images/<sha16>.png``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._names: dict[Path, str] = {}

    def _put(self, data: bytes, what: str) -> str:
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
            raise UserError(f"cannot read the sample image {what} ({exc}); rerun its cell") from exc
        name = f"images/{hashlib.sha256(data).hexdigest()[:16]}.png"
        target = self.folder.parent / name
        if not target.exists():
            target.write_bytes(data)
        return name

    def add(self, item: Path | bytes, what: str = "") -> str:
        if isinstance(item, bytes):
            return self._put(item, what or "a generated catch image")
        if item not in self._names:
            self._names[item] = self._put(item.read_bytes(), str(item))
        return self._names[item]


def broken_copy(path: Path, how: str) -> bytes:
    """An obviously broken version of ``path`` for a catch trial: flat grey, or blurred so
    heavily (radius an eighth of the width) that no detail survives; as PNG bytes."""
    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise UserError(f"cannot read the sample image {path} ({exc}); rerun its cell") from exc
    if how == "grey":
        out = Image.new("RGB", img.size, (128, 128, 128))
    else:
        out = img.filter(ImageFilter.GaussianBlur(radius=max(2.0, img.width / 8)))
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()


# --- choosing trials ----------------------------------------------------------------------------


def _spread(items: list[Any], key: Callable[[Any], Key], rng: Callable[[], float]) -> list[Any]:
    """``items`` in a seeded order that visits every input once before any input twice."""
    by_input: dict[Key, list[Any]] = defaultdict(list)
    for item in items:
        by_input[key(item)].append(item)
    inputs = shuffle(sorted(by_input), rng)
    for k in inputs:
        shuffle(by_input[k], rng)
    depth = max((len(v) for v in by_input.values()), default=0)
    return [by_input[k][r] for r in range(depth) for k in inputs if r < len(by_input[k])]


def _balanced(n: int, rng: Callable[[], float]) -> list[bool]:
    """``n`` flags, half of them (rounded up) True, in a seeded order."""
    return shuffle([k % 2 == 0 for k in range(n)], rng)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _task_filter(tasks: Sequence[str], known: set[str]) -> Callable[[str], bool]:
    if not tasks:
        return lambda tm: True
    bad = [t for t in tasks if not any(t in (tm, tm.partition("--")[0]) for tm in known)]
    if bad:
        raise UserError(
            f"--tasks: no samples for {', '.join(bad)} (known: {', '.join(sorted(known))})"
        )
    return lambda tm: any(t in (tm, tm.partition("--")[0]) for t in tasks)


class _Maker:
    def __init__(self, opts: StudyOptions, slug: str, baselines: dict[str, Baseline]) -> None:
        self.opts = opts
        self.slug = slug
        self.root = Path(opts.results) / "samples" / slug
        self.baselines = baselines
        self.rng = mulberry32(fnv1a32(f"make:{opts.seed}"))
        known = {k[0] for b in baselines.values() for k in b.folders}
        self.keep = _task_filter(opts.tasks, known)
        self.notes: list[str] = []
        self._digests: dict[Path, str] = {}
        # the paired targets, whichever baseline's folder holds them
        self.targets: dict[Key, Path] = {}
        for b in baselines.values():
            for key, folder in b.folders.items():
                if key not in self.targets and (folder / "target.png").is_file():
                    self.targets[key] = folder / "target.png"

    def source(self, path: Path) -> str:
        return _rel(path, self.root)

    def digest(self, path: Path) -> str:
        """The content hash of a sample image: a unimodal method saves the same output K times,
        and a pair shown twice is one trial, not two."""
        if path not in self._digests:
            try:
                self._digests[path] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as exc:
                raise UserError(f"cannot read the sample image {path} ({exc.strerror})") from exc
        return self._digests[path]

    def distinct(self, cands: list[tuple], *images: int) -> list[tuple]:
        """``cands`` without repeats of the same images (by content) at positions ``images``."""
        seen, out = set(), []
        for c in cands:
            key = tuple(self.digest(c[i]) for i in images)
            if key not in seen:
                seen.add(key)
                out.append(c)
        return out

    def method(self, name: str) -> dict[Key, list[Path]]:
        """A method's outputs per kept input; a one-line error when it has none."""
        b = self.baselines.get(name)
        if b is None or b.seed_dir is None:
            found = ", ".join(n for n, x in self.baselines.items() if x.seed_dir) or "none"
            raise UserError(
                f"no samples for method '{name}' on {self.slug} in {self.root.parent} "
                f"(found: {found}); run it in the grid first"
            )
        outs = {k: v for k, v in b.with_outputs().items() if self.keep(k[0])}
        if not outs:
            tasks = f" for --tasks {','.join(self.opts.tasks)}" if self.opts.tasks else ""
            raise UserError(
                f"method '{name}' saved no outputs (out_NN.png){tasks} under {b.seed_dir}; "
                "rerun its cell"
            )
        return outs

    # real images ---------------------------------------------------------------------------

    def reals(self, key: Key) -> tuple[list[Path], str]:
        """The real images a fake of input ``key`` is shown against, and where they come from."""
        against = self.opts.against or GROUND_TRUTH
        if against == GROUND_TRUTH and key in self.targets:
            return [self.targets[key]], "target"
        rr = self.baselines.get(RANDOM_REAL)
        if rr is not None and rr.seed_dir is not None:
            outs = rr.outputs(key)
            if not outs:  # unpaired: any real image of the task's target domain will do
                same = [k for k in sorted(rr.folders) if k[0] == key[0]]
                outs = [p for k in same for p in rr.outputs(k)]
            if outs:
                return outs, RANDOM_REAL
        return [], ""

    def real_vs_fake(self) -> tuple[list[Trial], list[Trial], list[Path]]:
        """Test trials per method, practice trials, and the real images used (for catches)."""
        opts = self.opts
        pools: dict[str, list[tuple[Key, Path, Path, str]]] = {}
        for m in opts.methods:
            cands = []
            for key, outs in self.method(m).items():
                reals, where = self.reals(key)
                for k, fake in enumerate(outs):
                    if reals:
                        cands.append((key, fake, reals[k % len(reals)], where))
            cands = self.distinct(cands, 1, 2)
            if not cands:
                why = (
                    "no paired target (target.png) and no random_real samples (real images of "
                    "the target domain): run the random_real oracle in the grid too"
                    if (opts.against or GROUND_TRUTH) == GROUND_TRUTH
                    else "no random_real samples for its tasks: run the random_real oracle too"
                )
                raise UserError(
                    f"--against {opts.against or GROUND_TRUTH}: no real image to show against "
                    f"'{m}' on {self.slug}: {why}"
                )
            pools[m] = _spread(cands, lambda c: c[0], self.rng)
        tests: list[Trial] = []
        leftovers: list[tuple[str, tuple]] = []
        for m, pool in pools.items():
            chosen = pool[: opts.trials]
            if len(chosen) < opts.trials:
                self.notes.append(
                    f"{m}: only {len(chosen)} distinct (output, real image) pairs saved, "
                    f"{opts.trials} test trials asked"
                )
            for real_left, (key, fake, real, where) in zip(
                _balanced(len(chosen), self.rng), chosen, strict=True
            ):
                tests.append(self._rvf("test", m, key, fake, real, where, real_left))
            leftovers.extend((m, c) for c in pool[opts.trials :])
        # practice: unused pairs first, round robin over the methods, then reused ones
        spare = _round_robin(leftovers, opts.methods)
        reuse = _round_robin([(m, c) for m in pools for c in pools[m]], opts.methods)
        picks = (spare + reuse * (opts.practice // max(1, len(reuse)) + 1))[: opts.practice]
        if len(spare) < len(picks):
            self.notes.append(
                f"{len(picks) - len(spare)} of {len(picks)} practice trials show pairs that are "
                "test trials too (few samples saved)"
            )
        practice = [
            self._rvf("practice", m, c[0], c[1], c[2], c[3], left)
            for left, (m, c) in zip(_balanced(len(picks), self.rng), picks, strict=True)
        ]
        used_reals = list(dict.fromkeys(self.targets_of(tests)))
        return tests, practice, used_reals

    def targets_of(self, trials: list[Trial]) -> list[Path]:
        out = []
        for t in trials:
            real = t.left if t.correct == "left" else t.right
            if isinstance(real, Path):
                out.append(real)
        return out

    def _rvf(
        self, kind: str, m: str, key: Key, fake: Path, real: Path, where: str, real_left: bool
    ) -> Trial:
        left, right = (real, fake) if real_left else (fake, real)
        return Trial(
            kind=kind,
            left=left,
            right=right,
            correct="left" if real_left else "right",
            method=m,
            against="real",
            task=key[0],
            left_source=self.source(left) + (f" ({where})" if real_left else ""),
            right_source=self.source(right) + ("" if real_left else f" ({where})"),
        )

    # method against method -------------------------------------------------------------------

    def method_vs_method(self) -> tuple[list[Trial], list[Path], list[Path]]:
        """Test trials per method pair, the outputs shown (for catches and practice), and the
        outputs left over."""
        opts = self.opts
        outs = {m: self.method(m) for m in opts.methods}
        against = opts.against
        if against is not None and against != GROUND_TRUTH:
            outs[against] = self.method(against)
        if against is None:
            pairs = list(itertools.combinations(opts.methods, 2))
        else:
            pairs = [(m, against) for m in opts.methods]
        tests: list[Trial] = []
        shown: list[Path] = []
        spare: list[Path] = []
        for a, b in pairs:
            cands = []
            for key, a_outs in outs[a].items():
                if b == GROUND_TRUTH:
                    if key in self.targets:
                        cands.extend((key, o, self.targets[key]) for o in a_outs)
                elif key in outs[b]:
                    cands.extend(zip([key] * len(a_outs), a_outs, outs[b][key], strict=False))
            cands = self.distinct(cands, 1, 2)
            if not cands:
                why = (
                    "it has no paired target (target.png)"
                    if b == GROUND_TRUTH
                    else "they share no input (task, input number)"
                )
                raise UserError(
                    f"cannot compare '{a}' with '{b}' on {self.slug}: {why}; check --methods, "
                    "--against and --tasks"
                )
            pool = _spread(cands, lambda c: c[0], self.rng)
            chosen = pool[: opts.trials]
            if len(chosen) < opts.trials:
                self.notes.append(
                    f"{a} vs {b}: only {len(chosen)} distinct pairs of their outputs saved, "
                    f"{opts.trials} test trials asked"
                )
            for a_left, (key, pa, pb) in zip(_balanced(len(chosen), self.rng), chosen, strict=True):
                left, right = (pa, pb) if a_left else (pb, pa)
                tests.append(
                    Trial(
                        kind="test",
                        left=left,
                        right=right,
                        correct=None,
                        method=a if a_left else b,
                        against=b if a_left else a,
                        task=key[0],
                        input=self.baselines[a].folders[key] / "input.png",
                        left_source=self.source(left),
                        right_source=self.source(right),
                    )
                )
                shown.append(pa)
            spare.extend(c[1] for c in pool[opts.trials :])
        return tests, shown, spare

    # known answers -----------------------------------------------------------------------------

    def known(self, kind: str, intact: list[Path], n: int, with_input: bool) -> list[Trial]:
        """``n`` trials of an intact image against its broken copy (flat grey or blurred, in
        turn), the intact side balanced."""
        intact = [c[0] for c in self.distinct([(p,) for p in intact], 0)]
        if not intact or n <= 0:
            return []
        picks = [intact[i % len(intact)] for i in range(n)]
        out = []
        for i, (intact_left, img) in enumerate(zip(_balanced(n, self.rng), picks, strict=True)):
            how = "grey" if i % 2 == 0 else "blur"
            broken = broken_copy(img, how)
            left, right = (img, broken) if intact_left else (broken, img)
            src, bad = self.source(img), f"{how}({self.source(img)})"
            out.append(
                Trial(
                    kind=kind,
                    left=left,
                    right=right,
                    correct="left" if intact_left else "right",
                    method=None,
                    against=None,
                    task=img.parent.parent.name,
                    input=(img.parent / "input.png") if with_input else None,
                    left_source=src if intact_left else bad,
                    right_source=bad if intact_left else src,
                )
            )
        return out


def _round_robin(items: list[tuple[str, Any]], methods: Sequence[str]) -> list[tuple[str, Any]]:
    per: dict[str, list[Any]] = defaultdict(list)
    for m, c in items:
        per[m].append(c)
    depth = max((len(v) for v in per.values()), default=0)
    return [(m, per[m][r]) for r in range(depth) for m in methods if r < len(per[m])]


def catch_count(n_test: int, rate: float) -> int:
    """Catch trials so that they are ``rate`` of the scored (test + catch) trials."""
    if rate <= 0 or n_test <= 0:
        return 0
    return max(1, round(n_test * rate / (1 - rate)))


# --- the folder ---------------------------------------------------------------------------------


def check_options(opts: StudyOptions) -> None:
    """Every mistake in the options, before any image is read."""
    if opts.design not in DESIGNS:
        raise UserError(f"--design must be one of {', '.join(DESIGNS)}, got '{opts.design}'")
    if opts.presentation not in PRESENTATIONS:
        raise UserError(f"--presentation must be one of {', '.join(PRESENTATIONS)}")
    if not opts.methods:
        raise UserError("--methods: name one or more methods, separated by commas")
    dup = sorted({m for m in opts.methods if opts.methods.count(m) > 1})
    if dup:
        raise UserError(f"--methods names {', '.join(dup)} twice")
    if opts.against in opts.methods:
        raise UserError(f"--against {opts.against} is also in --methods; compare it with others")
    if opts.design == "real-vs-fake" and opts.against not in (None, *REAL_SOURCES):
        raise UserError(
            f"--against {opts.against}: real-vs-fake shows real images, from ground_truth (the "
            "paired target, else random_real's real images of the target domain) or random_real; "
            "to compare two methods use --design method-vs-method"
        )
    if opts.design == "method-vs-method" and opts.against is None and len(opts.methods) < 2:
        raise UserError(
            "method-vs-method needs two methods: --methods a,b (every pair is compared) or "
            "--methods a --against b"
        )
    if opts.trials < 1:
        raise UserError(f"--trials must be 1 or more, got {opts.trials}")
    if opts.practice < 0:
        raise UserError(f"--practice must be 0 or more, got {opts.practice}")
    if opts.display_ms < 0:
        raise UserError(f"--display-ms must be 0 (never hidden) or more, got {opts.display_ms}")
    if not 0 <= opts.catch_rate < 1:
        raise UserError(f"--catch-rate must be in [0, 1), got {opts.catch_rate}")
    if not 0 <= opts.seed <= MAX_SEED:
        raise UserError(f"--seed must be in [0, {MAX_SEED}], got {opts.seed}")
    if not 32 <= opts.display_px <= 2048:
        raise UserError(f"--display-px must be in [32, 2048], got {opts.display_px}")
    out = Path(opts.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder; pass a folder path")
    if (out / ANSWERS).exists():
        raise UserError(
            f"--out {out} already holds answers ({ANSWERS}); a new study goes into a new folder"
        )
    if out.is_dir() and any(out.iterdir()) and not (out / "trials.json").is_file():
        raise UserError(f"--out {out} is a folder with other files in it; pick an empty or new one")


def _csv_text(trials: list[dict], design: str, display_ms: int) -> str:
    buf = io.StringIO()
    cols = ["id", "kind", "design", "input", "left", "right", "correct", "method", "against"]
    w = csv.DictWriter(buf, fieldnames=[*cols, "task", "display_ms"], lineterminator="\n")
    w.writeheader()
    for t in trials:
        row = {c: t.get(c) for c in cols} | {"design": design, "task": t.get("task")}
        row["display_ms"] = display_ms
        w.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def _install(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` in place of ``out`` (absent, empty or an older study
    without answers): readers see the old study or the whole new one."""
    old = None
    if out.exists():
        if not any(out.iterdir()):
            out.rmdir()
        else:
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def make_study(opts: StudyOptions) -> dict[str, Any]:
    """Build the study folder ``opts.out``; returns the content of its ``trials.json``."""
    check_options(opts)
    slug = resolve_protocol(opts.results, opts.protocol)
    maker = _Maker(opts, slug, load_baselines(opts.results, slug))
    if opts.design == "real-vs-fake":
        tests, practice, reals = maker.real_vs_fake()
        catch = maker.known("catch", reals, catch_count(len(tests), opts.catch_rate), False)
        against = opts.against or GROUND_TRUTH
        sources = sorted({s for t in tests for s in (t.left_source, t.right_source) if "(" in s})
        if any(s.endswith(f"({RANDOM_REAL})") for s in sources) and against == GROUND_TRUTH:
            maker.notes.append(
                "no paired targets: the real images are random_real's (real images of the "
                "target domain)"
            )
    else:
        tests, shown, spare = maker.method_vs_method()
        catch = maker.known("catch", shown, catch_count(len(tests), opts.catch_rate), True)
        practice = maker.known("practice", spare + shown, opts.practice, True)
        against = opts.against
    main = shuffle(tests + catch, maker.rng)
    for i, t in enumerate(practice):
        t.id = f"p{i + 1:02d}"
    width = max(3, len(str(len(main))))
    for i, t in enumerate(main):
        t.id = f"q{i + 1:0{width}d}"
    trials = practice + main

    out = Path(opts.out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.new-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        store = ImageStore(tmp / "images")
        rows = []
        for t in trials:
            rows.append(
                {
                    "id": t.id,
                    "kind": t.kind,
                    "left": store.add(t.left, t.left_source),
                    "right": store.add(t.right, t.right_source),
                    "input": store.add(t.input) if t.input is not None else None,
                    "correct": t.correct,
                    "method": t.method,
                    "against": t.against,
                    "task": t.task,
                    "sources": {"left": t.left_source, "right": t.right_source},
                }
            )
        protocol, _, phash = slug.rpartition("-")
        name = opts.name or out.name
        question = opts.question or QUESTIONS[opts.design]
        doc = {
            "study": name,
            "design": opts.design,
            "protocol": protocol,
            "protocol_hash": phash,
            "preset": _preset(opts.results, slug),
            "methods": list(opts.methods),
            "against": against,
            "question": question,
            "display_ms": opts.display_ms,
            "display_px": opts.display_px,
            "presentation": opts.presentation,
            "seed": opts.seed,
            "catch_rate": opts.catch_rate,
            "results": str(Path(opts.results).absolute()),
            "samples": slug,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "counts": {k: sum(t["kind"] == k for t in rows) for k in ("practice", "test", "catch")},
            "trials": rows,
        }
        page = {
            "study": name,
            "design": opts.design,
            "question": question,
            "display_ms": opts.display_ms,
            "display_px": opts.display_px,
            "presentation": opts.presentation,
            "seed": opts.seed,
            "trials": [
                {
                    "id": r["id"],
                    "practice": r["kind"] == "practice",
                    "left": r["left"],
                    "right": r["right"],
                    "input": r["input"],
                    **({"correct": r["correct"]} if r["kind"] == "practice" else {}),
                }
                for r in rows
            ],
        }
        (tmp / "trials.json").write_text(json.dumps(doc, indent=1) + "\n")
        (tmp / "study.json").write_text(json.dumps(page, indent=1) + "\n")
        (tmp / "trials.csv").write_text(_csv_text(rows, opts.design, opts.display_ms))
        for f in PAGE_FILES:
            shutil.copyfile(PAGE_DIR / f, tmp / f)
        _install(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for note in maker.notes:
        log.warning(f"study: {note}")
    return doc
