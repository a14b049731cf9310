"""`eraft ctl lease grant TTL --key K | keepalive ID | revoke ID` (and `put --lease ID`).

grant prints the new lease's id alone on a line (so `ID=$(eraft ctl lease grant 30 --key
k)` works); keepalive prints `ttl=SECONDS`; revoke prints `OK: deleted N keys`. A lease
that does not exist (expired, revoked, never granted) exits 1, as a missing key does.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from eraft_trio.client.kv_client import Client
from eraft_trio.errors import BadRequest
from eraft_trio.protocol.errors import ErrorCode

EXIT_OK, EXIT_NOT_FOUND = 0, 1


def add_lease_parser(cmds: Any) -> None:
    lease = cmds.add_parser("lease", help="grant, keep alive or revoke a lease")
    actions = lease.add_subparsers(dest="lease_command", metavar="ACTION", required=True)
    grant = actions.add_parser("grant", help="a new lease of TTL seconds; prints its id")
    grant.add_argument("ttl", type=float, metavar="TTL", help="seconds, 1 .. 604800")
    grant.add_argument(
        "--key", required=True, help="a key of the bucket the lease lives in (puts with it must be)"
    )
    grant.add_argument("--json", action="store_true")
    keepalive = actions.add_parser("keepalive", help="renew a lease once; prints its TTL")
    keepalive.add_argument("id", type=lease_id_argument, metavar="ID")
    revoke = actions.add_parser("revoke", help="end a lease now, deleting its keys")
    revoke.add_argument("id", type=lease_id_argument, metavar="ID")


def lease_id_argument(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a lease id (an integer)") from None
    if not 0 < value < 2**64:
        raise argparse.ArgumentTypeError(f"{value} is not a lease id (1 .. 2**64-1)")
    return value


async def run_lease(client: Client, args: argparse.Namespace) -> int:
    try:
        if args.lease_command == "grant":
            granted = await client.lease_grant(args.ttl, key=args.key)
            if args.json:
                print(
                    json.dumps({"id": granted.id, "ttl": granted.ttl, "revision": granted.revision})
                )
            else:
                print(granted.id)
        elif args.lease_command == "keepalive":
            print(f"ttl={await client.keep_alive(args.id):g}")
        else:
            revoked = await client.revoke(args.id)
            print(f"OK: deleted {revoked.deleted} keys")
    except BadRequest as exc:
        if exc.code != ErrorCode.LEASE_NOT_FOUND:
            raise
        print(f"eraft ctl lease {args.lease_command}: {exc.code}: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    return EXIT_OK
