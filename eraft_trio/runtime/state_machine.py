"""The interface a replicated state machine offers the node runtime.

Implementations (the config and shard roles) are pure: they touch state only through
the `TableView` they are handed, never trio, sockets, LMDB or the clock. The runtime
applies committed entries inside the storage transaction that also records the
applied index, so state and index can never disagree after a crash. Snapshots need no
code here: a snapshot is every table of the view, copied by the storage layer.
"""

from __future__ import annotations

from typing import Any, Protocol

from eraft_trio.storage.view import TableView


class StateMachine(Protocol):
    def apply(self, view: TableView, index: int, command: bytes) -> Any:
        """Apply one committed command; return the reply for whoever proposed it.

        Must be deterministic: the same commands in the same order give the same
        tables and replies on every replica. Replies are msgpack-encodable values.
        """
        ...

    def read(self, view: TableView, query: Any) -> Any:
        """Answer a read-only query from applied state (after ReadIndex confirmed it)."""
        ...
