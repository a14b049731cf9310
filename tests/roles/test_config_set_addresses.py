"""SetAddresses: a group's members as they are after `eraft ctl member`, recorded in the
chain without moving a bucket; refused for an unknown gid or another group's address."""

from __future__ import annotations

from eraft_trio.roles.config import replies
from eraft_trio.roles.config.commands import SetAddresses
from eraft_trio.roles.config.model import Config
from eraft_trio.roles.config.replies import ConfigError
from eraft_trio.roles.config.transitions import next_config

CURRENT = Config(4, (1, 2, 1, 2), {1: ("a:1", "a:2", "a:3"), 2: ("b:1", "b:2", "b:3")})


def test_new_addresses_make_the_next_config_and_move_no_bucket() -> None:
    after = next_config(CURRENT, SetAddresses(1, ("a:1", "a:2", "a:9")))
    assert after == Config(5, CURRENT.buckets, {**CURRENT.groups, 1: ("a:1", "a:2", "a:9")})


def test_an_unknown_gid_is_refused() -> None:
    refused = next_config(CURRENT, SetAddresses(3, ("c:1",)))
    assert isinstance(refused, ConfigError) and refused.code == replies.UNKNOWN_GID


def test_another_groups_address_or_a_bad_one_is_refused() -> None:
    taken = next_config(CURRENT, SetAddresses(1, ("a:1", "b:2")))
    assert isinstance(taken, ConfigError) and taken.code == replies.ADDRESS_IN_USE
    for bad in ((), ("a:1", "a:1"), ("nohost",)):
        refused = next_config(CURRENT, SetAddresses(1, bad))
        assert isinstance(refused, ConfigError) and refused.code == replies.BAD_ADDRESS
