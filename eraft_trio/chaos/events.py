"""The run's event log: timestamped lines for the console and a file, and the count of each fault."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from typing import TextIO


class EventLog:
    """Lines like ``[  12.3s] nemesis: kill g1-n0 (leader)``, timed from the run's start.

    `times` uses the same monotonic clock as the history recorder, so an event can be
    lined up with the ops around it.
    """

    def __init__(self, stream: TextIO = sys.stdout, quiet: bool = False) -> None:
        self.start = time.monotonic()
        self.stream = stream
        self.quiet = quiet
        self.lines: list[str] = []
        self.faults: Counter[str] = Counter()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def say(self, message: str, *, console: bool = True) -> None:
        now = time.monotonic()
        line = f"[{now - self.start:7.1f}s @{now:.3f}] {message}"
        self.lines.append(line)
        if console and not self.quiet:
            print(f"[{now - self.start:7.1f}s] {message}", file=self.stream, flush=True)

    def fault(self, kind: str, message: str) -> None:
        """Count one injected fault of `kind` (e.g. ``partition:bridge``) and log it."""
        self.faults[kind] += 1
        self.say(f"nemesis: {message}")

    def save(self, path: Path) -> None:
        path.write_text("\n".join(self.lines) + "\n")
