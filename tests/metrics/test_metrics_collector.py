"""The node collector turns a statistics dict (recorded from a real shard leader) into metric lines."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from eraft_trio.runtime.metrics import node_registry

RECORDED = Path(__file__).with_name("leader_statistics.json")


class RecordedNode:
    def __init__(self, stats: dict[str, Any]) -> None:
        self.stats = stats

    def statistics(self) -> dict[str, Any]:
        return self.stats


def recorded() -> dict[str, Any]:
    """A shard group leader's statistics() after a short bench and one delete."""
    stats: dict[str, Any] = json.loads(RECORDED.read_text())
    return stats


def scrape(stats: dict[str, Any]) -> list[str]:
    """The sample lines (no # HELP / # TYPE) of one scrape."""
    text = generate_latest(node_registry(RecordedNode(stats))).decode()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_recorded_leader_statistics_become_these_lines() -> None:
    labels = 'group="1",node="0"'
    assert scrape(recorded()) == [
        f"eraft_raft_term{{{labels}}} 3.0",
        f"eraft_raft_commit_index{{{labels}}} 17107.0",
        f"eraft_raft_applied_index{{{labels}}} 17107.0",
        f"eraft_raft_last_index{{{labels}}} 17107.0",
        f"eraft_raft_snapshot_index{{{labels}}} 8001.0",
        f"eraft_raft_log_entries{{{labels}}} 9106.0",
        f"eraft_raft_pending_proposals{{{labels}}} 0.0",
        f"eraft_raft_proposals_total{{{labels}}} 273.0",
        f"eraft_raft_applied_commands_total{{{labels}}} 274.0",
        f"eraft_raft_reads_total{{{labels}}} 263.0",
        f"eraft_raft_ready_batches_total{{{labels}}} 854.0",
        f"eraft_raft_snapshots_sent_total{{{labels}}} 0.0",
        f"eraft_raft_snapshots_installed_total{{{labels}}} 0.0",
        f"eraft_raft_is_leader{{{labels}}} 1.0",
        f"eraft_raft_leader_known{{{labels}}} 1.0",
        f"eraft_storage_fsyncs_total{{{labels}}} 223.0",
        f"eraft_storage_commit_latency_mean_seconds{{{labels}}} {2.7427138161277935 / 1000}",
        f"eraft_storage_commit_latency_last_seconds{{{labels}}} {2.155000999891854 / 1000}",
        f"eraft_storage_used_bytes{{{labels}}} 4.120576e+06",
        f"eraft_storage_map_size_bytes{{{labels}}} 6.7108864e+07",
        f'eraft_requests_total{{{labels},op="get"}} 263.0',
        f'eraft_requests_total{{{labels},op="put"}} 272.0',
        f'eraft_requests_total{{{labels},op="delete"}} 1.0',
        f'eraft_buckets{{{labels},state="serving"}} 10.0',
        f'eraft_buckets{{{labels},state="pulling"}} 0.0',
        f'eraft_buckets{{{labels},state="handoff"}} 0.0',
        f'eraft_bucket_keys{{{labels},state="serving"}} 10000.0',
        f'eraft_bucket_keys{{{labels},state="pulling"}} 0.0',
        f'eraft_bucket_keys{{{labels},state="handoff"}} 0.0',
        f"eraft_config_num{{{labels}}} 1.0",
        f"eraft_bucket_gc_pending{{{labels}}} 0.0",
    ]


def test_help_and_type_lines_name_counters_and_gauges() -> None:
    text = generate_latest(node_registry(RecordedNode(recorded()))).decode()
    assert "# TYPE eraft_raft_proposals_total counter" in text
    assert "# TYPE eraft_storage_fsyncs_total counter" in text
    assert "# TYPE eraft_raft_term gauge" in text
    assert "# HELP eraft_raft_is_leader 1 when this node is its group's leader, else 0." in text


def test_a_follower_mid_migration_counts_buckets_by_state() -> None:
    stats = recorded()
    stats["raft"].update(id=2, role="follower", leader=0)
    buckets = stats["role"]["shard"]["buckets"]
    buckets[3].update(state="pulling", keys=5, num=2, gid=2)
    buckets[4].update(state="handoff", keys=7, num=2, gid=0)
    buckets[5].update(state="handoff", keys=0, num=2, gid=0)
    lines = scrape(stats)
    labels = 'group="1",node="2"'
    assert f"eraft_raft_is_leader{{{labels}}} 0.0" in lines
    assert f"eraft_raft_leader_known{{{labels}}} 1.0" in lines
    assert f'eraft_buckets{{{labels},state="serving"}} 7.0' in lines
    assert f'eraft_buckets{{{labels},state="pulling"}} 1.0' in lines
    assert f'eraft_buckets{{{labels},state="handoff"}} 2.0' in lines
    assert f'eraft_bucket_keys{{{labels},state="pulling"}} 5.0' in lines
    assert f'eraft_bucket_keys{{{labels},state="handoff"}} 7.0' in lines


def test_no_leader_and_no_shard_tables_leave_those_metrics_out() -> None:
    stats = recorded()
    stats["raft"].update(role="candidate", leader=None)
    del stats["role"]["shard"]  # what statistics() gives while the tables are mid-restore
    lines = scrape(stats)
    assert 'eraft_raft_leader_known{group="1",node="0"} 0.0' in lines
    assert not [line for line in lines if line.startswith(("eraft_buckets", "eraft_config_num"))]
    assert 'eraft_raft_term{group="1",node="0"} 3.0' in lines


def test_a_config_node_reports_its_own_request_kinds() -> None:
    stats = copy.deepcopy(recorded())
    stats["group"] = 0
    stats["role"] = {"role": "config", "changes": 4, "queries": 9, "config": {"num": 4}}
    lines = scrape(stats)
    assert 'eraft_requests_total{group="0",node="0",op="query"} 9.0' in lines
    assert 'eraft_requests_total{group="0",node="0",op="change"} 4.0' in lines
    assert not [line for line in lines if 'op="put"' in line or "eraft_buckets" in line]


def test_every_scrape_reads_the_statistics_afresh() -> None:
    node = RecordedNode(recorded())
    registry = node_registry(node)
    assert b'eraft_raft_term{group="1",node="0"} 3.0' in generate_latest(registry)
    node.stats["raft"]["term"] = 4
    assert b'eraft_raft_term{group="1",node="0"} 4.0' in generate_latest(registry)


def test_disk_health_histograms_election_reasons_and_drain_are_exported() -> None:
    from eraft_trio.storage.latency_histogram import LatencyHistogram

    fsyncs = LatencyHistogram()
    for seconds in (0.0004, 0.003, 0.003, 2.5):
        fsyncs.record(seconds)
    stats = recorded()
    stats["storage"]["log_fsync_seconds"] = fsyncs.describe()
    stats["storage"]["state_commit_seconds"] = LatencyHistogram().describe()
    stats["raft"]["drained"] = True
    stats["raft"]["elections"] = {"timeout": 2, "pre-vote": 3, "transfer": 1}
    lines = scrape(stats)
    labels = 'group="1",node="0"'
    assert 'eraft_storage_log_fsync_seconds_bucket{group="1",le="0.001",node="0"} 1.0' in lines
    assert 'eraft_storage_log_fsync_seconds_bucket{group="1",le="0.004",node="0"} 3.0' in lines
    assert 'eraft_storage_log_fsync_seconds_bucket{group="1",le="2.048",node="0"} 3.0' in lines
    assert 'eraft_storage_log_fsync_seconds_bucket{group="1",le="4.096",node="0"} 4.0' in lines
    assert 'eraft_storage_log_fsync_seconds_bucket{group="1",le="+Inf",node="0"} 4.0' in lines
    assert f"eraft_storage_log_fsync_seconds_count{{{labels}}} 4.0" in lines
    assert f"eraft_storage_state_commit_seconds_count{{{labels}}} 0.0" in lines
    assert f'eraft_raft_elections_total{{{labels},reason="transfer"}} 1.0' in lines
    assert f'eraft_raft_elections_total{{{labels},reason="pre-vote"}} 3.0' in lines
    assert f"eraft_raft_drained{{{labels}}} 1.0" in lines
    text = generate_latest(node_registry(RecordedNode(stats))).decode()
    assert "# TYPE eraft_storage_log_fsync_seconds histogram" in text


def test_the_fast_path_and_batches_are_counted() -> None:
    stats = recorded()
    stats["transport"] = {"requests_fast": 40, "request_batches": 3}
    lines = scrape(stats)
    assert 'eraft_transport_requests_fast_total{group="1",node="0"} 40.0' in lines
    assert 'eraft_transport_request_batches_total{group="1",node="0"} 3.0' in lines
