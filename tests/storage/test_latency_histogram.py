"""LatencyHistogram: etcd's fsync buckets, cumulative counts and quantile estimates."""

from __future__ import annotations

from eraft_trio.storage.latency_histogram import BOUNDS_SECONDS, LatencyHistogram


def test_bounds_are_etcds_wal_fsync_buckets() -> None:
    assert BOUNDS_SECONDS[0] == 0.001 and BOUNDS_SECONDS[-1] == 8.192
    assert len(BOUNDS_SECONDS) == 14


def test_observations_land_in_the_first_bucket_that_holds_them() -> None:
    h = LatencyHistogram()
    for seconds in (0.001, 0.0011, 0.5, 9.0):
        h.record(seconds)
    cumulative = dict(h.cumulative())
    assert cumulative[0.001] == 1  # le: a bound holds what equals it
    assert cumulative[0.002] == 2
    assert cumulative[0.512] == 3
    assert cumulative[8.192] == 3
    assert cumulative[float("inf")] == 4
    described = h.describe()
    assert described["count"] == 4
    assert abs(described["sum_s"] - 9.5021) < 1e-9
    assert described["max_ms"] == 9000.0


def test_quantiles_are_bucket_upper_bounds() -> None:
    h = LatencyHistogram()
    assert h.quantile_ms(0.99) is None
    for _ in range(98):
        h.record(0.0015)
    h.record(0.3)
    h.record(20.0)
    assert h.quantile_ms(0.5) == 2.0
    assert h.quantile_ms(0.99) == 512.0
    assert h.quantile_ms(1.0) == 20000.0  # beyond the last bound: the maximum seen
