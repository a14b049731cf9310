"""The data-driven transcripts of tests/raft/testdata: each file steps RaftCores and compares what they print.

A failing file shows the difference between what it says and what the core did.
`pytest tests/raft/test_transcripts.py --rewrite-transcripts` (or ERAFT_REWRITE=1)
writes the actual output into the files instead; review the diff like code.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from .datadriven import TranscriptSyntaxError, run_transcript
from .interaction import InteractionEnv

TESTDATA = Path(__file__).parent / "testdata"
TRANSCRIPTS = sorted(TESTDATA.glob("*.txt"))


def _rewriting(config: pytest.Config) -> bool:
    return bool(config.getoption("--rewrite-transcripts")) or os.environ.get("ERAFT_REWRITE") == "1"


def test_every_area_has_a_transcript() -> None:
    names = {p.stem for p in TRANSCRIPTS}
    assert {
        "campaign",
        "prevote_checkquorum",
        "probe_and_replicate",
        "snapshot_succeed_via_app_resp",
        "leader_transfer",
        "read_index",
    } <= names


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
def test_transcript(path: Path, pytestconfig: pytest.Config) -> None:
    written, actual = run_transcript(path, InteractionEnv().execute)
    if _rewriting(pytestconfig):
        if actual != written:
            path.write_text(actual)
        return
    if actual != written:
        diff = difflib.unified_diff(
            written.splitlines(), actual.splitlines(), "as written", "as run", lineterm=""
        )
        pytest.fail(
            f"{path.name} differs from what the core does (rewrite with --rewrite-transcripts):\n"
            + "\n".join(diff),
            pytrace=False,
        )


def test_a_wrong_expectation_is_caught_and_rewritten_in_place(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("# prose stays\n\nadd-nodes 1\n----\nwrong\n\ncampaign 1\n----\n")
    written, actual = run_transcript(path, InteractionEnv().execute)
    assert written != actual
    assert actual == (
        "# prose stays\n\nadd-nodes 1\n----\n"
        "1: follower term=0 vote=none leader=none last=0/0 commit=0 applied=0\n\n"
        "campaign 1\n----\n1 became leader at term 1\n"
    )


def test_a_command_without_separator_is_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("add-nodes 1\nstabilize\n")
    with pytest.raises(TranscriptSyntaxError, match="t.txt:1"):
        run_transcript(path, InteractionEnv().execute)
