"""Recorded status snapshots of a real local cluster (tests/tui/data), loaded fresh per test."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


def migrating() -> dict[str, Any]:
    """Config 4 moving buckets 0-6 from group 2 to group 1: pulls just begun."""
    return copy.deepcopy(json.loads((DATA / "migrating.json").read_text()))


def steady_pair() -> tuple[dict[str, Any], dict[str, Any]]:
    """Two snapshots of an idle cluster, one second apart (every bucket served)."""
    first, second = json.loads((DATA / "steady_pair.json").read_text())
    return first, second


def take_down(snapshot: dict[str, Any], gid: int, index: int) -> str:
    """Mark one node as a probe sees a stopped one; returns its address."""
    group = next(g for g in snapshot["groups"] if g["gid"] == gid)
    address: str = group["nodes"][index]["address"]
    group["nodes"][index] = {
        "address": address,
        "up": False,
        "error": f"cannot connect to {address}: [Errno 111] Connection refused",
        "status": None,
    }
    return address
