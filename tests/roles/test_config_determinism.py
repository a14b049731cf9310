"""Replicas under different PYTHONHASHSEEDs, fed the same log, end with byte-identical tables."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

from eraft_trio.roles.config.commands import (
    ConfigCommand,
    Join,
    Leave,
    Move,
    SessionCommand,
    encode_command,
)
from eraft_trio.roles.config.state_machine import ConfigStateMachine
from eraft_trio.storage.view import MemoryView

REPO = Path(__file__).resolve().parents[2]
BUCKETS = 17

# A replica in a fresh interpreter: reads the log (hex lines) from stdin, applies it, and
# prints every table row and every reply. String hashes, and so the iteration order of
# any set or dict of strings the state machine might lean on, change with PYTHONHASHSEED.
REPLICA_SCRIPT = f"""
import sys
from eraft_trio.roles.config.state_machine import ConfigStateMachine
from eraft_trio.storage.view import MemoryView

machine, view = ConfigStateMachine({BUCKETS}), MemoryView()
replies = [machine.apply(view, i + 1, bytes.fromhex(line)) for i, line in enumerate(sys.stdin.read().split())]
for name in sorted(view.tables):
    for key, value in sorted(view.tables[name].items()):
        print(name, key.hex(), value.hex())
print(repr(replies))
"""


def build_log(steps: int = 300) -> list[bytes]:
    """A seeded mix of joins (many addresses), leaves, moves, retries and refusals."""
    rng = random.Random(2024)
    machine, view = ConfigStateMachine(BUCKETS), MemoryView()
    log: list[bytes] = []
    seqs = [0] * 5
    for _ in range(steps):
        client = rng.randrange(5)
        members = sorted(machine.latest(view).groups)
        kind = rng.choice(["join", "join", "leave", "move", "retry", "bad"])
        command: ConfigCommand
        if kind == "retry" and log:
            log.append(rng.choice(log[-5:]))
            machine.apply(view, len(log), log[-1])
            continue
        if kind == "join":
            gids = rng.sample(range(1, 40), rng.randint(1, 4))
            command = Join(
                {
                    gid: tuple(f"node-{gid}-{i}.example:{7000 + i}" for i in range(3))
                    for gid in gids
                },
                rebalance=rng.random() < 0.8,
            )
        elif kind == "leave" and members:
            command = Leave(tuple(rng.sample(members, min(len(members), 2))))
        elif kind == "move" and members:
            command = Move(tuple(rng.sample(range(BUCKETS), 3)), rng.choice(members))
        else:
            command = Leave((999,))
        seqs[client] += 1
        log.append(encode_command(SessionCommand(client, seqs[client], command)))
        machine.apply(view, len(log), log[-1])
    return log


def run_replica(log: list[bytes], hash_seed: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", REPLICA_SCRIPT],
        input="\n".join(entry.hex() for entry in log),
        cwd=REPO,
        env={**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_tables_are_byte_identical_across_hash_seeds() -> None:
    """Lab 4A 'Check Same config on servers', made stricter: bytes, across hash seeds."""
    log = build_log()
    outputs = [run_replica(log, seed) for seed in ("1", "2", "12345")]
    assert outputs[0].count("\ncfg ") > 50  # the log really produced many configs
    assert "'ok': False" in outputs[0]  # and refusals
    assert outputs[1] == outputs[0]
    assert outputs[2] == outputs[0]
