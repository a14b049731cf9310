"""The exceptions the storage layer raises."""

from __future__ import annotations


class StorageError(Exception):
    """A storage operation failed; the stored state is exactly as before it."""


class StorageFullError(StorageError):
    """The disk, or the LMDB map at its maximum size, has no room for a write."""


class StorageIdentityError(StorageError):
    """The data directory holds something other than this node's store."""


class StorageInUseError(StorageError):
    """Another open store (in this or another process) owns the data directory."""


class InvalidBatchError(StorageError, ValueError):
    """A write the caller should never have asked for (it would break a Raft invariant)."""


class SnapshotError(StorageError):
    """A snapshot stream or staging area that cannot be used (stale, invalidated or corrupt)."""
