"""The eraft client: `Client` (trio) and `SyncClient` (blocking)."""

from eraft_trio.client.kv_client import Client
from eraft_trio.client.sync_client import SyncClient

__all__ = ["Client", "SyncClient"]
