"""A node's Prometheus endpoint: GET /metrics (text format) and GET /health over a tiny trio HTTP server."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import trio
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from eraft_trio.protocol.address import Address, parse_address

log = logging.getLogger(__name__)

# Our metric names are all valid in the classic text format, which every scraper reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
MAX_REQUEST_BYTES = 8192
REQUEST_SECONDS = 5.0  # a client that never finishes its request must not hold a task forever

# The bucket phases of a shard group, always exported (0 included) so a dashboard's series
# do not come and go; the names are those the shard status reports (runtime cannot import
# the roles above it).
BUCKET_STATES = ("serving", "pulling", "handoff")

# stats["raft"] key -> (metric name, help) for gauges and counters read at scrape time.
_RAFT_GAUGES = {
    "term": ("eraft_raft_term", "Current Raft term."),
    "commit": ("eraft_raft_commit_index", "Highest log index known to be committed."),
    "applied": ("eraft_raft_applied_index", "Highest log index applied to the state machine."),
    "last_index": ("eraft_raft_last_index", "Index of the last entry in the log."),
    "snapshot_index": ("eraft_raft_snapshot_index", "Last index covered by the snapshot."),
    "log_length": ("eraft_raft_log_entries", "Entries in the log past the snapshot."),
    "pending_proposals": ("eraft_raft_pending_proposals", "Proposals waiting to be committed."),
}
_RAFT_COUNTERS = {
    "proposals": ("eraft_raft_proposals", "Commands proposed to this node as leader."),
    "applied_commands": ("eraft_raft_applied_commands", "Log entries applied."),
    "reads": ("eraft_raft_reads", "Linearizable (ReadIndex) reads served."),
    "ready_batches": ("eraft_raft_ready_batches", "Ready batches handled (persist, send, apply)."),
    "snapshots_sent": ("eraft_raft_snapshots_sent", "Snapshots sent to followers."),
    "snapshots_installed": ("eraft_raft_snapshots_installed", "Snapshots installed here."),
}
_STORAGE_GAUGES = {
    "used_bytes": ("eraft_storage_used_bytes", "Bytes of the LMDB map in use."),
    "map_size": ("eraft_storage_map_size_bytes", "Size of the LMDB map."),
}
# stats["transport"] (the listener's statistics) key -> (metric name, help).
_TRANSPORT_GAUGES = {
    "connections_open": ("eraft_connections_open", "Accepted connections open now."),
    "connections_unauthenticated": (
        "eraft_connections_unauthenticated",
        "Accepted connections still in their handshake.",
    ),
    "max_connections": ("eraft_connections_max", "Open connections allowed ([limits])."),
    "max_unauthenticated": (
        "eraft_connections_unauthenticated_max",
        "Connections allowed in their handshake at once ([limits]).",
    ),
    "buffered_bytes": ("eraft_transport_buffered_bytes", "Bytes received and not yet parsed."),
    "inflight_bytes": (
        "eraft_transport_inflight_bytes",
        "Bytes of received requests not yet answered (and large frames being received).",
    ),
    "inflight_capacity": (
        "eraft_transport_inflight_capacity_bytes",
        "The in-flight byte budget ([limits] max_inflight_bytes).",
    ),
}
_TRANSPORT_COUNTERS = {
    "connections_total": ("eraft_connections_accepted", "Connections accepted and served."),
    "handshake_failures": ("eraft_handshake_failures", "Connections refused in the handshake."),
    "frames_too_large": ("eraft_frames_too_large", "Connections closed for a frame too large."),
    "inflight_waits": (
        "eraft_transport_inflight_waits",
        "Reads that waited for the in-flight budget (backpressure).",
    ),
    "requests_fast": (
        "eraft_transport_requests_fast",
        "Requests started by the connection's reader, without a task of their own.",
    ),
    "request_batches": (
        "eraft_transport_request_batches",
        "RequestBatch frames received (requests a client sent together).",
    ),
}
# Disk health: storage stats key (a LatencyHistogram.describe()) -> (metric name, help).
_DISK_HISTOGRAMS = {
    "log_fsync_seconds": (
        "eraft_storage_log_fsync_seconds",
        "Latency of each write-ahead log append's fdatasync.",
    ),
    "state_commit_seconds": (
        "eraft_storage_state_commit_seconds",
        "Latency of each state-machine (LMDB) commit.",
    ),
}
# Role stats key -> the operation label of eraft_requests_total.
_REQUEST_OPS = {
    "gets": "get",
    "puts": "put",
    "deletes": "delete",
    "scans": "scan",
    "txns": "txn",
    "queries": "query",
    "changes": "change",
}


class StatisticsSource(Protocol):
    def statistics(self) -> dict[str, Any]: ...


class NodeCollector:
    """Turns one `statistics()` dict (NodeService's shape) into metric families at scrape time.

    Every metric carries the node's `group` and Raft `node` id as labels, so the series of
    several nodes scraped into one Prometheus stay apart even without target relabelling.
    """

    def __init__(self, read_statistics: Callable[[], dict[str, Any]]) -> None:
        self._read = read_statistics

    def collect(self) -> Iterator[Metric]:
        stats = self._read()
        raft = stats.get("raft", {})
        storage = stats.get("storage", {})
        role = stats.get("role", {})
        labels = {"group": str(stats.get("group", 0)), "node": str(raft.get("id", ""))}
        for key, (name, doc) in _RAFT_GAUGES.items():
            yield from _gauge(name, doc, labels, raft.get(key))
        for key, (name, doc) in _RAFT_COUNTERS.items():
            yield from _counter(name, doc, labels, raft.get(key))
        yield from _gauge(
            "eraft_raft_is_leader",
            "1 when this node is its group's leader, else 0.",
            labels,
            1 if raft.get("role") == "leader" else 0,
        )
        yield from _gauge(
            "eraft_raft_leader_known",
            "1 when this node knows its group's leader, else 0.",
            labels,
            0 if raft.get("leader") is None else 1,
        )
        yield from _counter(
            "eraft_storage_fsyncs", "LMDB commits, each one fsync.", labels, storage.get("fsyncs")
        )
        for stat, what in (("mean", "mean since start"), ("last", "of the latest commit")):
            ms = storage.get(f"commit_latency_{stat}_ms")
            yield from _gauge(
                f"eraft_storage_commit_latency_{stat}_seconds",
                f"LMDB commit (write and fsync) latency, {what}.",
                labels,
                None if ms is None else ms / 1000.0,
            )
        for key, (name, doc) in _STORAGE_GAUGES.items():
            yield from _gauge(name, doc, labels, storage.get(key))
        yield from _transport(labels, stats.get("transport", {}))
        yield from _gauge(
            "eraft_raft_drained",
            "1 while this node is drained (no campaigning, leadership handed off), else 0.",
            labels,
            None if "drained" not in raft else int(bool(raft["drained"])),
        )
        yield from _elections(labels, raft.get("elections"))
        for key, (name, doc) in _DISK_HISTOGRAMS.items():
            yield from _histogram(name, doc, labels, storage.get(key))
        yield from _requests(labels, role)
        yield from _request_latency(labels, stats.get("request_latency", {}))
        yield from _buckets(labels, role)


def _gauge(name: str, doc: str, labels: dict[str, str], value: Any) -> Iterator[Metric]:
    # A missing figure (e.g. tables mid-restore) leaves the metric out rather than lie with 0.
    if isinstance(value, int | float) and not isinstance(value, bool):
        family = GaugeMetricFamily(name, doc, labels=list(labels))
        family.add_metric(list(labels.values()), float(value))
        yield family


def _counter(name: str, doc: str, labels: dict[str, str], value: Any) -> Iterator[Metric]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        family = CounterMetricFamily(name, doc, labels=list(labels))
        family.add_metric(list(labels.values()), float(value))
        yield family


def _transport(labels: dict[str, str], transport: dict[str, Any]) -> Iterator[Metric]:
    for key, (name, doc) in _TRANSPORT_GAUGES.items():
        yield from _gauge(name, doc, labels, transport.get(key))
    for key, (name, doc) in _TRANSPORT_COUNTERS.items():
        yield from _counter(name, doc, labels, transport.get(key))
    refused = CounterMetricFamily(
        "eraft_connections_refused",
        "Connections refused at accept, by reason ([limits]).",
        labels=[*labels, "reason"],
    )
    for reason in ("full", "unauthenticated"):
        value = transport.get(f"connections_refused_{reason}")
        if isinstance(value, int):
            refused.add_metric([*labels.values(), reason], float(value))
    if refused.samples:
        yield refused


def _elections(labels: dict[str, str], elections: Any) -> Iterator[Metric]:
    """Elections this node started, and its step-downs as leader, by reason (see
    ELECTION_REASONS in eraft_trio/raft/core.py)."""
    if not isinstance(elections, dict):
        return
    family = CounterMetricFamily(
        "eraft_raft_elections",
        "Elections started here and leader step-downs, by reason.",
        labels=[*labels, "reason"],
    )
    for reason, count in sorted(elections.items()):
        family.add_metric([*labels.values(), str(reason)], float(count))
    yield family


def _histogram(name: str, doc: str, labels: dict[str, str], figures: Any) -> Iterator[Metric]:
    if not isinstance(figures, dict) or "buckets" not in figures:
        return
    buckets = [(repr(float(bound)), float(count)) for bound, count in figures["buckets"]]
    buckets.append(("+Inf", float(figures["count"])))
    family = HistogramMetricFamily(name, doc, labels=list(labels))
    family.add_metric(list(labels.values()), buckets, float(figures["sum_s"]))
    yield family


def _requests(labels: dict[str, str], role: dict[str, Any]) -> Iterator[Metric]:
    family = CounterMetricFamily(
        "eraft_requests", "Client requests received, by operation.", labels=[*labels, "op"]
    )
    for key, op in _REQUEST_OPS.items():
        if isinstance(role.get(key), int):
            family.add_metric([*labels.values(), op], float(role[key]))
    if family.samples:
        yield family


def _request_latency(labels: dict[str, str], latency: dict[str, Any]) -> Iterator[Metric]:
    family = SummaryMetricFamily(
        "eraft_request_latency_seconds",
        "Time to answer a request, by request type (count and sum).",
        labels=[*labels, "op"],
    )
    for op, figures in sorted(latency.items()):
        if isinstance(figures, dict) and "count" in figures and "sum_s" in figures:
            family.add_metric(
                [*labels.values(), op],
                count_value=int(figures["count"]),
                sum_value=float(figures["sum_s"]),
            )
    if family.samples:
        yield family


def _buckets(labels: dict[str, str], role: dict[str, Any]) -> Iterator[Metric]:
    shard = role.get("shard")
    if not isinstance(shard, dict):
        return
    counts = dict.fromkeys(BUCKET_STATES, 0)
    keys = dict.fromkeys(BUCKET_STATES, 0)
    for bucket in shard.get("buckets", ()):
        state = str(bucket.get("state", "unknown"))
        counts[state] = counts.get(state, 0) + 1
        keys[state] = keys.get(state, 0) + int(bucket.get("keys", 0))
    buckets = GaugeMetricFamily(
        "eraft_buckets", "Buckets held by this group, by state.", labels=[*labels, "state"]
    )
    stored = GaugeMetricFamily(
        "eraft_bucket_keys",
        "Keys stored in this group's buckets, by state.",
        labels=[*labels, "state"],
    )
    for state in counts:
        buckets.add_metric([*labels.values(), state], float(counts[state]))
        stored.add_metric([*labels.values(), state], float(keys[state]))
    yield buckets
    yield stored
    yield from _gauge("eraft_config_num", "Config this group applies.", labels, shard.get("num"))
    yield from _gauge(
        "eraft_bucket_gc_pending",
        "Buckets this group must still tell an old owner to delete.",
        labels,
        shard.get("gcs"),
    )


def node_registry(service: StatisticsSource) -> CollectorRegistry:
    """A registry of this node alone (not the process-global one, so tests can run many)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(service.statistics))
    return registry


def has_leader(service: StatisticsSource) -> bool:
    try:
        return service.statistics()["raft"]["leader"] is not None
    except Exception:  # a node that cannot describe itself is not healthy
        log.exception("statistics failed during a health check")
        return False


# --- HTTP ---------------------------------------------------------------------------------


def http_response(status: str, body: bytes, content_type: str, *, head: bool = False) -> bytes:
    header = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return header.encode("ascii") + (b"" if head else body)


def answer(request_head: bytes, service: StatisticsSource, registry: CollectorRegistry) -> bytes:
    """The whole response to one request, given its request line and headers."""
    text = "text/plain; charset=utf-8"
    parts = request_head.split(b"\r\n", 1)[0].split()
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return http_response("400 Bad Request", b"bad request\n", text)
    method, target = parts[0], parts[1].split(b"?", 1)[0]
    if method not in (b"GET", b"HEAD"):
        return http_response("405 Method Not Allowed", b"GET only\n", text)
    head = method == b"HEAD"
    if target == b"/metrics":
        try:
            body = generate_latest(registry)
        except Exception:
            log.exception("metrics collection failed")
            return http_response("500 Internal Server Error", b"collection failed\n", text)
        return http_response("200 OK", body, CONTENT_TYPE, head=head)
    if target == b"/health":
        if has_leader(service):
            return http_response("200 OK", b"ok\n", text, head=head)
        return http_response("503 Service Unavailable", b"no leader\n", text, head=head)
    return http_response("404 Not Found", b"try /metrics or /health\n", text, head=head)


async def read_request_head(stream: trio.abc.ReceiveStream) -> bytes | None:
    """Bytes up to the blank line ending the headers; None if the client sent too much or left."""
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        if len(data) > MAX_REQUEST_BYTES:
            return None
        chunk = await stream.receive_some(4096)
        if not chunk:
            return None
        data += chunk
    return data


def listen_address(listen: str) -> Address:
    """The address to serve metrics on; unlike a peer address, port 0 (any free port) is allowed."""
    return parse_address(listen, any_port=True)


async def serve_metrics(
    listen: str,
    service: StatisticsSource,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve /metrics and /health on `listen` ("host:port") until cancelled.

    Reports the bound port to `nursery.start` (useful with port 0).
    """
    host, port = listen_address(listen)
    registry = node_registry(service)
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]

    async def handle(stream: trio.SocketStream) -> None:
        # One request per connection: enough for scrapers and health probes, and simple.
        try:
            with trio.move_on_after(REQUEST_SECONDS):
                head = await read_request_head(stream)
                if head is not None:
                    await stream.send_all(answer(head, service, registry))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client left; nothing to answer
        except Exception:
            log.exception("metrics request failed")  # never let one request stop the server
        finally:
            await stream.aclose()

    log.info("metrics on http://%s:%d/metrics", host, bound)
    # The listeners are open already: connections made from now on wait in the backlog.
    task_status.started(bound)
    await trio.serve_listeners(handle, listeners)
