"""Test-only disk faults: slow fsyncs, switched on for one node by a marker file; off by default.

Set from `ERAFT_TEST_FAULTS="slow_fsync_ms=N"` (eraft_trio/runtime/fault_spec.py, the one parser): then,
while the file `SLOW_DISK_MARKER` exists in a node's data_dir, each of its log fsyncs and
state commits first waits N ms on the storage thread, as a disk shared with a noisy
neighbour would. A test slows the leader of its choice by creating the marker, and heals
it by deleting it. Unset (the default), nothing is consulted: one float test per write.
"""

from __future__ import annotations

import time
from pathlib import Path

SLOW_DISK_MARKER = "test-slow-disk"


class DiskFaults:
    def __init__(self) -> None:
        self.slow_fsync_s = 0.0
        self.delayed = 0

    def before_sync(self, data_dir: Path) -> None:
        """Called on a storage thread right before an fsync (or a syncing commit)."""
        if self.slow_fsync_s and (data_dir / SLOW_DISK_MARKER).exists():
            self.delayed += 1
            time.sleep(self.slow_fsync_s)


DISK_FAULTS = DiskFaults()
