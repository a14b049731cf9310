"""The lock workload of a chaos run: workers that increment one counter under `client.lock`.

Each worker has a Client of its own and loops: take the lock `{ctr}lock`, get the counter
`{ctr}value` (missing: 0), put it one up, release. The increment is a plain get and put,
not a compare-and-set: only mutual exclusion keeps the counter exact. Each critical
section is recorded (lock_check.Section) and judged by lock_check.check_lock.

A holder works only while its lease is sure to be alive (`KeptLease.remaining()`, a TTL
after the sending of its last keep-alive that succeeded) with `margin` to spare: every get
and put is cut off at that moment, and a section that has no time left is abandoned. A put
that timed out is sent again with the same value while there is time (idempotent: the
counter is written, not added to), so few increments end unknown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import trio

from eraft_trio.chaos.lock_check import Section, SectionOutcome
from eraft_trio.client.kv_client import Client
from eraft_trio.client.leases import KeptLease
from eraft_trio.client.lock import HeldLock
from eraft_trio.errors import EraftError
from eraft_trio.protocol.keys import bucket_of

# One hash tag, one bucket: the strict form compares the lock's revision in a transaction.
LOCK_KEY = b"{ctr}lock"
COUNTER_KEY = b"{ctr}value"
ERROR_PAUSE_S = 0.1  # after a failed acquisition or release, before the next try
LOCK_TTL_S = 15.0  # the lock's lease: far longer than an election or a fault's hold


@dataclass(frozen=True, slots=True)
class LockSettings:
    workers: int = 8
    ttl: float = LOCK_TTL_S
    op_timeout: float = 10.0
    margin: float = 1.0  # a get or put is sent only while the lease is sure this much longer


@dataclass
class _WorkerState:
    waiting: trio.CancelScope | None = None
    in_section: bool = False


@dataclass
class LockWorkload:
    config_servers: tuple[str, ...]
    settings: LockSettings
    sections: list[Section] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    leases_lost: int = 0  # sections whose lease was given up before they ended

    @classmethod
    def of(cls, config_servers: Sequence[str], settings: LockSettings) -> LockWorkload:
        return cls(tuple(config_servers), settings)

    async def run(self, stop: trio.Event) -> None:
        """Run every worker until `stop`; one in a critical section finishes it first."""
        async with trio.open_nursery() as nursery:
            for worker in range(self.settings.workers):
                nursery.start_soon(self._worker, worker, stop)

    async def read_counter(self, *, timeout: float, attempts: int = 5) -> int | None:
        """The counter once the cluster has healed (0 if never written); None: no answer."""
        async with Client.connect(self.config_servers, timeout=timeout) as kv:
            for _ in range(attempts):
                try:
                    value = await kv.get(COUNTER_KEY)
                except EraftError as exc:
                    self._note("final get", exc)
                    continue
                return 0 if value is None else int(value)
        return None

    def _note(self, kind: str, exc: BaseException) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{kind}: {type(exc).__name__}: {exc}")

    async def _worker(self, worker: int, stop: trio.Event) -> None:
        state = _WorkerState()
        async with (
            Client.connect(self.config_servers, timeout=self.settings.op_timeout) as kv,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(_stop_waiting, stop, state)
            while not stop.is_set():
                with trio.CancelScope() as state.waiting:
                    await self._one_turn(kv, worker, state)
            nursery.cancel_scope.cancel()

    async def _one_turn(self, kv: Client, worker: int, state: _WorkerState) -> None:
        before = _route(kv)
        try:
            async with kv.lock(LOCK_KEY, ttl=self.settings.ttl) as held:
                state.in_section = True
                after = _route(kv)
                # Tokens are the granting group's revisions: known only if the route held.
                owner = after[1] if after is not None and before == after else None
                # Never cut short by `stop` (the watcher leaves sections alone, but a cancel
                # just before could land here); bounded by the lease's time anyway.
                with trio.CancelScope(shield=True):
                    section = await self.critical_section(kv, worker, held, owner)
                self.sections.append(section)
                if held.lease.lost.is_set():
                    self.leases_lost += 1
                state.in_section = False
        except EraftError as exc:
            # An acquisition or release that failed; the lease's revoke frees the lock.
            self._note("lock", exc)
            await trio.sleep(ERROR_PAUSE_S)
        finally:
            state.in_section = False

    async def critical_section(
        self, kv: Client, worker: int, held: HeldLock, owner: int | None
    ) -> Section:
        """One holding's work, judged by lock_check (tests/e2e/test_lock_workload.py
        overrides it with a holder that ignores its lease, to see the checks fire)."""
        start = trio.current_time()
        outcome: SectionOutcome = "abandoned"
        value = await self._read_counter(kv, held.lease)
        if value is not None:
            outcome = await self._write_counter(kv, held.lease, value + 1)
        return Section(worker, start, trio.current_time(), held.fencing_token, owner, outcome)

    def _time_left(self, lease: KeptLease) -> float:
        return min(self.settings.op_timeout, lease.remaining() - self.settings.margin)

    async def _read_counter(self, kv: Client, lease: KeptLease) -> int | None:
        """The counter, or None when the lease ran short before a get answered."""
        while (left := self._time_left(lease)) > 0:
            with trio.move_on_after(left):
                try:
                    value = await kv.get(COUNTER_KEY)
                except EraftError as exc:
                    self._note("get", exc)
                    continue
                return 0 if value is None else int(value)
        return None

    async def _write_counter(self, kv: Client, lease: KeptLease, new: int) -> SectionOutcome:
        """Put the counter until acknowledged, while the lease is sure."""
        sent = False
        while (left := self._time_left(lease)) > 0:
            with trio.move_on_after(left):
                sent = True
                try:
                    await kv.put(COUNTER_KEY, b"%d" % new)
                except EraftError as exc:
                    self._note("put", exc)
                    continue
                return "acked"
        return "unknown" if sent else "abandoned"


def _route(kv: Client) -> tuple[int, int] | None:
    """(config number, group) the client would send the lock's writes to now."""
    config = kv.config
    if config is None:
        return None
    buckets = config["buckets"]
    return int(config["num"]), int(buckets[bucket_of(LOCK_KEY, len(buckets))])


async def _stop_waiting(stop: trio.Event, state: _WorkerState) -> None:
    """On `stop`, cancel a worker that is waiting for the lock (not one inside a section)."""
    await stop.wait()
    if not state.in_section and state.waiting is not None:
        state.waiting.cancel()
