"""handoffs(): settled only once every group reached the config and nothing is left to move."""

from __future__ import annotations

from typing import Any

from eraft_trio.tui.handoffs import buckets_in_place, handoffs, moved_buckets
from eraft_trio.tui.status_summary import summarize


def node(num: int | None, buckets: list[tuple[int, str]], gcs: int = 0) -> dict[str, Any]:
    if num is None:
        return {"address": "h:1", "up": False, "error": "down", "status": None}
    shard = {
        "gid": 0,
        "num": num,
        "buckets": [
            {"bucket": b, "state": state, "keys": 1, "num": num, "gid": 1} for b, state in buckets
        ],
        "gcs": gcs,
    }
    raft = {"role": "leader", "term": 1, "commit": 5, "applied": 5}
    return {
        "address": "h:1",
        "up": True,
        "error": None,
        "status": {"raft": raft, "role": {"shard": shard}},
    }


def snapshot(
    groups: dict[int, dict[str, Any]],
    latest: int,
    owners: list[int],
    left: dict[int, int] | None = None,
) -> dict[str, Any]:
    config = {
        "num": latest,
        "buckets": owners,
        "groups": {str(g): ["h:1"] for g in set(owners) if g},
    }
    entries = [{"gid": 0, "addresses": [], "nodes": []}]
    for gid, one in groups.items():
        entry = {"gid": gid, "addresses": ["h:1"], "nodes": [one]}
        if left and gid in left:
            entry["left_at"] = left[gid]
        entries.append(entry)
    return summarize(
        {
            "time": "2026-01-01T00:00:00+00:00",
            "config_servers": [],
            "config": config,
            "groups": entries,
        }
    )


def test_a_group_that_has_not_applied_the_config_is_not_settled_even_with_no_migration() -> None:
    """The issue's complaint: "migrations: none" before the groups have seen the config."""
    snap = snapshot({2: node(3, [(0, "serving"), (1, "serving")])}, 4, [2, 2])
    assert snap["migrations"] == []
    summary = snap["handoffs"]
    assert summary["groups"] == [{"gid": 2, "num": 3, "behind": 1}]
    assert summary["settled"] is False
    assert handoffs(snap, target=3)["settled"] is True


def test_a_leaving_group_that_still_holds_a_bucket_must_not_be_stopped() -> None:
    snap = snapshot(
        {1: node(4, [(0, "handoff")]), 2: node(4, [(0, "pulling"), (1, "serving")])},
        4,
        [2, 2],
        left={1: 4},
    )
    [leaving] = snap["handoffs"]["leaving"]
    assert leaving == {"gid": 1, "left_at": 4, "num": 4, "holds": 1, "may_stop": False}
    assert snap["handoffs"]["settled"] is False
    assert buckets_in_place(snap, moved_buckets({"buckets": [1, 2]}, {"buckets": [2, 2]}), 4) == 0


def test_a_leaving_group_may_stop_once_its_buckets_are_pulled_and_dropped() -> None:
    snap = snapshot(
        {1: node(4, []), 2: node(4, [(0, "serving"), (1, "serving")])}, 4, [2, 2], left={1: 4}
    )
    assert snap["handoffs"]["leaving"][0]["may_stop"] is True
    assert snap["handoffs"]["settled"] is True
    assert buckets_in_place(snap, [0], 4) == 1


def test_a_leaving_group_already_down_may_stop_only_without_pending_drops() -> None:
    done = snapshot({1: node(None, []), 2: node(4, [(0, "serving")])}, 4, [2], left={1: 4})
    assert done["handoffs"]["leaving"][0]["may_stop"] is True
    waiting = snapshot(
        {1: node(None, []), 2: node(4, [(0, "serving")], gcs=1)}, 4, [2], left={1: 4}
    )
    assert waiting["handoffs"]["leaving"][0] == {
        "gid": 1,
        "left_at": 4,
        "num": None,
        "holds": None,
        "may_stop": False,
    }
    assert waiting["handoffs"]["settled"] is False


def test_moved_buckets_compares_owners() -> None:
    assert moved_buckets(None, {"buckets": [1, 1]}) == [0, 1]
    assert moved_buckets({"buckets": [1, 2, 2]}, {"buckets": [1, 1, 2]}) == [1]


def test_no_answer_from_the_config_group_is_never_settled() -> None:
    """Regression (review): with no config node answering, the probe lists no group, and
    every condition held by default: `ctl leave --wait` said "settled" at once."""
    snap = summarize(
        {"time": "2026-01-01T00:00:00+00:00", "config_servers": [], "config": None, "groups": []}
    )
    assert handoffs(snap, target=7)["settled"] is False


def test_a_config_older_than_the_target_is_not_settled() -> None:
    snap = snapshot({2: node(3, [(0, "serving"), (1, "serving")])}, 3, [2, 2])
    assert handoffs(snap, target=4)["settled"] is False


def test_a_leaver_the_probe_did_not_find_is_not_settled() -> None:
    """The group that left must be seen free to stop, not merely missing from the view."""
    snap = snapshot({2: node(4, [(0, "serving"), (1, "serving")])}, 4, [2, 2])
    assert handoffs(snap, target=4)["settled"] is True
    assert handoffs(snap, target=4, leavers=frozenset({1}))["settled"] is False
    found = snapshot(
        {2: node(4, [(0, "serving"), (1, "serving")]), 1: node(4, [])}, 4, [2, 2], left={1: 4}
    )
    assert handoffs(found, target=4, leavers=frozenset({1}))["settled"] is True
