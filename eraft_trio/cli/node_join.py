"""A node with `join = true` waits until its group adds it, and learns its id and peers.

It asks the members its role file lists (MemberList) until one of them shows this
node's own address (`node.listen`) as a member: `eraft ctl member add GROUP ADDR`
has run. The id the group gave it and every member's address follow from that
answer; the node then starts as a learner and catches up from its leader.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.node import MemberList
from eraft_trio.protocol.replies import Members
from eraft_trio.runtime.role_file import RoleFile
from eraft_trio.transport.errors import TransportError
from eraft_trio.transport.security import Security

log = logging.getLogger("eraft.node")

ASK_SECONDS = 2.0
POLL_SECONDS = 0.5
LOG_EVERY_SECONDS = 10.0


async def wait_until_added(role: RoleFile, security: Security) -> tuple[int, dict[int, str]]:
    """(this node's id, address of every member by id), once a member lists it."""
    last_log = -LOG_EVERY_SECONDS
    async with trio.open_nursery() as nursery:
        pool = ConnectionPool(nursery, role.cluster, security=security)
        try:
            while True:
                for peer in role.peers:
                    found = _find_self(role.listen, await _ask(pool, peer))
                    if found is not None:
                        log.info("added to group %d as node %d", role.group, found[0])
                        return found
                now = trio.current_time()
                if now - last_log >= LOG_EVERY_SECONDS:
                    last_log = now
                    log.info(
                        "waiting to be added to group %d: run `eraft ctl member add %s %s`",
                        role.group,
                        role.group or "config",
                        role.listen,
                    )
                await trio.sleep(POLL_SECONDS)
        finally:
            await pool.aclose()
            nursery.cancel_scope.cancel()


async def _ask(pool: ConnectionPool, peer: str) -> Any:
    try:
        return await pool.call(peer, MemberList(), ASK_SECONDS)
    except (TransportError, OSError, trio.TooSlowError):
        return None


def _find_self(listen: str, reply: Any) -> tuple[int, dict[int, str]] | None:
    if type(reply) is not Members:
        return None
    members = reply.members
    addresses = {
        int(m["id"]): str(m["addr"]) for m in members if isinstance(m, dict) and m.get("addr")
    }
    mine = [node for node, addr in addresses.items() if addr == listen]
    return (mine[0], addresses) if mine else None
