"""The operator of a simulated run: joins, leaves and moves through the real ConfigClient.

First group 1 joins (every bucket to it); then, every so often, a shard group joins
(one that left before rejoins: its nodes kept running and walked every config, as
`rejoin` requires), one leaves (never the last), or a few buckets move to another
group, while clients run and faults strike. A change the config group does not
answer in time is tried again later as a new change; one that was applied anyway
is simply a change more.
"""

from __future__ import annotations

import random
from typing import Any

import trio

from eraft_trio.errors import EraftError
from eraft_trio.group_calls.config_client import ConfigClient
from eraft_trio.sim.cluster.cluster import CONFIG_GID, SimCluster

CHANGE_TIMEOUT = 3.0


class Operator:
    def __init__(
        self, cluster: SimCluster, rng: random.Random, pause: tuple[float, float] = (1.0, 3.0)
    ) -> None:
        self.cluster = cluster
        self.rng = rng
        self.pause = pause
        self.log: list[str] = []
        self.changes = 0
        self._ever_joined: set[int] = set()

    def _note(self, what: str) -> None:
        self.log.append(f"{trio.current_time():9.3f} {what}")

    async def run(self, stop: trio.Event) -> None:
        async with trio.open_nursery() as nursery:
            pool = self.cluster.pool(nursery, len(self.cluster.nodes))
            servers = self.cluster.shape.addresses(CONFIG_GID)
            config = ConfigClient(pool, servers, timeout=CHANGE_TIMEOUT)
            config.client_id = self.rng.getrandbits(62)
            while not stop.is_set() and not await self._change(config, self._join(1)):
                await trio.sleep(0.1)
            while not stop.is_set():
                await trio.sleep(self.rng.uniform(*self.pause))
                try:
                    latest = await config.query()
                except EraftError:
                    continue
                await self._change(config, self._pick(latest))
            nursery.cancel_scope.cancel()

    def _join(self, gid: int) -> tuple[str, Any]:
        return ("join", gid)

    def _pick(self, latest: dict[str, Any]) -> tuple[str, Any]:
        shape = self.cluster.shape
        joined = sorted(int(gid) for gid in latest["groups"])
        outside = [gid for gid in shape.gids if gid != CONFIG_GID and gid not in joined]
        roll = self.rng.random()
        if outside and roll < 0.3:
            return ("join", self.rng.choice(outside))
        if len(joined) > 1 and roll < 0.5:
            return ("leave", self.rng.choice(joined))
        buckets = tuple(sorted(self.rng.sample(range(shape.buckets), self.rng.randint(1, 2))))
        return ("move", (buckets, self.rng.choice(joined)))

    async def _change(self, config: ConfigClient, change: tuple[str, Any]) -> bool:
        kind, arg = change
        try:
            if kind == "join":
                addresses = self.cluster.shape.addresses(arg)
                num = await config.join({arg: addresses}, rejoin=arg in self._ever_joined)
                self._ever_joined.add(arg)
            elif kind == "leave":
                num = await config.leave((arg,))
            else:
                buckets, gid = arg
                num = await config.move(buckets, gid)
        except EraftError as exc:
            self._note(f"{kind} {arg}: {exc}")
            if kind == "join":
                self._ever_joined.add(arg)  # it may have applied
            return False
        self.changes += 1
        self._note(f"{kind} {arg}: config {num}")
        return True
