"""Test-only transport faults for node processes, from the ERAFT_TEST_FAULTS variable.

`ERAFT_TEST_FAULTS="drop=0.1,delay_ms=1-20,duplicate=0.05,seed=7"` makes every message
this node sends be dropped, delayed and duplicated with those odds (the 6.824
"unreliable" network, for real processes). `slow_fsync_ms=N` delays each fsync of the
node by N ms while its data_dir holds the marker file of eraft_trio/storage/disk_faults.py
(a slow disk, for the node a test picks). Unset, nothing changes: production nodes
never consult it unless a test sets the variable.
"""

from __future__ import annotations

import logging
import os

from eraft_trio.storage.disk_faults import DISK_FAULTS
from eraft_trio.transport.faults import FAULTS

VARIABLE = "ERAFT_TEST_FAULTS"
log = logging.getLogger(__name__)


def parse_fault_spec(text: str) -> dict[str, object]:
    """'drop=0.1,delay_ms=1-20,duplicate=0.05,seed=7' -> keyword arguments; ValueError if bad."""
    spec: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{VARIABLE}: {item!r} is not name=value")
        if name in ("drop", "duplicate"):
            spec[name] = float(value)
        elif name == "delay_ms":
            low, _, high = value.partition("-")
            spec[name] = (float(low), float(high or low))
        elif name == "seed":
            spec[name] = int(value)
        elif name == "slow_fsync_ms":
            spec[name] = float(value)
        else:
            raise ValueError(
                f"{VARIABLE}: unknown fault {name!r} "
                "(drop, delay_ms, duplicate, seed, slow_fsync_ms)"
            )
    return spec


def apply_test_faults_from_environment() -> None:
    text = os.environ.get(VARIABLE)
    if not text:
        return
    spec = parse_fault_spec(text)
    seed = spec.pop("seed", None)
    if isinstance(seed, int):
        FAULTS.seed(seed)
    slow_fsync_ms = spec.pop("slow_fsync_ms", None)
    if isinstance(slow_fsync_ms, float):
        DISK_FAULTS.slow_fsync_s = slow_fsync_ms / 1000.0
    if spec:
        FAULTS.set("*", "*", **spec)  # type: ignore[arg-type]
    log.warning(
        "TEST FAULTS ON (%s=%s): this node's network or disk is deliberately unreliable",
        VARIABLE,
        text,
    )
