"""The chaos suite's history tools: record client ops, then check them for linearizability and lost writes."""

from eraft_trio.chaos.history import HistoryRecorder, Op, OpHandle, OpKind, Outcome
from eraft_trio.chaos.history_jsonl import dump_history, load_history, read_history, save_history
from eraft_trio.chaos.linearizability import Verdict, ViolationWindow, check
from eraft_trio.chaos.lost_writes import LostWrite, lost_writes

__all__ = [
    "HistoryRecorder",
    "LostWrite",
    "Op",
    "OpHandle",
    "OpKind",
    "Outcome",
    "Verdict",
    "ViolationWindow",
    "check",
    "dump_history",
    "load_history",
    "lost_writes",
    "read_history",
    "save_history",
]
