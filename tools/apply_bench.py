#!/usr/bin/env python3
"""CPU per put of the shard role's apply, the stage alone (issue 15, item 3).

Applies `--batches` batches of `--batch` puts (100-byte values, random keys of a
10,000-key space written once beforehand, a client id per put as `eraft bench`'s
closed-loop clients have)
the way the runtime's apply pipeline does: each batch in one write transaction of a
real LMDB environment, through the shard state machine. Commits do not sync (the
fsync is the disk's time, not CPU). Prints CPU microseconds per put (process time);
for instruction counts, which a loaded machine does not skew, run it under
`valgrind --tool=callgrind` with fewer batches, once more with `--dry`, and subtract.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lmdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eraft_trio.roles.shard.commands import NewConfig, Put, encode_command  # noqa: E402
from eraft_trio.roles.shard.state_machine import ShardStateMachine  # noqa: E402
from eraft_trio.storage.lmdb_view import LmdbTableView  # noqa: E402
from eraft_trio.storage.state_env import open_sub_dbs  # noqa: E402

try:  # a checkout from before the buffered apply (for A/B runs) applies without it
    from eraft_trio.storage.buffered_view import BufferedView
except ImportError:  # pragma: no cover
    BufferedView = None  # type: ignore[assignment,misc]

BUCKETS = 10  # configs/local's


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64, help="puts per batch (default 64)")
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument(
        "--dry",
        action="store_true",
        help="prepare the batches but apply none: under callgrind, the difference from a "
        "full run is the instructions of the applies alone",
    )
    args = parser.parse_args()
    rng = random.Random(1)
    machine = ShardStateMachine(1)
    config = {"num": 1, "buckets": [1] * BUCKETS, "groups": {"1": ["127.0.0.1:1"]}}
    seqs = [0] * args.batch
    with tempfile.TemporaryDirectory() as folder:
        env = lmdb.open(folder, max_dbs=8, map_size=1 << 30, sync=False, metasync=False)
        dbs = open_sub_dbs(env)
        index = 0

        def apply(commands: list[bytes]) -> None:
            nonlocal index
            with env.begin(write=True) as txn:
                # As RaftNode._apply_function does it.
                view: Any = LmdbTableView(txn, dbs.sm, writable=True)
                if BufferedView is not None:
                    view = BufferedView(view)
                replies = [machine.apply(view, index + i + 1, c) for i, c in enumerate(commands)]
                if BufferedView is not None:
                    view.write_back()
                assert all(r.get("ok") for r in replies), replies[:3]
            index += len(commands)

        apply([encode_command(NewConfig(config))])
        # Every key written once first, as `eraft bench` runs find them after a while.
        for start in range(0, args.keys, 500):
            keys = range(start, min(start + 500, args.keys))
            apply([encode_command(Put(10**6, k + 1, b"bench-%08d" % k, b"")) for k in keys])
        batches = []
        for _ in range(args.batches):
            batch = []
            for client in range(args.batch):
                seqs[client] += 1
                key = b"bench-%08d" % rng.randrange(args.keys)
                put = Put(client + 1, seqs[client], key, rng.randbytes(100))
                batch.append(encode_command(put))
            batches.append(batch)
        started = time.process_time()
        for batch in [] if args.dry else batches:
            apply(batch)
        used = time.process_time() - started
        env.close()
    puts = args.batches * args.batch
    print(f"{puts} puts in batches of {args.batch}: {used * 1e6 / puts:.1f} CPU us per put")
    return 0


if __name__ == "__main__":
    sys.exit(main())
