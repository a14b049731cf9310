"""The invariants the simulator checks, and the exception that reports a broken one."""

from __future__ import annotations

# Names of the invariants, as printed in reports (Raft paper Figure 3 and §5.4.3, plus
# the durability and read guarantees of docs/reference.md §5).
ELECTION_SAFETY = "election safety: at most one leader per term"
ONE_VOTE_PER_TERM = "one vote per term, kept across crashes"
TERM_MONOTONIC = "persisted term and commit never decrease"
LOG_MATCHING = "log matching: same index and term imply identical prefixes"
LEADER_COMPLETENESS = "leader completeness: committed entries are in every later leader's log"
STATE_MACHINE_SAFETY = "state machine safety: every node applies the same entry at each index"
COMMITTED_NEVER_LOST = "a committed entry is never lost"
APPLIED_ONCE = "each proposed command is applied at most once"
STALE_READ = "a ReadIndex read is never stale"
READY_CONTRACT = "the Ready contract between core and driver"
CORE_ERROR = "the core raised an exception"
LIVENESS = "liveness: a healed cluster commits a new command"


class InvariantViolation(AssertionError):
    """An invariant broke; `invariant` names it, `detail` says where and how.

    `seed`, `step` and `replay` are filled in by the Simulation that caught it, so a
    report can say how to reproduce the run exactly.
    """

    def __init__(self, invariant: str, detail: str) -> None:
        super().__init__(f"{invariant}: {detail}")
        self.invariant = invariant
        self.detail = detail
        self.seed: int | None = None
        self.step: int | None = None
        self.tick: int | None = None
        self.replay: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.seed is not None:
            where = f" [seed {self.seed}, step {self.step}, tick {self.tick}]"
        text = f"{self.invariant}: {self.detail}{where}"
        if self.replay:
            text += f"\n  replay: {self.replay}"
        return text
