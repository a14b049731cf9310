"""The config role's log entries: a join, leave or move (protocol/config.py) with its
client's session, and their msgpack encoding, fixed once a log may hold it.

The codec checks shape and types only; whether a command makes sense against the current
config (gid exists, bucket in range, ...) is decided when it is applied, so that such
refusals are replicated, deterministic and consume the session seq like any reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from eraft_trio.protocol.config import ConfigCommand, Join, Leave, Move

MAX_CLIENT_ID = 2**64 - 1  # client ids are table keys of 8 bytes


@dataclass(frozen=True, slots=True)
class SessionCommand:
    """A command as proposed: the client's session id and sequence number make it exactly-once."""

    client_id: int
    seq: int
    command: ConfigCommand


class CommandDecodeError(ValueError):
    """The bytes are not an encoded SessionCommand."""


# Log tags: small integers, fixed forever once a log may hold them.
_JOIN, _LEAVE, _MOVE = 1, 2, 3


def encode_command(proposal: SessionCommand) -> bytes:
    """Deterministic bytes: groups are written in ascending gid order whatever the dict order."""
    command = proposal.command
    body: list[Any]
    match command:
        case Join(groups, rebalance, rejoin):
            pairs = [[gid, list(groups[gid])] for gid in sorted(groups)]
            # The rejoin flag is written only when set: older entries and plain joins
            # keep their bytes.
            body = [_JOIN, pairs, bool(rebalance)] + ([True] if rejoin else [])
        case Leave(gids):
            body = [_LEAVE, list(gids)]
        case Move(buckets, gid):
            body = [_MOVE, list(buckets), gid]
        case _:
            raise TypeError(f"not a config command: {command!r}")
    return msgpack.packb([proposal.client_id, proposal.seq, *body], use_bin_type=True)


def decode_command(data: bytes) -> SessionCommand:
    """Inverse of `encode_command`; raises CommandDecodeError for anything else."""
    try:
        fields = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except Exception as error:  # msgpack raises several unrelated types for bad input
        raise CommandDecodeError(f"not msgpack: {error}") from None
    if not isinstance(fields, list) or len(fields) < 3:
        raise CommandDecodeError("a command is [client_id, seq, tag, ...]")
    client_id, seq, tag, *body = fields
    if not _is_int(client_id) or not 0 <= client_id <= MAX_CLIENT_ID:
        raise CommandDecodeError(f"client id {client_id!r} is not in 0 .. 2**64-1")
    if not _is_int(seq) or seq < 0:
        raise CommandDecodeError(f"seq {seq!r} is not a non-negative integer")
    return SessionCommand(client_id, seq, _decode_body(tag, body))


def _decode_body(tag: Any, body: list[Any]) -> ConfigCommand:
    if tag == _JOIN and len(body) == 2 and isinstance(body[1], bool):
        return Join(_decode_groups(body[0]), body[1])
    if tag == _JOIN and len(body) == 3 and isinstance(body[1], bool) and body[2] is True:
        return Join(_decode_groups(body[0]), body[1], rejoin=True)
    if tag == _LEAVE and len(body) == 1:
        return Leave(_int_tuple(body[0], "leave gids"))
    if tag == _MOVE and len(body) == 2 and _is_int(body[1]):
        return Move(_int_tuple(body[0], "move buckets"), body[1])
    raise CommandDecodeError(f"unknown command tag or shape: {tag!r}")


def _decode_groups(pairs: Any) -> dict[int, tuple[str, ...]]:
    if not isinstance(pairs, list):
        raise CommandDecodeError("join groups must be a list of [gid, addresses]")
    groups: dict[int, tuple[str, ...]] = {}
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and _is_int(pair[0])):
            raise CommandDecodeError("join groups must be a list of [gid, addresses]")
        gid, addresses = pair
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            raise CommandDecodeError(f"group {gid}'s addresses must be a list of strings")
        if gid in groups:
            raise CommandDecodeError(f"group {gid} appears twice in one join")
        groups[gid] = tuple(addresses)
    return groups


def _int_tuple(values: Any, what: str) -> tuple[int, ...]:
    if not isinstance(values, list) or not all(_is_int(value) for value in values):
        raise CommandDecodeError(f"{what} must be a list of integers")
    return tuple(values)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
