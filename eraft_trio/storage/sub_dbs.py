"""The named LMDB sub-databases of a node's environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lmdb

META_DB = b"meta"  # hard state, snapshot and applied positions, identity, staging marker
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
