"""The request-latency summary: NodeService's per-type counts and sums become one metric family."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from eraft_trio.runtime.metrics import NodeCollector


def test_request_latency_becomes_a_summary_by_operation() -> None:
    stats = {
        "group": 1,
        "raft": {"id": 0},
        "request_latency": {
            "KvPut": {"count": 4, "sum_s": 0.02},
            "KvGet": {"count": 2, "sum_s": 0.004},
        },
    }
    registry = CollectorRegistry()
    registry.register(NodeCollector(lambda: stats))
    text = generate_latest(registry).decode()
    assert 'eraft_request_latency_seconds_count{group="1",node="0",op="KvPut"} 4.0' in text
    assert 'eraft_request_latency_seconds_sum{group="1",node="0",op="KvGet"} 0.004' in text


def test_no_requests_no_summary() -> None:
    registry = CollectorRegistry()
    registry.register(NodeCollector(lambda: {"group": 0, "raft": {"id": 1}}))
    assert "eraft_request_latency_seconds" not in generate_latest(registry).decode()
