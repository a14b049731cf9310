"""The pure parts of tools/bench_compare.py: points, figures, ratios, issue 15's targets, the
report document and its table. No processes, no sockets: tests/tools/test_bench_compare.py."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

KINDS = ("put", "get")
DEFAULT_POINTS = "put:1,put:16,put:64,get:1,get:16,get:64"
# The same key space and key names as `eraft bench` (its --keys default, its key_name()).
KEYS = 10_000
VALUE_SIZE = 100
# The largest --value-size: eraft's default [limits] max_value_bytes (etcd's default request
# limit, 1.5 MiB, takes it too).
MAX_VALUE_SIZE = 1 << 20
# The get points read a key space written once; with large values it shrinks so the preload
# writes about this much per system (but never fewer than MIN_KEYS keys).
PRELOAD_BYTES = 256 << 20
MIN_KEYS = 100
# A preload txn stays this small, well under etcd's default request limit of 1.5 MiB.
TXN_BYTES = 1 << 20
# The line wrk's done() prints, so it can be told from wrk's own summary.
WRK_MARKER = "BENCH_COMPARE_JSON "


@dataclass(frozen=True)
class Point:
    """One measured point: an operation kind and a number of closed-loop clients."""

    kind: str
    clients: int

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.clients}"


def parse_points(text: str) -> list[Point]:
    """`put:1,put:16,get:64` -> points, in order; ValueError naming the bad item."""
    points: list[Point] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        kind, sep, clients = item.partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in KINDS:
            raise ValueError(f"{item!r}: expected KIND:CLIENTS with KIND one of {', '.join(KINDS)}")
        try:
            count = int(clients)
        except ValueError:
            raise ValueError(f"{item!r}: CLIENTS must be a whole number") from None
        if count < 1:
            raise ValueError(f"{item!r}: CLIENTS must be >= 1")
        point = Point(kind, count)
        if point in points:
            raise ValueError(f"{item!r}: listed twice")
        points.append(point)
    if not points:
        raise ValueError("no points given")
    return points


def key_count(value_size: int) -> int:
    """The size of the key space both systems use for values of `value_size` bytes."""
    return max(MIN_KEYS, min(KEYS, PRELOAD_BYTES // max(1, value_size)))


def mb_per_s(ops_per_s: float | None, value_size: int) -> float | None:
    """Value bytes per second in decimal MB, as `eraft bench` counts them (both systems move
    the same raw values; etcd's JSON gateway base64-encodes them on the wire)."""
    return None if ops_per_s is None else round(ops_per_s * value_size / 1e6, 3)


@dataclass(frozen=True)
class Figures:
    """What one system did at one point."""

    count: int
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    errors: int
    # CPU microseconds per operation over the measured window (tools/bench_cpu.py): every
    # process of the cluster together, and the load client; None when not measured.
    cluster_cpu_us: float | None = None
    client_cpu_us: float | None = None

    @property
    def cpu_us_per_op(self) -> float | None:
        if self.cluster_cpu_us is None or self.client_cpu_us is None:
            return None
        return round(self.cluster_cpu_us + self.client_cpu_us, 1)

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "ops_per_s": self.ops_per_s,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "p999_ms": self.p999_ms,
            "errors": self.errors,
            "cpu_us_per_op": self.cpu_us_per_op,
            "cluster_cpu_us_per_op": self.cluster_cpu_us,
            "client_cpu_us_per_op": self.client_cpu_us,
        }


def figures_from_eraft(document: Mapping[str, Any], kind: str) -> Figures:
    """The figures of one kind from `eraft bench --json`."""
    ops = document["ops"][kind]
    return Figures(
        count=int(ops["count"]),
        ops_per_s=float(ops["ops_per_s"]),
        p50_ms=float(ops["p50_ms"]),
        p99_ms=float(ops["p99_ms"]),
        p999_ms=float(ops["p999_ms"]),
        errors=int(ops["errors"]),
    )


def figures_from_wrk(output: str) -> Figures:
    """The figures from wrk's output (the marker line that wrk_script()'s done() prints).

    wrk counts a non-2xx answer as a request and as a status error: only the others are
    operations. Its latencies are in microseconds, over every answered request."""
    for line in output.splitlines():
        if line.startswith(WRK_MARKER):
            data = json.loads(line[len(WRK_MARKER) :])
            break
    else:
        raise ValueError("wrk printed no result line (was the script's done() run?)")
    errors = data["errors"]
    ok = int(data["requests"]) - int(errors["status"])
    seconds = float(data["duration_us"]) / 1e6
    return Figures(
        count=ok,
        ops_per_s=round(ok / seconds, 1) if seconds > 0 else 0.0,
        p50_ms=round(float(data["p50_us"]) / 1000, 3),
        p99_ms=round(float(data["p99_us"]) / 1000, 3),
        p999_ms=round(float(data["p999_us"]) / 1000, 3),
        errors=sum(int(v) for v in errors.values()),
    )


def ratio(eraft: float | None, etcd: float | None) -> float | None:
    """eraft / etcd, or None where either is missing or etcd's figure is 0."""
    if eraft is None or etcd is None or etcd == 0 or math.isnan(etcd) or math.isnan(eraft):
        return None
    return round(eraft / etcd, 3)


FIGURES = ("ops_per_s", "p50_ms", "p99_ms", "cpu_us_per_op")


@dataclass(frozen=True)
class Target:
    """One of issue 15's targets: the ratio eraft/etcd of one figure at one point."""

    point: Point
    figure: str
    comparison: str  # ">=" (more is better) or "<=" (less is better)
    threshold: float

    @property
    def name(self) -> str:
        what = "ops/s" if self.figure == "ops_per_s" else self.figure.replace("_ms", " latency")
        return f"{self.point.kind} {what} at {self.point.clients} client" + (
            "s" if self.point.clients != 1 else ""
        )

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value >= self.threshold if self.comparison == ">=" else value <= self.threshold


# Issue 15's (issue 8's were the same points at 1.0x, with put p50 at 1.0x and no get:1/16).
TARGETS = (
    Target(Point("put", 64), "ops_per_s", ">=", 1.0),
    Target(Point("put", 16), "ops_per_s", ">=", 1.0),
    Target(Point("put", 1), "p50_ms", "<=", 1.5),
    Target(Point("get", 1), "p50_ms", "<=", 1.5),
    Target(Point("get", 16), "ops_per_s", ">=", 1.2),
    Target(Point("get", 64), "ops_per_s", ">=", 1.2),
)


@dataclass
class PointResult:
    point: Point
    etcd: Figures | None = None
    eraft: Figures | None = None
    load_1m: dict[str, float] | None = None  # system -> 1-minute load average when it began

    def figure(self, system: str, name: str) -> float | None:
        figures = self.etcd if system == "etcd" else self.eraft
        value = None if figures is None else getattr(figures, name)
        return None if value is None else float(value)

    def ratios(self) -> dict[str, float | None]:
        return {f: ratio(self.figure("eraft", f), self.figure("etcd", f)) for f in FIGURES}


def evaluate_targets(results: Sequence[PointResult]) -> list[dict[str, Any]]:
    """Each target with its ratio and whether it is met (None: not measured in this run)."""
    by_point = {r.point: r for r in results}
    rows = []
    for target in TARGETS:
        result = by_point.get(target.point)
        value = None if result is None else result.ratios()[target.figure]
        rows.append(
            {
                "target": target.name,
                "point": target.point.label,
                "figure": target.figure,
                "comparison": target.comparison,
                "threshold": target.threshold,
                "ratio": value,
                "met": target.met(value),
            }
        )
    return rows


def report_document(
    results: Sequence[PointResult],
    *,
    duration_s: float,
    machine: Mapping[str, Any],
    versions: Mapping[str, str | None],
    started_at: str,
    value_size: int = VALUE_SIZE,
    keys: int = KEYS,
) -> dict[str, Any]:
    """Everything one run measured, as `--json` prints it (MB/s follows from ops_per_s
    and value_size, so the figures keep their shape)."""
    targets = evaluate_targets(results)
    return {
        "started_at": started_at,
        "duration_s": duration_s,
        "value_size": value_size,
        "keys": keys,
        "machine": dict(machine),
        "versions": dict(versions),
        "points": [
            {
                "point": r.point.label,
                "kind": r.point.kind,
                "clients": r.point.clients,
                "etcd": None if r.etcd is None else r.etcd.as_dict(),
                "eraft": None if r.eraft is None else r.eraft.as_dict(),
                "ratio": r.ratios(),
                "load_1m": r.load_1m,
            }
            for r in results
        ],
        "targets": targets,
        "all_targets_met": all(t["met"] is True for t in targets),
    }


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio_cell(value: float | None, better_high: bool) -> str:
    if value is None:
        return "-"
    good = value >= 1.0 if better_high else value <= 1.0
    return f"[{'green' if good else 'red'}]{value:.2f}x[/]"


FIGURE_NAMES = {
    "ops_per_s": "ops/s",
    "p50_ms": "p50 ms",
    "p99_ms": "p99 ms",
    "cpu_us_per_op": "CPU µs/op",
    "client_cpu_us_per_op": "  of it client",
}


def _met_cell(met: bool | None) -> str:
    if met is None:
        return "[yellow]not measured[/]"
    return "[green]met[/]" if met else "[red]NOT met[/]"


def _add_mb_row(
    table: Table, value_size: int, etcd: Mapping[str, Any] | None, eraft: Mapping[str, Any] | None
) -> None:
    etcd_mb = mb_per_s(None if etcd is None else etcd["ops_per_s"], value_size)
    eraft_mb = mb_per_s(None if eraft is None else eraft["ops_per_s"], value_size)
    digits = 3 if value_size < 10_000 else 1  # small values move little: keep it readable
    table.add_row(
        "",
        "MB/s",
        _num(etcd_mb, digits),
        _num(eraft_mb, digits),
        _ratio_cell(ratio(eraft_mb, etcd_mb), better_high=True),
        "",
    )


def _add_cpu_rows(table: Table, row: Mapping[str, Any]) -> None:
    """CPU microseconds per operation (cluster and client), then the client's part of it."""
    etcd, eraft = row["etcd"], row["eraft"]
    for figure in ("cpu_us_per_op", "client_cpu_us_per_op"):
        if all(side is None or side.get(figure) is None for side in (etcd, eraft)):
            continue
        table.add_row(
            "",
            FIGURE_NAMES[figure],
            _num(None if etcd is None else etcd.get(figure), 0),
            _num(None if eraft is None else eraft.get(figure), 0),
            _ratio_cell(row["ratio"]["cpu_us_per_op"], better_high=False)
            if figure == "cpu_us_per_op"
            else "",
            "",
        )


def render_report(console: Console, document: Mapping[str, Any]) -> None:
    """The side-by-side table (a row per point and figure, narrow enough for 80 columns),
    with issue 15's target beside the figure it concerns, then the targets one per line."""
    table = Table(
        title=f"eraft vs etcd: {document['duration_s']:g} s per point, "
        f"{document['value_size']}-byte values, {document['keys']:,} keys",
        title_justify="left",
    )
    table.add_column("point")
    table.add_column("figure")
    table.add_column("etcd", justify="right")
    table.add_column("eraft", justify="right")
    table.add_column("eraft/etcd", justify="right")
    table.add_column("issue 15 target")
    targets = {(t["point"], t["figure"]): t for t in document["targets"]}
    for index, row in enumerate(document["points"]):
        etcd, eraft = row["etcd"], row["eraft"]
        for figure, digits in (("ops_per_s", 1), ("p50_ms", 2), ("p99_ms", 2)):
            target = targets.get((row["point"], figure))
            table.add_row(
                row["point"] if figure == "ops_per_s" else "",
                FIGURE_NAMES[figure],
                _num(None if etcd is None else etcd[figure], digits),
                _num(None if eraft is None else eraft[figure], digits),
                _ratio_cell(row["ratio"][figure], better_high=figure == "ops_per_s"),
                ""
                if target is None
                else f"{target['comparison']} {target['threshold']:.1f}x {_met_cell(target['met'])}",
            )
        _add_mb_row(table, document["value_size"], etcd, eraft)
        _add_cpu_rows(table, row)
        if any(side is not None and side["errors"] for side in (etcd, eraft)):
            table.add_row(
                "",
                "errors",
                "-" if etcd is None else f"{etcd['errors']:,}",
                "-" if eraft is None else f"{eraft['errors']:,}",
                "",
                "",
            )
        if index < len(document["points"]) - 1:
            table.add_section()
    console.print(table)
    console.print("Issue 15 targets (ratio eraft/etcd, measured in this run):")
    for target in document["targets"]:
        value = "-" if target["ratio"] is None else f"{target['ratio']:.2f}x"
        console.print(
            f"  {target['target']}: {value} (needs {target['comparison']} "
            f"{target['threshold']:.1f}x) {_met_cell(target['met'])}"
        )


# --- the etcd side's workload: key names and bodies as the JSON gateway wants them ---


def key_name(index: int) -> bytes:
    """The same names as `eraft bench`'s keys."""
    return b"bench-%08d" % index


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def gateway_path(kind: str) -> str:
    return "/v3/kv/put" if kind == "put" else "/v3/kv/range"


def wrk_script(kind: str, value: bytes, keys: int = KEYS, seed: int = 1) -> str:
    """A wrk Lua script: each request is a put (or a linearizable range, etcd's default) of a
    uniformly random key of the key space, as one JSON POST to etcd's gateway. The keys are
    base64-encoded here, once, so a request costs wrk a table lookup and one concatenation.
    done() prints one marker line of JSON for figures_from_wrk()."""
    key_list = ",\n".join(f'"{b64(key_name(i))}"' for i in range(keys))
    if kind == "put":
        body = f"""'{{"key":"' .. keys[math.random(n)] .. '","value":"{b64(value)}"}}'"""
    else:
        body = """'{"key":"' .. keys[math.random(n)] .. '"}'"""
    return f"""-- generated by tools/bench_compare.py: {kind} against etcd's JSON gateway
local keys = {{
{key_list}
}}
local n = #keys
local path = "{gateway_path(kind)}"
local headers = {{["Content-Type"] = "application/json"}}

function init(args)
  math.randomseed({seed})
end

function request()
  return wrk.format("POST", path, headers, {body})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{WRK_MARKER}{{"requests":%d,"duration_us":%d,"errors":{{"connect":%d,"read":%d,'
    .. '"write":%d,"status":%d,"timeout":%d}},"p50_us":%.1f,"p99_us":%.1f,"p999_us":%.1f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50.0), latency:percentile(99.0), latency:percentile(99.9)))
end
"""


def txn_puts(value_size: int) -> int:
    """Puts per preload txn: at most 100 (etcd allows 128 ops), fewer for large values."""
    return max(1, min(100, TXN_BYTES // (value_size + 64)))


def preload_bodies(value: bytes, keys: int = KEYS, per_txn: int = 100) -> list[str]:
    """JSON bodies for /v3/kv/txn that write every key once (etcd allows 128 ops per txn)."""
    bodies = []
    for start in range(0, keys, per_txn):
        puts = [
            {"requestPut": {"key": b64(key_name(i)), "value": b64(value)}}
            for i in range(start, min(start + per_txn, keys))
        ]
        bodies.append(json.dumps({"success": puts}))
    return bodies
