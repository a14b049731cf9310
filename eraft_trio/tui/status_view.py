"""Render a summarized cluster snapshot with rich: config grid, node table, migrations."""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from eraft_trio.protocol.address import host_of
from eraft_trio.roles.config.bucket_ranges import format_buckets
from eraft_trio.tui.bucket_grid import bucket_map, gid_style

WIDE = 120  # from this width on, the node table grows its extra columns
_ROLE_STYLE = {"leader": "bold green", "candidate": "yellow", "pre-candidate": "yellow"}


def render_status(
    snapshot: dict[str, Any], width: int, height: int, footer: str | None = None
) -> RenderableType:
    """The whole view for a terminal of `width` x `height` (a summarized snapshot)."""
    wide = width >= WIDE
    moving = {m["bucket"] for m in snapshot.get("migrations", [])}
    parts: list[RenderableType] = [_title(snapshot)]
    config = snapshot.get("config")
    if config is not None:
        parts.append(Text(f"buckets → groups (config {config['num']})", style="bold"))
        parts.append(bucket_map(config, width, 3 if height < 40 else 10, moving))
    parts.append(_node_table(snapshot, wide, _short_addresses(snapshot, wide)))
    parts.append(_elections(snapshot))
    parts.append(_migrations(snapshot, 4 if height < 40 else 16))
    pending = _pending_configs(snapshot)
    if pending.plain:
        parts.append(pending)
    if footer:
        parts.append(Text(footer, style="dim", no_wrap=True, overflow="ellipsis"))
    return Group(*parts)


def status_text(snapshot: dict[str, Any], width: int, height: int = 24) -> str:
    """The view as plain text at `width` columns (for --once into a pipe, and for tests)."""
    out = io.StringIO()
    console = Console(file=out, width=width, height=height, color_system=None, legacy_windows=False)
    console.print(render_status(snapshot, width, height))
    return out.getvalue()


def _title(snapshot: dict[str, Any]) -> Text:
    nodes = [n for g in snapshot["groups"] for n in g["nodes"]]
    up = sum(1 for n in nodes if n["up"])
    config = snapshot.get("config")
    text = Text("eraft ", style="bold")
    if config is None:
        text.append("config group unreachable", style="bold red")
    else:
        groups = len(config.get("groups") or {})
        text.append(f"config {config['num']} · {len(config['buckets'])} buckets · {groups} groups")
    text.append(" · ")
    text.append(f"{up}/{len(nodes)} up", style="green" if up == len(nodes) else "bold red")
    # Every replica applies each write, so only the leaders' rates add up to the load.
    rates = [
        n.get("ops_per_s")
        for g in snapshot["groups"]
        for n in g["nodes"]
        if n["address"] == g.get("leader")
    ]
    total = sum(r or 0.0 for r in rates)
    if any(r is not None for r in rates):
        text.append(f" · {_count(total)} ops/s")
    text.append(f" · {snapshot['time'][11:19]}", style="dim")
    return text


def _short_addresses(snapshot: dict[str, Any], wide: bool) -> bool:
    """Narrow terminals show ":port" when every node shares one host (the local cluster)."""
    hosts = {host_of(n["address"]) for g in snapshot["groups"] for n in g["nodes"]}
    return not wide and len(hosts) == 1


def _node_table(snapshot: dict[str, Any], wide: bool, short: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
    table.add_column("group", no_wrap=True)
    table.add_column("node", no_wrap=True)
    table.add_column("role", no_wrap=True)
    for name in ("term", "commit", "applied"):
        table.add_column(name, justify="right", no_wrap=True)
    if wide:
        table.add_column("lag", justify="right", no_wrap=True)
    table.add_column("log", justify="right", no_wrap=True)
    table.add_column("snap", justify="right", no_wrap=True)
    table.add_column("ops/s", justify="right", no_wrap=True)
    if wide:
        for name in ("fsync ms", "disk", "keys", "conns"):
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("note", overflow="ellipsis", no_wrap=True, max_width=48)
    for index, group in enumerate(snapshot["groups"]):
        labels = _group_labels(group)
        for row, node in enumerate(group["nodes"]):
            label = labels[row] if row < len(labels) else Text("")
            address = ":" + node["address"].rpartition(":")[2] if short else node["address"]
            cells = _node_cells(node, wide)
            table.add_row(label, address, *cells)
        if index < len(snapshot["groups"]) - 1:
            table.rows[-1].end_section = True
    return table


def _group_labels(group: dict[str, Any]) -> list[Text]:
    gid = group["gid"]
    name = Text("config" if gid == 0 else f"g{gid}", style=gid_style(gid) if gid else "bold")
    labels = [name]
    if gid == 0:
        return labels
    shard = group.get("shard")
    if shard is not None:
        serving = sum(1 for b in shard.get("buckets", []) if b.get("state") == "serving")
        labels.append(Text(f"cfg {shard.get('num', '?')}", style="dim"))
        labels.append(Text(f"{serving} bkt", style="dim"))
    return labels


def _node_cells(node: dict[str, Any], wide: bool) -> list[Text | str]:
    blank = 12 if wide else 6  # the columns after "role"
    if not node["up"]:
        cells: list[Text | str] = [Text("down", style="bold red")] + ["-"] * blank
        if wide:
            cells[-1] = Text(_reason(node.get("error") or ""), style="red")
        return cells
    raft = node["status"]["raft"]
    role = str(raft.get("role", "?"))
    role_cell = Text(role, style=_ROLE_STYLE.get(role, ""))
    if raft.get("drained"):
        role_cell.append(" drained", style="magenta")
    cells = [role_cell, str(raft.get("term", "?"))]
    cells += [str(raft.get("commit", "?")), str(raft.get("applied", "?"))]
    if wide:
        lag = node.get("lag")
        cells.append(Text(str(lag), style="yellow" if lag else "") if lag is not None else "-")
    cells += [str(raft.get("log_length", "?")), str(raft.get("snapshot_index", "?"))]
    rate = node.get("ops_per_s")
    cells.append(_count(rate) if rate is not None else "-")
    if wide:
        storage = node["status"].get("storage") or {}
        fsync = storage.get("commit_latency_mean_ms")
        cells.append(f"{fsync:.1f}" if isinstance(fsync, int | float) else "-")
        used = storage.get("used_bytes")
        cells.append(_bytes(used) if isinstance(used, int) else "-")
        cells.append(_keys(node))
        transport = node["status"].get("transport") or {}
        cells.append(_connections(transport))
        notes = []
        pending = raft.get("pending_proposals") or 0
        if pending:
            notes.append(f"{pending} pending")
        refused = transport.get("connections_refused") or 0
        if refused:
            notes.append(f"{_count(refused)} conns refused")
        cells.append(Text(", ".join(notes), style="yellow" if refused else ""))
    return cells


def _connections(transport: dict[str, Any]) -> str:
    """Open connections, and how many of them are still in their handshake ("12+3hs")."""
    if not isinstance(transport.get("connections_open"), int):
        return "-"
    opened, unauthenticated = (
        transport["connections_open"],
        transport.get("connections_unauthenticated", 0),
    )
    authenticated = opened - unauthenticated
    return f"{authenticated}+{unauthenticated}hs" if unauthenticated else str(authenticated)


def _elections(snapshot: dict[str, Any]) -> Text:
    """One line: per group, why its leader was elected and its elections by reason."""
    text = Text("elections", style="bold")
    if not any(g.get("elections") or g.get("election") for g in snapshot["groups"]):
        return Text("")
    for group in snapshot["groups"]:
        counts = group.get("elections") or {}
        election = group.get("election")
        if not counts and election is None:
            continue
        gid = group["gid"]
        text.append("  ")
        text.append("config" if gid == 0 else f"g{gid}", style=gid_style(gid) if gid else "bold")
        if election is not None:
            text.append(f" leader by {election['reason']} (term {election['term']})")
        listed = ", ".join(f"{n} {reason}" for reason, n in counts.items() if n)
        if listed:
            text.append(f" · {listed}", style="dim")
    return text


def _keys(node: dict[str, Any]) -> str:
    shard = (node["status"].get("role") or {}).get("shard")
    if not isinstance(shard, dict):
        return ""
    return _count(sum(int(b.get("keys", 0)) for b in shard.get("buckets", [])))


def _reason(error: str) -> str:
    """The gist of a transport error; the row already names the address."""
    if "Connection refused" in error or "all attempts to connect" in error:
        return "connection refused"
    if error.startswith("no answer from "):
        return "no answer within" + error.rpartition(" within")[2]
    # Others nest "cannot connect to X: ...: [Errno N] reason": keep the reason.
    return error.rpartition(": ")[2] if error.startswith("cannot connect") else error


def _migrations(snapshot: dict[str, Any], max_lines: int) -> Text:
    everything = snapshot.get("migrations") or []
    # A handoff whose bucket is being pulled shows as the pull (with its progress).
    moving = [m for m in everything if m.get("pulled_by") is None]
    if not moving:
        if snapshot.get("config") is None:
            return Text("")
        return Text("migrations: none, every bucket is served", style="dim")
    runs = _runs(moving)
    buckets = len({m["bucket"] for m in moving})
    text = Text(f"migrations ({buckets} bucket{'s' if buckets != 1 else ''})", style="bold")
    for run in runs[:max_lines]:
        text.append("\n  ")
        text.append(f"b{format_buckets(run['buckets'])} ")
        source, target = run["from_gid"], run["to_gid"]
        text.append(f"g{source}", style=gid_style(source or 0))
        text.append(" → ")
        text.append(f"g{target}" if target else "?", style=gid_style(target or 0))
        text.append(f" {run['state']} (config {run['num']}) ", style="yellow")
        total = run["total_keys"]
        done = run["keys"]
        if run["state"] == "pulling":
            text.append(f"{done}/{total if total is not None else '?'} keys")
            text.append(_progress(run), style="dim")
        else:
            text.append(f"{done} keys")
    if len(runs) > max_lines:
        text.append(f"\n  … and {len(runs) - max_lines} more", style="dim")
    return text


def _pending_configs(snapshot: dict[str, Any]) -> Text:
    """Groups still to apply the latest config, and what each group that left still holds:
    "migrations: none" is only the whole story once every group has reached the config."""
    summary = snapshot.get("handoffs") or {}
    text = Text()
    for group in summary.get("groups") or []:
        if group["num"] is None:
            text.append(f"\ng{group['gid']} ", style=gid_style(group["gid"]))
            text.append("config unknown (no node answered)", style="red")
        elif group["behind"]:
            text.append(f"\ng{group['gid']} ", style=gid_style(group["gid"]))
            text.append(
                f"at config {group['num']} of {summary['latest']}: "
                f"{group['behind']} config{'s' if group['behind'] != 1 else ''} to apply",
                style="yellow",
            )
    for group in summary.get("leaving") or []:
        text.append(f"\ng{group['gid']} ", style=gid_style(group["gid"]))
        text.append(f"left at config {group['left_at']}: ")
        if group["may_stop"]:
            text.append("every bucket moved and dropped, may be stopped", style="green")
        else:
            holds = group["holds"]
            held = "down" if holds is None else f"holds {holds} bucket{'s' if holds != 1 else ''}"
            text.append(f"{held}, do not stop it yet", style="bold yellow")
    if text.plain:
        text = Text("pending handoffs", style="bold") + text
    return text


def _progress(run: dict[str, Any]) -> str:
    """ " · 12.0M moved · 40.0M/s · ETA 3s" of a pull, as far as its leader reported it."""
    parts = []
    if run.get("bytes") is not None:
        parts.append(f"{_bytes(run['bytes'])} moved")
    if run.get("bytes_per_s") is not None:
        parts.append(f"{_bytes(run['bytes_per_s'])}/s")
    if run.get("eta_s") is not None:
        parts.append(f"ETA {run['eta_s']:.0f}s")
    return "".join(f" · {part}" for part in parts)


def _runs(moving: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive buckets with the same move merged into one line, key counts summed."""
    runs: list[dict[str, Any]] = []
    order = sorted(moving, key=lambda e: (e["state"] != "pulling", e["from_gid"] or 0, e["bucket"]))
    for entry in order:
        key = (entry["state"], entry["from_gid"], entry["to_gid"], entry["num"])
        last = runs[-1] if runs else None
        if last is not None and last["key"] == key and last["buckets"][-1] == entry["bucket"] - 1:
            last["buckets"].append(entry["bucket"])
            last["keys"] += entry["keys"]
            if last["total_keys"] is not None and entry["total_keys"] is not None:
                last["total_keys"] += entry["total_keys"]
            else:
                last["total_keys"] = None
            _merge_progress(last, entry)
            continue
        runs.append({**entry, "key": key, "buckets": [entry["bucket"]]})
    return runs


def _merge_progress(run: dict[str, Any], entry: dict[str, Any]) -> None:
    """Bytes and rates of buckets pulled side by side add up; the run ends with its slowest."""
    for name in ("bytes", "bytes_per_s"):
        if run.get(name) is not None or entry.get(name) is not None:
            run[name] = (run.get(name) or 0) + (entry.get(name) or 0)
    etas = [e for e in (run.get("eta_s"), entry.get("eta_s")) if e is not None]
    run["eta_s"] = max(etas, default=None)


def _count(value: float) -> str:
    if value >= 10_000_000:
        return f"{value / 1_000_000:.0f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}"


def _bytes(value: int) -> str:
    size = float(value)
    for unit in ("B", "K", "M", "G"):
        if size < 1024:
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}T"
