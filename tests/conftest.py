"""Options of the suite's tests: ``--baseline NAME`` runs the Translator interface tests on one
method (a registered name or ``package.module:Class``), e.g. a method of your own package."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--baseline",
        action="append",
        default=[],
        metavar="NAME",
        help="run tests/baselines/test_interface.py on this baseline only (repeatable; a "
        "registered name or package.module:Class)",
    )
