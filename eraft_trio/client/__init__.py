"""The eraft client: `Client` (trio), `SyncClient` (blocking), `AsyncioClient` (asyncio),
and their results."""

from eraft_trio.client.asyncio_client import AsyncioClient
from eraft_trio.client.kv_client import Client
from eraft_trio.client.results import CasResult, DeleteResult, GetResult, PutResult
from eraft_trio.client.scan_merge import ScanItem
from eraft_trio.client.stream_bridge import AsyncioStream, BlockingStream
from eraft_trio.client.sync_client import SyncClient
from eraft_trio.client.watch import WatchEvent

__all__ = [
    "AsyncioClient",
    "AsyncioStream",
    "BlockingStream",
    "CasResult",
    "Client",
    "DeleteResult",
    "GetResult",
    "PutResult",
    "ScanItem",
    "SyncClient",
    "WatchEvent",
]
