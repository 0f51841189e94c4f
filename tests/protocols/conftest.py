from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import protocols

_CACHE: dict[str, Path] = {}


@pytest.fixture(scope="session")
def twin_cache(tmp_path_factory) -> dict[str, Path]:
    """One pristine synthetic twin per protocol, generated once per test session."""
    root = tmp_path_factory.mktemp("twins")
    for name in protocols.names():
        _CACHE[name] = protocols.get(name).synthesize(root / name, size=32, seed=0)
    return _CACHE


@pytest.fixture
def twin(twin_cache, tmp_path):
    """A private copy of a twin that a test may break."""

    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(twin_cache[name], dst)
        return dst

    return copy


def load(name: str, root: Path):
    pdef = protocols.get(name)
    return pdef.load(root, pdef.spec(image_size=32, synthetic=True, preset="smoke"))
