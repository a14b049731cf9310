"""The clients of a chaos run: concurrent get / put / delete on a few dozen keys, every op recorded.

Each worker is one process of the history and has a Client of its own; it issues one
op at a time, each put writing a value never written before, so the checker can tell
which write a read saw. Some of its writes are compare-and-sets (history.py): a CAS
put (if the key holds the value the worker last saw, or is absent), a CAS delete, and a
one-key transaction (compare the value, put on success, get on failure). The txns stay
on one key because the checker's model is a register per key (linearizability.py). What the client learned decides the outcome: an answer is
ok, a refusal of the request as invalid is a definite fail, and anything else (the
operation timeout, an unexpected error) is indeterminate: the write may still apply.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import trio

from eraft_trio.chaos.history import HistoryRecorder, Op, OpKind, Outcome
from eraft_trio.client.kv_client import Client
from eraft_trio.client.results import GetResult
from eraft_trio.client.txn import Compare, get_op, put_op
from eraft_trio.errors import BadRequest, OperationTimeout

T = TypeVar("T")

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
    cas_weight: float = 0.08  # CAS puts (three in four) and CAS deletes
    txn_weight: float = 0.05
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
        s = self.settings
        kinds: list[OpKind] = ["put", "get", "delete", "cas_put", "cas_delete", "txn"]
        weights = [
            s.put_weight,
            s.get_weight,
            s.delete_weight,
            s.cas_weight * 0.75,
            s.cas_weight * 0.25,
            s.txn_weight,
        ]
        written = 0
        seen: dict[bytes, bytes | None] = {}  # what this worker last saw in each key
        async with Client.connect(self.config_servers, timeout=s.op_timeout) as kv:
            while not stop.is_set():
                kind = rng.choices(kinds, weights)[0]
                key = rng.choice(self.keys)
                expected = seen.get(key)
                if kind == "cas_delete" and expected is None:
                    kind = "cas_put"  # deleting an absent key compares nothing worth checking
                value = None
                if kind in ("put", "cas_put", "txn"):
                    written += 1
                    value = f"w{worker}-{written}".encode()
                if kind in ("cas_put", "cas_delete", "txn"):
                    op = await self.cas_op(kv, worker, kind, key, value, expected)
                    if op.outcome == "ok":
                        seen[key] = value if op.succeeded else op.observed
                else:
                    outcome, observed = await self._plain_op(kv, worker, kind, key, value)
                    if outcome == "ok":
                        seen[key] = observed if kind == "get" else value
                if s.think_time:
                    await trio.sleep(s.think_time)

    async def _plain_op(
        self, kv: Client, process: int, kind: OpKind, key: bytes, value: bytes | None
    ) -> tuple[Outcome, bytes | None]:
        handle = self.recorder.invoke(process, kind, key, value)
        outcome, observed = await self._attempt(kind, self._plain_call(kv, kind, key, value))
        self.recorder.complete(handle, outcome, observed if outcome == "ok" else None)
        return outcome, observed

    async def one_op(
        self, kv: Client, process: int, kind: OpKind, key: bytes, value: bytes | None
    ) -> Outcome:
        """A get, put or delete, recorded."""
        return (await self._plain_op(kv, process, kind, key, value))[0]

    async def cas_op(
        self,
        kv: Client,
        process: int,
        kind: OpKind,
        key: bytes,
        value: bytes | None,
        expected: bytes | None,
    ) -> Op:
        """A CAS put or delete, or a one-key txn, comparing with `expected` (None: the key
        must be absent), recorded."""
        handle = self.recorder.invoke(process, kind, key, value, expected)
        outcome, answer = await self._attempt(kind, self._cas_call(kv, kind, key, value, expected))
        succeeded, observed = answer if answer is not None else (None, None)
        return self.recorder.complete(handle, outcome, observed, succeeded)

    @staticmethod
    async def _plain_call(
        kv: Client, kind: OpKind, key: bytes, value: bytes | None
    ) -> bytes | None:
        if kind == "put":
            assert value is not None
            await kv.put(key, value)
            return None
        if kind == "delete":
            await kv.delete(key)
            return None
        return await kv.get(key)

    @staticmethod
    async def _cas_call(
        kv: Client, kind: OpKind, key: bytes, value: bytes | None, expected: bytes | None
    ) -> tuple[bool, bytes | None]:
        """(succeeded, the key's value as the failed compare found it)."""
        if kind == "txn":
            assert value is not None
            holds = (
                Compare.version(key) == 0 if expected is None else Compare.value(key) == expected
            )
            result = await kv.txn([holds], [put_op(key, value)], [get_op(key)])
            if result.succeeded:
                return True, None
            current = result.results[0]
            assert isinstance(current, GetResult)
            return False, current.value
        if kind == "cas_delete":
            assert expected is not None
            cas = await kv.delete(key, if_value=expected)
        else:
            assert value is not None
            if expected is None:
                cas = await kv.put(key, value, if_absent=True)
            else:
                cas = await kv.put(key, value, if_value=expected)
        return cas.succeeded, None if cas.succeeded else cas.current.value

    async def _attempt(self, kind: OpKind, call: Awaitable[T]) -> tuple[Outcome, T | None]:
        """What the client learned from `call`: ok with its answer, a definite fail, or
        indeterminate (a timeout, or an unexpected error: the write may still apply)."""
        try:
            return "ok", await call
        except OperationTimeout:
            return "timeout", None
        except BadRequest as exc:
            # The cluster judged the request itself invalid: it was never applied.
            self.stats.note_error(kind, exc)
            return "fail", None
        except Exception as exc:
            # Unknown failure: the write may or may not have applied, so indeterminate.
            self.stats.note_error(kind, exc)
            return "timeout", None


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
