"""Options shared by the whole test suite."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--rewrite-transcripts",
        action="store_true",
        help="write the actual output into tests/raft/testdata/*.txt instead of comparing"
        " (the same as ERAFT_REWRITE=1)",
    )
