"""The probe's settle check, one group's statuses at a time (pure: no nodes)."""

from __future__ import annotations

from typing import Any

from eraft_trio.group_calls.cluster_probe import group_problems

CONFIG = {"num": 3, "buckets": [1, 2, 1, 2], "groups": {"1": ["a:1", "a:2"], "2": ["b:1"]}}


def member(
    role: str = "follower",
    *,
    term: int = 2,
    applied: int = 10,
    commit: int = 10,
    num: int = 3,
    buckets: dict[int, str] | None = None,
    gcs: int = 0,
) -> dict[str, Any]:
    held = {0: "serving", 2: "serving"} if buckets is None else buckets
    shard = {
        "num": num,
        "gcs": gcs,
        "buckets": [{"bucket": b, "state": s} for b, s in held.items()],
    }
    raft = {"role": role, "term": term, "applied": applied, "commit": commit}
    return {"raft": raft, "role": {"shard": shard}}


def test_a_group_with_one_leader_all_caught_up_at_the_latest_config_has_settled() -> None:
    assert group_problems(1, {"a:1": member("leader"), "a:2": member()}, CONFIG) == []


def test_each_way_of_not_having_settled_is_named() -> None:
    leader = member("leader")
    cases = {
        "no status from a:2": {"a:1": leader, "a:2": None},
        "0 leaders": {"a:1": member(), "a:2": member()},
        "a:2 at term 1": {"a:1": leader, "a:2": member(term=1)},
        "applied 9 < leader commit 10": {"a:1": leader, "a:2": member(applied=9)},
        "a:2 at config 2, latest is 3": {"a:1": leader, "a:2": member(num=2)},
        "config 3 gives it [0, 2]": {"a:1": leader, "a:2": member(buckets={0: "serving"})},
        "a:2 has 1 old copies": {"a:1": leader, "a:2": member(gcs=1)},
    }
    for expected, statuses in cases.items():
        problems = group_problems(1, statuses, CONFIG)
        assert len(problems) == 1 and expected in problems[0], (expected, problems)


def test_a_pulling_bucket_is_not_settled() -> None:
    pulling = member(buckets={0: "serving", 2: "pulling"})
    (problem,) = group_problems(1, {"a:1": member("leader"), "a:2": pulling}, CONFIG)
    assert "a:2 holds" in problem


def test_the_config_group_needs_only_its_leader_and_followers_in_step() -> None:
    raft = {"role": "leader", "term": 4, "applied": 7, "commit": 7}
    assert group_problems(0, {"c:1": {"raft": raft}}, CONFIG) == []
