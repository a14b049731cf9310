"""`eraft ctl scan [PREFIX]`: the keys with a prefix, in key order, streamed as they come.

One line per key: `KEY<TAB>VALUE` (`KEY` alone with --keys-only), or with --json one JSON
document per line: {"key", "value", "version", "mod_revision"} (value null with
--keys-only). Keys and values print as UTF-8, undecodable bytes replaced, as `get`
prints them. Exit 0 however many keys matched, none included.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from eraft_trio.client.kv_client import Client
from eraft_trio.client.scan_merge import ScanItem

EXIT_OK = 0


def add_scan_parser(cmds: Any) -> None:
    scan = cmds.add_parser(
        "scan", help="list the keys with a prefix in key order (every bucket, paged)"
    )
    scan.add_argument("prefix", nargs="?", default="", metavar="PREFIX", help="default: all keys")
    scan.add_argument("--limit", type=int, metavar="N", help="stop after N keys")
    scan.add_argument("--after", metavar="KEY", help="only keys after KEY (resume a scan)")
    scan.add_argument("--keys-only", action="store_true", help="print keys without values")
    scan.add_argument("--json", action="store_true", help="one JSON document per line")


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


def _line(item: ScanItem, args: argparse.Namespace) -> str:
    if args.json:
        return json.dumps(
            {
                "key": _text(item.key),
                "value": _text(item.value),
                "version": item.version,
                "mod_revision": item.mod_revision,
            }
        )
    if args.keys_only:
        return _text(item.key) or ""
    return f"{_text(item.key)}\t{_text(item.value)}"


async def run_scan(client: Client, args: argparse.Namespace) -> int:
    from eraft_trio.cli.ctl_command import UsageError

    if args.limit is not None and args.limit < 0:
        raise UsageError("--limit: must be >= 0")
    scan = client.scan(args.prefix, limit=args.limit, after=args.after, keys_only=args.keys_only)
    try:
        async for item in scan:
            sys.stdout.write(_line(item, args) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): not an error; keep the exit from complaining.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK
