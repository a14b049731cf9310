"""ProcessGroup: the node processes of one Raft group, an RPC client to each, and waits on them."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import trio

from eraft_trio.chaos.node_processes import NodeProcess
from eraft_trio.protocol.node import StatusRequest
from eraft_trio.transport.errors import TransportError
from eraft_trio.transport.rpc import RpcClient

from .role_files import GroupLayout, write_role_files

T = TypeVar("T")

POLL_INTERVAL = 0.05
STATUS_TIMEOUT = 2.0


async def wait_for(probe: Callable[[], Awaitable[T | None]], *, timeout: float, what: str) -> T:
    """Poll `probe` until it returns something other than None; that value.

    Fails with an AssertionError naming `what` (and the last value seen) past `timeout`.
    """
    last: Any = None
    with trio.move_on_after(timeout):
        while True:
            last = await probe()
            if last is not None:
                return last
            await trio.sleep(POLL_INTERVAL)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class ProcessGroup:
    """The nodes of one group as child processes, from role files written into `folder`.

    Use as `async with ProcessGroup(layout, folder) as group:`; leaving the block kills
    every node it started (by PID), whatever happened inside. Nodes are numbered by
    their Raft id. Status calls go through one RpcClient per node, which reconnects by
    itself after the node restarts.
    """

    def __init__(self, layout: GroupLayout, folder: Path, *, log_level: str = "info") -> None:
        self.layout = layout
        self.folder = folder
        self.role_paths = write_role_files(layout, folder)
        self.nodes = [
            NodeProcess(path, folder / f"{path.stem}.log", log_level) for path in self.role_paths
        ]
        self.clients: list[RpcClient] = []
        self._nursery_manager: Any = None

    # --- lifetime -------------------------------------------------------------------------

    async def __aenter__(self) -> ProcessGroup:
        self._nursery_manager = trio.open_nursery()
        nursery = await self._nursery_manager.__aenter__()
        try:
            for address in self.layout.addresses:
                client = RpcClient(address, self.layout.cluster, connect_timeout=1.0)
                await nursery.start(client.run)
                self.clients.append(client)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            self.cleanup()
        finally:
            for client in self.clients:
                await client.aclose()
        result: bool | None = await self._nursery_manager.__aexit__(exc_type, exc, tb)
        return result

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()

    @property
    def size(self) -> int:
        return len(self.nodes)

    def address(self, node: int) -> str:
        return self.layout.addresses[node]

    def node_of(self, address: str | None) -> int | None:
        return self.layout.addresses.index(address) if address in self.layout.addresses else None

    # --- processes ------------------------------------------------------------------------

    def start(self, nodes: Iterable[int] | None = None) -> None:
        for node in self._ids(nodes):
            self.nodes[node].start()

    def kill(self, nodes: Iterable[int] | None = None) -> None:
        """kill -9, no warning: whatever the node had not fsynced is gone."""
        ids = self._ids(nodes)
        for node in ids:
            self.nodes[node].send_kill()
        for node in ids:
            self.nodes[node].kill()

    async def terminate(
        self, nodes: Iterable[int] | None = None, signum: int = signal.SIGTERM
    ) -> dict[int, int]:
        """SIGTERM (or `signum`), then the exit codes once they have all stopped."""
        ids = self._ids(nodes)
        for node in ids:
            self.nodes[node].terminate(signum)
        return {node: await self.nodes[node].wait_exit() for node in ids}

    def running(self) -> list[int]:
        return [i for i, node in enumerate(self.nodes) if node.running]

    # --- calls ----------------------------------------------------------------------------

    async def call(self, node: int, body: Any, timeout: float = STATUS_TIMEOUT) -> Any:
        return await self.clients[node].call(body, timeout=timeout)

    async def status(self, node: int) -> dict[str, Any] | None:
        """The node's StatusRequest answer, or None when it cannot be reached right now."""
        try:
            reply = await self.call(node, StatusRequest())
        except TransportError:
            return None
        return reply if isinstance(reply, dict) else None

    async def raft_status(self, node: int) -> dict[str, Any] | None:
        status = await self.status(node)
        return None if status is None else status["raft"]

    async def statuses(
        self, nodes: Iterable[int] | None = None
    ) -> dict[int, dict[str, Any] | None]:
        """StatusRequest answers of several nodes, asked concurrently."""
        results: dict[int, dict[str, Any] | None] = {}

        async def ask(node: int) -> None:
            results[node] = await self.status(node)

        async with trio.open_nursery() as nursery:
            for node in self._ids(nodes):
                nursery.start_soon(ask, node)
        return results

    # --- waits ----------------------------------------------------------------------------

    async def wait_for_leader(
        self,
        nodes: Iterable[int] | None = None,
        *,
        min_term: int = 0,
        want: int | None = None,
        timeout: float = 20.0,
    ) -> tuple[int, int]:
        """(leader id, term) once exactly one of `nodes` (default: the running ones) leads,
        every one of them answers, all report that term (>= min_term) and follow that leader
        (which must be `want`, when given)."""
        ids = self._ids(nodes) if nodes is not None else self.running()

        async def agreed() -> tuple[int, int] | None:
            raft = {n: (s or {}).get("raft") for n, s in (await self.statuses(ids)).items()}
            if any(r is None for r in raft.values()):
                return None
            leaders = [n for n, r in raft.items() if r is not None and r["role"] == "leader"]
            terms = {r["term"] for r in raft.values() if r is not None}
            if len(leaders) != 1 or len(terms) != 1:
                return None
            leader, term = leaders[0], terms.pop()
            if (
                term < min_term
                or want not in (None, leader)
                or any(r is not None and r["leader"] != leader for r in raft.values())
            ):
                return None
            return leader, term

        return await wait_for(agreed, timeout=timeout, what=f"one agreed leader among {ids}")

    async def wait_applied(
        self, index: int, nodes: Iterable[int] | None = None, *, timeout: float = 20.0
    ) -> dict[int, dict[str, Any]]:
        """The nodes' raft statuses once every one of them has applied `index`, in its
        core and in its store (while a snapshot installs, the core's `applied` already
        names the snapshot but the store still holds the old state)."""
        ids = self._ids(nodes) if nodes is not None else self.running()

        async def caught_up() -> dict[int, dict[str, Any]] | None:
            statuses = await self.statuses(ids)
            if all(
                s is not None
                and s["raft"]["applied"] >= index
                and s["storage"]["applied_index"] >= index
                for s in statuses.values()
            ):
                return {n: s["raft"] for n, s in statuses.items() if s is not None}
            return None

        return await wait_for(caught_up, timeout=timeout, what=f"nodes {ids} to apply {index}")

    def _ids(self, nodes: Iterable[int] | None) -> list[int]:
        return list(range(self.size)) if nodes is None else list(nodes)
