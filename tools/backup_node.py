"""Copy a node's LMDB store to a backup folder, consistently, while the node runs.

    python tools/backup_node.py DATA_DIR BACKUP_DIR

LMDB's copy runs inside one read transaction, so the backup is the node's state at
one instant (log, hard state and state machine together) even under writes. See
docs/operations.md for when restoring a backup is safe.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import lmdb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("backup_dir", type=Path)
    args = parser.parse_args(argv)
    if not (args.data_dir / "data.mdb").is_file():
        print(f"backup_node: {args.data_dir}: not an eraft data folder (no data.mdb)", file=sys.stderr)
        return 2
    if args.backup_dir.exists() and any(args.backup_dir.iterdir()):
        print(f"backup_node: {args.backup_dir}: exists and is not empty", file=sys.stderr)
        return 2
    args.backup_dir.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(args.data_dir), readonly=True, max_dbs=8, lock=True)
    try:
        env.copy(str(args.backup_dir), compact=True)
    finally:
        env.close()
    print(f"backed up {args.data_dir} to {args.backup_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
