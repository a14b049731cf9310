"""tools/bench_compare.py: its pure parts (points, figures, ratios, issue 15's targets, the
report's JSON shape, the wrk script, CPU per operation), with no cluster, etcd or wrk needed."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools"
sys.path.insert(0, str(TOOLS))

import bench_compare_core as core  # noqa: E402
import bench_compare_procs as procs  # noqa: E402
import bench_cpu  # noqa: E402


def figures(ops: float, p50: float, p99: float = 10.0, errors: int = 0) -> core.Figures:
    return core.Figures(
        count=int(ops * 10), ops_per_s=ops, p50_ms=p50, p99_ms=p99, p999_ms=p99 * 2, errors=errors
    )


# --- points ---


def test_default_points_are_issue_15s() -> None:
    assert [p.label for p in core.parse_points(core.DEFAULT_POINTS)] == [
        "put:1",
        "put:16",
        "put:64",
        "get:1",
        "get:16",
        "get:64",
    ]


def test_points_keep_their_order_and_tolerate_spaces_and_case() -> None:
    points = core.parse_points(" GET:8 , put:2,")
    assert points == [core.Point("get", 8), core.Point("put", 2)]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no points"),
        ("put", "KIND:CLIENTS"),
        ("delete:4", "KIND:CLIENTS"),
        ("put:x", "whole number"),
        ("put:0", ">= 1"),
        ("put:-3", ">= 1"),
        ("put:4,put:4", "twice"),
    ],
)
def test_bad_points_are_refused_by_name(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        core.parse_points(text)


def test_bad_points_are_a_usage_error_of_the_tool() -> None:
    done = subprocess.run(
        [sys.executable, str(TOOLS / "bench_compare.py"), "--points", "put:0", "--skip-etcd"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 2
    assert "--points" in done.stderr


# --- figures ---


def test_figures_from_eraft_bench_json() -> None:
    document = {
        "clients": 64,
        "duration_s": 5.0,
        "value_size": 100,
        "ops": {
            "put": {
                "count": 5000,
                "ops_per_s": 1000.0,
                "p50_ms": 40.0,
                "p99_ms": 90.5,
                "p999_ms": 120.0,
                "errors": 2,
            }
        },
    }
    assert core.figures_from_eraft(document, "put") == core.Figures(
        count=5000, ops_per_s=1000.0, p50_ms=40.0, p99_ms=90.5, p999_ms=120.0, errors=2
    )


def test_figures_from_wrk_count_only_2xx_answers_and_convert_microseconds() -> None:
    line = core.WRK_MARKER + json.dumps(
        {
            "requests": 10_010,
            "duration_us": 5_000_000,
            "errors": {"connect": 0, "read": 1, "write": 0, "status": 10, "timeout": 2},
            "p50_us": 1234.0,
            "p99_us": 20_000.0,
            "p999_us": 31_500.5,
        }
    )
    output = "Running 5s test @ http://127.0.0.1:1\n  1 threads and 64 connections\n" + line + "\n"
    assert core.figures_from_wrk(output) == core.Figures(
        count=10_000, ops_per_s=2000.0, p50_ms=1.234, p99_ms=20.0, p999_ms=31.5, errors=13
    )


def test_wrk_output_without_the_result_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="no result line"):
        core.figures_from_wrk("Running 5s test\n")


# --- ratios and targets ---


def test_ratio_is_eraft_over_etcd_and_none_when_it_cannot_be_computed() -> None:
    assert core.ratio(500.0, 1000.0) == 0.5
    assert core.ratio(2.0, 3.0) == 0.667
    assert core.ratio(1.0, 0.0) is None
    assert core.ratio(None, 1.0) is None
    assert core.ratio(1.0, None) is None


def results_for(
    points: dict[str, tuple[core.Figures | None, core.Figures | None]],
) -> list[core.PointResult]:
    out = []
    for label, (etcd, eraft) in points.items():
        (point,) = core.parse_points(label)
        out.append(core.PointResult(point, etcd=etcd, eraft=eraft))
    return out


def test_targets_met_and_not_met() -> None:
    results = results_for(
        {
            "put:1": (figures(900, p50=1.0), figures(100, p50=9.5)),  # p50 9.5x: not met
            "put:16": (figures(3000, p50=5), figures(3000, p50=5)),  # exactly 1.0x: met
            "put:64": (figures(4000, p50=14), figures(4400, p50=12)),  # 1.1x: met
            "get:1": (figures(2000, p50=0.4), figures(1500, p50=0.6)),  # p50 1.5x: met
            "get:16": (figures(8000, p50=2), figures(9000, p50=2)),  # 1.125x: not met (1.2x)
            "get:64": (figures(7000, p50=9), figures(3500, p50=18)),  # 0.5x: not met
        }
    )
    targets = {t["point"] + " " + t["figure"]: t for t in core.evaluate_targets(results)}
    assert set(targets) == {
        "put:64 ops_per_s",
        "put:16 ops_per_s",
        "put:1 p50_ms",
        "get:1 p50_ms",
        "get:16 ops_per_s",
        "get:64 ops_per_s",
    }
    assert targets["get:1 p50_ms"]["met"] is True
    assert targets["get:16 ops_per_s"]["threshold"] == 1.2
    assert targets["get:16 ops_per_s"]["met"] is False
    assert targets["put:1 p50_ms"]["ratio"] == 9.5
    assert targets["put:1 p50_ms"]["met"] is False
    assert targets["put:1 p50_ms"]["comparison"] == "<="
    assert targets["put:16 ops_per_s"]["met"] is True
    assert targets["put:64 ops_per_s"]["ratio"] == 1.1
    assert targets["put:64 ops_per_s"]["met"] is True
    assert targets["get:64 ops_per_s"]["met"] is False


def test_a_faster_p50_at_one_client_meets_its_target() -> None:
    results = results_for({"put:1": (figures(900, p50=1.0), figures(1200, p50=0.8))})
    (target,) = [t for t in core.evaluate_targets(results) if t["point"] == "put:1"]
    assert target["met"] is True


def test_targets_not_measured_are_neither_met_nor_missed() -> None:
    # Only put:16 measured; and eraft alone (--skip-etcd) gives no ratio at all.
    results = results_for({"put:16": (None, figures(3000, p50=5))})
    for target in core.evaluate_targets(results):
        assert target["ratio"] is None
        assert target["met"] is None


# --- the report ---


def sample_document() -> dict[str, object]:
    results = results_for(
        {
            "put:1": (figures(907, p50=0.99), figures(450, p50=2.0)),
            "put:16": (figures(3436, p50=4.5), figures(3500, p50=4.4)),
            "put:64": (figures(4555, p50=13), figures(5000, p50=12, errors=1)),
            "get:64": (figures(6913, p50=9), None),
        }
    )
    results[0].load_1m = {"etcd": 3.5, "eraft": 4.0}
    return core.report_document(
        results,
        duration_s=10,
        machine={"nproc": 2, "cpu": "Intel(R) Xeon(R) Processor", "load_before": [1.0, 1.0, 1.0]},
        versions={"etcd": "etcd Version: 3.4.23", "wrk": "wrk 4.1.0", "eraft": "abc1234"},
        started_at="2026-11-26T11:00:00+00:00",
    )


def test_report_json_shape() -> None:
    document = json.loads(json.dumps(sample_document()))  # it is plain JSON
    assert set(document) == {
        "started_at",
        "duration_s",
        "value_size",
        "keys",
        "machine",
        "versions",
        "points",
        "targets",
        "all_targets_met",
    }
    assert document["value_size"] == 100
    assert document["keys"] == 10_000
    assert [p["point"] for p in document["points"]] == ["put:1", "put:16", "put:64", "get:64"]
    first = document["points"][0]
    assert set(first) == {"point", "kind", "clients", "etcd", "eraft", "ratio", "load_1m"}
    assert (first["kind"], first["clients"]) == ("put", 1)
    assert set(first["etcd"]) == {
        "count",
        "ops_per_s",
        "p50_ms",
        "p99_ms",
        "p999_ms",
        "errors",
        "cpu_us_per_op",
        "cluster_cpu_us_per_op",
        "client_cpu_us_per_op",
    }
    assert first["etcd"]["cpu_us_per_op"] is None  # not measured in this document
    assert set(first["ratio"]) == {"ops_per_s", "p50_ms", "p99_ms", "cpu_us_per_op"}
    assert first["ratio"]["ops_per_s"] == pytest.approx(450 / 907, abs=1e-3)
    assert first["load_1m"] == {"etcd": 3.5, "eraft": 4.0}
    last = document["points"][-1]
    assert last["eraft"] is None
    assert last["ratio"] == {
        "ops_per_s": None,
        "p50_ms": None,
        "p99_ms": None,
        "cpu_us_per_op": None,
    }
    assert len(document["targets"]) == 6
    assert set(document["targets"][0]) == {
        "target",
        "point",
        "figure",
        "comparison",
        "threshold",
        "ratio",
        "met",
    }
    assert document["all_targets_met"] is False  # put:1's p50 missed, get:64 not measured


def test_all_targets_met_only_when_every_one_is() -> None:
    results = results_for(
        {
            "put:1": (figures(900, p50=1.0), figures(950, p50=0.9)),
            "put:16": (figures(3000, p50=5), figures(3100, p50=5)),
            "put:64": (figures(4000, p50=14), figures(4400, p50=12)),
            "get:1": (figures(2000, p50=0.4), figures(2100, p50=0.5)),
            "get:16": (figures(7000, p50=9), figures(8500, p50=8)),
            "get:64": (figures(7000, p50=9), figures(8500, p50=8)),
        }
    )
    document = core.report_document(
        results, duration_s=5, machine={}, versions={}, started_at="2026-11-26T11:00:00+00:00"
    )
    assert document["all_targets_met"] is True


def test_the_table_shows_both_systems_ratios_and_targets() -> None:
    out = io.StringIO()
    core.render_report(Console(file=out, width=200, color_system=None), sample_document())
    text = out.getvalue()
    assert "eraft/etcd" in text and "issue 15 target" in text
    assert re.search(r"put:64 +│ ops/s +│ +4,555\.0 │ +5,000\.0 │ +1\.10x │ >= 1\.0x met", text)
    assert re.search(r"│ errors +│ +0 │ +1 │", text)  # shown only where errors occurred
    assert text.count("errors") == 1
    assert "907.0" in text and "450.0" in text and "0.50x" in text  # put:1 ops/s and ratio
    assert "2.02x" in text  # put:1 p50: 2.0 / 0.99
    assert "put p50 latency at 1 client: 2.02x (needs <= 1.5x) NOT met" in text
    assert "put ops/s at 64 clients: 1.10x (needs >= 1.0x) met" in text
    assert "get ops/s at 64 clients: - (needs >= 1.2x) not measured" in text
    assert "CPU µs/op" not in text  # not measured: no row


# --- the etcd workload ---


def test_wrk_script_posts_base64_keys_of_the_shared_key_space() -> None:
    value = b"v" * 100
    put = core.wrk_script("put", value, keys=3)
    assert '"/v3/kv/put"' in put
    for i in range(3):
        assert f'"{base64.b64encode(b"bench-%08d" % i).decode()}"' in put
    assert base64.b64encode(value).decode() in put
    assert core.WRK_MARKER in put
    get = core.wrk_script("get", value, keys=3)
    assert '"/v3/kv/range"' in get
    assert base64.b64encode(value).decode() not in get
    assert "serializable" not in get  # etcd's default range is linearizable


def test_preload_writes_every_key_once_in_txns_of_at_most_128_puts() -> None:
    bodies = [json.loads(b) for b in core.preload_bodies(b"x" * 100, keys=250, per_txn=100)]
    assert [len(b["success"]) for b in bodies] == [100, 100, 50]
    keys = [base64.b64decode(op["requestPut"]["key"]) for b in bodies for op in b["success"]]
    assert keys == [b"bench-%08d" % i for i in range(250)]
    assert all(len(b["success"]) <= 128 for b in bodies)


def test_the_key_names_are_eraft_benchs() -> None:
    from eraft_trio.cli.bench_workload import key_name

    assert core.key_name(42) == key_name(42)
    from eraft_trio.cli.main import build_parser  # the default key space is the same size

    args = build_parser().parse_args(["bench"])
    assert args.keys == core.KEYS


# --- --value-size ---


def test_large_values_shrink_the_key_space_and_the_preload_txns() -> None:
    assert core.key_count(core.VALUE_SIZE) == core.KEYS
    assert core.key_count(0) == core.KEYS
    assert core.key_count(1 << 20) == core.PRELOAD_BYTES // (1 << 20)
    assert core.key_count(core.PRELOAD_BYTES) == core.MIN_KEYS
    assert core.txn_puts(core.VALUE_SIZE) == 100
    assert core.txn_puts(core.MAX_VALUE_SIZE) == 1
    (body, *_) = core.preload_bodies(b"x" * core.MAX_VALUE_SIZE, keys=2, per_txn=1)
    assert len(body) < 1.5 * (1 << 20)  # etcd's default --max-request-bytes


def test_the_etcd_payload_has_the_same_raw_size_as_erafts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = bytes(range(256)) * 16  # 4096 bytes
    marker = core.WRK_MARKER + json.dumps(
        {"requests": 10, "duration_us": 1_000_000, "p50_us": 1.0, "p99_us": 2.0,
         "p999_us": 3.0, "errors": {"connect": 0, "read": 0, "write": 0, "status": 0,
                                    "timeout": 0}}
    )  # fmt: skip

    def fake_run(
        argv: list[str], timeout: float, on_start: object = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 0, marker + "\n", "")

    monkeypatch.setattr(procs, "run_captured", fake_run)
    figures = procs.measure_etcd("http://x", core.Point("put", 2), 1, value, 7, tmp_path)
    assert figures.ops_per_s == 10.0
    script = (tmp_path / "wrk-put.lua").read_text()
    (encoded,) = re.findall(r'"value":"([A-Za-z0-9+/=]+)"', script)
    assert base64.b64decode(encoded) == value
    assert script.count('"YmVuY2gt') == 7  # the key space it was given: base64 of "bench-"


def test_eraft_bench_gets_the_value_size_and_the_key_space(monkeypatch: pytest.MonkeyPatch) -> None:
    document = {"ops": {"get": {"count": 4, "ops_per_s": 2.0, "mb_per_s": 0.008,
                                "p50_ms": 1.0, "p99_ms": 2.0, "p999_ms": 3.0, "errors": 0}}}  # fmt: skip
    ran: list[list[str]] = []

    def fake_run(
        argv: list[str], timeout: float, on_start: object = None
    ) -> subprocess.CompletedProcess[str]:
        ran.append(argv)
        return subprocess.CompletedProcess(argv, 0, json.dumps(document), "")

    monkeypatch.setattr(procs, "run_captured", fake_run)
    figures = procs.measure_eraft("127.0.0.1:1", core.Point("get", 3), 2, 4096, 512)
    assert figures.ops_per_s == 2.0
    (argv,) = ran
    assert argv[argv.index("--value-size") + 1] == "4096"
    assert argv[argv.index("--keys") + 1] == "512"
    assert argv[argv.index("--mix") + 1] == "0:1"


def test_the_report_carries_the_value_size_and_prints_mb_per_s_with_its_ratio() -> None:
    results = results_for({"put:16": (figures(2000, p50=5), figures(1000, p50=6))})
    document = core.report_document(
        results, duration_s=5, machine={}, versions={}, started_at="2026-11-26T11:00:00+00:00",
        value_size=65536, keys=core.key_count(65536),
    )  # fmt: skip
    assert (document["value_size"], document["keys"]) == (65536, 4096)
    out = io.StringIO()
    core.render_report(Console(file=out, width=200, color_system=None), document)
    text = out.getvalue()
    assert "65536-byte values, 4,096 keys" in text
    # 2000 and 1000 ops/s of 64 KiB: 131.1 and 65.5 MB/s (decimal), eraft/etcd 0.50x.
    assert re.search(r"│ MB/s +│ +131\.1 │ +65\.5 │ +0\.50x │", text)


def test_mb_per_s_is_ops_times_value_size_in_decimal_megabytes() -> None:
    assert core.mb_per_s(1000.0, 1 << 20) == 1048.576
    assert core.mb_per_s(None, 100) is None


@pytest.mark.parametrize("size", ["-1", str(core.MAX_VALUE_SIZE + 1)])
def test_a_value_size_out_of_range_is_a_usage_error(size: str) -> None:
    done = subprocess.run(
        [sys.executable, str(TOOLS / "bench_compare.py"), "--value-size", size, "--skip-etcd"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 2
    assert "--value-size" in done.stderr


# --- CPU per operation ---


def test_stat_cpu_is_utime_plus_stime_counted_after_the_command_name() -> None:
    # A command name with a space and a ')' must not shift the fields.
    stat = "4242 (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0"
    assert bench_cpu.parse_stat_cpu(stat, ticks=100) == 3.0


def test_this_process_has_used_some_cpu_and_a_gone_one_none() -> None:
    import os

    used = bench_cpu.cpu_seconds(os.getpid())
    assert used is not None and used > 0
    assert bench_cpu.cpu_seconds(2**22 + 12345) is None  # above pid_max's default


def sample(at: float, cluster: float, client: float | None) -> bench_cpu.Sample:
    return bench_cpu.Sample(at, cluster, client)


def test_the_window_ends_at_the_clients_last_sample_and_interpolates_its_start() -> None:
    samples = [
        sample(0.0, 10.0, None),  # before the client started
        sample(1.0, 11.0, 0.5),  # its start-up and preload: outside the window
        sample(2.0, 12.0, 1.0),
        sample(4.0, 16.0, 2.0),
        sample(6.0, 20.0, 4.0),  # its last sample: the window is (2.0, 6.0] for 4 s
        sample(7.0, 30.0, None),  # after it ended: not counted
    ]
    cluster, client = bench_cpu.window_cpu(samples, duration=4.0)
    assert cluster == pytest.approx(8.0)
    assert client == pytest.approx(3.0)
    # A window starting between samples is interpolated: 3 s back from 6.0 is 3.0.
    cluster, client = bench_cpu.window_cpu(samples, duration=3.0)
    assert cluster == pytest.approx(20.0 - 14.0)
    assert client == pytest.approx(4.0 - 1.5)


def test_no_window_without_the_client_and_none_per_op_without_operations() -> None:
    with pytest.raises(ValueError):
        bench_cpu.window_cpu([sample(0.0, 1.0, None)], duration=1.0)
    assert bench_cpu.per_op(1.0, 1.0, 0) is None
    cpu = bench_cpu.per_op(0.3, 0.1, 1000)
    assert cpu is not None and (cpu.cluster_us, cpu.client_us, cpu.total_us) == (300, 100, 400)


def test_measured_cpu_shows_per_point_with_a_lower_is_better_ratio() -> None:
    etcd = core.Figures(1000, 100.0, 1.0, 2.0, 3.0, 0, cluster_cpu_us=200.0, client_cpu_us=50.0)
    eraft = core.Figures(1000, 100.0, 1.0, 2.0, 3.0, 0, cluster_cpu_us=400.0, client_cpu_us=100.0)
    (result,) = results_for({"put:16": (etcd, eraft)})
    assert result.ratios()["cpu_us_per_op"] == 2.0
    document = core.report_document(
        [result], duration_s=5, machine={}, versions={}, started_at="2026-11-26T11:00:00+00:00"
    )
    assert document["points"][0]["eraft"]["cpu_us_per_op"] == 500.0
    assert document["points"][0]["eraft"]["client_cpu_us_per_op"] == 100.0
    out = io.StringIO()
    core.render_report(Console(file=out, width=200, color_system=None), document)
    text = out.getvalue()
    assert re.search(r"│ CPU µs/op +│ +250 │ +500 │ +2\.00x │", text)
    assert re.search(r"│ +of it client +│ +50 │ +100 │", text)


def test_the_sampler_reads_the_cluster_and_the_client_while_it_runs() -> None:
    import os
    import time

    me = os.getpid()
    start = bench_cpu.cpu_seconds(me)
    assert start is not None
    with bench_cpu.CpuSampler([me], period=0.01) as sampler:
        sampler.client_started(me)
        # Burn CPU until the kernel's counters (10 ms ticks) have clearly moved.
        while (bench_cpu.cpu_seconds(me) or 0) - start < 0.1 or len(sampler.samples) < 3:
            sum(range(1000))
        time.sleep(0.05)  # a last sample after the burn
    # A window longer than the run is clamped to the first sample: all of it.
    cpu = sampler.per_op(duration=60, ops=1)
    assert cpu is not None and cpu.client_us > 0 and cpu.cluster_us > 0
