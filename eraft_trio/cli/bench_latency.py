"""LatencyLog: every operation's latency and error count per kind, and their percentiles."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# MB/s counts decimal megabytes, as etcd's and most storage benchmarks do.
MB = 1_000_000


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one).

    Nearest rank, not interpolation: the figure is a latency some operation really had.
    """
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class KindLog:
    """One operation kind: the latencies (seconds) of its successes, and its failures."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def count(self) -> int:
        return len(self.latencies)

    def summary(self, elapsed: float, value_size: int) -> dict[str, float | int]:
        """The contract's per-kind figures (docs/reference.md, `bench --json`).

        `mb_per_s` is value bytes only (each put writes, each get reads, one value of
        `value_size`), so it compares with other stores whatever their framing costs.
        """
        ordered = sorted(self.latencies)
        return {
            "count": self.count,
            "ops_per_s": round(self.count / elapsed, 1) if elapsed > 0 else 0.0,
            "mb_per_s": round(self.count * value_size / MB / elapsed, 3) if elapsed > 0 else 0.0,
            "p50_ms": round(percentile(ordered, 0.50) * 1000, 3),
            "p99_ms": round(percentile(ordered, 0.99) * 1000, 3),
            "p999_ms": round(percentile(ordered, 0.999) * 1000, 3),
            "errors": self.errors,
        }


class LatencyLog:
    """What the client tasks of one run measured, kept per operation kind."""

    def __init__(self, kinds: tuple[str, ...]) -> None:
        self.kinds = {kind: KindLog() for kind in kinds}
        self.last_error: str | None = None

    def record(self, kind: str, seconds: float) -> None:
        self.kinds[kind].latencies.append(seconds)

    def fail(self, kind: str, error: BaseException) -> None:
        self.kinds[kind].errors += 1
        self.last_error = f"{type(error).__name__}: {error}"

    @property
    def completed(self) -> int:
        return sum(log.count for log in self.kinds.values())

    @property
    def errors(self) -> int:
        return sum(log.errors for log in self.kinds.values())

    def summary(self, elapsed: float, value_size: int) -> dict[str, dict[str, float | int]]:
        return {kind: log.summary(elapsed, value_size) for kind, log in self.kinds.items()}
