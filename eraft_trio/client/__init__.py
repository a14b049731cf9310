"""The eraft client: `Client` (trio) and `SyncClient` (blocking), and their results."""

from eraft_trio.client.kv_client import Client
from eraft_trio.client.results import CasResult, DeleteResult, GetResult, PutResult
from eraft_trio.client.scan_merge import ScanItem
from eraft_trio.client.sync_client import SyncClient

__all__ = [
    "CasResult",
    "Client",
    "DeleteResult",
    "GetResult",
    "PutResult",
    "ScanItem",
    "SyncClient",
]
