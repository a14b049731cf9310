"""The members nemesis's replace: the node's data goes only once the group removed it.

A run once wiped it first; the kill nemesis restarted every node meanwhile, so the old
id came back with no data while still a member (it could vote twice in a term), and the
new node never started. Processes are fakes here; the real thing runs in the chaos runs.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from eraft_trio.chaos.events import EventLog
from eraft_trio.chaos.member_nemesis import MemberNemesis
from eraft_trio.chaos.topology import build_topology


class FakeProcess:
    def __init__(self, spec: Any) -> None:
        self.role_path = spec.role_path
        self.name = spec.name
        self.running = True
        self.started_with: list[tuple[Path, bool]] = []  # role file, data present

    def kill(self) -> None:
        self.running = False

    def start(self) -> None:
        if not self.running:
            self.running = True
            data = self.role_path.parent / "data" / self.name
            self.started_with.append((self.role_path, data.exists()))


async def test_a_restart_during_the_removal_finds_the_node_with_its_data(tmp_path: Path) -> None:
    topology = build_topology(tmp_path, 1)
    spec = topology.group_nodes(1)[0]
    data = tmp_path / "data" / spec.name
    data.mkdir(parents=True)
    process = FakeProcess(spec)
    nemesis = MemberNemesis(topology, {spec.name: process}, EventLog(quiet=True), random.Random(1))  # type: ignore[arg-type]
    calls = []

    async def ctl(action: str, gid: int, address: str) -> bool:
        calls.append(action)
        if action == "remove":
            process.start()  # another nemesis heals its kill meanwhile
        return True

    nemesis._ctl = ctl  # type: ignore[method-assign]
    await nemesis.replace(spec)
    assert calls == ["remove", "add"]
    old, new = process.started_with
    assert old == (spec.role_path, True)  # the old id came back with its data
    assert new[0] != spec.role_path and new[1] is False  # the joiner, on an empty folder
    assert "join = true" in new[0].read_text()
