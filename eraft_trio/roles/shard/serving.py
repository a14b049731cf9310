"""Whether this group serves a bucket now: the check every client request and read makes
before it touches a key, refusing with wrong_group (and the config num the client should
catch up to) otherwise."""

from __future__ import annotations

from typing import Any, NamedTuple

from eraft_trio.roles.shard import replies, tables
from eraft_trio.roles.shard.buckets import BucketState, Phase, bucket_of
from eraft_trio.roles.shard.placement import Placement
from eraft_trio.storage.view import TableView


class Served(NamedTuple):
    """A bucket this group serves, and its state as read for the check."""

    bucket: int
    state: BucketState


def served_bucket(view: TableView, key: bytes) -> Served | dict[str, Any]:
    """The key's bucket if this group serves it, else the wrong_group refusal."""
    config = tables.current_config(view)
    if not config.buckets:
        return replies.refusal(replies.WRONG_GROUP, config.num)
    return served(view, config, bucket_of(key, len(config.buckets)))


def served(view: TableView, config: Placement, bucket: int) -> Served | dict[str, Any]:
    """`bucket` (of the current `config`) if this group serves it, else wrong_group."""
    state = tables.bucket_state(view, bucket)
    if state.phase != Phase.SERVING:
        return replies.refusal(replies.WRONG_GROUP, config.num)
    return Served(bucket, state)
