"""The shard role's reads: client gets, chunk fetches by new owners, and runtime/status views."""

from __future__ import annotations

from typing import Any

from eraft_trio.roles.shard import (
    lease_tables,
    leases,
    replies,
    scan,
    sessions,
    tables,
    transfer,
    watch_reads,
)
from eraft_trio.roles.shard.buckets import Phase
from eraft_trio.roles.shard.serving import served_bucket
from eraft_trio.storage.view import TableView


def answer(view: TableView, gid: int, query: Any) -> Any:
    """Answer one read query (a tuple, or the list msgpack makes of it)."""
    if not isinstance(query, list | tuple) or not query:
        return _bad_query(query)
    kind, *args = query
    if kind == "get" and len(args) == 1 and isinstance(args[0], bytes):
        return _get(view, args[0])
    if kind == "get_versioned" and len(args) == 1 and isinstance(args[0], bytes):
        return _get_versioned(view, args[0])
    if kind == "scan":
        return scan.answer(view, args)
    if kind == "fetch" and len(args) in (4, 5):
        return _fetch(view, *args)
    if kind == "watch":
        return watch_reads.answer(view, args)
    if kind == "config" and not args:
        return tables.current_config(view).to_json()
    if kind == "pulls" and not args:
        return _pulls(view)
    if kind == "gcs" and not args:
        return [
            {"bucket": n.bucket, "num": n.num, "gid": n.gid, "addresses": n.addresses}
            for n in tables.gc_notices(view)
        ]
    if kind == "status" and not args:
        return _status(view, gid)
    if kind == "session_clock" and not args:
        return sessions.clock(view)
    if kind == "lease_clock" and not args:
        return leases.clock(view)
    return _bad_query(query)


def _get(view: TableView, key: bytes) -> dict[str, Any]:
    served = served_bucket(view, key)
    if isinstance(served, dict):
        return served
    bucket = served.bucket
    return {"value": tables.get_value(view, bucket, key)}


def _get_versioned(view: TableView, key: bytes) -> dict[str, Any]:
    served = served_bucket(view, key)
    if isinstance(served, dict):
        return served
    bucket = served.bucket
    entry = tables.get_entry(view, bucket, key)
    if entry is None:
        return {"value": None, "version": 0, "mod_revision": 0}
    return {"value": entry.value, "version": entry.version, "mod_revision": entry.mod_revision}


def _fetch(
    view: TableView, num: Any, bucket: Any, after: Any, max_bytes: Any, with_events: Any = False
) -> dict[str, Any]:
    """A chunk of a bucket this group handed off at config `num`; only the old owner has it.
    Its watch history too when the puller asks for it (`with_events`)."""
    if not (_is_int(num) and _is_int(bucket) and _is_int(max_bytes) and max_bytes > 0):
        return _bad_query(("fetch", num, bucket, after, max_bytes))
    if after is not None and not isinstance(after, bytes):
        return _bad_query(("fetch", num, bucket, after, max_bytes))
    current = tables.current_config(view)
    state = tables.bucket_state(view, bucket) if 0 <= bucket < 2**32 else None
    if state is None or state.phase != Phase.HANDOFF or state.num != num:
        # Not (yet) frozen here at that config: the puller asks again later.
        return replies.refusal(replies.NOT_READY, current.num)
    try:
        return transfer.read_chunk(view, bucket, after, max_bytes, bool(with_events)).to_reply()
    except ValueError as error:
        return replies.invalid(replies.BAD_QUERY, str(error))


def _pulls(view: TableView) -> list[dict[str, Any]]:
    """Buckets to pull, with the old owners' addresses (from the previous config)."""
    previous = tables.previous_config(view)
    return [
        {
            "bucket": bucket,
            "gid": state.from_gid,
            "num": state.num,
            "cursor": state.cursor,
            "addresses": previous.addresses(state.from_gid),
        }
        for bucket, state in tables.bucket_states(view)
        if state.phase == Phase.PULLING
    ]


def _status(view: TableView, gid: int) -> dict[str, Any]:
    """Config num and every bucket held here with its state and key count (no data scan);
    `lease_expiry` once a lease expired here: {"index", "leases", "keys"} of the last
    expiry entry, alike on every replica."""
    status = {
        "gid": gid,
        "num": tables.current_config(view).num,
        "buckets": [
            {
                "bucket": bucket,
                "state": state.name,
                "keys": state.keys,
                "num": state.num,
                "gid": state.from_gid,
            }
            for bucket, state in tables.bucket_states(view)
        ],
        "gcs": sum(1 for _ in tables.gc_notices(view)),
    }
    expiry = lease_tables.last_expiry(view)
    if expiry is not None:
        status["lease_expiry"] = expiry
    return status


def _bad_query(query: Any) -> dict[str, Any]:
    return replies.invalid(replies.BAD_QUERY, f"not a shard query: {query!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
