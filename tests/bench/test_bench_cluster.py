"""`eraft bench` against a real cluster for a second or two: the contract's output and exit codes.

Shapes and counts only; speeds are measured by hand and recorded in BENCHMARKS.md.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from eraft_trio.client import SyncClient

from .local_cluster import ERAFT, LocalCluster, free_ports, run

FIGURES = {"count", "ops_per_s", "mb_per_s", "p50_ms", "p99_ms", "p999_ms", "errors"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("bench-cluster"))
    try:
        cluster.start()
        cluster.join()
        yield cluster
    finally:
        cluster.stop()


def bench_json(cluster: LocalCluster, *argv: str) -> dict[str, Any]:
    done = cluster.bench("--json", *argv)
    assert (done.returncode, done.stderr) == (0, "")  # no progress bar with --json
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    document: dict[str, Any] = json.loads(lines[0])
    return document


def check_kind(figures: dict[str, Any]) -> None:
    assert set(figures) == FIGURES
    assert figures["count"] > 0
    assert figures["errors"] == 0
    assert figures["ops_per_s"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["p999_ms"]


def test_put_only_json_has_the_contract_shape(cluster: LocalCluster) -> None:
    document = bench_json(cluster, "--clients", "4", "--duration", "1.5")
    assert set(document) == {"clients", "duration_s", "value_size", "ops"}
    assert (document["clients"], document["duration_s"], document["value_size"]) == (4, 1.5, 100)
    assert set(document["ops"]) == {"put"}
    check_kind(document["ops"]["put"])


def test_values_of_exactly_the_default_limit_are_taken_and_counted_in_mb(
    cluster: LocalCluster,
) -> None:
    size = 1048576
    document = bench_json(cluster, "--clients", "2", "--duration", "1", "--value-size", str(size))
    assert document["value_size"] == size
    put = document["ops"]["put"]
    check_kind(put)
    # Both figures come from one count over one elapsed time, each rounded on its own:
    # ops/s to 0.1, which at 1 MiB a value is up to 0.05 MB/s either way.
    rounding = 0.05 * size / 1e6 + 1e-3
    assert put["mb_per_s"] == pytest.approx(put["ops_per_s"] * size / 1e6, abs=rounding)


def test_a_value_over_the_clusters_limit_exits_2_naming_it(cluster: LocalCluster) -> None:
    done = cluster.bench("--clients", "1", "--duration", "1", "--value-size", "1048577")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("eraft bench: value_too_large: value of 1048577 bytes")
    assert "limit of 1048576 bytes (max_value_bytes)" in line


def test_a_mix_reports_each_kind_and_reads_preloaded_keys(cluster: LocalCluster) -> None:
    document = bench_json(
        cluster, "--clients", "8", "--duration", "1", "--mix", "1:1", "--keys", "200",
        "--value-size", "16",
    )  # fmt: skip
    assert set(document["ops"]) == {"put", "get"}
    for figures in document["ops"].values():
        check_kind(figures)
    kv = SyncClient(cluster.config_servers, timeout=30)
    try:
        values = [kv.get(b"bench-%08d" % i) for i in range(200)]
    finally:
        kv.close()
    assert [len(v) if v is not None else None for v in values] == [16] * 200


def test_get_only_json_has_only_gets(cluster: LocalCluster) -> None:
    document = bench_json(cluster, "--clients", "2", "--duration", "1", "--mix", "0:1",
                          "--keys", "50")  # fmt: skip
    assert set(document["ops"]) == {"get"}
    check_kind(document["ops"]["get"])


def test_the_table_goes_to_stdout_and_the_progress_bar_to_stderr(cluster: LocalCluster) -> None:
    done = cluster.bench("--clients", "2", "--duration", "1")
    assert done.returncode == 0, done.stderr
    assert "eraft bench: 2 clients" in done.stdout
    assert re.search(
        r"op\s+┃\s+count\s+┃\s+ops/s\s+┃\s+MB/s\s+┃\s+p50 ms\s+┃\s+p99 ms\s+┃\s+p99.9 ms",
        done.stdout,
    )
    assert re.search(r"│ put │\s+[\d,]+ │", done.stdout)
    assert "2 clients" in done.stderr and "100%" in done.stderr


def test_the_node_metrics_count_requests_and_fsyncs(cluster: LocalCluster) -> None:
    kv = SyncClient(cluster.config_servers, timeout=30)
    try:
        for i in range(20):
            kv.put(f"metrics-{i}", "v")
    finally:
        kv.close()
    scrapes = [scrape(address) for address in cluster.metrics]
    leaders = [s for s in scrapes if s["eraft_raft_is_leader"] == 1.0]
    assert len(leaders) == 1
    assert leaders[0]["eraft_requests_total:put"] >= 20
    assert all(s["eraft_storage_fsyncs_total"] > 0 for s in scrapes)
    assert all(s["eraft_buckets:serving"] == 10.0 for s in scrapes)
    for address in cluster.metrics:
        with urllib.request.urlopen(f"http://{address}/health", timeout=10) as answer:
            assert (answer.status, answer.read()) == (200, b"ok\n")


def scrape(address: str) -> dict[str, float]:
    """name (or name:label value of `op` / `state`) -> value, from one node's /metrics."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    samples = {}
    for match in re.finditer(r'^(\w+)\{[^}]*?(?:(?:op|state)="(\w+)")?\} (\S+)$', text, re.M):
        name, label, value = match.groups()
        samples[f"{name}:{label}" if label else name] = float(value)
    return samples


def test_an_unreachable_cluster_exits_3() -> None:
    nobody = f"127.0.0.1:{free_ports(1)[0]}"  # a port nobody listens on
    done = run([*ERAFT, "bench", "-s", nobody, "--timeout", "1", "--duration", "1"])
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.startswith("eraft bench: the cluster did not answer: ")
    assert len(done.stderr.splitlines()) == 1
