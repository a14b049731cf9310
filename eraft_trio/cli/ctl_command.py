"""`eraft ctl ...`: administer and query a cluster (exit 0 ok, 1 not found, 2 bad input, 3 unreachable)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import trio

from eraft_trio.cli.ctl_lease import add_lease_parser, lease_id_argument, run_lease
from eraft_trio.cli.ctl_scan import add_scan_parser, run_scan
from eraft_trio.cli.ctl_txn import add_txn_parser, run_txn_command
from eraft_trio.client.kv_client import DEFAULT_CONFIG_SERVERS, Client
from eraft_trio.client.results import CasResult
from eraft_trio.errors import BadRequest, EraftError, OperationTimeout
from eraft_trio.protocol.address import parse_address
from eraft_trio.roles.config.bucket_ranges import format_buckets, parse_buckets
from eraft_trio.transport.security import (
    CA_FILE_ENV,
    CERT_FILE_ENV,
    KEY_FILE_ENV,
    SECRET_FILE_ENV,
    Security,
)

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input caught before anything was sent: exit 2 with this one-line message."""


def add_ctl_parser(sub: Any) -> None:
    ctl = sub.add_parser("ctl", help="administer and query a cluster")
    add_cluster_options(ctl)
    cmds = ctl.add_subparsers(dest="ctl_command", metavar="SUBCOMMAND", required=True)
    join = cmds.add_parser("join", help="add a shard group and rebalance the buckets")
    join.add_argument("gid", help="the group id, an integer > 0")
    join.add_argument("addresses", help="the group's node addresses, ADDR[,ADDR...]")
    join.add_argument("--no-rebalance", action="store_true", help="only register the group")
    leave = cmds.add_parser("leave", help="remove a shard group; its buckets spread evenly")
    leave.add_argument("gid")
    move = cmds.add_parser("move", help="assign buckets to a group")
    move.add_argument("buckets", help="3, 0-4 or 0-4,7,9")
    move.add_argument("gid")
    for change in (join, leave, move):
        change.add_argument(
            "--wait",
            action="store_true",
            help="return once every moved bucket is served by its new owner and the old "
            "copies are gone (progress on stderr)",
        )
        change.add_argument(
            "--wait-timeout",
            type=float,
            metavar="SECONDS",
            help="with --wait: give up after this long (exit 3); default: no limit",
        )
    query = cmds.add_parser("query", help="print a config (default: the latest)")
    query.add_argument("num", nargs="?", default="-1")
    query.add_argument("--json", action="store_true")
    put = cmds.add_parser(
        "put", help="write a key (with a condition: only if it holds, else exit 1)"
    )
    put.add_argument("key")
    put.add_argument("value")
    _add_conditions(put, absent=True)
    put.add_argument(
        "--lease",
        type=lease_id_argument,
        metavar="ID",
        help="attach the key to a lease (ctl lease grant)",
    )
    get = cmds.add_parser("get", help="read a key")
    get.add_argument("key")
    get.add_argument("--json", action="store_true")
    get.add_argument(
        "--rev",
        action="store_true",
        help="also print the key's version and mod revision (a line 'version=N mod_revision=R')",
    )
    delete = cmds.add_parser(
        "delete", help="delete a key (with a condition: only if it holds, else exit 1)"
    )
    delete.add_argument("key")
    _add_conditions(delete, absent=False)
    add_scan_parser(cmds)
    for command, what in (
        ("drain", "move leadership off a node and keep it from campaigning (until undrain)"),
        ("undrain", "let a drained node campaign again"),
    ):
        drain = cmds.add_parser(command, help=what)
        drain.add_argument("address", metavar="ADDR", help="the node, host:port")
    from eraft_trio.cli.ctl_member import add_member_parser

    add_member_parser(cmds)
    add_lease_parser(cmds)
    add_txn_parser(cmds)
    from eraft_trio.cli.ctl_watch import add_watch_parser

    add_watch_parser(cmds)
    status = cmds.add_parser("status", help="live status of every group and node")
    status.add_argument("--once", action="store_true", help="print once and exit")
    status.add_argument("--json", action="store_true", help="print JSON once and exit")


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-s",
        "--config-servers",
        metavar="ADDRS",
        help="comma-separated config group addresses (default: $ERAFT_CONFIG_SERVERS, "
        "else the local cluster)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS")
    for option, variable, what in (
        ("--secret-file", SECRET_FILE_ENV, "cluster secret"),
        ("--ca-file", CA_FILE_ENV, "TLS: the CA that signs the nodes' certificates"),
        ("--cert-file", CERT_FILE_ENV, "TLS: this client's certificate"),
        ("--key-file", KEY_FILE_ENV, "TLS: this client's private key"),
    ):
        parser.add_argument(
            option,
            metavar="FILE",
            action=_ExportToEnvironment,
            const=variable,
            help=f"{what} (or ${variable})",
        )


class _ExportToEnvironment(argparse.Action):
    """`--secret-file F` means exactly ERAFT_SECRET_FILE=F. Setting the variable makes
    every client tool of this process (ctl, status, bench) see the same setting, since
    their connection pools default to the environment."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        os.environ[str(self.const)] = str(values)


def security_from_env() -> Security:
    """The client's secret and TLS settings; UsageError naming a file that cannot be used."""
    try:
        return Security.from_env()
    except ValueError as exc:  # SecurityConfigError names the file
        key = getattr(exc, "key", "") or "security"
        raise UsageError(f"{key}: {exc}") from None


def parse_addresses(text: str, what: str) -> tuple[str, ...]:
    """'host:port,host:port' -> the addresses; UsageError naming `what` if one is bad."""
    addresses = tuple(a.strip() for a in text.split(",") if a.strip())
    if not addresses:
        raise UsageError(f"{what}: no address given")
    for addr in addresses:
        try:
            parse_address(addr)
        except ValueError as exc:
            raise UsageError(f"{what}: {exc}") from None
    return addresses


def config_servers_from(args: argparse.Namespace) -> tuple[str, ...]:
    text = args.config_servers or os.environ.get("ERAFT_CONFIG_SERVERS")
    return parse_addresses(text, "--config-servers") if text else DEFAULT_CONFIG_SERVERS


def report_failure(name: str, exc: Exception) -> int:
    """Print one line for a failed command and return its exit code (2 bad input, 3 cluster)."""
    if isinstance(exc, UsageError):
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, BadRequest):
        print(f"{name}: {exc.code}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, OperationTimeout):
        print(f"{name}: the cluster did not answer: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(f"{name}: {exc}", file=sys.stderr)
    return EXIT_UNAVAILABLE


def run_ctl(args: argparse.Namespace) -> int:
    name = f"eraft ctl {args.ctl_command}"
    try:
        if args.timeout <= 0:
            raise UsageError("--timeout: must be > 0")
        servers = config_servers_from(args)
        security = security_from_env()
        if args.ctl_command in ("drain", "undrain"):
            from eraft_trio.cli.ctl_drain import run_drain

            addresses = parse_addresses(args.address, "ADDR")
            if len(addresses) != 1:
                raise UsageError("ADDR: name one node, host:port")
            return run_drain(addresses[0], args.ctl_command == "drain", args.timeout, security)
        if args.ctl_command == "member":
            from eraft_trio.cli.ctl_member import run_member

            def one_address(text: str, what: str) -> str:
                found = parse_addresses(text, what)
                if len(found) != 1:
                    raise UsageError(f"{what}: name one node, host:port")
                return found[0]

            return run_member(args, servers, security, one_address)
        if args.ctl_command == "watch":
            from eraft_trio.cli.ctl_watch import run_watch

            return run_watch(args, servers, security)
        if args.ctl_command == "status":
            from eraft_trio.tui.status_command import run_status

            return run_status(servers, args)
        result: int = trio.run(_run, args, servers, security)
        return result
    except (UsageError, EraftError) as exc:
        return report_failure(name, exc)


async def _run(args: argparse.Namespace, servers: tuple[str, ...], security: Security) -> int:
    if getattr(args, "wait_timeout", None) is not None and args.wait_timeout <= 0:
        raise UsageError("--wait-timeout: must be > 0")
    async with Client.connect(servers, timeout=args.timeout, security=security) as client:
        handler = _HANDLERS[args.ctl_command]
        code = await handler(client, args)
        if code == EXIT_OK and getattr(args, "wait", False):
            # Imported here: the status probe pulls in rich, which other commands never need.
            from eraft_trio.cli.ctl_wait import wait_for_handoffs

            await wait_for_handoffs(
                client, servers, args.new_config, security=security, timeout=args.wait_timeout
            )
        return code


def _gid(text: str) -> int:
    try:
        gid = int(text)
    except ValueError:
        raise UsageError(f"GID: {text!r} is not an integer") from None
    if not 0 < gid < 2**63:
        raise UsageError(f"GID: {gid} must be an integer > 0")
    return gid


async def _join(client: Client, args: argparse.Namespace) -> int:
    gid = _gid(args.gid)
    addresses = parse_addresses(args.addresses, "ADDR")
    num = await client.config_client.join({gid: addresses}, rebalance=not args.no_rebalance)
    args.new_config = num
    print(f"OK: config {num}", flush=True)
    return EXIT_OK


async def _leave(client: Client, args: argparse.Namespace) -> int:
    num = await client.config_client.leave((_gid(args.gid),))
    args.new_config = num
    print(f"OK: config {num}", flush=True)
    return EXIT_OK


async def _move(client: Client, args: argparse.Namespace) -> int:
    gid = _gid(args.gid)
    latest = await client.config_client.query(-1)
    try:
        buckets = parse_buckets(args.buckets, len(latest["buckets"]))
    except ValueError as exc:
        raise UsageError(f"BUCKETS: {exc}") from None
    num = await client.config_client.move(buckets, gid)
    args.new_config = num
    print(f"OK: config {num}", flush=True)
    return EXIT_OK


async def _query(client: Client, args: argparse.Namespace) -> int:
    try:
        num = int(args.num)
    except ValueError:
        raise UsageError(f"NUM: {args.num!r} is not an integer") from None
    if num < -1:
        raise UsageError(f"NUM: {num} must be >= 0 (or -1 for the latest)")
    config = await client.config_client.query(num)
    if args.json:
        print(json.dumps(config))
        return EXIT_OK
    print(f"config {config['num']}")
    owners: dict[int, list[int]] = {}
    for bucket, gid in enumerate(config["buckets"]):
        owners.setdefault(gid, []).append(bucket)
    print("buckets:")
    for gid in sorted(owners):
        label = f"group {gid}" if gid else "unassigned"
        print(f"  {label}: {format_buckets(tuple(owners[gid]))}")
    print("groups:")
    if not config["groups"]:
        print("  (none)")
    for gid in sorted(config["groups"], key=int):
        print(f"  {gid}: {', '.join(config['groups'][gid])}")
    return EXIT_OK


def _add_conditions(parser: argparse.ArgumentParser, absent: bool) -> None:
    """The compare-and-set flags of put / delete, at most one of them."""
    conditions = parser.add_mutually_exclusive_group()
    conditions.add_argument(
        "--if-version",
        type=int,
        metavar="N",
        help="only if the key's version is N (0: it does not exist)",
    )
    if absent:
        conditions.add_argument(
            "--if-absent", action="store_true", help="only if the key does not exist"
        )
    conditions.add_argument("--if-value", metavar="VALUE", help="only if the key holds VALUE")


async def _put(client: Client, args: argparse.Namespace) -> int:
    lease = args.lease
    if args.if_version is not None:
        return _compared(
            await client.put(args.key, args.value, if_version=args.if_version, lease=lease)
        )
    if args.if_absent:
        return _compared(await client.put(args.key, args.value, if_absent=True, lease=lease))
    if args.if_value is not None:
        return _compared(
            await client.put(args.key, args.value, if_value=args.if_value, lease=lease)
        )
    await client.put(args.key, args.value, lease=lease)
    print("OK")
    return EXIT_OK


def _compared(result: CasResult) -> int:
    """OK, or exit 1 with the key as the failed comparison found it."""
    if result.succeeded:
        print("OK")
        return EXIT_OK
    current = result.current
    found = (
        "the key does not exist"
        if current.value is None
        else f"version={current.version} mod_revision={current.mod_revision}"
    )
    print(f"compare failed: {found}", file=sys.stderr)
    return EXIT_NOT_FOUND


async def _get(client: Client, args: argparse.Namespace) -> int:
    if args.rev:
        result = await client.get_versioned(args.key)
        value = result.value
    else:
        value = await client.get(args.key)
    if args.json:
        text = value.decode("utf-8", errors="replace") if value is not None else None
        document: dict[str, Any] = {"key": args.key, "value": text}
        if args.rev:
            document.update(version=result.version, mod_revision=result.mod_revision)
        print(json.dumps(document))
        return EXIT_OK if value is not None else EXIT_NOT_FOUND
    if value is None:
        print("not found", file=sys.stderr)
        return EXIT_NOT_FOUND
    sys.stdout.write(value.decode("utf-8", errors="replace") + "\n")
    if args.rev:
        print(f"version={result.version} mod_revision={result.mod_revision}")
    return EXIT_OK


async def _delete(client: Client, args: argparse.Namespace) -> int:
    if args.if_version is not None:
        return _compared(await client.delete(args.key, if_version=args.if_version))
    if args.if_value is not None:
        return _compared(await client.delete(args.key, if_value=args.if_value))
    await client.delete(args.key)
    print("OK")
    return EXIT_OK


_HANDLERS = {
    "join": _join,
    "leave": _leave,
    "move": _move,
    "query": _query,
    "put": _put,
    "get": _get,
    "delete": _delete,
    "scan": run_scan,
    "lease": run_lease,
    "txn": run_txn_command,
}
