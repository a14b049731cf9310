"""MajorityConfig and JointConfig: the committed index and vote results, by example and against brute force."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given
from hypothesis import strategies as st

from eraft_trio.raft.quorum import NO_LIMIT, JointConfig, MajorityConfig, VoteResult


def test_committed_index_is_what_a_majority_holds() -> None:
    three = MajorityConfig.of([1, 2, 3])
    assert three.committed_index({1: 9, 2: 7, 3: 5}) == 7
    assert three.committed_index({1: 9, 2: 9, 3: 0}) == 9
    # A voter that has not acknowledged anything counts as 0.
    assert three.committed_index({1: 9}) == 0
    assert three.committed_index({1: 9, 2: 4}) == 4
    # Acks from outside the config do not count.
    assert three.committed_index({1: 9, 4: 9, 5: 9}) == 0


def test_even_sized_config_needs_more_than_half() -> None:
    four = MajorityConfig.of([1, 2, 3, 4])
    assert four.quorum == 3
    assert four.committed_index({1: 8, 2: 8, 3: 2, 4: 2}) == 2
    assert four.vote_result({1: True, 2: True, 3: False, 4: False}) is VoteResult.LOST
    assert four.vote_result({1: True, 2: True}) is VoteResult.PENDING


def test_single_voter_decides_alone() -> None:
    one = MajorityConfig.of([7])
    assert one.committed_index({7: 3}) == 3
    assert one.vote_result({}) is VoteResult.PENDING
    assert one.vote_result({7: True}) is VoteResult.WON
    assert one.vote_result({7: False}) is VoteResult.LOST


def test_vote_result_by_example() -> None:
    five = MajorityConfig.of([1, 2, 3, 4, 5])
    assert five.vote_result({}) is VoteResult.PENDING
    assert five.vote_result({1: True, 2: True}) is VoteResult.PENDING
    assert five.vote_result({1: True, 2: True, 3: True}) is VoteResult.WON
    assert five.vote_result({1: False, 2: False, 3: False}) is VoteResult.LOST
    # Two yes, two no, one missing: the last voter decides.
    assert five.vote_result({1: True, 2: True, 3: False, 4: False}) is VoteResult.PENDING
    # Votes from outside the config do not count.
    assert five.vote_result({1: True, 6: True, 7: True, 8: True}) is VoteResult.PENDING


def test_empty_config_agrees_with_anything() -> None:
    # The convention that lets a joint config with an empty half act as its other half.
    empty = MajorityConfig.of([])
    assert empty.committed_index({1: 5}) == NO_LIMIT
    assert empty.vote_result({}) is VoteResult.WON


# --- against brute force ------------------------------------------------------------------


def _majorities(voters: frozenset[int]) -> list[frozenset[int]]:
    need = len(voters) // 2 + 1
    return [frozenset(c) for k in range(need, len(voters) + 1) for c in combinations(voters, k)]


def _brute_committed(voters: frozenset[int], acked: dict[int, int]) -> int:
    """The largest index some majority has entirely acknowledged."""
    return max(min(acked.get(v, 0) for v in group) for group in _majorities(voters))


def _brute_vote(voters: frozenset[int], votes: dict[int, bool]) -> VoteResult:
    yes = {v for v in voters if votes.get(v) is True}
    could_be_yes = {v for v in voters if votes.get(v) is not False}
    if any(group <= yes for group in _majorities(voters)):
        return VoteResult.WON
    if any(group <= could_be_yes for group in _majorities(voters)):
        return VoteResult.PENDING
    return VoteResult.LOST


voter_sets = st.frozensets(st.integers(0, 8), min_size=1, max_size=7)


@given(voter_sets, st.dictionaries(st.integers(0, 10), st.integers(0, 20)))
def test_committed_index_matches_brute_force(voters: frozenset[int], acked: dict[int, int]) -> None:
    assert MajorityConfig(voters).committed_index(acked) == _brute_committed(voters, acked)


@given(voter_sets, st.dictionaries(st.integers(0, 10), st.booleans()))
def test_vote_result_matches_brute_force(voters: frozenset[int], votes: dict[int, bool]) -> None:
    assert MajorityConfig(voters).vote_result(votes) is _brute_vote(voters, votes)


# --- joint configs ------------------------------------------------------------------------


def test_joint_commit_is_what_both_halves_hold() -> None:
    joint = JointConfig.of([1, 2, 3], [1, 4, 5])
    # 1, 2, 3 hold 9 (a majority of the incoming half) but only 1 of the outgoing does.
    assert joint.committed_index({1: 9, 2: 9, 3: 9, 4: 2, 5: 0}) == 2
    assert joint.committed_index({1: 9, 2: 9, 4: 7}) == 7
    # Without an outgoing half it is the incoming majority.
    assert JointConfig.of([1, 2, 3]).committed_index({1: 9, 2: 9}) == 9


def test_joint_vote_needs_both_halves() -> None:
    joint = JointConfig.of([1, 2, 3], [1, 4, 5])
    assert joint.vote_result({1: True, 2: True, 3: True}) is VoteResult.PENDING
    assert joint.vote_result({1: True, 2: True, 4: True}) is VoteResult.WON
    assert joint.vote_result({1: True, 2: True, 4: False, 5: False}) is VoteResult.LOST
    assert JointConfig.of([1, 2, 3]).vote_result({1: True, 2: True}) is VoteResult.WON


@given(voter_sets, voter_sets, st.dictionaries(st.integers(0, 10), st.integers(0, 20)))
def test_joint_committed_index_matches_brute_force(
    incoming: frozenset[int], outgoing: frozenset[int], acked: dict[int, int]
) -> None:
    expected = min(_brute_committed(incoming, acked), _brute_committed(outgoing, acked))
    assert (
        JointConfig(MajorityConfig(incoming), MajorityConfig(outgoing)).committed_index(acked)
        == expected
    )


@given(voter_sets, voter_sets, st.dictionaries(st.integers(0, 10), st.booleans()))
def test_joint_vote_matches_brute_force(
    incoming: frozenset[int], outgoing: frozenset[int], votes: dict[int, bool]
) -> None:
    halves = {_brute_vote(incoming, votes), _brute_vote(outgoing, votes)}
    expected = (
        VoteResult.LOST
        if VoteResult.LOST in halves
        else VoteResult.WON
        if halves == {VoteResult.WON}
        else VoteResult.PENDING
    )
    joint = JointConfig(MajorityConfig(incoming), MajorityConfig(outgoing))
    assert joint.vote_result(votes) is expected
