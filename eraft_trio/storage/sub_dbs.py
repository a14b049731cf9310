"""The named LMDB sub-databases of a node's two environments.

The state environment (data_dir itself) holds `meta` (identity, format, applied
position, staging marker), `sm` and `staging`; its `log` sub-db is only read when
moving a format-1 store's log out. A format-2 store's log environment
(data_dir/raft-log) held `meta` (hard state, and the last compacted entry as
`snapshot`) and `log`; it is read once, when the store moves to the write-ahead log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lmdb

META_DB = b"meta"  # small records: see meta_table
LOG_DB = b"log"  # 8-byte big-endian index -> msgpack [term, kind, data]
SM_DB = b"sm"  # table + NUL + key -> value: every state-machine table
STAGING_DB = b"staging"  # rows of a snapshot being received, same layout as `sm`

ALL_DB_NAMES = (META_DB, LOG_DB, SM_DB, STAGING_DB)


@dataclass(frozen=True, slots=True)
class SubDbs:
    meta: Any
    log: Any
    sm: Any
    staging: Any


def open_sub_dbs(env: lmdb.Environment) -> SubDbs:
    """Open (creating on first use) every sub-database; handles stay valid until env.close()."""
    return SubDbs(
        meta=env.open_db(META_DB),
        log=env.open_db(LOG_DB),
        sm=env.open_db(SM_DB),
        staging=env.open_db(STAGING_DB),
    )


@dataclass(frozen=True, slots=True)
class LogDbs:
    meta: Any
    log: Any


def open_log_dbs(env: lmdb.Environment) -> LogDbs:
    return LogDbs(meta=env.open_db(META_DB), log=env.open_db(LOG_DB))
