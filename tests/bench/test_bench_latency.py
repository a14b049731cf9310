"""Latency percentiles (nearest rank) and the per-kind summary of the contract's JSON."""

from __future__ import annotations

import pytest

from eraft_trio.cli.bench_latency import LatencyLog, percentile
from eraft_trio.errors import OperationTimeout


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [(0.0, 1.0), (0.01, 1.0), (0.5, 50.0), (0.99, 99.0), (0.999, 100.0), (1.0, 100.0)],
)
def test_nearest_rank_of_one_to_a_hundred(fraction: float, expected: float) -> None:
    assert percentile([float(v) for v in range(1, 101)], fraction) == expected


def test_percentiles_of_few_values_are_values_seen() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([7.0], 0.999) == 7.0
    assert percentile([1.0, 2.0, 3.0], 0.5) == 2.0


def test_summary_per_kind_in_milliseconds_with_errors() -> None:
    log = LatencyLog(("put", "get"))
    for ms in range(1, 1001):  # 1..1000 ms, recorded out of order
        log.record("put", ((ms * 7919) % 1000 + 1) / 1000)
    log.record("get", 0.002)
    log.fail("get", OperationTimeout("no answer within 1s"))
    summary = log.summary(elapsed=2.0, value_size=100)
    assert summary == {
        "put": {
            "count": 1000,
            "ops_per_s": 500.0,
            "mb_per_s": 0.05,
            "p50_ms": 500.0,
            "p99_ms": 990.0,
            "p999_ms": 999.0,
            "errors": 0,
        },
        "get": {
            "count": 1,
            "ops_per_s": 0.5,
            "mb_per_s": 0.0,
            "p50_ms": 2.0,
            "p99_ms": 2.0,
            "p999_ms": 2.0,
            "errors": 1,
        },
    }
    assert (log.completed, log.errors) == (1001, 1)
    assert log.last_error == "OperationTimeout: no answer within 1s"


def test_a_kind_that_never_succeeded_reports_zeros() -> None:
    log = LatencyLog(("put",))
    log.fail("put", OperationTimeout("x"))
    assert log.summary(elapsed=1.0, value_size=100)["put"] == {
        "count": 0,
        "ops_per_s": 0.0,
        "mb_per_s": 0.0,
        "p50_ms": 0.0,
        "p99_ms": 0.0,
        "p999_ms": 0.0,
        "errors": 1,
    }


def test_mb_per_s_is_value_bytes_in_decimal_megabytes() -> None:
    log = LatencyLog(("put", "get"))
    for _ in range(300):
        log.record("put", 0.001)
    log.record("get", 0.001)
    summary = log.summary(elapsed=3.0, value_size=1 << 20)  # 100 puts/s of 1 MiB
    assert summary["put"]["mb_per_s"] == 104.858
    assert summary["get"]["mb_per_s"] == 0.35
    assert LatencyLog(("put",)).summary(elapsed=0.0, value_size=100)["put"]["mb_per_s"] == 0.0
