"""`eraft ctl drain ADDR` / `eraft ctl undrain ADDR`: move leadership off a node before
maintenance and keep it from campaigning, or let it campaign again (docs/operations.md).

The node is told directly (not through the config group: a config node can be drained
too). Draining waits until the node no longer leads; the drain lasts until `undrain` or
until the node restarts.
"""

from __future__ import annotations

import sys
from typing import Any

import trio

from eraft_trio.errors import BadRequest
from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.node import Drain, StatusRequest
from eraft_trio.protocol.replies import Drained
from eraft_trio.transport.errors import TransportError
from eraft_trio.transport.handshake import ANY_CLUSTER
from eraft_trio.transport.security import Security

EXIT_OK, EXIT_UNAVAILABLE = 0, 3
POLL_SECONDS = 0.05


def run_drain(address: str, drained: bool, timeout: float, security: Security) -> int:
    name = "eraft ctl drain" if drained else "eraft ctl undrain"
    try:
        result: int = trio.run(_drain, address, drained, timeout, security, name)
    except BadRequest as exc:  # the node refused our secret or certificate
        print(f"{name}: {exc.code}: {exc}", file=sys.stderr)
        return 2
    return result


async def _drain(address: str, drained: bool, timeout: float, security: Security, name: str) -> int:
    async with trio.open_nursery() as nursery:
        pool = ConnectionPool(
            nursery, ANY_CLUSTER, security=security, security_refusals_are_final=True
        )
        try:
            return await _drain_with(pool, address, drained, timeout, name)
        finally:
            await pool.aclose()
            nursery.cancel_scope.cancel()


async def _drain_with(
    pool: ConnectionPool, address: str, drained: bool, timeout: float, name: str
) -> int:
    deadline = trio.current_time() + timeout
    try:
        reply = await pool.call(address, Drain(drained), timeout)
    except TransportError as exc:
        print(f"{name}: {address}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if type(reply) is not Drained:
        print(f"{name}: {address}: unexpected reply {reply!r}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if not drained:
        print(f"OK: {address} undrained (it may campaign again)")
        return EXIT_OK
    raft = await _wait_not_leading(pool, address, deadline)
    if raft is None:
        print(
            f"{name}: {address} is drained but still leads its group: no follower took "
            f"over within {timeout:g}s (is a majority of its group up?)",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    leader = raft.get("leader_address")
    now = f"; its group's leader is {leader}" if leader else ""
    print(f"OK: {address} drained (not leading, not campaigning){now}")
    return EXIT_OK


async def _wait_not_leading(
    pool: ConnectionPool, address: str, deadline: float
) -> dict[str, Any] | None:
    """The node's raft status once it does not lead (and names the new leader, if one
    was elected in time); None if it still leads at `deadline`."""
    raft: dict[str, Any] = {}
    while True:
        remaining = deadline - trio.current_time()
        try:
            status = await pool.call(address, StatusRequest(), max(remaining, 0.1))
            raft = status["raft"] if isinstance(status, dict) else {}
        except TransportError:
            raft = {}
        if raft and raft.get("role") != "leader" and raft.get("leader_address"):
            return raft
        if trio.current_time() >= deadline:
            return raft if raft and raft.get("role") != "leader" else None
        await trio.sleep(POLL_SECONDS)
