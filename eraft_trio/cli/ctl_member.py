"""`eraft ctl member list|add|remove|replace GROUP ...`: a group's own nodes (docs/reference.md,
"Membership"; docs/operations.md, "Replacing a failed node").

GROUP is a gid (its addresses come from the latest config) or `config` (the config
servers of `-s`). Requests go to the group's leader (runtime/membership_service.py),
found by asking any member and following its hints. Exit codes: 0 done; 2 refused
(bad input, or a change the group will not make: the reason on one line); 3 the group
could not be reached, or did not finish in time.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import trio

from eraft_trio.client.kv_client import Client
from eraft_trio.errors import BadRequest, EraftError, single_exception
from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.node import MemberChange, MemberList
from eraft_trio.protocol.replies import MemberChanged, Members
from eraft_trio.transport.errors import TransportError
from eraft_trio.transport.handshake import ANY_CLUSTER
from eraft_trio.transport.security import Security

EXIT_OK, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 2, 3
RETRY_SECONDS = 0.2
PROGRESS_EVERY_SECONDS = 5.0


class Refused(Exception):
    """The group will not make this change (exit 2); the message says why."""


class Unreachable(Exception):
    """No leader of the group answered in time (exit 3)."""


def add_member_parser(cmds: Any) -> None:
    member = cmds.add_parser("member", help="list, add, remove or replace a group's nodes")
    actions = member.add_subparsers(dest="member_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the members, their role and the leader")
    listing.add_argument("group", metavar="GROUP", help="a gid, or `config`")
    listing.add_argument("--json", action="store_true")
    add = actions.add_parser("add", help="add a node (a learner, promoted once caught up)")
    add.add_argument("group", metavar="GROUP")
    add.add_argument("address", metavar="ADDR", help="the new node's node.listen, host:port")
    add.add_argument("--learner", action="store_true", help="stay a learner (no vote)")
    remove = actions.add_parser("remove", help="remove a node (leadership moves first)")
    remove.add_argument("group", metavar="GROUP")
    remove.add_argument("address", metavar="ADDR")
    replace = actions.add_parser("replace", help="add NEW, wait until it votes, remove OLD")
    replace.add_argument("group", metavar="GROUP")
    replace.add_argument("old", metavar="OLD")
    replace.add_argument("new", metavar="NEW")
    for parser in (add, replace):
        parser.add_argument(
            "--catch-up-timeout",
            type=float,
            default=600.0,
            metavar="SECONDS",
            help="how long the new node may take to catch up before it is promoted (default 600)",
        )


def run_member(
    args: argparse.Namespace, servers: tuple[str, ...], security: Security, address: Any
) -> int:
    """`address(text, what)` checks one host:port (UsageError otherwise)."""
    name = f"eraft ctl member {args.member_command}"
    for attr in ("address", "old", "new"):
        if hasattr(args, attr):
            address(getattr(args, attr), attr.upper() if attr != "address" else "ADDR")
    if getattr(args, "catch_up_timeout", 1.0) <= 0:
        print(f"{name}: --catch-up-timeout: must be > 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        group = _group(args.group)
        try:
            result: int = trio.run(_member, args, servers, security, group)
        except BaseExceptionGroup as raised:
            raise single_exception(raised) from None
        return result
    except Refused as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BadRequest as exc:
        print(f"{name}: {exc.code}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (Unreachable, EraftError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def _group(text: str) -> int:
    if text == "config":
        return 0
    try:
        gid = int(text)
    except ValueError:
        raise Refused(f"GROUP: {text!r} is neither a gid nor `config`") from None
    if gid <= 0:
        raise Refused(f"GROUP: {gid} must be an integer > 0 (or `config`)")
    return gid


async def _member(
    args: argparse.Namespace, servers: tuple[str, ...], security: Security, group: int
) -> int:
    seeds = await _group_addresses(group, servers, args.timeout, security)
    async with trio.open_nursery() as nursery:
        pool = ConnectionPool(
            nursery, ANY_CLUSTER, security=security, security_refusals_are_final=True
        )
        try:
            members = _Members(pool, seeds, args.timeout, label=args.group)
            match args.member_command:
                case "list":
                    return await _list(members, args)
                case "add":
                    code = await _add(members, args.address, args.learner, args.catch_up_timeout)
                case "remove":
                    code = await _remove(members, args.address)
                case _:
                    code = await _replace(members, args.old, args.new, args.catch_up_timeout)
            if group != 0:
                await _record_members(members, group, seeds, servers, args.timeout, security)
            return code
        finally:
            await pool.aclose()
            nursery.cancel_scope.cancel()


async def _group_addresses(
    group: int, servers: tuple[str, ...], timeout: float, security: Security
) -> tuple[str, ...]:
    if group == 0:
        return servers
    async with Client.connect(servers, timeout=timeout, security=security) as client:
        config = await client.config_client.query(-1)
    groups = config.get("groups") or {}
    addresses = groups.get(group) or groups.get(str(group))
    if not addresses:
        raise Refused(f"GROUP: group {group} is not in the latest config ({config['num']})")
    return tuple(addresses)


async def _record_members(
    members: _Members,
    gid: int,
    recorded: tuple[str, ...],
    servers: tuple[str, ...],
    timeout: float,
    security: Security,
) -> None:
    """Write the group's voters into the config chain when they differ from what it
    recorded, so clients and other groups find the nodes the group has now (the config
    servers are listed by the operator: `-s`, and the config group's are not recorded)."""
    listing = await members.listing()
    voters = tuple(m["addr"] for m in listing.members if m.get("role") == "voter")
    if not voters or sorted(voters) == sorted(recorded):
        return
    async with Client.connect(servers, timeout=timeout, security=security) as client:
        try:
            num = await client.config_client.set_addresses(gid, voters)
        except BadRequest as exc:
            # The change itself is made; a group that left the config meanwhile has no
            # addresses to record.
            print(f"note: the config chain was not updated: {exc.code}: {exc}", file=sys.stderr)
            return
    print(f"config {num} records group {gid} at {','.join(voters)}")


class _Members:
    """Talks to one group: whoever leads it, found from any member it can reach."""

    def __init__(self, pool: ConnectionPool, seeds: tuple[str, ...], timeout: float, label: str):
        self.pool = pool
        self.known = list(seeds)
        self.timeout = timeout
        self.label = label
        self.leader: str | None = None

    def _candidates(self) -> list[str]:
        first = [self.leader] if self.leader else []
        return first + [a for a in self.known if a != self.leader]

    async def _call(self, addr: str, body: Any) -> Any:
        try:
            return await self.pool.call(addr, body, self.timeout)
        except (TransportError, OSError):
            return None

    async def listing(self) -> Members:
        """The leader's MemberList answer (any member's when none leads in time)."""
        fallback: Members | None = None
        with trio.move_on_after(self.timeout):
            while True:
                for addr in self._candidates():
                    reply = await self._call(addr, MemberList())
                    if type(reply) is not Members:
                        continue
                    self._learn(reply)
                    fallback = reply
                    if reply.leader == addr:
                        return reply
                await trio.sleep(RETRY_SECONDS)
        if fallback is not None:
            return fallback
        raise Unreachable(f"no member of group {self.label} answered ({', '.join(self.known)})")

    def _learn(self, reply: Members) -> None:
        for member in reply.members:
            if member.get("addr") and member["addr"] not in self.known:
                self.known.append(member["addr"])
        if reply.leader:
            self.leader = reply.leader

    async def change(
        self, action: str, addr: str, *, deadline: float
    ) -> MemberChanged | ErrorReply:
        """Send MemberChange to the leader until it is done; Refused with the group's
        reason; the last not_caught_up answer once `deadline` passes (promote)."""
        last: ErrorReply | None = None
        while trio.current_time() < deadline:
            for target in self._candidates():
                reply = await self._call(target, MemberChange(action, addr))
                if type(reply) is MemberChanged:
                    return reply
                if type(reply) is not ErrorReply:
                    continue
                if reply.code is ErrorCode.REFUSED:
                    raise Refused(reply.message)
                if reply.code is ErrorCode.NOT_LEADER:
                    if reply.leader:
                        self.leader = reply.leader
                        if reply.leader not in self.known:
                            self.known.append(reply.leader)
                        break  # ask the leader it named, now
                    continue
                last = reply
                if reply.code is ErrorCode.UNKNOWN:
                    return reply  # the caller checks what happened
                break  # not_caught_up: wait and ask again
            await trio.sleep(RETRY_SECONDS)
        if last is not None:
            return last
        raise Unreachable(f"no leader of group {self.label} answered in time")


def _member_of(listing: Members, addr: str) -> dict[str, Any] | None:
    return next((m for m in listing.members if m.get("addr") == addr), None)


async def _list(members: _Members, args: argparse.Namespace) -> int:
    listing = await members.listing()
    rows = [
        {"addr": m["addr"], "role": m["role"], "leader": m["addr"] == listing.leader}
        for m in listing.members
    ]
    if args.json:
        print(json.dumps({"group": args.group, "members": rows}))
        return EXIT_OK
    for row in rows:
        print(f"{row['addr']}  {row['role']}{'  leader' if row['leader'] else ''}")
    if listing.joint:
        print("(a membership change is under way)")
    return EXIT_OK


async def _add(members: _Members, addr: str, learner: bool, catch_up: float) -> int:
    deadline = trio.current_time() + members.timeout
    listing = await members.listing()
    if _member_of(listing, addr) is None:
        reply = await members.change("add", addr, deadline=deadline)
        if type(reply) is ErrorReply:
            listing = await members.listing()
            if _member_of(listing, addr) is None:
                raise Unreachable(f"the group did not add {addr} in time: {reply.message}")
    elif learner or _member_of(listing, addr)["role"] == "voter":  # type: ignore[index]
        raise Refused(f"{addr} is a member already")
    if learner:
        print(f"OK: {addr} added to group {members.label} as a learner")
        return EXIT_OK
    await _promote(members, addr, catch_up)
    print(f"OK: {addr} added to group {members.label} as a voter")
    return EXIT_OK


async def _promote(members: _Members, addr: str, catch_up: float) -> None:
    deadline = trio.current_time() + catch_up
    next_note = trio.current_time() + PROGRESS_EVERY_SECONDS
    while True:
        step = min(deadline, trio.current_time() + PROGRESS_EVERY_SECONDS)
        reply = await members.change("promote", addr, deadline=step)
        if type(reply) is MemberChanged:
            return
        now = trio.current_time()
        if now >= deadline:
            raise Unreachable(
                f"{addr} did not catch up within {catch_up:g}s (is it running with "
                "`join = true`?); it stays a learner"
            )
        if now >= next_note:
            next_note = now + PROGRESS_EVERY_SECONDS
            print(f"waiting for {addr} to catch up...", file=sys.stderr, flush=True)


async def _remove(members: _Members, addr: str) -> int:
    await _removed(members, addr)
    print(f"OK: {addr} removed from group {members.label}")
    return EXIT_OK


async def _removed(members: _Members, addr: str) -> None:
    listing = await members.listing()
    if _member_of(listing, addr) is None:
        raise Refused(f"{addr} is not a member of group {members.label}")
    deadline = trio.current_time() + members.timeout
    reply = await members.change("remove", addr, deadline=deadline)
    if type(reply) is ErrorReply:
        listing = await members.listing()
        if _member_of(listing, addr) is not None:
            raise Unreachable(f"the group did not remove {addr} in time: {reply.message}")


async def _replace(members: _Members, old: str, new: str, catch_up: float) -> int:
    if old == new:
        raise Refused("OLD and NEW are the same address")
    listing = await members.listing()
    if _member_of(listing, old) is None:
        raise Refused(f"{old} is not a member of group {members.label}")
    if _member_of(listing, new) is None:
        deadline = trio.current_time() + members.timeout
        reply = await members.change("add", new, deadline=deadline)
        if type(reply) is ErrorReply and _member_of(await members.listing(), new) is None:
            raise Unreachable(f"the group did not add {new} in time")
    print(f"{new} added as a learner; waiting for it to catch up", file=sys.stderr, flush=True)
    await _promote(members, new, catch_up)
    print(f"{new} is a voter; removing {old}", file=sys.stderr, flush=True)
    await _removed(members, old)
    print(f"OK: {old} replaced by {new} in group {members.label}")
    return EXIT_OK
