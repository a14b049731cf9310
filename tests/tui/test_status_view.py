"""The status view of recorded snapshots, as text at 80 and 200 columns."""

from __future__ import annotations

from typing import Any

import pytest

from eraft_trio.tui.ops_rate import OpsRate
from eraft_trio.tui.status_summary import summarize
from eraft_trio.tui.status_view import status_text

from .snapshots import migrating, steady_pair, take_down


def _view(snapshot: dict[str, Any], width: int, height: int) -> list[str]:
    OpsRate().annotate(snapshot, 1.0)
    return status_text(summarize(snapshot), width, height).splitlines()


def _row(lines: list[str], needle: str) -> str:
    return next(line for line in lines if needle in line)


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 50)])
def test_view_fits_the_terminal(width: int, height: int) -> None:
    snapshot = migrating()
    take_down(snapshot, 1, 2)
    lines = _view(snapshot, width, height)
    assert max(len(line) for line in lines) <= width
    assert len(lines) <= height
    assert all("…" not in line for line in lines)  # no column had to be cut


def test_narrow_view_shows_config_grid_nodes_and_migration() -> None:
    snapshot = migrating()
    down = take_down(snapshot, 1, 2)
    lines = _view(snapshot, 80, 24)
    text = "\n".join(lines)
    assert lines[0].startswith("eraft config 4 · 10 buckets · 2 groups · 8/9 up")
    # The grid: bucket numbers, then the owner of each (0-6 to group 1, 7-9 to group 2).
    assert "0 1 2 3 4 5 6 7 8 9" in text
    assert "0  1 1 1 1 1 1 1 2 2 2" in text
    # Every node by port (one host), its role, term, commit, applied, log, snapshot index.
    assert _row(lines, ":41089").split()[1:7] == ["leader", "3", "7", "7", "7", "0"]
    assert _row(lines, ":40090").split()[-7:-1] == [
        "leader",
        "3",
        "40044",
        "40044",
        "8021",
        "32023",
    ]
    assert _row(lines, ":" + down.rpartition(":")[2]).split()[-7:] == ["down"] + ["-"] * 6
    assert "g1" in _row(lines, ":39088") and "g2" in _row(lines, ":40088")
    assert "b0-6 g2 → g1 pulling (config 4) 0/35037 keys" in text
    assert "handoff" not in text  # the old owner's side of a pull is not listed twice


def test_wide_view_adds_full_addresses_lag_disk_and_the_down_reason() -> None:
    snapshot = migrating()
    take_down(snapshot, 1, 2)
    lines = _view(snapshot, 200, 50)
    header = _row(lines, "commit").split()
    assert header[:4] == ["group", "node", "role", "term"]
    assert {"lag", "fsync", "disk", "keys", "note"} <= set(header)
    assert _row(lines, "127.0.0.1:39090").endswith("connection refused")
    assert "24.1M" in _row(lines, "127.0.0.1:40090")


def test_ops_per_second_come_from_two_snapshots() -> None:
    first, second = steady_pair()
    rate = OpsRate()
    rate.annotate(first, 10.0)
    rate.annotate(second, 11.0)
    lines = status_text(summarize(second), 80, 24).splitlines()
    config_leader = _row(lines, ":41089")
    ops = int(config_leader.split()[-1])
    counts = [
        {
            n["address"]: n["status"]["raft"]["applied_commands"] + n["status"]["raft"]["reads"]
            for g in snap["groups"]
            for n in g["nodes"]
        }
        for snap in (first, second)
    ]
    assert ops == counts[1]["127.0.0.1:41089"] - counts[0]["127.0.0.1:41089"]
    assert " ops/s · " in lines[0]
    assert "migrations: none, every bucket is served" in lines


def test_unreachable_config_group_renders_every_node_down() -> None:
    servers = ["127.0.0.1:1", "127.0.0.1:2"]
    nodes = [{"address": a, "up": False, "error": "refused", "status": None} for a in servers]
    snapshot: dict[str, Any] = {
        "time": "2026-01-01T00:00:00+00:00",
        "config_servers": servers,
        "config": None,
        "groups": [{"gid": 0, "addresses": servers, "nodes": nodes}],
    }
    lines = _view(snapshot, 80, 24)
    assert "config group unreachable" in lines[0] and "0/2 up" in lines[0]
    assert sum(1 for line in lines if " down " in line) == 2


def test_footer_is_cut_to_one_line() -> None:
    from io import StringIO

    from rich.console import Console

    from eraft_trio.tui.status_view import render_status

    snapshot = summarize(migrating())
    out = StringIO()
    Console(file=out, width=80, color_system=None).print(
        render_status(snapshot, 80, 24, footer="Ctrl-C stops the cluster · " + "x" * 200)
    )
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("Ctrl-C stops the cluster") and last.endswith("…")
