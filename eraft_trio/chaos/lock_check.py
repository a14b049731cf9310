"""The lock workload's checks (pure): mutual exclusion in time, fencing-token order, and the
counter against the increments the workers were told about (docs/chaos.md, "The lock workload").

A section is one holding of the lock by one worker, timed on one monotonic clock (all
workers run in the same process): `start` when the acquisition was acknowledged, `end` when
the worker stopped working under it (before its release was sent). Mutual exclusion means
no section starts before every earlier one has ended. Fencing tokens are revisions of the
group that granted the lock, so they are compared only between sections granted by the
same group (a bucket moved to another group starts on that group's revisions); within a
group they must grow with every acquisition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SectionOutcome = Literal["acked", "unknown", "abandoned"]
LockResult = Literal["exact", "bounded", "violation", "unknown"]
MAX_LISTED = 20  # pairs kept for the report: the counts are complete


@dataclass(frozen=True, slots=True)
class Section:
    """One critical section. `outcome`: acked (the increment's put was acknowledged),
    unknown (a put was sent and none acknowledged: it may apply), abandoned (no put sent:
    the read failed, or the lease could not be trusted for long enough)."""

    worker: int
    start: float
    end: float
    token: int
    owner: int | None  # the group that granted it, when the worker could tell
    outcome: SectionOutcome

    def describe(self) -> str:
        group = "?" if self.owner is None else f"g{self.owner}"
        return (
            f"worker {self.worker} [{self.start:.3f}, {self.end:.3f}] "
            f"token {self.token} from {group}, {self.outcome}"
        )


@dataclass(frozen=True)
class LockVerdict:
    result: LockResult
    counter: int | None  # the final read; None: it never answered
    sections: int
    acked: int
    unknown: int
    abandoned: int
    tokens_compared: int
    overlaps: int
    token_regressions: int
    examples: list[tuple[str, Section, Section]] = field(default_factory=list)

    def explain(self) -> list[str]:
        lines = [
            f"{self.sections} critical sections: {self.acked} increments acknowledged, "
            f"{self.unknown} unknown, {self.abandoned} abandoned",
            f"counter at the end: {'no answer' if self.counter is None else self.counter}",
            f"overlapping sections: {self.overlaps}; fencing tokens compared "
            f"{self.tokens_compared} times, out of order {self.token_regressions}",
        ]
        if self.counter is not None and not self.acked <= self.counter <= self.acked + self.unknown:
            lines.append(
                f"the counter is outside [acknowledged, acknowledged + unknown] = "
                f"[{self.acked}, {self.acked + self.unknown}]: an increment was lost or doubled"
            )
        for what, earlier, later in self.examples:
            lines.append(f"{what}: {earlier.describe()} / {later.describe()}")
        return lines


def check_lock(sections: list[Section], counter: int | None) -> LockVerdict:
    """Judge a run's sections and its final counter: a violation if two sections overlap,
    a group's tokens go backwards, or the counter is not between the acknowledged increments
    and those plus the unknown ones; `exact` when it equals the acknowledged ones and none is
    unknown, `bounded` when unknown ones leave room, `unknown` without a final read."""
    ordered = sorted(sections, key=lambda s: (s.start, s.end))
    examples: list[tuple[str, Section, Section]] = []
    overlaps = _overlaps(ordered, examples)
    compared, regressions = _token_order(ordered, examples)
    acked = sum(1 for s in sections if s.outcome == "acked")
    unknown = sum(1 for s in sections if s.outcome == "unknown")
    abandoned = len(sections) - acked - unknown
    result: LockResult
    if overlaps or regressions:
        result = "violation"
    elif counter is None:
        result = "unknown"
    elif not acked <= counter <= acked + unknown:
        result = "violation"
    else:
        result = "exact" if unknown == 0 and counter == acked else "bounded"
    return LockVerdict(
        result, counter, len(sections), acked, unknown, abandoned,
        compared, overlaps, regressions, examples,
    )  # fmt: skip


def _overlaps(ordered: list[Section], examples: list[tuple[str, Section, Section]]) -> int:
    """Sections (in start order) that began before an earlier one ended."""
    count = 0
    latest: Section | None = None  # the earlier section that ended last
    for section in ordered:
        if latest is not None and section.start < latest.end:
            count += 1
            if len(examples) < MAX_LISTED:
                examples.append(("overlap", latest, section))
        if latest is None or section.end > latest.end:
            latest = section
    return count


def _token_order(
    ordered: list[Section], examples: list[tuple[str, Section, Section]]
) -> tuple[int, int]:
    """(comparisons, regressions): per granting group, each token against the one before."""
    compared = regressions = 0
    last: dict[int, Section] = {}
    for section in ordered:
        if section.owner is None:
            continue
        before = last.get(section.owner)
        if before is not None:
            compared += 1
            if section.token <= before.token:
                regressions += 1
                if len(examples) < MAX_LISTED:
                    examples.append(("token out of order", before, section))
        last[section.owner] = section
    return compared, regressions
