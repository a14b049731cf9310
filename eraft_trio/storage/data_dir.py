"""Claims a node's data directory: refuses foreign folders, concurrent owners and other identities."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Mapping
from pathlib import Path

from .errors import StorageIdentityError, StorageInUseError

DATA_FILE = "data.mdb"
OWNER_LOCK_FILE = "eraft.lock"


def prepare_data_dir(path: Path) -> bool:
    """Create `path` if needed; True when it holds no store yet, error when it holds something else."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise StorageIdentityError(f"data_dir {path} exists and is not a directory") from exc
    found = sorted(name for name in os.listdir(path) if name != OWNER_LOCK_FILE)
    if not found:
        return True
    if DATA_FILE not in found:
        shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
        raise StorageIdentityError(
            f"data_dir {path} is not empty and is not an eraft store (it holds {shown})"
        )
    return False


def sync_directory(path: Path) -> None:
    """Make the creation of the store's files durable (their names live in the directory)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DataDirOwnerLock:
    """An exclusive flock on data_dir/eraft.lock while the store is open.

    Two nodes on one directory would be one Raft voter counted twice; LMDB itself also
    forbids opening one environment twice in a process. The lock is taken before LMDB
    opens the files, so a refused second open never touches LMDB's own locks.
    """

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path) -> DataDirOwnerLock:
        fd = os.open(path / OWNER_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise StorageInUseError(
                f"data_dir {path} is in use by another open store (this or another process)"
            ) from exc
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def check_identity(
    path: Path, stored: Mapping[str, str | int], given: Mapping[str, str | int]
) -> None:
    """Raise naming the first field (in sorted order) whose stored and given values differ."""
    for field in sorted(set(stored) | set(given)):
        if stored.get(field) != given.get(field):
            raise StorageIdentityError(
                f"data_dir {path} holds another node's data: {field} is "
                f"{_shown(stored, field)} in the store but {_shown(given, field)} was given"
            )


def _shown(identity: Mapping[str, str | int], field: str) -> str:
    return repr(identity[field]) if field in identity else "absent"
