"""Many client operations at once: one Client keeps many requests in flight, so batches are fast."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import trio

from eraft_trio.client import Client
from eraft_trio.errors import EraftError


async def put_all(kv: Client, items: Mapping[bytes, bytes]) -> None:
    """Put every item concurrently; any failure fails the batch."""
    async with trio.open_nursery() as nursery:
        for key, value in items.items():
            nursery.start_soon(kv.put, key, value)


async def get_all(kv: Client, keys: Iterable[bytes]) -> dict[bytes, bytes | None]:
    """Get every key concurrently; any failure fails the batch."""
    found: dict[bytes, bytes | None] = {}

    async def get(key: bytes) -> None:
        found[key] = await kv.get(key)

    async with trio.open_nursery() as nursery:
        for key in keys:
            nursery.start_soon(get, key)
    return found


async def try_get_all(kv: Client, keys: Iterable[bytes]) -> dict[bytes, bytes | None | EraftError]:
    """Get every key concurrently; a key whose get failed maps to the error it raised."""
    found: dict[bytes, bytes | None | EraftError] = {}

    async def get(key: bytes) -> None:
        try:
            found[key] = await kv.get(key)
        except EraftError as exc:
            found[key] = exc

    async with trio.open_nursery() as nursery:
        for key in keys:
            nursery.start_soon(get, key)
    return found
