"""The one configuration of test-only faults in a node process: ERAFT_TEST_FAULTS.

`ERAFT_TEST_FAULTS="drop=0.1,delay_ms=1-20,duplicate=0.05,seed=7,slow_fsync_ms=50"`:

| name | layer hook it sets | effect |
|---|---|---|
| `drop`, `delay_ms` (`low-high` or one value), `duplicate` | transport/faults.py `FAULTS` | every message the node sends is dropped, delayed, duplicated with those odds (the 6.824 "unreliable" network, for real processes) |
| `seed` | the same rules' random source | a run's network faults replay |
| `slow_fsync_ms` | storage/disk_faults.py `DISK_FAULTS` | each fsync waits that long while the node's data_dir holds the `SLOW_DISK_MARKER` file (a slow disk, for the node a test picks) |

This module is the only parser: tests build the text with `FaultSpec(...).text()` and
the node applies it at start (`apply_from_environment`). The layers keep only their
small hooks, off by default; unset, production nodes never consult them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, fields

from eraft_trio.storage.disk_faults import DISK_FAULTS
from eraft_trio.transport.faults import ANY, FAULTS, FaultRule

VARIABLE = "ERAFT_TEST_FAULTS"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    network: FaultRule | None = None  # None: the node's messages leave untouched
    seed: int | None = None
    slow_fsync_ms: float = 0.0

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """'drop=0.1,delay_ms=1-20,duplicate=0.05,seed=7' -> a FaultSpec; ValueError if bad."""
        network: dict[str, object] = {}
        seed: int | None = None
        slow_fsync_ms = 0.0
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"{VARIABLE}: {item!r} is not name=value")
            try:
                if name in ("drop", "duplicate"):
                    network[name] = float(value)
                elif name == "delay_ms":
                    low, _, high = value.partition("-")
                    network[name] = (float(low), float(high or low))
                elif name == "seed":
                    seed = int(value)
                elif name == "slow_fsync_ms":
                    slow_fsync_ms = float(value)
                else:
                    names = ", ".join(
                        [f.name for f in fields(FaultRule)] + ["seed", "slow_fsync_ms"]
                    )
                    raise ValueError(f"{VARIABLE}: unknown fault {name!r} ({names})")
            except ValueError as exc:
                if str(exc).startswith(VARIABLE):
                    raise
                raise ValueError(f"{VARIABLE}: {item!r}: {exc}") from None
        if slow_fsync_ms < 0:
            raise ValueError(f"{VARIABLE}: slow_fsync_ms must be >= 0, not {slow_fsync_ms}")
        rule = FaultRule(**network) if network else None  # type: ignore[arg-type]
        return cls(network=rule, seed=seed, slow_fsync_ms=slow_fsync_ms)

    def text(self) -> str:
        """The spec as ERAFT_TEST_FAULTS text (`parse` of it gives the spec back)."""
        parts = []
        if self.network is not None:
            low, high = self.network.delay_ms
            parts += [f"drop={self.network.drop}", f"delay_ms={low}-{high}"]
            parts.append(f"duplicate={self.network.duplicate}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        if self.slow_fsync_ms:
            parts.append(f"slow_fsync_ms={self.slow_fsync_ms}")
        return ",".join(parts)

    def apply(self) -> None:
        """Set the layers' hooks in this process."""
        if self.seed is not None:
            FAULTS.seed(self.seed)
        if self.network is not None:
            FAULTS.put(ANY, ANY, self.network)
        DISK_FAULTS.slow_fsync_s = self.slow_fsync_ms / 1000.0


def apply_from_environment() -> FaultSpec | None:
    """Apply ERAFT_TEST_FAULTS if set (ValueError if it does not parse); the spec applied."""
    text = os.environ.get(VARIABLE)
    if not text:
        return None
    spec = FaultSpec.parse(text)
    spec.apply()
    log.warning(
        "TEST FAULTS ON (%s=%s): this node's network or disk is deliberately unreliable",
        VARIABLE,
        text,
    )
    return spec
