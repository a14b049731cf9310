"""Per-stage timestamps of requests, for finding where one operation's time goes (issue 15).

Off unless the environment names a folder in ERAFT_STAGE_TRACE: then every process
(nodes, clients) appends `monotonic_ns stage detail` lines to a file of its own there
(`<pid>.trace`). CLOCK_MONOTONIC is one clock for the whole machine, so the lines of
all processes merge into one timeline; tools/stage_trace.py sends one operation at a
time and reads each one's stages off that timeline. When off, a stage costs one test of
a module global.
"""

from __future__ import annotations

import atexit
import os
import time
from typing import TextIO

ENV = "ERAFT_STAGE_TRACE"

_out: TextIO | None = None


def _open() -> TextIO | None:
    folder = os.environ.get(ENV)
    if not folder:
        return None
    out = open(os.path.join(folder, f"{os.getpid()}.trace"), "a", buffering=1 << 16)  # noqa: SIM115
    atexit.register(out.close)
    return out


_out = _open()
ENABLED = _out is not None


def stage(name: str, detail: object = "") -> None:
    """Record that a request reached stage `name` now (`detail`: an index, a count)."""
    if _out is not None:
        _out.write(f"{time.monotonic_ns()} {name} {detail}\n")


def flush() -> None:
    if _out is not None:
        _out.flush()
