"""The named LMDB sub-databases of a node's two environments.

The state environment (data_dir itself) holds `meta` (identity, format, applied
position, staging marker), `sm` and `staging`. The Raft log is not here: it is in the
write-ahead log (wal.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lmdb

META_DB = b"meta"  # small records: see meta_table
# Stores made by 0.1.0's development builds also hold an empty `log` sub-db, once the log.
OLD_LOG_DB = b"log"
SM_DB = b"sm"  # table + NUL + key -> value: every state-machine table
STAGING_DB = b"staging"  # rows of a snapshot being received, same layout as `sm`

ALL_DB_NAMES = (META_DB, OLD_LOG_DB, SM_DB, STAGING_DB)


@dataclass(frozen=True, slots=True)
class SubDbs:
    meta: Any
    sm: Any
    staging: Any


def open_sub_dbs(env: lmdb.Environment) -> SubDbs:
    """Open (creating on first use) every sub-database; handles stay valid until env.close()."""
    return SubDbs(
        meta=env.open_db(META_DB),
        sm=env.open_db(SM_DB),
        staging=env.open_db(STAGING_DB),
    )
