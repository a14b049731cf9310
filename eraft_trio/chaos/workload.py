"""The clients of a chaos run: concurrent get / put / delete on a few dozen keys, every op recorded.

Each worker is one process of the history and has a Client of its own; it issues one
op at a time, each put writing a value never written before, so the checker can tell
which write a read saw. What the client learned decides the outcome: an answer is
ok, a refusal of the request as invalid is a definite fail, and anything else (the
operation timeout, an unexpected error) is indeterminate: the write may still apply.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import trio

from eraft_trio.chaos.history import HistoryRecorder, Op, OpKind, Outcome
from eraft_trio.client.kv_client import Client
from eraft_trio.errors import BadRequest, OperationTimeout

# The process id of the final reads in a saved history, so an offline re-check finds them.
FINAL_READ_PROCESS = 1_000_000


@dataclass(frozen=True, slots=True)
class WorkloadSettings:
    clients: int = 10
    keys: int = 30
    op_timeout: float = 5.0
    put_weight: float = 0.45
    get_weight: float = 0.50
    delete_weight: float = 0.05
    think_time: float = 0.0  # pause between a worker's ops, seconds

    def key_names(self) -> list[bytes]:
        return [f"k{index:02d}".encode() for index in range(self.keys)]


@dataclass
class WorkloadStats:
    """Counts the history does not hold: errors that were neither answers nor timeouts."""

    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    def note_error(self, kind: str, exc: BaseException) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{kind}: {type(exc).__name__}: {exc}")


class Workload:
    def __init__(
        self,
        config_servers: Sequence[str],
        recorder: HistoryRecorder,
        settings: WorkloadSettings,
        seed: int,
    ) -> None:
        self.config_servers = tuple(config_servers)
        self.recorder = recorder
        self.settings = settings
        self.seed = seed
        self.keys = settings.key_names()
        self.stats = WorkloadStats()

    async def run(self, stop: trio.Event) -> None:
        """Run every worker until `stop` is set; each finishes the op it is in first."""
        async with trio.open_nursery() as nursery:
            for worker in range(self.settings.clients):
                nursery.start_soon(self._worker, worker, stop)

    async def _worker(self, worker: int, stop: trio.Event) -> None:
        # A seeded choice of ops per worker: the same seed asks the same questions.
        rng = random.Random(self.seed * 1_000_003 + worker)
        kinds: list[OpKind] = ["put", "get", "delete"]
        weights = [self.settings.put_weight, self.settings.get_weight, self.settings.delete_weight]
        written = 0
        async with Client.connect(self.config_servers, timeout=self.settings.op_timeout) as kv:
            while not stop.is_set():
                kind = rng.choices(kinds, weights)[0]
                key = rng.choice(self.keys)
                value = None
                if kind == "put":
                    written += 1
                    value = f"w{worker}-{written}".encode()
                await self.one_op(kv, worker, kind, key, value)
                if self.settings.think_time:
                    await trio.sleep(self.settings.think_time)

    async def one_op(
        self, kv: Client, process: int, kind: OpKind, key: bytes, value: bytes | None
    ) -> Outcome:
        handle = self.recorder.invoke(process, kind, key, value)
        observed: bytes | None = None
        outcome: Outcome
        try:
            if kind == "put":
                assert value is not None
                await kv.put(key, value)
            elif kind == "delete":
                await kv.delete(key)
            else:
                observed = await kv.get(key)
            outcome = "ok"
        except OperationTimeout:
            outcome = "timeout"
        except BadRequest as exc:
            # The cluster judged the request itself invalid: it was never applied.
            self.stats.note_error(kind, exc)
            outcome = "fail"
        except Exception as exc:
            # Unknown failure: the write may or may not have applied, so indeterminate.
            self.stats.note_error(kind, exc)
            outcome = "timeout"
        self.recorder.complete(handle, outcome, observed if outcome == "ok" else None)
        return outcome


async def final_reads(
    workload: Workload, *, timeout: float, attempts: int = 5, process: int = FINAL_READ_PROCESS
) -> dict[bytes, bytes | None]:
    """Read every key once the cluster has healed; keys that never answered are left out.

    The reads go into the history too, so the linearizability check covers them.
    """
    results: dict[bytes, bytes | None] = {}
    async with Client.connect(workload.config_servers, timeout=timeout) as kv:
        for key in workload.keys:
            for _ in range(attempts):
                handle = workload.recorder.invoke(process, "get", key)
                try:
                    value = await kv.get(key)
                except OperationTimeout:
                    workload.recorder.complete(handle, "timeout")
                    continue
                except Exception as exc:
                    workload.stats.note_error("final get", exc)
                    workload.recorder.complete(handle, "timeout")
                    continue
                workload.recorder.complete(handle, "ok", value)
                results[key] = value
                break
    return results


def final_reads_of(history: Iterable[Op]) -> dict[bytes, bytes | None]:
    """The final reads recorded in a history: per key, the last ok get of the final reader."""
    reads: dict[bytes, bytes | None] = {}
    for op in sorted(history, key=lambda op: op.invoke):
        if op.process == FINAL_READ_PROCESS and op.kind == "get" and op.outcome == "ok":
            reads[op.key] = op.value
    return reads
