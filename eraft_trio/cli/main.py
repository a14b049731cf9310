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
    from eraft_trio.cli.ctl_command import add_ctl_parser

    add_ctl_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "node":
        from eraft_trio.cli.node_command import run_node

        return run_node(args.config, args.log_level)
    if args.command == "ctl":
        from eraft_trio.cli.ctl_command import run_ctl

        return run_ctl(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
