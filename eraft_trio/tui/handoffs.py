"""Pending handoffs of a summarized snapshot: how far each group is behind the latest config,
what the groups that left still hold, and whether the cluster has settled.

Bucket states alone do not say that a change is finished: a group that has not yet
applied the new config holds no PULLING or HANDOFF bucket for it, so "no migration"
is only true once every group has reached the config. A group that left is done once
every remaining group has applied the config it left in, nobody pulls from it, and
nothing of it is waiting to be dropped (its own view, or, when it is already down,
no garbage-collection notice anywhere).
"""

from __future__ import annotations

from typing import Any

SERVING = "serving"


def handoffs(
    snapshot: dict[str, Any], target: int | None = None, leavers: frozenset[int] = frozenset()
) -> dict[str, Any]:
    """{"latest", "target", "groups": [{"gid", "num", "behind"}], "leaving": [{"gid",
    "left_at", "num", "holds", "may_stop"}], "settled"} of a `summarize`d snapshot.

    `target` (default: the latest config) is the config every group must have reached;
    "num" is None for a group none of whose nodes answered. `leavers` are groups the
    caller knows left on the way to `target`: settled needs each listed and free to stop.
    A snapshot without a config (no config node answered) never counts as settled: it
    lists no group at all, so every other condition would hold by default.
    """
    config = snapshot.get("config") or {}
    latest = int(config.get("num", 0))
    target = latest if target is None else target
    members = {int(gid) for gid in config.get("groups") or {}}
    shard_groups = [g for g in snapshot["groups"] if g["gid"]]
    current = [g for g in shard_groups if g["gid"] in members]
    former = [g for g in shard_groups if g["gid"] not in members and g.get("left_at")]

    groups = [
        {"gid": g["gid"], "num": _num(g), "behind": _behind(_num(g), latest)} for g in current
    ]
    pulled_from = {
        m.get("from_gid") for m in snapshot.get("migrations") or [] if m["state"] == "pulling"
    }
    gcs_pending = sum(int((g.get("shard") or {}).get("gcs", 0)) for g in current)
    leaving = []
    for group in former:
        left_at = int(group["left_at"])
        shard = group.get("shard")
        holds = None if shard is None else len(shard.get("buckets") or [])
        reached = all(g["num"] is not None and g["num"] >= left_at for g in groups)
        done_here = holds == 0 if shard is not None else gcs_pending == 0
        leaving.append(
            {
                "gid": group["gid"],
                "left_at": left_at,
                "num": _num(group),
                "holds": holds,
                "may_stop": reached and group["gid"] not in pulled_from and done_here,
            }
        )
    unfinished = [
        item
        for g in shard_groups
        for item in (g.get("shard") or {}).get("buckets") or []
        if item.get("state") != SERVING
    ]
    may_stop = {item["gid"] for item in leaving if item["may_stop"]}
    settled = (
        bool(config)
        and latest >= target
        and leavers <= may_stop
        and all(g["num"] is not None and g["num"] >= target for g in groups)
        and not unfinished
        and gcs_pending == 0
        and all(item["may_stop"] for item in leaving)
    )
    return {
        "latest": latest,
        "target": target,
        "groups": groups,
        "leaving": leaving,
        "settled": settled,
    }


def moved_buckets(before: dict[str, Any] | None, after: dict[str, Any]) -> list[int]:
    """Buckets whose owner differs between two configs ({"buckets": [...]} JSON forms)."""
    old = list((before or {}).get("buckets") or [0] * len(after["buckets"]))
    return [b for b, gid in enumerate(after["buckets"]) if b >= len(old) or old[b] != gid]


def buckets_in_place(snapshot: dict[str, Any], buckets: list[int], target: int) -> int:
    """How many of `buckets` their latest owner serves at `target` or later, with no
    copy left anywhere else (no PULLING or HANDOFF entry for the bucket)."""
    config = snapshot.get("config") or {}
    owners = list(config.get("buckets") or [])
    busy = {m["bucket"] for m in snapshot.get("migrations") or []}
    reached: dict[int, int] = {}
    for group in snapshot["groups"]:
        num = _num(group)
        if group["gid"] and num is not None:
            reached[group["gid"]] = num
    done = 0
    for bucket in buckets:
        owner = owners[bucket] if bucket < len(owners) else 0
        if bucket in busy:
            continue
        if owner == 0 or reached.get(owner, -1) >= target:
            done += 1
    return done


def bytes_installed(snapshot: dict[str, Any]) -> int:
    """Bytes of pulled chunks the shard leaders installed since they took office."""
    total = 0
    for group in snapshot["groups"]:
        if not group["gid"] or group.get("leader") is None:
            continue
        for node in group["nodes"]:
            if node["address"] == group["leader"] and node.get("status"):
                total += int((node["status"].get("role") or {}).get("bytes_installed", 0))
    return total


def _num(group: dict[str, Any]) -> int | None:
    shard = group.get("shard")
    return int(shard["num"]) if isinstance(shard, dict) and "num" in shard else None


def _behind(num: int | None, latest: int) -> int | None:
    return None if num is None else max(0, latest - num)
