"""The bench's results: the contract's JSON document, or a rich table for people."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from eraft_trio.cli.bench_latency import MB, LatencyLog
from eraft_trio.cli.bench_options import BenchOptions


def result_document(options: BenchOptions, log: LatencyLog, elapsed: float) -> dict[str, Any]:
    """`bench --json` (docs/reference.md): exactly these keys, one `ops` entry per kind."""
    return {
        "clients": options.clients,
        "duration_s": options.duration,
        "value_size": options.value_size,
        "ops": log.summary(elapsed, options.value_size),
    }


def mix_text(options: BenchOptions) -> str:
    return ":".join(f"{options.weights.get(kind, 0):g}" for kind in ("put", "get"))


def render_table(console: Console, options: BenchOptions, log: LatencyLog, elapsed: float) -> None:
    title = (
        f"eraft bench: {options.clients} clients, {elapsed:.1f} s, "
        f"{options.value_size}-byte values, put:get {mix_text(options)}, {options.keys} keys"
    )
    table = Table()
    for name in ("op", "count", "ops/s", "MB/s", "p50 ms", "p99 ms", "p99.9 ms", "errors"):
        table.add_column(name, justify="left" if name == "op" else "right")
    for kind, figures in log.summary(elapsed, options.value_size).items():
        table.add_row(
            kind,
            f"{figures['count']:,}",
            f"{figures['ops_per_s']:,.1f}",
            f"{figures['mb_per_s']:,.2f}",
            f"{figures['p50_ms']:.2f}",
            f"{figures['p99_ms']:.2f}",
            f"{figures['p999_ms']:.2f}",
            f"{figures['errors']:,}",
            style="red" if figures["errors"] else None,
        )
    if len(log.kinds) > 1:
        total = log.completed / elapsed if elapsed > 0 else 0.0
        megabytes = total * options.value_size / MB
        table.add_row(
            "all",
            f"{log.completed:,}",
            f"{total:,.1f}",
            f"{megabytes:,.2f}",
            "",
            "",
            "",
            f"{log.errors:,}",
        )
    # The title on its own line: as a table title it would wrap at the table's width.
    console.print(title, markup=False)
    console.print(table)
    if log.last_error is not None:
        console.print(f"last error: {log.last_error}", style="red", markup=False)
