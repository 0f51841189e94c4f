"""What a method's records were computed by: its source, its package's version and commit, its
checkpoint. Every record of a cell carries it, and a cell whose fingerprint changed is computed
again, so a leaderboard never shows numbers of code that no longer exists next to numbers of the
code that does.

The source is the method's own module, the modules of its base classes, and every module of the
same top-level package those modules import (transitively), found in their import statements:
what can change the method's outputs without changing its name. Other packages (torch, the
harness) are not followed: installed libraries are pinned by the versions every record carries.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import sysconfig
import urllib.parse
from pathlib import Path
from typing import Any

from benchmark.errors import UserError

_CHUNK = 1 << 20


def method_fingerprint(cls: type, checkpoint: Path | None = None) -> dict[str, Any]:
    """``class``, ``source_sha256`` over ``files`` (package-relative, so a rename counts),
    ``package``/``version`` of the distribution providing it, the ``vcs_revision`` of the git
    repository holding it, ``checkpoint_sha256`` of a given checkpoint (null without one), and
    ``fingerprint``: the short id that decides whether a cell's records still describe this
    method (over the class, the source and the checkpoint; not over the version or commit, so a
    commit that leaves the method's files alone reruns nothing).

    Cached per class (and per checkpoint path, mtime and size) within a process: the grid asks
    once per cell, and the source a process runs is the source it imported."""
    out = dict(_source(cls))
    out["files"] = list(out["files"])
    ckpt = out["checkpoint_sha256"] = None
    if checkpoint is not None:
        path = Path(checkpoint)
        try:
            st = path.stat()
        except OSError as exc:
            raise UserError(f"checkpoint {path} cannot be read ({exc}); fix the path") from exc
        ckpt = _checkpoint_sha256(str(path.resolve()), st.st_mtime_ns, st.st_size)
        out["checkpoint_sha256"] = ckpt
    key = f"{out['class']}\n{out['source_sha256']}\n{ckpt or ''}"
    out["fingerprint"] = hashlib.sha256(key.encode()).hexdigest()[:16]
    return out


@functools.cache
def _source(cls: type) -> dict[str, Any]:
    module = sys.modules.get(cls.__module__)
    files = _hash_files(_method_modules(cls))
    digest = hashlib.sha256()
    for rel, sha in sorted(files.items()):
        digest.update(f"{rel}\0{sha}\n".encode())
    package, version = _distribution(cls.__module__.partition(".")[0])
    file = getattr(module, "__file__", None)
    return {
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "source_sha256": digest.hexdigest(),
        "files": tuple(sorted(files)),
        "package": package,
        "version": version,
        "vcs_revision": _vcs_revision(Path(file)) if file else None,
    }


def _method_modules(cls: type) -> set[str]:
    """Names of the modules that define the method: its own, its base classes' (those of other
    installed libraries excepted: their version pins them), and what they import from their own
    top-level package, transitively."""
    top = cls.__module__.partition(".")[0]
    todo = [cls.__module__]
    for base in cls.__mro__[1:]:
        mod = sys.modules.get(base.__module__)
        file = getattr(mod, "__file__", None)
        if file and (base.__module__.partition(".")[0] == top or not _installed(Path(file))):
            todo.append(base.__module__)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += _imports(name)
    return seen


def _installed(file: Path) -> bool:
    """A file of the standard library or of an installed (not editable) distribution."""
    paths = sysconfig.get_paths()
    std = [Path(paths[k]).resolve() for k in ("stdlib", "platstdlib") if k in paths]
    file = file.resolve()
    return any(p in file.parents for p in std) or bool(
        {"site-packages", "dist-packages"} & set(file.parts)
    )


def _imports(name: str) -> list[str]:
    """The modules of the same top-level package that module ``name`` imports anywhere (a lazy
    import inside a function too): ``import a.b``, ``a.b.c`` used after ``import a``, ``from a
    import b`` (the module ``a.b``, or the module defining the object ``a.b``; a constant counts
    as ``a``'s). Read from the source, not the module's globals: a package's globals hold every
    submodule the import system loaded, which would tie each method to all the others."""
    module = sys.modules.get(name)
    file = _file_of(name)
    if file is None or file.suffix != ".py":
        return []
    try:
        tree = ast.parse(file.read_bytes(), str(file))
    except (OSError, SyntaxError, ValueError):
        return []
    top = name.partition(".")[0]
    package = getattr(module, "__package__", None) or (
        name if file.name == "__init__.py" else name.rpartition(".")[0]
    )
    found: list[str] = []
    bound: dict[str, str] = {}  # local name -> module it names (for a.b.c attribute chains)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.partition(".")[0] != top:
                    continue
                found.append(alias.name)
                local = alias.asname or alias.name.partition(".")[0]
                bound[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom):
            try:
                base = importlib.util.resolve_name(
                    "." * node.level + (node.module or ""), package or ""
                )
            except (ImportError, ValueError):
                continue
            if base.partition(".")[0] != top:
                continue
            for alias in node.names:
                found.append(_defining_module(base, alias.name, top))
                if _file_of(f"{base}.{alias.name}") is not None:
                    bound[alias.asname or alias.name] = f"{base}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = _dotted(node)
            if chain and chain[0] in bound:
                parts = [bound[chain[0]], *chain[1:]]
                for i in range(len(parts), 1, -1):  # the longest prefix that is a module
                    if _file_of(".".join(parts[:i])) is not None:
                        found.append(".".join(parts[:i]))
                        break
    return [m for m in found if m.partition(".")[0] == top and _file_of(m) is not None]


def _defining_module(base: str, attr: str, top: str) -> str:
    """The module ``from base import attr`` takes code from."""
    if _file_of(f"{base}.{attr}") is not None:
        return f"{base}.{attr}"
    module = sys.modules.get(base)
    if module is None or attr == "*":
        return base
    try:
        obj = getattr(module, attr)
        where = obj.__module__ if inspect.isclass(obj) or inspect.isroutine(obj) else base
    except Exception:  # a lazy attribute that fails: the module it is taken from stands in
        return base
    if not isinstance(where, str):
        return base
    return where if where.partition(".")[0] == top else base


def _dotted(node: ast.AST) -> list[str]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else []


def _file_of(name: str) -> Path | None:
    """The file of module ``name``, without importing it (a lazy import stays lazy)."""
    module = sys.modules.get(name)
    if module is not None:
        file = getattr(module, "__file__", None)
        return Path(file) if file else None
    parent, _, last = name.rpartition(".")
    if not parent:
        return None
    owner = sys.modules.get(parent)
    for folder in getattr(owner, "__path__", None) or _parent_paths(parent):
        for candidate in (Path(folder) / f"{last}.py", Path(folder) / last / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _parent_paths(parent: str) -> list[str]:
    """Folders of a package not imported yet (below one that is), found by file."""
    file = _file_of(parent)
    return [str(file.parent)] if file is not None and file.name == "__init__.py" else []


def _rel(name: str, file: Path) -> str:
    """Package-relative path: ``mypkg/sub/model.py`` for module ``mypkg.sub.model``."""
    if name == "__main__":
        return file.name
    parts = name.split(".")
    if file.name.startswith("__init__."):
        return "/".join([*parts, file.name])
    return "/".join([*parts[:-1], file.name])


def _hash_files(modules: set[str]) -> dict[str, str]:
    out = {}
    for name in modules:
        file = _file_of(name)
        if file is not None and file.is_file():
            out[_rel(name, file)] = hashlib.sha256(file.read_bytes()).hexdigest()
    return out


@functools.cache
def _checkpoint_sha256(path: str, mtime_ns: int, size: int) -> str:
    """Streamed: a paper-scale checkpoint need not fit in memory twice."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while block := f.read(_CHUNK):
                h.update(block)
    except OSError as exc:
        raise UserError(f"checkpoint {path} cannot be read ({exc}); fix the path") from exc
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _packages() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distribution(top: str) -> tuple[str | None, str | None]:
    """The installed distribution providing top-level package ``top`` and its version: one that
    lists it (or is named after it) and holds the very file imported, installed or editable (two
    distributions may ship a ``tests`` package; neither made the one on this path)."""
    file = _file_of(top)
    if file is None:
        return None, None
    here = file.resolve()
    rel = _rel(top, file)
    for name in dict.fromkeys([*_packages().get(top, []), top]):
        try:
            dist = importlib.metadata.distribution(name)
        except (importlib.metadata.PackageNotFoundError, ValueError):
            continue
        if Path(dist.locate_file(rel)).resolve() == here or _editable_root(dist) in here.parents:
            return dist.metadata["Name"] or name, dist.version
    return None, None


def _editable_root(dist: importlib.metadata.Distribution) -> Path | None:
    """The source folder of an editable install (PEP 610 ``direct_url.json``)."""
    try:
        info = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return None
    if not isinstance(info, dict) or not isinstance(info.get("dir_info"), dict):
        return None
    url = info.get("url")
    if not info["dir_info"].get("editable") or not str(url).startswith("file://"):
        return None
    return Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).resolve()


def _vcs_revision(file: Path) -> str | None:
    """HEAD of the git repository holding ``file``; None outside one, when git is missing, or
    when the repository ignores the file (a package installed into a virtualenv inside a
    checkout belongs to its distribution, not to that checkout)."""
    folder = file.resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                ["git", "-C", str(folder), *args],
                capture_output=True,
                text=True,
                timeout=10,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            )
        except (OSError, subprocess.SubprocessError):
            return None

    head = git("rev-parse", "HEAD")
    if head is None or head.returncode != 0 or not head.stdout.strip():
        return None
    ignored = git("check-ignore", "-q", str(file.resolve()))
    if ignored is None or ignored.returncode == 0:
        return None
    return head.stdout.strip()
