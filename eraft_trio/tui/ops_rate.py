"""OpsRate: each node's operations per second, from its counters in successive snapshots."""

from __future__ import annotations

from typing import Any


def node_ops(status: dict[str, Any]) -> int:
    """Operations a node has served: commands applied (writes, config) plus ReadIndex reads."""
    raft = status.get("raft") or {}
    return int(raft.get("applied_commands", 0)) + int(raft.get("reads", 0))


class OpsRate:
    """Remembers each node's counter and when it was read; `annotate` sets "ops_per_s"."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}

    def annotate(self, snapshot: dict[str, Any], now: float) -> None:
        """Set "ops_per_s" on every node of `snapshot` (None: no earlier reading to compare)."""
        for group in snapshot["groups"]:
            for node in group["nodes"]:
                node["ops_per_s"] = self._rate(node, now)

    def _rate(self, node: dict[str, Any], now: float) -> float | None:
        addr = node["address"]
        if not node["up"]:
            self._last.pop(addr, None)
            return None
        count = node_ops(node["status"])
        previous = self._last.get(addr)
        self._last[addr] = (now, count)
        if previous is None or now <= previous[0]:
            return None
        if count < previous[1]:
            return None  # the node restarted: its counters began again at zero
        return (count - previous[1]) / (now - previous[0])
