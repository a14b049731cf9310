"""What one command does to the latest config: the next config, or a refusal that changes nothing."""

from __future__ import annotations

from collections.abc import Callable

from eraft_trio.protocol.address import parse_address
from eraft_trio.roles.config import replies
from eraft_trio.roles.config.commands import ConfigCommand, Join, Leave, Move
from eraft_trio.roles.config.model import NO_GROUP, Config
from eraft_trio.roles.config.rebalance import rebalance
from eraft_trio.roles.config.replies import ConfigError

MAX_GID = 2**63 - 1
MAX_ADDRESS_LENGTH = 255


def _never_used(gid: int) -> bool:
    return False


def next_config(
    current: Config, command: ConfigCommand, gid_used: Callable[[int], bool] = _never_used
) -> Config | ConfigError:
    """Config current.num + 1 after `command`, or why the command is refused.

    `gid_used(gid)` says whether an earlier config of the chain held `gid`. Such a gid is
    never joined again: shard groups know a gid's history only through its replicated
    state, so new machines under an old gid would start at config 0, take every bucket
    the chain gives them for empty and serving, and never pull the real data from the
    group that holds it. Refusing the join (the operator picks a fresh gid) keeps that
    from ever happening, with nothing to reconcile. Checks run in a fixed order (gids
    ascending) so every replica reports the same error.
    """
    match command:
        case Join():
            return _join(current, command, gid_used)
        case Leave():
            return _leave(current, command)
        case Move():
            return _move(current, command)
    raise TypeError(f"not a config command: {command!r}")


def _join(current: Config, join: Join, gid_used: Callable[[int], bool]) -> Config | ConfigError:
    if not join.groups:
        return ConfigError(replies.BAD_REQUEST, "join names no group")
    in_use = {address: gid for gid, addresses in current.groups.items() for address in addresses}
    for gid in sorted(join.groups):
        used = _never_used if join.rejoin else gid_used
        refusal = _check_new_gid(current, gid, used) or _check_addresses(
            gid, join.groups[gid], in_use
        )
        if refusal is not None:
            return refusal
        for address in join.groups[gid]:
            in_use[address] = gid
    groups = {**current.groups, **join.groups}
    buckets = rebalance(current.buckets, groups) if join.rebalance else current.buckets
    return Config(current.num + 1, buckets, groups)


def _leave(current: Config, leave: Leave) -> Config | ConfigError:
    if not leave.gids:
        return ConfigError(replies.BAD_REQUEST, "leave names no group")
    if len(set(leave.gids)) != len(leave.gids):
        return ConfigError(replies.BAD_REQUEST, "leave names a group twice")
    for gid in sorted(leave.gids):
        if gid not in current.groups:
            return ConfigError(replies.UNKNOWN_GID, f"group {gid} is not in config {current.num}")
    leaving = set(leave.gids)
    groups = {gid: addresses for gid, addresses in current.groups.items() if gid not in leaving}
    if not groups and any(owner != NO_GROUP for owner in current.buckets):
        return ConfigError(
            replies.LAST_GROUP, "cannot remove the last groups while they serve buckets"
        )
    return Config(current.num + 1, rebalance(current.buckets, groups), groups)


def _move(current: Config, move: Move) -> Config | ConfigError:
    if not move.buckets:
        return ConfigError(replies.BAD_REQUEST, "move names no bucket")
    for bucket in sorted(move.buckets):
        if not 0 <= bucket < len(current.buckets):
            return ConfigError(
                replies.BAD_BUCKET, f"bucket {bucket} out of range 0-{len(current.buckets) - 1}"
            )
    if move.gid not in current.groups:
        return ConfigError(replies.UNKNOWN_GID, f"group {move.gid} is not in config {current.num}")
    buckets = list(current.buckets)
    for bucket in move.buckets:
        buckets[bucket] = move.gid
    return Config(current.num + 1, tuple(buckets), current.groups)


def _check_new_gid(
    current: Config, gid: int, gid_used: Callable[[int], bool]
) -> ConfigError | None:
    if not 0 < gid <= MAX_GID:
        return ConfigError(replies.BAD_GID, f"gid {gid} is not in 1 .. 2**63-1")
    if gid in current.groups:
        return ConfigError(replies.GID_EXISTS, f"group {gid} is already in config {current.num}")
    if gid_used(gid):
        return ConfigError(replies.GID_USED, f"gid {gid} was used before; choose a new one")
    return None


def _check_addresses(
    gid: int, addresses: tuple[str, ...], in_use: dict[str, int]
) -> ConfigError | None:
    if not addresses:
        return ConfigError(replies.BAD_ADDRESS, f"group {gid} has no address")
    if len(set(addresses)) != len(addresses):
        return ConfigError(replies.BAD_ADDRESS, f"group {gid} lists an address twice")
    for address in addresses:
        if not is_host_port(address):
            return ConfigError(
                replies.BAD_ADDRESS, f"group {gid}: address {address!r} is not host:port"
            )
        if address in in_use:
            return ConfigError(
                replies.ADDRESS_IN_USE,
                f"address {address} already belongs to group {in_use[address]}",
            )
    return None


def is_host_port(address: str) -> bool:
    """An address as protocol/address.py parses it, short enough, and without whitespace
    or commas (which would split it on a command line or in a list)."""
    if len(address) > MAX_ADDRESS_LENGTH:
        return False
    try:
        host = parse_address(address).host
    except ValueError:
        return False
    return not any(char.isspace() or char == "," for char in host)
