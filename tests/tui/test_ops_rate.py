"""OpsRate: per-node operations per second between two readings."""

from __future__ import annotations

from typing import Any

from eraft_trio.tui.ops_rate import OpsRate


def _snapshot(**counts: int | None) -> dict[str, Any]:
    nodes = []
    for addr, count in counts.items():
        status = None if count is None else {"raft": {"applied_commands": count, "reads": 1}}
        nodes.append({"address": addr, "up": count is not None, "status": status})
    return {"groups": [{"gid": 0, "nodes": nodes}]}


def _rates(snapshot: dict[str, Any]) -> dict[str, float | None]:
    return {n["address"]: n["ops_per_s"] for n in snapshot["groups"][0]["nodes"]}


def test_first_reading_has_no_rate_then_delta_over_time() -> None:
    rate = OpsRate()
    first = _snapshot(a=10, b=0)
    rate.annotate(first, 100.0)
    assert _rates(first) == {"a": None, "b": None}
    second = _snapshot(a=30, b=0)
    rate.annotate(second, 102.0)
    assert _rates(second) == {"a": 10.0, "b": 0.0}


def test_a_restarted_or_down_node_starts_over() -> None:
    rate = OpsRate()
    rate.annotate(_snapshot(a=100, b=5), 1.0)
    restarted = _snapshot(a=3, b=None)
    rate.annotate(restarted, 2.0)
    assert _rates(restarted) == {"a": None, "b": None}
    back = _snapshot(a=7, b=9)
    rate.annotate(back, 3.0)
    assert _rates(back) == {"a": 4.0, "b": None}
