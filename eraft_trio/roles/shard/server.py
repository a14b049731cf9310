"""The shard role's server: client requests, plus the leader's config, pull and GC loops.

Only the group's leader runs the loops, and everything they decide goes through the
group's log, so every replica changes config, installs chunks and deletes buckets at
the same log index (DESIGN section 6):
- poll the config group for the config after ours and propose it (one at a time);
- for each bucket we are pulling, fetch the next chunk from its old owner and
  propose it (resumable from the cursor the replicated state holds);
- for each bucket we finished pulling, tell its old owner to drop it, then record it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import trio

from eraft_trio.client.config_client import ConfigClient
from eraft_trio.client.group_caller import GroupCaller
from eraft_trio.client.pool import ConnectionPool
from eraft_trio.client.retry import Deadline
from eraft_trio.errors import EraftError
from eraft_trio.roles.shard import commands, limits
from eraft_trio.roles.shard.requests import DropBucket, FetchBucket, KvDelete, KvGet, KvPut
from eraft_trio.runtime.errors import NotLeaderError, RuntimeErrorBase, error_reply
from eraft_trio.runtime.raft_node import RaftNode
from eraft_trio.runtime.role_file import RoleFile, security_of
from eraft_trio.transport.handshake import PeerInfo

log = logging.getLogger(__name__)

CONFIG_POLL_SECONDS = 0.1
MIGRATION_POLL_SECONDS = 0.05
CHUNK_BYTES = 1 << 20
PEER_CALL_TIMEOUT = 5.0


class ShardRoleServer:
    def __init__(self, node: RaftNode, role: RoleFile) -> None:
        self.node = node
        self.role = role
        self.pool: ConnectionPool | None = None
        self._groups: dict[tuple[str, ...], GroupCaller] = {}
        self._pulling: set[int] = set()
        self._stats = {
            "gets": 0,
            "puts": 0,
            "deletes": 0,
            "chunks_installed": 0,
            "buckets_dropped": 0,
        }

    # --- client requests ----------------------------------------------------------------

    async def handle(self, peer: PeerInfo, body: Any) -> Any:
        try:
            if isinstance(body, KvGet):
                self._stats["gets"] += 1
                return self._oversize(body.key, None) or await self.node.read(("get", body.key))
            if isinstance(body, KvPut):
                self._stats["puts"] += 1
                command = commands.Put(body.client_id, body.seq, body.key, body.value)
                return self._oversize(body.key, body.value) or await self.node.propose(
                    commands.encode_command(command)
                )
            if isinstance(body, KvDelete):
                self._stats["deletes"] += 1
                command_d = commands.Delete(body.client_id, body.seq, body.key)
                return self._oversize(body.key, None) or await self.node.propose(
                    commands.encode_command(command_d)
                )
            if isinstance(body, FetchBucket):
                query = ("fetch", body.config_num, body.bucket, body.after_key, body.max_bytes)
                return await self.node.read(query)
            if isinstance(body, DropBucket):
                drop = commands.DropBucket(body.config_num, body.bucket)
                return await self.node.propose(commands.encode_command(drop))
        except RuntimeErrorBase as exc:
            return error_reply(exc)
        return {
            "err": "bad_request",
            "message": f"a shard group does not serve {type(body).__name__}",
        }

    def _oversize(self, key: bytes, value: bytes | None) -> dict[str, Any] | None:
        """The refusal of a request over the size limits, before it costs a log entry."""
        refusal = limits.request_refusal(key, value, self.role.max_value_bytes)
        if refusal is not None and not self.node.is_leader:
            # Clients take the node that answers for the leader: only the leader refuses.
            raise NotLeaderError(self.node.leader_address)
        return refusal

    # --- the leader's loops ---------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.pool = ConnectionPool(
                nursery, self.role.cluster, self.role.host, security=security_of(self.role)
            )
            config_client = ConfigClient(self.pool, self.role.config_servers, timeout=5.0)
            nursery.start_soon(self._config_loop, config_client)
            nursery.start_soon(self._pull_loop, nursery)
            nursery.start_soon(self._gc_loop)
            task_status.started()

    async def _config_loop(self, config_client: ConfigClient) -> None:
        while True:
            await trio.sleep(CONFIG_POLL_SECONDS)
            if not self.node.is_leader:
                continue
            try:
                current = self.node.read_local(("config",))
                following = await config_client.next_config(int(current["num"]))
                if following is None:
                    continue
                reply = await self.node.propose(
                    commands.encode_command(commands.NewConfig(following))
                )
                if reply.get("ok"):
                    log.info("group %d moved to config %d", self.role.group, reply["num"])
            except (EraftError, RuntimeErrorBase) as exc:
                log.debug("config poll: %s", exc)

    async def _pull_loop(self, nursery: trio.Nursery) -> None:
        while True:
            await trio.sleep(MIGRATION_POLL_SECONDS)
            if not self.node.is_leader:
                continue
            for pull in self.node.read_local(("pulls",)):
                if pull["bucket"] not in self._pulling:
                    self._pulling.add(pull["bucket"])
                    nursery.start_soon(self._pull_bucket, pull)

    async def _pull_bucket(self, pull: dict[str, Any]) -> None:
        """Fetch and install one bucket chunk by chunk; the replicated cursor is the truth."""
        bucket, num = pull["bucket"], pull["num"]
        cursor = pull["cursor"]
        try:
            group = self._group(tuple(pull["addresses"]))
            while self.node.is_leader:
                chunk = await group.call(
                    FetchBucket(num, bucket, cursor, CHUNK_BYTES), Deadline(PEER_CALL_TIMEOUT)
                )
                if chunk.get("err"):
                    log.debug("fetch bucket %d: %s", bucket, chunk)
                    return
                install = commands.InstallChunk(
                    num,
                    bucket,
                    cursor,
                    tuple((k, v) for k, v in chunk["rows"]),
                    tuple((c, s, r) for c, s, r in chunk["sessions"]),
                    bool(chunk["done"]),
                )
                reply = await self.node.propose(commands.encode_command(install))
                if not reply.get("applied"):
                    return  # stale or duplicate: the next poll starts from the stored cursor
                self._stats["chunks_installed"] += 1
                if chunk["done"]:
                    log.info(
                        "group %d installed bucket %d of config %d", self.role.group, bucket, num
                    )
                    return
                cursor = self._cursor_of(bucket)
                if cursor is None:
                    return
        except (EraftError, RuntimeErrorBase) as exc:
            log.debug("pull of bucket %d: %s", bucket, exc)
        finally:
            self._pulling.discard(bucket)

    def _cursor_of(self, bucket: int) -> Any:
        for pull in self.node.read_local(("pulls",)):
            if pull["bucket"] == bucket:
                return pull["cursor"]
        return None

    async def _gc_loop(self) -> None:
        while True:
            await trio.sleep(MIGRATION_POLL_SECONDS)
            if not self.node.is_leader:
                continue
            for gc in self.node.read_local(("gcs",)):
                try:
                    group = self._group(tuple(gc["addresses"]))
                    reply = await group.call(
                        DropBucket(gc["num"], gc["bucket"]), Deadline(PEER_CALL_TIMEOUT)
                    )
                    if not reply.get("ok"):
                        continue
                    done = commands.GcDone(gc["num"], gc["bucket"])
                    await self.node.propose(commands.encode_command(done))
                    self._stats["buckets_dropped"] += 1
                except (EraftError, RuntimeErrorBase) as exc:
                    log.debug("gc of bucket %d: %s", gc["bucket"], exc)

    def _group(self, addresses: tuple[str, ...]) -> GroupCaller:
        assert self.pool is not None
        group = self._groups.get(addresses)
        if group is None:
            group = self._groups[addresses] = GroupCaller(self.pool, addresses)
        return group

    def statistics(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"role": "shard", **self._stats}
        # Status must render even when the tables are mid-restore.
        with contextlib.suppress(Exception):
            stats["shard"] = self.node.read_local(("status",))
        return stats
