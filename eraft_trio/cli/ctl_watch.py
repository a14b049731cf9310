"""`eraft ctl watch KEY [--prefix] [--rev N] [--json]`: print a key's (or a prefix's)
changes as they commit, one line each, until Ctrl-C or SIGTERM (exit 0).

Text lines: `put KEY VALUE version=V mod_revision=R` or `delete KEY mod_revision=R`;
with --json one object a line: {"kind", "key", "value", "version", "mod_revision",
"bucket"} (value null for a delete). Keys and values print as UTF-8 (undecodable bytes
replaced). A revision the history no longer holds exits 1 (`compacted: ...`).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

import trio

from eraft_trio.client.kv_client import Client
from eraft_trio.client.watch import WatchEvent
from eraft_trio.errors import Compacted, single_exception
from eraft_trio.transport.security import Security

EXIT_OK, EXIT_NOT_FOUND = 0, 1


def add_watch_parser(cmds: Any) -> None:
    watch = cmds.add_parser(
        "watch", help="print a key's or prefix's changes as they commit, until Ctrl-C"
    )
    watch.add_argument("key", metavar="KEY", help="the key (with --prefix: the prefix)")
    watch.add_argument("--prefix", action="store_true", help="watch every key under KEY")
    watch.add_argument(
        "--rev",
        type=int,
        metavar="N",
        help="start at revision N of every watched bucket (default: from now)",
    )
    watch.add_argument("--json", action="store_true", help="one JSON object a line")


def run_watch(args: argparse.Namespace, servers: tuple[str, ...], security: Security) -> int:
    """The command's exit code; UsageError / EraftError propagate to ctl's reporting."""
    from eraft_trio.cli.ctl_command import UsageError

    if args.rev is not None and args.rev < 1:
        raise UsageError("--rev: must be >= 1")
    try:
        code: int = trio.run(_watch_until_stopped, args, servers, security)
    except KeyboardInterrupt:
        return EXIT_OK  # Ctrl-C before the watch began
    return code


async def _watch_until_stopped(
    args: argparse.Namespace, servers: tuple[str, ...], security: Security
) -> int:
    """_watch until it ends or a SIGINT/SIGTERM comes (exit 0).

    The signals are received explicitly, as `eraft node` does, rather than left to
    Python's KeyboardInterrupt: a process started in the background by a shell without
    job control inherits SIGINT ignored, and then Ctrl-C (kill -INT) never ended it."""
    code = EXIT_OK
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            async with trio.open_nursery() as nursery:

                async def watch() -> None:
                    nonlocal code
                    code = await _watch(args, servers, security)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(watch)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break
        except BaseExceptionGroup as group:
            raise single_exception(group) from None  # ctl reports EraftError by itself
    return code


async def _watch(args: argparse.Namespace, servers: tuple[str, ...], security: Security) -> int:
    key = None if args.prefix else args.key
    prefix = args.key if args.prefix else None
    async with (
        Client.connect(servers, timeout=args.timeout, security=security) as client,
        client.watch(key, prefix=prefix, from_revision=args.rev) as events,
    ):
        print(f"watching {'prefix ' if args.prefix else ''}{args.key}", file=sys.stderr, flush=True)
        try:
            async for event in events:
                print(_line(event, args.json), flush=True)
        except Compacted as exc:
            print(f"eraft ctl watch: {exc}", file=sys.stderr)
            return EXIT_NOT_FOUND
    return EXIT_OK


def _line(event: WatchEvent, as_json: bool) -> str:
    key = event.key.decode("utf-8", errors="replace")
    value = None if event.value is None else event.value.decode("utf-8", errors="replace")
    if as_json:
        return json.dumps(
            {
                "kind": event.kind,
                "key": key,
                "value": value,
                "version": event.version,
                "mod_revision": event.mod_revision,
                "bucket": event.bucket,
            }
        )
    if event.kind == "put":
        return f"put {key} {value} version={event.version} mod_revision={event.mod_revision}"
    return f"delete {key} mod_revision={event.mod_revision}"
