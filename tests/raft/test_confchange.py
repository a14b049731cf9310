"""confchange: which membership changes are made simply, which go joint, which are refused."""

from __future__ import annotations

import pytest

from eraft_trio.raft.confchange import ConfChange, change_membership, enter_joint, leave_joint
from eraft_trio.raft.membership import Membership, MembershipError

THREE = Membership.of([1, 2, 3])


def changes(*words: str) -> list[ConfChange]:
    return [ConfChange.parse(w) for w in words]


def test_adding_a_learner_is_simple() -> None:
    assert change_membership(THREE, changes("l4")) == Membership.of([1, 2, 3], [4])


def test_promoting_a_learner_is_simple() -> None:
    with_learner = Membership.of([1, 2, 3], [4])
    assert change_membership(with_learner, changes("v4")) == Membership.of([1, 2, 3, 4])


def test_removing_one_voter_is_simple() -> None:
    assert change_membership(THREE, changes("r3")) == Membership.of([1, 2])


def test_two_voters_changed_go_joint_and_leave_by_themselves() -> None:
    joint = change_membership(THREE, changes("r3", "v4"))
    assert joint.voters == {1, 2, 4} and joint.outgoing == {1, 2, 3}
    assert joint.joint and joint.auto_leave
    assert change_membership(joint, []) == Membership.of([1, 2, 4])


def test_a_joint_change_can_be_forced_and_a_simple_one_refused() -> None:
    assert change_membership(THREE, changes("l4"), joint=True).outgoing == {1, 2, 3}
    with pytest.raises(MembershipError, match="more than one voter"):
        change_membership(THREE, changes("v4", "v5"), joint=False)


def test_demoting_a_voter_through_joint_makes_it_a_learner_on_leaving() -> None:
    joint = enter_joint(THREE, changes("l3"), auto_leave=False)
    # Still an outgoing voter, so not yet a learner: it cannot be both at once.
    assert joint.learners_next == {3} and not joint.learners and 3 in joint.outgoing
    assert leave_joint(joint) == Membership.of([1, 2], [3])


@pytest.mark.parametrize(
    ("start", "words", "reason"),
    [
        (THREE, ("r1", "r2", "r3"), "remove every voter"),
        (Membership.of([1]), ("r1",), "remove every voter"),
        (THREE, ("v4", "l4"), "named more than once"),
        (THREE, ("r9",), "not a member"),
        (THREE, ("v1",), "leaves the membership as it is"),
        (THREE, (), "no changes given"),
        (enter_joint(THREE, changes("v4"), auto_leave=True), ("v5",), "joint already"),
    ],
)
def test_invalid_changes_are_refused_with_a_reason(
    start: Membership, words: tuple[str, ...], reason: str
) -> None:
    with pytest.raises(MembershipError, match=reason):
        change_membership(start, changes(*words))


def test_leaving_a_membership_that_is_not_joint_is_refused() -> None:
    with pytest.raises(MembershipError, match="not joint"):
        leave_joint(THREE)


def test_a_change_word_that_cannot_be_parsed_is_refused() -> None:
    for bad in ("x4", "v", "vx", ""):
        with pytest.raises(MembershipError, match="bad change"):
            ConfChange.parse(bad)


def test_membership_survives_its_encoding() -> None:
    joint = enter_joint(Membership.of([1, 2, 3], [7]), changes("l3", "v4"), auto_leave=True)
    for m in (THREE, joint, Membership.of([5], [1, 2])):
        assert Membership.decode(m.encode()) == m
    with pytest.raises(MembershipError, match="not an encoded membership"):
        Membership.decode(b"voters=1,x")
    with pytest.raises(MembershipError, match="no voters"):
        Membership.decode(Membership(frozenset()).encode())


def test_addresses_travel_with_the_membership_and_leave_with_their_node() -> None:
    addresses = {1: "10.0.0.1:6088", 2: "10.0.0.2:6088", 3: "[::1]:6090", 4: "h4:1"}
    with_addresses = THREE.with_addresses(addresses)
    assert with_addresses.address_map() == {1: "10.0.0.1:6088", 2: "10.0.0.2:6088", 3: "[::1]:6090"}
    assert Membership.decode(with_addresses.encode()) == with_addresses
    joint = change_membership(with_addresses, changes("r3", "v4")).with_addresses(addresses)
    assert joint.address_map()[3] == "[::1]:6090"  # still an outgoing voter
    left = leave_joint(joint)
    assert left.address_map() == {1: "10.0.0.1:6088", 2: "10.0.0.2:6088", 4: "h4:1"}
    # Without addresses the encoding is the one the simulator's transcripts know.
    assert b"addresses" not in THREE.encode()
