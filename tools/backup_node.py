"""Copy a node's LMDB store to a backup folder, consistently, while the node runs.

    python tools/backup_node.py DATA_DIR BACKUP_DIR

A node keeps its log and hard state in a write-ahead log (DATA_DIR/raft-wal, append-only
segment files) and its state machine in an LMDB environment (DATA_DIR). The log is
copied first: a record being appended meanwhile may be copied torn, and replay stops
there, as after a crash. Then LMDB copies the state inside one read transaction. The
node only drops log entries its state durably holds, so the later copy of the state
holds at least everything the copied log dropped, and the restored node starts from
the state and replays what the log holds beyond it. See docs/operations.md for when restoring a backup is safe.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import lmdb

from eraft_trio.storage.node_store import WAL_DIR
from eraft_trio.storage.wal import SUFFIX


def copy_segments(source: Path, target: Path, attempts: int = 10) -> None:
    """Copy the log's segments; start over if the node rotated one away meanwhile."""
    for _ in range(attempts):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        try:
            for segment in sorted(source.glob(f"*{SUFFIX}")):
                shutil.copyfile(segment, target / segment.name)
            return
        except FileNotFoundError:
            continue
    raise SystemExit(f"backup_node: {source}: the log kept changing under the copy")


def copy_environment(source: Path, target: Path) -> None:
    env = lmdb.open(str(source), readonly=True, max_dbs=8, lock=True)
    try:
        env.copy(str(target), compact=True)
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("backup_dir", type=Path)
    args = parser.parse_args(argv)
    if not (args.data_dir / "data.mdb").is_file():
        print(
            f"backup_node: {args.data_dir}: not an eraft data folder (no data.mdb)", file=sys.stderr
        )
        return 2
    if args.backup_dir.exists() and any(args.backup_dir.iterdir()):
        print(f"backup_node: {args.backup_dir}: exists and is not empty", file=sys.stderr)
        return 2
    args.backup_dir.mkdir(parents=True, exist_ok=True)
    wal_dir = args.data_dir / WAL_DIR
    if wal_dir.is_dir():
        copy_segments(wal_dir, args.backup_dir / WAL_DIR)
    copy_environment(args.data_dir, args.backup_dir)
    print(f"backed up {args.data_dir} to {args.backup_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
