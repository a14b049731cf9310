"""A simulated network between the nodes of one trio run: each node's PeerLink, and RPCs.

Nodes are numbered across the whole cluster (every group's); a node's link maps its
group's Raft ids to those numbers. Clients and the shard role's loops call nodes over
the same network (`request`, used by rpc.py's pool): a request is handled by the
receiver's real NodeService, as the TCP server would hand it over.

Every message goes through the wire codec (the receiver gets its own copy, as over TCP)
and then through the faults of the moment, drawn from the seed: it is dropped, or
delivered once or twice, each copy after its own delay (so messages reorder), unless
a partition separates the two nodes when it is sent or when it arrives. A snapshot
chunk (`call`) goes through the same faults both ways and is handled by the receiver
in a task of its own, as a server would; a lost request or reply is a timeout.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import trio

from eraft_trio.raft.types import Message
from eraft_trio.runtime.node_service import NodeService
from eraft_trio.runtime.raft_node import RaftNode
from eraft_trio.transport import codec


@dataclass(frozen=True)
class LinkFaults:
    drop: float = 0.0  # chance a message is lost
    duplicate: float = 0.0  # chance it is delivered twice
    delay: tuple[float, float] = (0.0005, 0.005)  # seconds, uniform

    @classmethod
    def draw(cls, rng: random.Random) -> LinkFaults:
        """A seed's own network: from clean to lossy and slow."""
        slowest = rng.choice((0.002, 0.01, 0.05))
        return cls(
            drop=rng.choice((0.0, 0.01, 0.05, 0.15)),
            duplicate=rng.choice((0.0, 0.01, 0.05)),
            delay=(0.0002, slowest),
        )


@dataclass(frozen=True)
class Endpoint:
    """A live node as the network sees it: its RaftNode, the nursery its server tasks run
    in, and its NodeService (None for a bare Raft node) for requests."""

    raft: RaftNode
    server: trio.Nursery
    service: NodeService | None = None


Handler = Callable[[Endpoint, Any], Awaitable[Any]]


class SimNetwork:
    def __init__(
        self,
        rng: random.Random,
        endpoint: Callable[[int], Endpoint | None],
        faults: LinkFaults = LinkFaults(),
    ) -> None:
        self.rng = rng
        self.faults = faults
        self._endpoint = endpoint
        # node -> partition side; a number absent (a client's) reaches every side
        self._side: dict[int, int] = {}
        self._raft_ids: dict[int, int] = {}  # node -> its Raft id in its group
        self._nursery: trio.Nursery | None = None
        self.sent = self.dropped = self.duplicated = 0

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Carries messages in flight; cancel it to end the run."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def link(self, node: int, group: Sequence[int] | None = None) -> SimLink:
        """Node `node`'s link; `group` lists its group's nodes by Raft id (default: the
        Raft ids are the network's numbers)."""
        members = list(group) if group is not None else None
        if members is not None:
            self._raft_ids[node] = members.index(node)
        return SimLink(self, node, members)

    # --- partitions --------------------------------------------------------------------

    def partition(self, sides: Mapping[int, int]) -> None:
        """Nodes on different sides cannot reach each other until `heal`."""
        self._side = dict(sides)

    def heal(self) -> None:
        self._side = {}

    def is_up(self, node: int) -> bool:
        return self._endpoint(node) is not None

    def reachable(self, a: int, b: int) -> bool:
        side_a, side_b = self._side.get(a), self._side.get(b)
        return side_a is None or side_b is None or side_a == side_b

    # --- carrying ----------------------------------------------------------------------

    def _copies(self) -> list[float]:
        """The delays of the copies of one message: none if it is lost."""
        faults, rng = self.faults, self.rng
        self.sent += 1
        if rng.random() < faults.drop:
            self.dropped += 1
            return []
        copies = 2 if rng.random() < faults.duplicate else 1
        self.duplicated += copies - 1
        return [rng.uniform(*faults.delay) for _ in range(copies)]

    def send(self, src: int, dst: int, message: Message) -> None:
        if not self.reachable(src, dst) or self._nursery is None:
            return
        wire = codec.encode(message)
        for delay in self._copies():
            self._nursery.start_soon(self._deliver, src, dst, wire, delay)

    async def _deliver(self, src: int, dst: int, wire: bytes, delay: float) -> None:
        await trio.sleep(delay)
        found = self._endpoint(dst)
        if found is None or not self.reachable(src, dst):
            return
        node = found.raft
        if node.knows(self._raft_id(src)):  # as NodeService: Raft messages from members only
            node.step(codec.decode(wire))

    def _raft_id(self, node: int) -> int:
        return self._raft_ids.get(node, node)

    async def call(self, src: int, dst: int, request: Any, timeout: float) -> Any:
        """One snapshot chunk and its reply; TooSlowError when a partition swallowed either."""

        async def chunk(endpoint: Endpoint, request: Any) -> Any:
            if not endpoint.raft.knows(request.src):
                return "not_a_member"
            return await endpoint.raft.receive_snapshot_chunk(request)

        with trio.move_on_after(timeout):
            reply = await self._carry(src, dst, codec.encode(request), chunk)
            if reply is not None:
                return codec.decode(reply)
            await trio.sleep_forever()
        raise trio.TooSlowError(f"no reply from node {dst} in {timeout}s")

    async def request(self, src: int, dst: int, wire: bytes, handler: Handler) -> bytes | None:
        """Carry an encoded request to `dst`, have `handler` answer it there, carry the
        encoded reply back; None when a partition swallowed either way (the caller's
        timeout ends the wait); ConnectionRefusedError when `dst` is down."""
        return await self._carry(src, dst, wire, handler)

    async def _carry(self, src: int, dst: int, wire: bytes, handler: Handler) -> bytes | None:
        delay = self.faults.delay
        self.sent += 1
        if not self.reachable(src, dst):
            return None
        await trio.sleep(self.rng.uniform(*delay))
        found = self._endpoint(dst)
        if found is None:
            raise ConnectionRefusedError(f"node {dst} is down")
        if not self.reachable(src, dst):
            return None
        answered = trio.Event()
        answer: list[Any] = []

        async def handle() -> None:
            answer.append(await handler(found, codec.decode(wire)))
            answered.set()

        found.server.start_soon(handle)
        await answered.wait()  # forever, if the receiver crashed meanwhile: the timeout ends it
        self.sent += 1
        if not self.reachable(src, dst):
            return None
        await trio.sleep(self.rng.uniform(*delay))
        return codec.encode(answer[0])


class SimLink:
    """One node's PeerLink on the simulated network."""

    def __init__(self, network: SimNetwork, node: int, group: list[int] | None = None) -> None:
        self._network = network
        self._node = node
        self._group = group

    def _node_of(self, peer: int) -> int:
        return peer if self._group is None else self._group[peer]

    def send(self, peer: int, message: Message) -> bool:
        self._network.send(self._node, self._node_of(peer), message)
        return True

    def is_connected(self, peer: int) -> bool:
        node = self._node_of(peer)
        return self._network.reachable(self._node, node) and self._network.is_up(node)

    def heard_from(self, peer: int) -> None:
        pass

    def set_peers(self, addresses: Mapping[int, str]) -> None:
        pass  # every node of the run is reachable by id

    async def call(self, peer: int, request: Any, timeout: float) -> Any:
        return await self._network.call(self._node, self._node_of(peer), request, timeout)
