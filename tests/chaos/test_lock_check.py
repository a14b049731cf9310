"""The lock workload's checks (eraft_trio/chaos/lock_check.py) on hand-made sections."""

from __future__ import annotations

from eraft_trio.chaos.lock_check import Section, SectionOutcome, check_lock


def section(
    worker: int,
    start: float,
    end: float,
    token: int,
    owner: int | None = 1,
    outcome: SectionOutcome = "acked",
) -> Section:
    return Section(worker, start, end, token, owner, outcome)


def test_one_holder_at_a_time_with_growing_tokens_and_an_exact_counter() -> None:
    sections = [section(0, 0.0, 1.0, 10), section(1, 1.5, 2.0, 14), section(0, 2.0, 3.0, 20)]
    verdict = check_lock(sections, counter=3)
    assert verdict.result == "exact"
    assert (verdict.acked, verdict.unknown, verdict.abandoned) == (3, 0, 0)
    assert verdict.tokens_compared == 2 and verdict.token_regressions == 0


def test_a_section_that_starts_before_an_earlier_one_ended_is_a_violation() -> None:
    # Worker 0's long section covers worker 2's, which starts after worker 1's ended.
    sections = [section(0, 0.0, 5.0, 10), section(1, 1.0, 2.0, 12), section(2, 3.0, 4.0, 14)]
    verdict = check_lock(sections, counter=3)
    assert verdict.result == "violation"
    assert verdict.overlaps == 2
    assert [(what, a.worker, b.worker) for what, a, b in verdict.examples] == [
        ("overlap", 0, 1),
        ("overlap", 0, 2),
    ]
    assert any("overlap: worker 0" in line for line in verdict.explain())


def test_tokens_are_compared_only_within_the_group_that_granted_them() -> None:
    # The lock's bucket moved from g1 to g2 (smaller revisions) and back: no regression.
    sections = [
        section(0, 0.0, 1.0, 500, owner=1),
        section(1, 2.0, 3.0, 40, owner=2),
        section(2, 4.0, 5.0, 900, owner=1),
        section(3, 6.0, 7.0, 41, owner=None),  # the worker could not tell: not compared
    ]
    verdict = check_lock(sections, counter=4)
    assert verdict.result == "exact"
    assert verdict.tokens_compared == 1


def test_a_token_that_does_not_grow_within_a_group_is_a_violation() -> None:
    sections = [section(0, 0.0, 1.0, 50), section(1, 2.0, 3.0, 50), section(2, 4.0, 5.0, 49)]
    verdict = check_lock(sections, counter=3)
    assert verdict.result == "violation"
    assert verdict.token_regressions == 2


def test_unknown_increments_leave_the_counter_bounded_not_exact() -> None:
    sections = [
        section(0, 0.0, 1.0, 10),
        section(1, 2.0, 3.0, 12, outcome="unknown"),
        section(2, 4.0, 5.0, 14, outcome="abandoned"),
    ]
    for counter in (1, 2):
        assert check_lock(sections, counter).result == "bounded"
    assert check_lock(sections, counter=0).result == "violation"  # an acked one lost
    assert check_lock(sections, counter=3).result == "violation"  # one more than possible


def test_a_lost_or_extra_increment_is_a_violation() -> None:
    sections = [section(0, 0.0, 1.0, 10), section(1, 2.0, 3.0, 12)]
    assert check_lock(sections, counter=1).result == "violation"
    verdict = check_lock(sections, counter=3)
    assert verdict.result == "violation"
    assert any("lost or doubled" in line for line in verdict.explain())


def test_without_a_final_read_the_verdict_is_unknown() -> None:
    assert check_lock([section(0, 0.0, 1.0, 10)], counter=None).result == "unknown"
    assert check_lock([], counter=0).result == "exact"
