"""Lets the writer remap a growing LMDB map only while no read transaction is in use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class LongReader(Protocol):
    """A read transaction held open between uses (a snapshot being streamed)."""

    def invalidate(self) -> None:
        """Abort the transaction; called with the gate held and the reader not in use."""
        ...


class MapGate:
    """Counts read transactions in use, so that `remap` can wait for none.

    LMDB's set_mapsize replaces the memory map under every open transaction. Short
    readers (a read_view, one snapshot chunk) are counted while in use and remap waits
    for them; readers never wait for a pending remap, so a thread that nests read views
    cannot deadlock. Long readers (snapshot streams, idle between chunks) are not waited
    for: remap invalidates them, because a write must not stall behind a follower's slow
    download, and Raft retries a failed snapshot transfer anyway.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_use = 0
        self._long_readers: set[LongReader] = set()

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._changed:
            self._in_use += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= 1
                if self._in_use == 0:
                    self._changed.notify_all()

    def add_long_reader(self, reader: LongReader) -> None:
        with self._changed:
            self._long_readers.add(reader)

    def discard_long_reader(self, reader: LongReader) -> None:
        with self._changed:
            self._long_readers.discard(reader)

    def remap(self, change: Callable[[], None]) -> None:
        """Run `change` (a set_mapsize, or closing the environment) once no read is in use."""
        with self._changed:
            self._changed.wait_for(lambda: self._in_use == 0)
            self._invalidate_long_readers_locked()
            change()

    def _invalidate_long_readers_locked(self) -> None:
        for reader in list(self._long_readers):
            reader.invalidate()
        self._long_readers.clear()
