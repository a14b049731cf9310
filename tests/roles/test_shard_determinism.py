"""Replicas fed the same log end with identical tables, even under other PYTHONHASHSEEDs."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

from roles.memory_cluster import MemoryCluster

from eraft_trio.roles.shard import tables
from eraft_trio.roles.shard.commands import Delete, Put, encode_command
from eraft_trio.storage.buffered_view import BufferedView
from eraft_trio.storage.view import MemoryView

REPO = Path(__file__).resolve().parents[2]
NBUCKETS = 7
GIDS = [1, 2, 3]

# One replica of group 1 in a fresh interpreter: applies the log (hex lines from stdin)
# and prints every table row and reply, so any reliance on hash order would show.
REPLICA_SCRIPT = """
import sys
from eraft_trio.roles.shard.state_machine import ShardStateMachine
from eraft_trio.storage.view import MemoryView

machine, view = ShardStateMachine(1), MemoryView()
lines = sys.stdin.read().split()
replies = [machine.apply(view, i + 1, bytes.fromhex(line)) for i, line in enumerate(lines)]
for name in sorted(view.tables):
    for key, value in sorted(view.tables[name].items()):
        print(name, key.hex(), value.hex())
print(repr(replies))
"""


def random_run(seed: int, steps: int = 400) -> MemoryCluster:
    """Writes, retries, new configs and single migration steps, in a seeded random order."""
    rng = random.Random(seed)
    cluster = MemoryCluster(NBUCKETS, GIDS, replicas=3)
    cluster.add_config([rng.choice(GIDS) for _ in range(NBUCKETS)])
    seqs = dict.fromkeys(range(4), 0)
    last: dict[int, Put | Delete] = {}
    for _ in range(steps):
        action = rng.random()
        gid = rng.choice(GIDS)
        if action < 0.5:
            client = rng.randrange(4)
            seqs[client] += 1
            key = f"k{rng.randrange(30)}".encode()
            if rng.random() < 0.8:
                last[client] = Put(client, seqs[client], key, rng.randbytes(rng.randrange(20)))
            else:
                last[client] = Delete(client, seqs[client], key)
            cluster.groups[gid].propose(last[client])  # wrong groups answer too
        elif action < 0.6 and last:
            cluster.groups[gid].propose(last[rng.choice(sorted(last))])  # a retry
        elif action < 0.65:
            cluster.add_config([rng.choice([*GIDS, 0]) for _ in range(NBUCKETS)])
        elif action < 0.8:
            cluster.offer_next_config(gid)
        elif action < 0.95:
            cluster.pull_once(gid, max_bytes=rng.choice([1, 64, 4096]))
        else:
            cluster.collect_garbage(gid)
    return cluster


def test_replicas_of_every_group_have_identical_tables() -> None:
    cluster = random_run(seed=11)
    for group in cluster.groups.values():
        assert len(group.log) > 50
        first = group.replicas[0].tables
        assert any(first.values())
        for replica in group.replicas[1:]:
            assert replica.tables == first


def test_a_replica_under_another_hash_seed_ends_byte_identical() -> None:
    cluster = random_run(seed=12)
    group = cluster.groups[1]
    log = "\n".join(entry.hex() for entry in group.log)
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
        result = subprocess.run(
            [sys.executable, "-c", REPLICA_SCRIPT],
            input=log,
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1
    local = MemoryView()
    for index, entry in enumerate(group.log):
        group.machine.apply(local, index + 1, entry)
    expected_rows = [
        f"{name} {key.hex()} {value.hex()}"
        for name in sorted(local.tables)
        for key, value in sorted(local.tables[name].items())
    ]
    assert outputs.pop().splitlines()[:-1] == expected_rows


def test_applying_in_batches_gives_the_replies_and_tables_of_one_by_one() -> None:
    # The runtime applies a batch of committed entries over one BufferedView (each row
    # read once, rows written at the end): that must change no reply and no row, for
    # writes, retries, configs, chunk installs and GC alike, whatever the batch bounds.
    cluster = random_run(seed=13)
    rng = random.Random(13)
    for group in cluster.groups.values():
        one_by_one = MemoryView()
        expected = [
            group.machine.apply(one_by_one, i + 1, entry) for i, entry in enumerate(group.log)
        ]
        batched = MemoryView()
        replies: list[object] = []
        start = 0
        while start < len(group.log):
            end = min(len(group.log), start + rng.choice([1, 2, 7, 64]))
            batch = BufferedView(batched)
            replies += [group.machine.apply(batch, i + 1, group.log[i]) for i in range(start, end)]
            batch.write_back()
            start = end
        assert replies == expected
        assert {t: r for t, r in batched.tables.items() if r} == {
            t: r for t, r in one_by_one.tables.items() if r
        }


def test_a_batch_of_puts_reads_and_decodes_the_config_once() -> None:
    cluster = MemoryCluster(NBUCKETS, [1])
    cluster.add_config([1] * NBUCKETS)
    cluster.offer_next_config(1)
    group = cluster.groups[1]
    reads: list[tuple[str, bytes]] = []

    class CountingView(MemoryView):
        def get(self, table: str, key: bytes) -> bytes | None:
            reads.append((table, key))
            return super().get(table, key)

    view = CountingView()
    view.tables = {name: dict(rows) for name, rows in group.replicas[0].tables.items()}
    decode = tables._decode_placement
    decode.cache_clear()
    batch = BufferedView(view)
    for n in range(20):
        reply = group.machine.apply(batch, n + 1, encode_command(Put(7, n + 1, b"k%d" % n, b"v")))
        assert reply == {"ok": True, "revision": n + 1, "version": 1}
    batch.write_back()
    assert reads.count(("meta", b"config")) == 1
    assert decode.cache_info().misses == 1
