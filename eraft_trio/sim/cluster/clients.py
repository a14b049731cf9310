"""Clients of the simulated cluster: puts, deletes and linearizable gets through RaftNode,
each recorded as an `Op` of the chaos history (invoke and completion on the mock clock).

A client calls a node's RaftNode directly (the request itself is not on the simulated
network; the replication it starts is). It follows the leader a refusal names, retries
a write whose outcome is unknown with the same session seq (exactly once, like the
real client), and gives up on an op at its deadline: a write it gave up on, or whose
last try may have applied, is indeterminate ("timeout"), never "fail".
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import trio

from eraft_trio.chaos.history import Op
from eraft_trio.roles.shard.commands import Delete, Put, encode_command
from eraft_trio.runtime.errors import NotLeaderError, ProposalDropped
from eraft_trio.sim.cluster.cluster import SimCluster


@dataclass(frozen=True)
class ClientLoad:
    clients: int = 4
    keys: int = 3
    op_deadline: float = 3.0  # seconds an op may take, all its tries together
    try_timeout: float = 0.6  # seconds one try waits on one node
    think: tuple[float, float] = (0.0, 0.1)  # pause between ops


class Unanswered(Exception):
    """The node is down or did not answer in time: try another."""


class Client:
    def __init__(
        self, process: int, cluster: SimCluster, load: ClientLoad, rng: random.Random
    ) -> None:
        self.process = process
        self.cluster = cluster
        self.load = load
        self.rng = rng
        self.history: list[Op] = []
        self._seq = 0
        self._values = 0
        self._target = rng.randrange(len(cluster.nodes))

    async def run(self, stop: trio.Event) -> None:
        while not stop.is_set():
            await trio.sleep(self.rng.uniform(*self.load.think))
            key = b"k%d" % self.rng.randrange(self.load.keys)
            roll = self.rng.random()
            if roll < 0.45:
                self.history.append(await self.get(key))
            elif roll < 0.95:
                self._values += 1
                value = b"c%d-%d" % (self.process, self._values)
                self.history.append(await self.write(key, value))
            else:
                self.history.append(await self.write(key, None))

    async def write(self, key: bytes, value: bytes | None) -> Op:
        """A put (or, for value None, a delete); one session seq for all its tries."""
        self._seq += 1
        command: Put | Delete
        if value is None:
            command = Delete(self.process, self._seq, key)
        else:
            command = Put(self.process, self._seq, key, value)
        data = encode_command(command)
        kind = "put" if value is not None else "delete"
        invoke = trio.current_time()
        maybe_applied = False
        with trio.move_on_after(self.load.op_deadline):
            while True:
                try:
                    reply = await self.attempt(lambda node: node.start_proposal(data))
                except NotLeaderError:
                    continue
                except (ProposalDropped, Unanswered):
                    maybe_applied = True
                    continue
                if reply.get("ok"):
                    return self._op(kind, key, value, invoke, "ok")
                # Refused by the state machine (no config yet): not applied by this try,
                # though an earlier one may have been.
                outcome = "timeout" if maybe_applied else "fail"
                return self._op(kind, key, value, invoke, outcome)
        return self._op(kind, key, value, invoke, "timeout", complete=False)

    async def get(self, key: bytes) -> Op:
        invoke = trio.current_time()
        with trio.move_on_after(self.load.op_deadline):
            while True:
                try:
                    reply = await self.attempt(lambda node: node.start_read(("get", key)))
                except (NotLeaderError, ProposalDropped, Unanswered):
                    continue
                if "value" in reply:
                    return self._op("get", key, reply["value"], invoke, "ok")
                return self._op("get", key, None, invoke, "fail")
        return self._op("get", key, None, invoke, "timeout", complete=False)

    async def final_read(self, key: bytes) -> bytes | None:
        """Read `key` until some leader answers (the caller bounds the wait)."""
        while True:
            try:
                reply = await self.attempt(lambda node: node.start_read(("get", key)))
            except (NotLeaderError, ProposalDropped, Unanswered):
                continue
            if "value" in reply:
                value: bytes | None = reply["value"]
                return value

    async def attempt(self, start: Any) -> Any:
        """One try on the node this client believes leads; moves its belief on a refusal."""
        sim = self.cluster.nodes[self._target]
        node = sim.raft
        if node is None:
            self._retarget(None)
            await trio.sleep(self.load.try_timeout / 4)  # a refused connection takes a moment
            raise Unanswered
        try:
            waiter = start(node)
        except NotLeaderError as exc:
            self._retarget(exc.leader)
            await trio.sleep(0.01)
            raise
        with trio.move_on_after(self.load.try_timeout):
            try:
                return await waiter.wait()
            except NotLeaderError as exc:
                self._retarget(exc.leader)
                raise
            except ProposalDropped:
                self._retarget(None)
                raise
        self._retarget(None)
        raise Unanswered

    def _retarget(self, leader: str | None) -> None:
        if leader is not None:
            self._target = int(leader.removeprefix("node").partition(":")[0])
        else:
            self._target = self.rng.randrange(len(self.cluster.nodes))

    def _op(
        self,
        kind: Any,
        key: bytes,
        value: bytes | None,
        invoke: float,
        outcome: Any,
        *,
        complete: bool = True,
    ) -> Op:
        end = trio.current_time() if complete else None
        return Op(self.process, kind, key, value, invoke, end, outcome)
