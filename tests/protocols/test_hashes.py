"""Protocol hashes: stable, and sensitive to every field that decides comparability."""

from __future__ import annotations

import dataclasses

import pytest

import protocols

# Guard against accidental edits of a protocol: changing a paper protocol must bump its version
# and update this table deliberately.
PAPER_HASHES = {
    "edges2shoes": "d592609a1e3b",
    "afhq": "594b9f117672",
    "animal_faces": "8175c388399f",
    "celeba_attributes": "f4882a1a394c",
    "celeba_stargan": "e52dc3233e58",
}


@pytest.mark.parametrize("name", sorted(PAPER_HASHES))
def test_hash_is_deterministic_and_hex(name):
    a = protocols.get(name).spec()
    b = protocols.get(name).spec()
    assert a.hash == b.hash and len(a.hash) == 12 and int(a.hash, 16) >= 0


@pytest.mark.parametrize("name", sorted(PAPER_HASHES))
def test_every_field_changes_the_hash(name):
    p = protocols.get(name).spec()
    for f in dataclasses.fields(p):
        if f.name == "notes":
            assert p.replace(notes="other").hash == p.hash
            continue
        value = getattr(p, f.name)
        if isinstance(value, bool):
            new = not value
        elif isinstance(value, int):
            new = value + 1
        elif isinstance(value, str):
            new = value + "x"
        else:
            new = (*value, ("x", 1)) if f.name == "params" else (*value, "x")
        assert p.replace(**{f.name: new}).hash != p.hash, f.name


def test_scaled_and_synthetic_protocols_are_not_comparable_to_paper():
    pdef = protocols.get("afhq")
    paper = pdef.spec()
    assert pdef.spec(image_size=32, max_inputs=8, preset="smoke").hash != paper.hash
    assert pdef.spec(synthetic=True).hash != paper.hash


def test_paper_hashes_are_pinned():
    got = {n: protocols.get(n).spec().hash for n in PAPER_HASHES}
    assert got == PAPER_HASHES
