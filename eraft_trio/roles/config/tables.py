"""Where the config role keeps its state: the config chain, its metadata and client sessions.

Tables (all keys and values deterministic bytes, so replicas are byte-identical):
  "cfg"   8-byte big-endian config num -> Config.encode()
  "meta"  b"buckets" -> msgpack(bucket count); b"latest" -> 8-byte big-endian latest num
  "sess"  8-byte big-endian client id -> msgpack([last seq, reply to it])
  "gids"  8-byte big-endian gid -> 8-byte num of the first config that held it; every gid any
          config ever used, so a gid is never given to a second group (see `gid_used`)
Every read goes to the view: the runtime may swap the tables for a snapshot at any time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from eraft_trio.roles.config.model import Config
from eraft_trio.storage.view import TableView

CONFIGS = "cfg"
META = "meta"
SESSIONS = "sess"
USED_GIDS = "gids"
_BUCKET_COUNT = b"buckets"
_LATEST = b"latest"
# Set once "gids" holds every gid of the chain. A chain stored before the table existed
# is indexed on its first join (`gid_used`), at the same log index on every replica.
_GIDS_INDEXED = b"gids_indexed"


@dataclass(frozen=True, slots=True)
class Session:
    """The last command a client had applied, and the reply it got."""

    seq: int
    reply: Any


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def is_initialised(view: TableView) -> bool:
    return view.get(META, _LATEST) is not None


def initialise(view: TableView, bucket_count: int) -> None:
    """Store config 0 unless the tables already hold a chain (whose bucket count then wins)."""
    if is_initialised(view):
        return
    view.put(META, _BUCKET_COUNT, msgpack.packb(bucket_count))
    store_config(view, Config.initial(bucket_count))
    view.put(META, _GIDS_INDEXED, b"\x01")  # config 0 has no group: nothing to index


def latest_num(view: TableView) -> int:
    """The latest config's num; 0 before anything is stored (config 0 is implicit)."""
    raw = view.get(META, _LATEST)
    return 0 if raw is None else int.from_bytes(raw, "big")


def load_config(view: TableView, num: int) -> Config | None:
    raw = view.get(CONFIGS, _u64(num))
    return None if raw is None else Config.decode(raw)


def store_config(view: TableView, config: Config) -> None:
    """Append `config` to the chain and make it the latest."""
    view.put(CONFIGS, _u64(config.num), config.encode())
    view.put(META, _LATEST, _u64(config.num))
    if view.get(META, _GIDS_INDEXED) is not None:
        _record_gids(view, config)


def gid_used(view: TableView, gid: int) -> bool:
    """Whether any config of the chain, the latest included, ever held group `gid`."""
    if view.get(META, _GIDS_INDEXED) is None:
        for num in range(latest_num(view) + 1):
            config = load_config(view, num)
            if config is not None:
                _record_gids(view, config)
        view.put(META, _GIDS_INDEXED, b"\x01")
    return view.get(USED_GIDS, _u64(gid)) is not None


def _record_gids(view: TableView, config: Config) -> None:
    for gid in config.groups:
        if view.get(USED_GIDS, _u64(gid)) is None:
            view.put(USED_GIDS, _u64(gid), _u64(config.num))


def load_session(view: TableView, client_id: int) -> Session | None:
    raw = view.get(SESSIONS, _u64(client_id))
    if raw is None:
        return None
    seq, reply = msgpack.unpackb(raw, raw=False, use_list=True)
    return Session(seq, reply)


def store_session(view: TableView, client_id: int, session: Session) -> None:
    view.put(
        SESSIONS, _u64(client_id), msgpack.packb([session.seq, session.reply], use_bin_type=True)
    )
