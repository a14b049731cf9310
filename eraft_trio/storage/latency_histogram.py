"""LatencyHistogram: durations of one kind of disk write in fixed buckets, for /metrics and status.

The bounds are etcd's for `etcd_disk_wal_fsync_duration_seconds` (1 ms doubling to
8.192 s), so dashboards and alert rules written for etcd's disks read ours the same way.
Recorded on a storage thread, read from the event loop: each figure is one int or float
update under the GIL, so a reader may see a count one write ahead of its sum, never a
torn value.
"""

from __future__ import annotations

from typing import Any

BOUNDS_SECONDS: tuple[float, ...] = tuple(0.001 * 2**i for i in range(14))


class LatencyHistogram:
    def __init__(self, bounds: tuple[float, ...] = BOUNDS_SECONDS) -> None:
        self.bounds = bounds
        self._counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.count = 0
        self.sum_s = 0.0
        self.max_s = 0.0

    def record(self, seconds: float) -> None:
        slot = len(self.bounds)
        for i, bound in enumerate(self.bounds):
            if seconds <= bound:
                slot = i
                break
        self._counts[slot] += 1
        self.count += 1
        self.sum_s += seconds
        self.max_s = max(self.max_s, seconds)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations <= it) per bound, then (inf, count), as Prometheus has it."""
        out: list[tuple[float, int]] = []
        total = 0
        for bound, n in zip((*self.bounds, float("inf")), self._counts, strict=True):
            total += n
            out.append((bound, total))
        return out

    def quantile_ms(self, q: float) -> float | None:
        """The upper bound of the bucket holding quantile `q`: an overestimate by at most
        the bucket's width (the maximum seen when it falls beyond the last bound)."""
        if not self.count:
            return None
        rank = q * self.count
        for bound, total in self.cumulative():
            if total >= rank:
                return (bound if bound != float("inf") else self.max_s) * 1000.0
        return self.max_s * 1000.0

    def describe(self) -> dict[str, Any]:
        """The JSON-able form of `status`: cumulative buckets, count, sum and estimates."""
        return {
            "buckets": [[bound, n] for bound, n in self.cumulative()[:-1]],
            "count": self.count,
            "sum_s": self.sum_s,
            "max_ms": self.max_s * 1000.0,
            "p50_ms": self.quantile_ms(0.5),
            "p99_ms": self.quantile_ms(0.99),
        }
