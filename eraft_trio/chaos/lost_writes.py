"""A fast check for acknowledged writes that vanished: nothing overwrote them, yet the final read misses them.

This complements the linearizability search: it needs no search at all (one pass
per key), so it scales to any history, and its report is one op. It relies on every
put writing a unique value, so the final value read names the write that won.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eraft_trio.chaos.history import Op


@dataclass(frozen=True, slots=True)
class LostWrite:
    """An acknowledged write that no later write could have replaced, missing at the end."""

    op: Op
    final_value: bytes | None

    def explain(self) -> str:
        shown = "<missing>" if self.final_value is None else repr(self.final_value)
        return f"lost write: {self.op.describe()}; final read of {self.op.key!r} gave {shown}"


def lost_writes(
    history: Iterable[Op], final_reads: Mapping[bytes, bytes | None]
) -> list[LostWrite]:
    """Acknowledged puts (and deletes) on the keys of `final_reads` whose effect is gone.

    `final_reads` holds, per key, what a read returned after all clients stopped and
    the cluster healed (None: missing). A write counts as overwritten if any other
    write that was not known to fail could have taken effect after it, i.e. did not
    complete before it was invoked; a timed-out write could complete at any time.
    """
    writes: dict[bytes, list[Op]] = defaultdict(list)
    for op in history:
        if op.is_write and op.outcome != "fail" and op.key in final_reads:
            writes[op.key].append(op)
    lost: list[LostWrite] = []
    for key, key_writes in writes.items():
        final_value = final_reads[key]
        ends = [_latest_effect(op) for op in key_writes]
        # The two latest ends suffice to know, for each write, the latest end of the others.
        ranked = heapq.nlargest(2, range(len(ends)), key=ends.__getitem__)
        for index, op in enumerate(key_writes):
            if op.outcome != "ok" or op.value == final_value:
                continue
            others = [ends[other] for other in ranked if other != index]
            if not others or others[0] < op.invoke:
                lost.append(LostWrite(op, final_value))
    return sorted(lost, key=lambda lost_write: (lost_write.op.key, lost_write.op.invoke))


def _latest_effect(op: Op) -> float:
    """The latest time `op` may have taken effect: its completion, or never known."""
    return math.inf if op.outcome == "timeout" or op.complete is None else op.complete
