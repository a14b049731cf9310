"""The membership nemesis: join, leave and move under load, beside the other faults.

It reads the latest config before each change, so it never asks for a change the
config group must refuse (leaving the last group, joining a joined one); a change
that times out may still apply later, which the next read of the config shows.
"""

from __future__ import annotations

import random
from collections import Counter

import trio

from eraft_trio.chaos.events import EventLog
from eraft_trio.chaos.pacing import hold
from eraft_trio.chaos.topology import Topology
from eraft_trio.errors import BadRequest, OperationTimeout
from eraft_trio.group_calls.config_client import ConfigClient
from eraft_trio.group_calls.pool import ConnectionPool

INTERVAL = (3.0, 10.0)
CHANGE_TIMEOUT = 10.0


class MembershipNemesis:
    def __init__(
        self, topology: Topology, pool: ConnectionPool, events: EventLog, rng: random.Random
    ) -> None:
        self.topology = topology
        self.client = ConfigClient(pool, topology.config_servers, CHANGE_TIMEOUT)
        self.events = events
        self.rng = rng
        self.outcomes: Counter[str] = Counter()  # "join ok", "move timeout", ...

    async def run(self, stop: trio.Event) -> None:
        while await hold(stop, self.rng.uniform(*INTERVAL)):
            await self.change_once()

    async def change_once(self) -> None:
        try:
            config = await self.client.query(-1)
        except (OperationTimeout, BadRequest) as exc:
            self.events.say(f"membership: no config to change ({type(exc).__name__})")
            return
        joined = sorted(int(gid) for gid in config["groups"])
        absent = [gid for gid in self.topology.groups if gid not in joined]
        choices = ["move"] if joined else []
        if len(joined) >= 2:
            choices.append("leave")
        if absent:
            choices += ["join", "join"]  # rejoin soon, so most of the run has every group
        if not choices:
            return
        kind = self.rng.choice(choices)
        if kind == "join":
            gid = self.rng.choice(absent)
            what = f"join group {gid}"
            # The same nodes, which kept their data: a rejoin, not a new group.
            change = self.client.join({gid: self.topology.groups[gid]}, rejoin=True)
        elif kind == "leave":
            gid = self.rng.choice(joined)
            what = f"leave group {gid}"
            change = self.client.leave((gid,))
        else:
            gid = self.rng.choice(joined)
            count = self.rng.randint(1, max(1, self.topology.buckets // 4))
            buckets = tuple(sorted(self.rng.sample(range(self.topology.buckets), count)))
            what = f"move buckets {list(buckets)} to group {gid}"
            change = self.client.move(buckets, gid)
        self.events.fault(f"membership:{kind}", f"membership: {what} (from config {config['num']})")
        try:
            num = await change
        except OperationTimeout:
            self.outcomes[f"{kind} timeout"] += 1
            self.events.say(f"membership: {what}: timed out (may still apply)")
            return
        except BadRequest as exc:
            self.outcomes[f"{kind} refused"] += 1
            self.events.say(f"membership: {what}: refused: {exc}")
            return
        self.outcomes[f"{kind} ok"] += 1
        self.events.say(f"membership: {what}: now config {num}")
