"""Derive what the status view shows from a raw snapshot: leaders, lag, bucket migrations."""

from __future__ import annotations

from typing import Any

from eraft_trio.raft.core import ELECTION_REASONS
from eraft_trio.tui.handoffs import handoffs

SERVING = "serving"


def summarize(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Add "leader", "term", "nodes_up", "shard", "drained" (addresses), "elections" (by
    reason) and "election" (the current leader's) to each group; "drained" (every drained
    node's address), "migrations" and "handoffs" (handoffs.py: each group's config, what
    leaving groups hold) at the top.

    Mutates and returns `snapshot`; the result is the `ctl status --json` document.
    """
    for group in snapshot["groups"]:
        up = [n for n in group["nodes"] if n["up"]]
        leader = _leader(up)
        group["nodes_up"] = len(up)
        group["leader"] = leader["address"] if leader is not None else None
        group["term"] = max((n["status"]["raft"].get("term", 0) for n in up), default=None)
        leader_commit = leader["status"]["raft"].get("commit") if leader is not None else None
        for node in group["nodes"]:
            node["lag"] = _lag(node, leader_commit)
        group["shard"] = _shard_view(leader, up) if group["gid"] else None
        group["pulls"] = _pulls(leader) if group["gid"] else []
        group["drained"] = [n["address"] for n in up if n["status"]["raft"].get("drained")]
        group["elections"] = _elections(up)
        group["election"] = _election(leader)
    snapshot["drained"] = [a for group in snapshot["groups"] for a in group["drained"]]
    snapshot["migrations"] = migrations(snapshot)
    snapshot["handoffs"] = handoffs(snapshot)
    return snapshot


def _elections(up: list[dict[str, Any]]) -> dict[str, int]:
    """Elections started and leader step-downs by reason, summed over the nodes that
    answered (each node counts since its own start)."""
    total: dict[str, int] = {}
    for node in up:
        for reason, count in (node["status"]["raft"].get("elections") or {}).items():
            total[reason] = total.get(reason, 0) + int(count)
    order = {reason: i for i, reason in enumerate(ELECTION_REASONS)}
    return dict(sorted(total.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))


def _election(leader: dict[str, Any] | None) -> dict[str, Any] | None:
    """Why the current leader became a candidate: {"term", "reason"} (None when it was
    not elected in its current term, e.g. a single-node group restarted)."""
    if leader is None:
        return None
    raft = leader["status"]["raft"]
    last = raft.get("last_election")
    if isinstance(last, dict) and last.get("term") == raft.get("term"):
        return last
    return None


def _leader(up: list[dict[str, Any]]) -> dict[str, Any] | None:
    # A deposed leader may not know it yet: the one with the highest term is current.
    leaders = [n for n in up if n["status"]["raft"].get("role") == "leader"]
    return max(leaders, key=lambda n: n["status"]["raft"].get("term", 0), default=None)


def _lag(node: dict[str, Any], leader_commit: int | None) -> int | None:
    if not node["up"] or leader_commit is None:
        return None
    return max(0, leader_commit - int(node["status"]["raft"].get("applied", 0)))


def _shard_view(leader: dict[str, Any] | None, up: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The group's bucket states as its leader sees them, else its most advanced replica."""
    candidates = [leader] if leader is not None else []
    candidates += sorted(up, key=lambda n: -int(n["status"]["raft"].get("applied", 0)))
    for node in candidates:
        shard = (node["status"].get("role") or {}).get("shard")
        if isinstance(shard, dict):
            return shard
    return None


def _pulls(leader: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The leader's own progress on the buckets it pulls (only the leader pulls)."""
    if leader is None:
        return []
    pulls = (leader["status"].get("role") or {}).get("pulls")
    return pulls if isinstance(pulls, list) else []


def migrations(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """Every bucket not SERVING at some group, with where it goes and how far it got.

    A PULLING bucket at its new owner is matched with the same bucket in HANDOFF at the
    old owner (same config num), whose key count is the total to copy; that HANDOFF entry
    then names its puller in "pulled_by" (None: nobody pulls it now, it waits for GC).
    A pull also carries the puller leader's progress: "bytes" moved, "bytes_per_s" and
    "eta_s" (from the keys still to copy at the rate keys arrived; None when unknown).
    """
    config = snapshot.get("config") or {}
    owners: list[int] = list(config.get("buckets") or [])
    handoffs: dict[tuple[int, int, int], int] = {}
    moving: list[dict[str, Any]] = []
    progress = {
        (group["gid"], p["bucket"], p["num"]): p
        for group in snapshot["groups"]
        for p in group.get("pulls") or []
    }
    for group in snapshot["groups"]:
        shard = group.get("shard") or {}
        for item in shard.get("buckets") or []:
            if item.get("state") == SERVING:
                continue
            entry = {
                "bucket": item["bucket"],
                "gid": group["gid"],
                "state": item.get("state"),
                "num": item.get("num"),
                "keys": item.get("keys", 0),
            }
            if entry["state"] == "pulling":
                entry["from_gid"], entry["to_gid"] = item.get("gid"), group["gid"]
                entry["progress"] = progress.get((group["gid"], item["bucket"], item.get("num")))
            else:
                owner = owners[item["bucket"]] if item["bucket"] < len(owners) else 0
                entry["from_gid"] = group["gid"]
                entry["to_gid"] = owner if owner != group["gid"] else None
                handoffs[(group["gid"], item["bucket"], item.get("num"))] = entry["keys"]
            moving.append(entry)
    pullers = {
        (e["from_gid"], e["bucket"], e["num"]): e["gid"] for e in moving if e["state"] == "pulling"
    }
    for entry in moving:
        key = (entry["from_gid"], entry["bucket"], entry["num"])
        if entry["state"] == "pulling":
            entry["total_keys"] = handoffs.get(key)
            entry.update(_rate(entry.pop("progress"), entry["keys"], entry["total_keys"]))
        else:
            entry["total_keys"] = entry["keys"]
            entry["pulled_by"] = pullers.get(key)
            entry["to_gid"] = entry["pulled_by"] or entry["to_gid"]
    return sorted(moving, key=lambda e: (e["bucket"], e["state"] != "pulling", e["gid"]))


def _rate(progress: dict[str, Any] | None, keys: int, total: int | None) -> dict[str, Any]:
    if progress is None:
        return {"bytes": None, "bytes_per_s": None, "eta_s": None}
    rows, seconds = progress.get("rows", 0), progress.get("seconds", 0)
    eta = None
    if total is not None and rows > 0 and seconds > 0:
        eta = round(max(0, total - keys) * seconds / rows, 1)
    return {
        "bytes": progress.get("bytes"),
        "bytes_per_s": progress.get("bytes_per_s"),
        "eta_s": eta,
    }
