"""The `eraft` entry point: parses the command line and hands off to one subcommand."""

from __future__ import annotations

import argparse
import sys

from eraft_trio import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eraft",
        description="eraft-trio: a sharded, Raft-replicated key-value store.",
    )
    parser.add_argument("--version", action="version", version=f"eraft-trio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    node = sub.add_parser("node", help="run one node (config or shard role)")
    node.add_argument("--config", required=True, metavar="FILE.toml", help="the role file")
    node.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    node.add_argument(
        "--secret-file", metavar="FILE", help="cluster secret (overrides [security] secret_file)"
    )
    from eraft_trio.cli.ctl_command import add_cluster_options, add_ctl_parser

    add_ctl_parser(sub)
    local = sub.add_parser("local", help="run a whole cluster on loopback (the embedded default)")
    local.add_argument(
        "--dir",
        help="folder of role files and data (default: ./eraft-local, made on first use)",
    )
    local.add_argument(
        "--groups", type=int, metavar="N", help="shard groups of a new cluster (default 2)"
    )
    local.add_argument(
        "--replicas",
        type=int,
        metavar="R",
        help="nodes in every group of a new cluster (default 3)",
    )
    local.add_argument(
        "--base-port",
        type=int,
        metavar="P",
        help="the config group's first port (default 8088); shard groups 1 and 2 start "
        "2000 and 1000 below it, any further group 1000 apart above it",
    )
    local.add_argument("--no-status", action="store_true", help="do not show the live status")
    local.add_argument(
        "--secret",
        action="store_true",
        help="protect the cluster with a secret (DIR/data/cluster.key, made on first use)",
    )
    bench = sub.add_parser("bench", help="closed-loop load generator")
    add_cluster_options(bench)
    bench.add_argument("--clients", type=int, default=16)
    bench.add_argument("--duration", type=float, default=10.0, metavar="S")
    bench.add_argument("--value-size", type=int, default=100, metavar="B")
    bench.add_argument(
        "--mix", default="1:0", metavar="PUT:GET", help="weights, e.g. 1:0, 0:1, 1:1"
    )
    bench.add_argument("--keys", type=int, default=10000, help="size of the key space")
    bench.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "node":
        from eraft_trio.cli.node_command import run_node

        return run_node(args.config, args.log_level, args.secret_file)
    if args.command == "ctl":
        from eraft_trio.cli.ctl_command import run_ctl

        return run_ctl(args)
    if args.command == "local":
        from eraft_trio.cli.local_command import run_local

        return run_local(args)
    if args.command == "bench":
        from eraft_trio.cli.bench_command import run_bench

        return run_bench(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
