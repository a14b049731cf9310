"""The member nemesis: a group's own nodes change under load, beside the other faults.

Two actions, as an operator performs them with `eraft ctl member` (docs/operations.md):

- ``replace``: a machine dies for good and a new one takes its address. kill -9,
  `member remove GROUP ADDR`, its data folder deleted, then a fresh node with `join = true`
  on the same address and `member add GROUP ADDR` (a learner, caught up by snapshot,
  promoted).
  The same address keeps the config chain's addresses and the run's per-host network
  faults valid; the node gets a new Raft id.
- ``grow``: a fourth node joins the group (its own spare host), votes a while, and is
  removed again, then stopped and its data deleted.

Any group may be chosen, the config group included. An action runs to its end once
begun (a group is never left with one node missing because the run stopped), each ctl
call retried while the group cannot answer. Network faults never cut a spare node's
links: it is not in the run's topology.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
import sys
from collections import Counter
from pathlib import Path

import trio

from eraft_trio.chaos.events import EventLog
from eraft_trio.chaos.node_processes import NodeProcess, NodeSet
from eraft_trio.chaos.pacing import hold
from eraft_trio.chaos.topology import NodeSpec, Topology, free_port, joiner_role_text, spare_host

INTERVAL = (8.0, 20.0)
GROWN_HOLD = (3.0, 10.0)
CTL_TIMEOUT = 10.0  # one ctl call
CATCH_UP_TIMEOUT = 60.0  # a new node's catch-up before its promotion
GIVE_UP_AFTER = 120.0  # one step's retries, in all: a run's end waits for at most this
RETRY_PAUSE = 1.0
# What `eraft ctl member` refuses when the change is already made (cli/ctl_member.py).
ALREADY = {"add": "is a member already", "remove": "is not a member of group"}


class MemberNemesis:
    def __init__(
        self, topology: Topology, nodes: NodeSet, events: EventLog, rng: random.Random
    ) -> None:
        self.topology = topology
        self.nodes = nodes
        self.events = events
        self.rng = rng
        self.outcomes: Counter[str] = Counter()  # "replace ok", "grow unfinished", ...
        self._replacements = 0

    async def run(self, stop: trio.Event) -> None:
        while await hold(stop, self.rng.uniform(*INTERVAL)):
            gid = self.rng.choice(self.topology.gids)
            if self.rng.random() < 0.6:
                await self.replace(self.rng.choice(self.topology.group_nodes(gid)))
            else:
                await self.grow(gid, stop)

    async def replace(self, spec: NodeSpec) -> None:
        """kill -9, remove, and a fresh node (data wiped) on the same address added back.

        The data goes only once the group has removed the node: until then another
        nemesis may restart it (a machine that came back), and it must come back with
        its data. A node with its old id and no data could vote twice in one term.
        """
        process = self.nodes[spec.name]
        process.kill()
        self.events.fault("members:replace", f"member replace {spec.name}: kill -9")
        if not await self._ctl("remove", spec.gid, spec.address):
            process.start()  # still a member, its data intact: it catches up as any restart
            self._finish("replace", spec.name, ok=False)
            return
        # No checkpoint from here to start(): nothing restarts the old node in between.
        process.kill()
        shutil.rmtree(_data_dir(spec), ignore_errors=True)
        self._replacements += 1
        role_path = spec.role_path.with_name(f"{spec.name}-r{self._replacements}.toml")
        role_path.write_text(joiner_role_text(spec, self._peers(spec), self.topology))
        process.role_path = role_path
        process.start()  # waits until the group lists its address
        self.events.say(f"nemesis: member replace {spec.name}: removed, data wiped, joining")
        self._finish("replace", spec.name, ok=await self._ctl("add", spec.gid, spec.address))

    async def grow(self, gid: int, stop: trio.Event) -> None:
        """A fourth member added, left to vote a while, removed and stopped."""
        host = spare_host(gid)
        self._replacements += 1
        # A name of its own (n100 and up) for its role file, log and data folder.
        spec = NodeSpec(gid, 99 + self._replacements, f"{host}:{free_port(host)}", Path())
        spec = dataclasses.replace(spec, role_path=self._folder() / f"{spec.name}.toml")
        spec.role_path.write_text(joiner_role_text(spec, self._peers(spec), self.topology))
        process = NodeProcess.of(spec)
        self.nodes.nodes[spec.name] = process
        process.start()
        self.events.fault("members:grow", f"member add {spec.address} to {_group(gid)}")
        added = await self._ctl("add", gid, spec.address)
        if added:
            await hold(stop, self.rng.uniform(*GROWN_HOLD))
        # Removed whether or not the add was seen to finish: it may have applied.
        removed = await self._ctl("remove", gid, spec.address)
        if removed:
            process.stop()
            del self.nodes.nodes[spec.name]
            shutil.rmtree(_data_dir(spec), ignore_errors=True)
        # else: left running (a member the group still counts), torn down with the run
        self._finish("grow", spec.address, ok=added and removed)

    def _finish(self, kind: str, what: str, *, ok: bool) -> None:
        self.outcomes[f"{kind} {'ok' if ok else 'unfinished'}"] += 1
        self.events.say(f"nemesis: member {kind} {what}: {'done' if ok else 'UNFINISHED'}")

    def _peers(self, spec: NodeSpec) -> tuple[str, ...]:
        # Every address the group was created with, a replaced node's own included: a
        # config node derives the cluster id from them (docs/reference.md, "join").
        return tuple(node.address for node in self.topology.group_nodes(spec.gid))

    def _folder(self) -> Path:
        return self.topology.nodes[0].role_path.parent

    async def _ctl(self, action: str, gid: int, address: str) -> bool:
        """`eraft ctl member ACTION GROUP ADDRESS` until it succeeds, is refused, or
        GIVE_UP_AFTER passes; whether it succeeded."""
        command = [
            sys.executable, "-m", "eraft_trio", "ctl",
            "-s", ",".join(self.topology.config_servers),
            "--timeout", str(CTL_TIMEOUT),
            "member", action, _group(gid), address,
        ]  # fmt: skip
        if action == "add":
            command += ["--catch-up-timeout", str(CATCH_UP_TIMEOUT)]
        with trio.move_on_after(GIVE_UP_AFTER):
            while True:
                done = await trio.run_process(
                    command, capture_stdout=True, capture_stderr=True, check=False
                )
                reason = done.stderr.decode(errors="replace").strip().splitlines()
                # A retry of a change that applied although its answer was lost.
                if done.returncode == 0 or (reason and ALREADY[action] in reason[-1]):
                    return True
                self.events.say(
                    f"nemesis: member {action} {address}: exit {done.returncode}: "
                    f"{reason[-1] if reason else ''}"
                )
                await trio.sleep(RETRY_PAUSE)
        return False


def _group(gid: int) -> str:
    return "config" if gid == 0 else str(gid)


def _data_dir(spec: NodeSpec) -> Path:
    # Role files name data_dir relative to their own folder (topology.py).
    return spec.role_path.parent / "data" / spec.name
