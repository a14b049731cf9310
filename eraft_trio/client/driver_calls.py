"""Client's overloaded methods as functions taking every keyword, for the drivers
(SyncClient, AsyncioClient) to submit: an overloaded method cannot be passed on with
its keywords as one typed signature."""

from __future__ import annotations

from eraft_trio.client.kv_client import Client
from eraft_trio.client.results import CasResult, DeleteResult, PutResult


async def put_any(
    client: Client,
    key: str | bytes,
    value: str | bytes,
    *,
    if_version: int | None,
    if_absent: bool,
    if_value: str | bytes | None,
    lease: int | None = None,
) -> PutResult | CasResult:
    """Client.put, whichever condition (at most one) is given, under `lease` if any."""
    return await client.put(  # type: ignore[call-overload, misc]
        key, value, if_version=if_version, if_absent=if_absent, if_value=if_value, lease=lease
    )


async def delete_any(
    client: Client, key: str | bytes, *, if_version: int | None, if_value: str | bytes | None
) -> DeleteResult | CasResult:
    return await client.delete(  # type: ignore[call-overload]
        key, if_version=if_version, if_value=if_value
    )
