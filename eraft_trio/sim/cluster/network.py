"""A simulated network between the RaftNodes of one trio run: the PeerLink of each node.

Every message goes through the wire codec (the receiver gets its own copy, as over TCP)
and then through the faults of the moment, drawn from the seed: it is dropped, or
delivered once or twice, each copy after its own delay (so messages reorder), unless
a partition separates the two nodes when it is sent or when it arrives. A snapshot
chunk (`call`) goes through the same faults both ways and is handled by the receiver
in a task of its own, as a server would; a lost request or reply is a timeout.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import trio

from eraft_trio.raft.types import Message
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


# A live node as the network sees it: its RaftNode and the nursery its server tasks run in.
Endpoint = tuple[RaftNode, trio.Nursery]


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
        self._side: dict[int, int] = {}  # node -> partition side; absent: side 0
        self._nursery: trio.Nursery | None = None
        self.sent = self.dropped = self.duplicated = 0

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Carries messages in flight; cancel it to end the run."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def link(self, node: int) -> SimLink:
        return SimLink(self, node)

    # --- partitions --------------------------------------------------------------------

    def partition(self, sides: Mapping[int, int]) -> None:
        """Nodes on different sides cannot reach each other until `heal`."""
        self._side = dict(sides)

    def heal(self) -> None:
        self._side = {}

    def is_up(self, node: int) -> bool:
        return self._endpoint(node) is not None

    def reachable(self, a: int, b: int) -> bool:
        return self._side.get(a, 0) == self._side.get(b, 0)

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
        node, _ = found
        if node.knows(src):  # as NodeService: Raft messages from members only
            node.step(codec.decode(wire))

    async def call(self, src: int, dst: int, request: Any, timeout: float) -> Any:
        """One request and its reply; TooSlowError when a partition swallowed either."""
        with trio.move_on_after(timeout):
            reply = await self._carry(src, dst, codec.encode(request))
            if reply is not None:
                return codec.decode(reply)
            await trio.sleep_forever()
        raise trio.TooSlowError(f"no reply from node {dst} in {timeout}s")

    async def _carry(self, src: int, dst: int, wire: bytes) -> bytes | None:
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
        node, server = found
        answered = trio.Event()
        answer: list[Any] = []

        async def handle() -> None:
            request = codec.decode(wire)
            if not node.knows(request.src):
                answer.append("not_a_member")
            else:
                answer.append(await node.receive_snapshot_chunk(request))
            answered.set()

        server.start_soon(handle)
        await answered.wait()  # forever, if the receiver crashed meanwhile: the timeout ends it
        self.sent += 1
        if not self.reachable(src, dst):
            return None
        await trio.sleep(self.rng.uniform(*delay))
        return codec.encode(answer[0])


class SimLink:
    """One node's PeerLink on the simulated network."""

    def __init__(self, network: SimNetwork, node: int) -> None:
        self._network = network
        self._node = node

    def send(self, peer: int, message: Message) -> bool:
        self._network.send(self._node, peer, message)
        return True

    def is_connected(self, peer: int) -> bool:
        return self._network.reachable(self._node, peer) and self._network.is_up(peer)

    def heard_from(self, peer: int) -> None:
        pass

    def set_peers(self, addresses: Mapping[int, str]) -> None:
        pass  # every node of the run is reachable by id

    async def call(self, peer: int, request: Any, timeout: float) -> Any:
        return await self._network.call(self._node, peer, request, timeout)
