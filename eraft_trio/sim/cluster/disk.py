"""A simulated node's storage executor: the real NodeStore's calls, inline, after a seeded latency.

The store is real (LMDB and the write-ahead log in a temporary folder); what the
simulation controls is when each call happens. A write waits a latency drawn from the
seed and then runs at once, whole: a node that crashes after it kept all of it (it
reached the disk before any effect of it could leave the node). A node that crashes
during the wait may have lost the write entirely, or (`TornWrites`) have got part of
a log write onto the disk: its last record cut short, or only its later pages written.
Latency lets later messages, proposals and ticks arrive while a write is in flight,
which is what the driver's group commit is for.

`DiskFaults` are what the nemesis does to one node's disk: fill it (each write then
fails as the store fails on ENOSPC, StorageFullError with nothing stored, until it is
emptied) or have the next write fail with EIO (StorageError, after part of a log write
may have reached the disk, as after a failed fdatasync). The node reacts as in
production: it pauses on a full disk and retries; it stops on any other failure.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import trio

from eraft_trio.runtime.executors import Executors
from eraft_trio.storage.errors import StorageError, StorageFullError
from eraft_trio.storage.node_store import NodeStore

T = TypeVar("T")

CrashHook = Callable[[Callable[..., Any], Sequence[Any]], None]


class DiskFaults:
    """One node's disk as the nemesis left it; shared by its incarnations."""

    def __init__(self) -> None:
        self.full = False  # every write fails with ENOSPC until emptied
        self.eio_next = False  # the next write fails with EIO
        self.eio_struck = False  # an EIO failed a write of this incarnation: it stops
        self.full_errors = 0
        self.eio_errors = 0


class SimDisk:
    def __init__(
        self,
        rng: random.Random,
        latency: tuple[float, float],
        on_crash: CrashHook | None = None,
        faults: DiskFaults | None = None,
    ) -> None:
        self._rng = rng
        self._latency = latency
        self._on_crash = on_crash  # what a crash during the wait leaves of the write
        self._faults = faults
        self.busy = 0  # calls waiting their latency: a crash now catches them in flight

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        low, high = self._latency
        self.busy += 1
        try:
            if high > 0:
                await trio.sleep(self._rng.uniform(low, high))
            else:
                await trio.lowlevel.checkpoint_if_cancelled()
        except trio.Cancelled:
            # Only a crash cancels a node's storage calls.
            if self._on_crash is not None:
                self._on_crash(fn, args)
            raise
        finally:
            self.busy -= 1
        self._fail_if_told(fn, args)
        try:
            return fn(*args)
        finally:
            await trio.lowlevel.cancel_shielded_checkpoint()

    def _fail_if_told(self, fn: Callable[..., Any], args: Sequence[Any]) -> None:
        faults = self._faults
        if faults is None:
            return
        if faults.full:
            faults.full_errors += 1
            raise StorageFullError("the disk is full (simulated ENOSPC): nothing was stored")
        if faults.eio_next:
            faults.eio_next = False
            faults.eio_struck = True
            faults.eio_errors += 1
            if self._on_crash is not None:
                self._on_crash(fn, args)  # none, part or all of it may be on the disk
            raise StorageError("write failed: [Errno 5] Input/output error (simulated)")


class TornWrites:
    """A crash during a log write: with `chance`, the write happens and then part of what
    it appended is zeroed again, as if those pages never reached the disk."""

    def __init__(self, rng: random.Random, store: NodeStore, chance: float) -> None:
        self._rng = rng
        self._store = store
        self._chance = chance
        self.torn = 0

    def __call__(self, fn: Callable[..., Any], args: Sequence[Any]) -> None:
        if self._rng.random() >= self._chance:
            return  # none of it reached the disk
        wal = self._store._log()  # the simulator's licence: the file the write appends to
        fd, start = wal._fd, wal._offset
        fn(*args)
        end = wal._offset
        if fd is None or wal._fd != fd or end <= start:
            return  # it began a new segment (or wrote nothing): all of it reached the disk
        keep = self._rng.randrange(end - start)
        if self._rng.random() < 0.5:
            lost_from, lost_to = start + keep, end  # the record cut short
        else:
            lost_from, lost_to = start, start + keep  # only its later pages written
        os.pwrite(fd, bytes(lost_to - lost_from), lost_from)
        self.torn += 1


def sim_executors(
    rng: random.Random,
    latency: tuple[float, float],
    torn: TornWrites | None = None,
    faults: DiskFaults | None = None,
) -> Executors:
    """The log and state executors suffer `faults`; snapshot streaming does not."""
    return Executors(
        SimDisk(rng, latency, torn, faults),
        SimDisk(rng, latency, faults=faults),
        SimDisk(rng, (0.0, 0.0)),
    )
