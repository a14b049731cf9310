"""ReadIndex requests made during a simulation, and the check that none is served stale."""

from __future__ import annotations

from dataclasses import dataclass

from eraft_trio.raft.types import ReadState
from eraft_trio.sim.checker import SafetyChecker
from eraft_trio.sim.disk import NodeDisk
from eraft_trio.sim.violations import STALE_READ, InvariantViolation


@dataclass(slots=True)
class ReadRequest:
    ctx: int
    node_id: int
    incarnation: int
    # The highest commit index on any disk when the read was asked: every write a client
    # could have seen acknowledged by then is at or below it.
    min_index: int
    read_index: int | None = None  # set when the core answers with a ReadState
    served_at: int | None = None  # the applied index the read was served from


@dataclass(slots=True)
class ReadStats:
    requested: int = 0
    confirmed: int = 0
    served: int = 0


class ReadTracker:
    def __init__(self, checker: SafetyChecker) -> None:
        self._checker = checker
        self._next_ctx = 0
        self.requests: dict[int, ReadRequest] = {}
        self.stats = ReadStats()

    def new_request(self, node_id: int, incarnation: int, min_index: int) -> ReadRequest:
        self._next_ctx += 1
        request = ReadRequest(self._next_ctx, node_id, incarnation, min_index)
        self.requests[request.ctx] = request
        self.stats.requested += 1
        return request

    def forget(self, ctx: int) -> None:
        self.requests.pop(ctx, None)

    def on_read_state(self, node_id: int, incarnation: int, state: ReadState) -> None:
        request = self.requests.get(state.ctx)
        if request is None or request.node_id != node_id or request.incarnation != incarnation:
            raise InvariantViolation(
                STALE_READ, f"node {node_id} answered read {state.ctx}, which it was never asked"
            )
        if request.read_index is not None:
            raise InvariantViolation(STALE_READ, f"node {node_id} answered read {state.ctx} twice")
        if state.index < request.min_index:
            raise InvariantViolation(
                STALE_READ,
                f"node {node_id} gave read {state.ctx} index {state.index}, but index "
                f"{request.min_index} was already committed when it was asked",
            )
        request.read_index = state.index
        self.stats.confirmed += 1

    def serve(self, node_id: int, incarnation: int, disk: NodeDisk) -> list[ReadRequest]:
        """Serve every confirmed read of this node whose index it has now applied."""
        machine = disk.machine
        served = [
            r
            for r in self.requests.values()
            if r.node_id == node_id
            and r.incarnation == incarnation
            and r.read_index is not None
            and r.read_index <= machine.applied_index
        ]
        canonical = self._checker.applied
        for request in served:
            index = request.read_index
            assert index is not None
            if index and machine.history[index - 1] != canonical[index - 1]:
                raise InvariantViolation(
                    STALE_READ,
                    f"node {node_id} served read {request.ctx} from a state that differs "
                    f"at index {index} from what the cluster applied",
                )
            request.served_at = machine.applied_index
            del self.requests[request.ctx]
            self.stats.served += 1
        return served

    def abandon(self, node_id: int, *, unconfirmed_only: bool = False) -> None:
        """Drop reads the node can no longer answer (a crash, or it stopped leading).

        The client sees a timeout: the read is indeterminate, never a failure.
        """
        for ctx in [
            c
            for c, r in self.requests.items()
            if r.node_id == node_id and not (unconfirmed_only and r.read_index is not None)
        ]:
            del self.requests[ctx]
