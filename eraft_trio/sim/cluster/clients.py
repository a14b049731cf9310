"""Clients of the simulated cluster: the real Client (client/kv_client.py) over the simulated
network, each recording its ops as `Op`s of the chaos history (invoke and completion on
the mock clock).

Each process is one client machine with its own Client and pool, doing one op at a
time: it finds a key's group from the config group, follows not_leader hints, re-reads
the config on wrong_group, and retries a write with the same session seq (exactly once)
until its deadline, all as in production. A write whose outcome the client does not
know (a timeout, a session that expired between tries, a server error) is
indeterminate ("timeout"), never "fail".
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import trio

from eraft_trio.chaos.history import Op
from eraft_trio.client.kv_client import Client
from eraft_trio.errors import EraftError
from eraft_trio.sim.cluster.cluster import CONFIG_GID, SimCluster


@dataclass(frozen=True)
class ClientLoad:
    clients: int = 4
    keys: int = 6
    op_deadline: float = 3.0  # seconds an op may take, all its tries together
    think: tuple[float, float] = (0.0, 0.1)  # pause between ops


class ClientProcess:
    def __init__(
        self, process: int, cluster: SimCluster, load: ClientLoad, rng: random.Random
    ) -> None:
        self.process = process
        self.cluster = cluster
        self.load = load
        self.rng = rng
        self.history: list[Op] = []
        self.errors: dict[str, int] = {}  # what ended ops that did not succeed, by type
        self._values = 0
        self._client: Client | None = None
        self.idle = trio.Event()  # set once `stop` came and its last op has its outcome

    async def run(self, stop: trio.Event, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Be a client until `stop`; then stay connected for `final_read` until cancelled.

        An op in flight at `stop` runs to its outcome (its deadline bounds it) before
        `idle`: a write still retrying may yet apply, so the history must hold it."""
        async with trio.open_nursery() as nursery:
            number = len(self.cluster.nodes) + self.process  # its own host on the network
            pool = self.cluster.pool(nursery, number)
            servers = self.cluster.shape.addresses(CONFIG_GID)
            self._client = Client(pool, servers, timeout=self.load.op_deadline)
            task_status.started()
            while not stop.is_set():
                await trio.sleep(self.rng.uniform(*self.load.think))
                if stop.is_set():
                    break
                await self._one_op()
            self.idle.set()
            await trio.sleep_forever()

    async def _one_op(self) -> None:
        key = b"k%d" % self.rng.randrange(self.load.keys)
        roll = self.rng.random()
        if roll < 0.45:
            self.history.append(await self.get(key))
        elif roll < 0.95:
            self._values += 1
            self.history.append(await self.write(key, b"c%d-%d" % (self.process, self._values)))
        else:
            self.history.append(await self.write(key, None))

    async def write(self, key: bytes, value: bytes | None) -> Op:
        """A put (or, for value None, a delete)."""
        assert self._client is not None
        kind = "put" if value is not None else "delete"
        invoke = trio.current_time()
        try:
            if value is None:
                await self._client.delete(key)
            else:
                await self._client.put(key, value)
        except EraftError as exc:
            self._count(exc)
            return self._op(kind, key, value, invoke, "timeout", complete=False)
        return self._op(kind, key, value, invoke, "ok")

    async def get(self, key: bytes) -> Op:
        assert self._client is not None
        invoke = trio.current_time()
        try:
            value = await self._client.get(key)
        except EraftError as exc:
            self._count(exc)
            return self._op("get", key, None, invoke, "timeout", complete=False)
        return self._op("get", key, value, invoke, "ok")

    async def final_read(self, key: bytes) -> bytes | None:
        """Read `key` until the cluster answers (the caller bounds the wait)."""
        assert self._client is not None
        while True:
            op = await self.get(key)
            if op.outcome == "ok":
                self.history.append(op)
                return op.value

    def _count(self, exc: Exception) -> None:
        name = type(exc).__name__
        self.errors[name] = self.errors.get(name, 0) + 1

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
