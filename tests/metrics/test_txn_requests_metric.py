"""A shard leader's transactions are counted in eraft_requests_total with op="txn"."""

from __future__ import annotations

import copy

from .test_metrics_collector import recorded, scrape


def test_transactions_are_counted_as_requests() -> None:
    stats = copy.deepcopy(recorded())
    stats["role"]["txns"] = 5
    assert 'eraft_requests_total{group="1",node="0",op="txn"} 5.0' in scrape(stats)
