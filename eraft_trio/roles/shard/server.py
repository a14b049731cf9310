"""The shard role's server: client requests, plus the leader's config, pull and GC loops.

Only the group's leader runs the loops, and everything they decide goes through the
group's log, so every replica changes config, installs chunks and deletes buckets at
the same log index (docs/architecture.md, the roles):
- poll the config group for the config after ours and propose it (one at a time);
- for each bucket we are pulling (a few at once), stream its chunks from the old owner
  into the log (pull_stream.py: fetched ahead, installed in cursor order, resumable
  from the cursor the replicated state holds);
- for each bucket we finished pulling, tell its old owner to drop it, then record it;
- when the oldest client session has been unused for the role file's session_ttl_s,
  propose an expiry stamped with our clock (sessions.py); writes carry the same stamp;
- promote the leases once per term, then expire those due (lease_server.py).
The pull and GC loops poll, and are also woken at once by what gives them work: a
config applied, a bucket finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import trio

from eraft_trio.errors import EraftError, ServerError
from eraft_trio.group_calls.config_client import ConfigClient
from eraft_trio.group_calls.deadline import Deadline
from eraft_trio.group_calls.group_caller import GroupCaller
from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.limits import request_refusal
from eraft_trio.protocol.replies import BucketChunk, Dropped
from eraft_trio.protocol.scan import KvScan, ScanPage
from eraft_trio.protocol.shard import (
    DropBucket,
    FetchBucket,
    KvDelete,
    KvGet,
    KvGetVersioned,
    KvPut,
)
from eraft_trio.protocol.txn import KvTxn
from eraft_trio.protocol.watch import WatchRequest
from eraft_trio.roles.shard import commands, conditions, replies, scan, sessions
from eraft_trio.roles.shard.lease_server import (
    LEASE_REQUESTS,
    run_lease_clock,
    start_lease_request,
)
from eraft_trio.roles.shard.pull_stream import PullProgress, stream_bucket
from eraft_trio.roles.shard.txn_requests import to_txn_done, txn_command
from eraft_trio.roles.shard.watch_server import WatchServer
from eraft_trio.runtime.errors import NotLeaderError, RuntimeErrorBase, error_reply
from eraft_trio.runtime.node_service import Answer
from eraft_trio.runtime.raft_node import RaftNode
from eraft_trio.runtime.role_file import RoleFile, security_of
from eraft_trio.runtime.waiter import Waiter
from eraft_trio.transport.handshake import PeerInfo

log = logging.getLogger(__name__)

CONFIG_POLL_SECONDS = 0.1
MIGRATION_POLL_SECONDS = 0.05
# Measured with tools/migration_bench.py on loopback (50 MiB moved): 1, 2 and 4 MiB
# chunks within noise of each other (49, 38, 46 MiB/s). 1 MiB matches the snapshot
# chunk and Raft's max_msg_bytes, and bounds what a pull holds in memory.
CHUNK_BYTES = 1 << 20
BUCKETS_IN_FLIGHT = 4  # buckets pulled at once; each holds a few chunks in memory
PEER_CALL_TIMEOUT = 5.0
# How often the leader looks whether its oldest session is due; sessions live at
# least a second past their TTL this way, and an idle group proposes nothing.
EXPIRY_POLL_SECONDS = 1.0


class Wakeup:
    """What a polling loop sleeps on: `set()` ends its current (or next) wait at once."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout`; whether `set()` was called (since the last wait)."""
        with trio.move_on_after(timeout):
            await self._event.wait()
        woken = self._event.is_set()
        if woken:
            self._event = trio.Event()
        return woken


ToReply = Callable[[dict[str, Any]], Any]


def _answer_from(done: Waiter, to_reply: ToReply, answer: Answer) -> None:
    """A finished read or proposal's outcome as the client's reply (errors of the runtime,
    such as a lost leadership, are replies too)."""
    error = done.error
    if error is None:
        try:
            reply = to_reply(done.value)
        except Exception as exc:
            # A result the conversion does not expect is a bug, but this runs inside the
            # runtime's apply callback: failing this one request keeps the node alive.
            log.exception("no reply for the result %r", done.value)
            reply = ErrorReply(ErrorCode.INTERNAL, f"the result had no reply: {exc!r}")
        answer(reply, None)
    elif isinstance(error, RuntimeErrorBase):
        answer(error_reply(error), None)
    else:
        answer(None, error)


class ShardRoleServer:
    def __init__(
        self,
        node: RaftNode,
        role: RoleFile,
        wall_clock: Callable[[], float] = time.time,
        connect: Callable[[trio.Nursery], ConnectionPool] | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.node = node
        self.role = role
        self._wall_clock = wall_clock  # seconds since the epoch; only stamped into entries
        # How the loops reach other groups: TCP by default; the simulator passes a pool
        # over its simulated network (eraft_trio/sim/cluster/rpc.py).
        self._connect = connect or self._tcp_pool
        self._chunk_bytes = chunk_bytes  # the simulator's are tiny: every pull is many chunks
        self.pool: ConnectionPool | None = None
        self._groups: dict[tuple[str, ...], GroupCaller] = {}
        self._pulling: set[int] = set()
        self._bucket_slots = trio.CapacityLimiter(BUCKETS_IN_FLIGHT)
        self._progress: dict[int, PullProgress] = {}  # bucket -> this leader's pull of it
        self._pulls_wakeup = Wakeup()
        self._gc_wakeup = Wakeup()
        self._watches = WatchServer(node)
        self._stats = {
            "gets": 0,
            "puts": 0,
            "deletes": 0,
            "scans": 0,
            "chunks_installed": 0,
            "bytes_installed": 0,
            "buckets_dropped": 0,
            "sessions_expired": 0,
            "leases_expired": 0,
            "lease_keys_expired": 0,
            "txns": 0,
        }
        self._nbuckets = 0  # the cluster's bucket count, fixed once a config has it

    # --- client requests ----------------------------------------------------------------

    async def handle(self, peer: PeerInfo, body: Any) -> Any:
        if isinstance(body, KvGet | KvPut | KvDelete | KvGetVersioned | KvTxn | LEASE_REQUESTS):
            done = Waiter()
            self.start(
                peer, body, lambda value, error: done.fail(error) if error else done.set(value)
            )
            return await done.wait()
        try:
            if isinstance(body, WatchRequest):
                return await self._watches.serve(body)
            if isinstance(body, FetchBucket):
                query = (
                    "fetch",
                    body.config_num,
                    body.bucket,
                    body.after_key,
                    body.max_bytes,
                    body.with_events,
                )
                return replies.to_bucket_chunk(await self.node.read(query))
            if isinstance(body, KvScan):
                return await self._scan(body)
            if isinstance(body, DropBucket):
                drop = commands.DropBucket(body.config_num, body.bucket)
                return replies.to_dropped(await self.node.propose(commands.encode_command(drop)))
        except RuntimeErrorBase as exc:
            return error_reply(exc)
        return ErrorReply(
            ErrorCode.BAD_REQUEST, f"a shard group does not serve {type(body).__name__}"
        )

    async def _scan(self, body: KvScan) -> ScanPage | ErrorReply:
        """A page of the buckets asked for, read after a read barrier (scan.py)."""
        refusal = scan.request_refusal(body)
        if refusal is not None:
            if not self.node.is_leader:
                raise NotLeaderError(self.node.leader_address)  # only the leader refuses
            return refusal
        self._stats["scans"] += 1
        return scan.to_scan_page(await self.node.read(scan.query_of(body)))

    def _now_ms(self) -> int:
        return int(self._wall_clock() * 1000)

    def start(self, peer: PeerInfo, body: Any, answer: Answer) -> bool:
        """Start a get, put or delete without a task (the transport's fast path): queue
        its read or proposal and answer once it is done; False for anything else."""
        try:
            started = self._start(body)
        except RuntimeErrorBase as exc:
            answer(error_reply(exc), None)
            return True
        if started is None:
            return False
        if isinstance(started, ErrorReply):
            answer(started, None)  # refused before it cost a log entry
        else:
            waiter, to_reply = started
            waiter.add_done_callback(lambda done: _answer_from(done, to_reply, answer))
        return True

    def _start(self, body: Any) -> tuple[Waiter, ToReply] | ErrorReply | None:
        """The read or proposal of a key request with what makes its result a reply, its
        refusal, or None for other requests."""
        if isinstance(body, KvGet):
            self._stats["gets"] += 1
            return self._oversize(body.key, None) or (
                self.node.start_read(("get", body.key)),
                replies.to_value,
            )
        if isinstance(body, KvPut):
            self._stats["puts"] += 1
            condition = self._condition(body)
            if isinstance(condition, ErrorReply):
                return condition
            command = commands.Put(
                body.client_id,
                body.seq,
                body.key,
                body.value,
                self._now_ms(),
                body.new_session,
                condition,
            )
            return (
                self._oversize(body.key, body.value)
                or self._oversize(body.key, body.if_value)
                or (self.node.start_proposal(commands.encode_command(command)), replies.to_written)
            )
        if isinstance(body, KvDelete):
            self._stats["deletes"] += 1
            condition = self._condition(body)
            if isinstance(condition, ErrorReply):
                return condition
            command_d = commands.Delete(
                body.client_id, body.seq, body.key, self._now_ms(), body.new_session, condition
            )
            return self._oversize(body.key, body.if_value) or (
                self.node.start_proposal(commands.encode_command(command_d)),
                replies.to_written,
            )
        if isinstance(body, KvTxn):
            self._stats["txns"] += 1
            return self._start_txn(body)
        if isinstance(body, KvGetVersioned):
            self._stats["gets"] += 1
            return self._oversize(body.key, None) or (
                self.node.start_read(("get_versioned", body.key)),
                replies.to_versioned_value,
            )
        if isinstance(body, LEASE_REQUESTS):
            return start_lease_request(self.node, body, self._now_ms(), self.role.max_value_bytes)
        return None

    def _start_txn(self, body: KvTxn) -> tuple[Waiter, ToReply] | ErrorReply:
        """Propose a txn, or refuse it (leader only) before it costs a log entry."""
        if not self._nbuckets:
            # Only for refusing early: with no count yet (tables mid-restore), the state
            # machine still refuses a txn across buckets, after logging it.
            with contextlib.suppress(Exception):
                self._nbuckets = len(self.node.read_local(("config",))["buckets"])
        command = txn_command(body, self.role.max_value_bytes, self._nbuckets, self._now_ms())
        if isinstance(command, ErrorReply):
            if not self.node.is_leader:
                raise NotLeaderError(self.node.leader_address)
            return command
        return self.node.start_proposal(commands.encode_command(command)), to_txn_done

    def _condition(self, body: KvPut | KvDelete) -> commands.Condition | None | ErrorReply:
        """The write's comparison, or its bad_request refusal (only the leader refuses)."""
        if body.if_version is None and body.if_value is None:
            return None  # the plain write: nothing to check
        condition = conditions.from_request(body.if_version, body.if_value)
        if isinstance(condition, ErrorReply) and not self.node.is_leader:
            raise NotLeaderError(self.node.leader_address)
        return condition

    def _oversize(self, key: bytes, value: bytes | None) -> ErrorReply | None:
        """The refusal of a request over the size limits, before it costs a log entry."""
        refusal = request_refusal(key, value, self.role.max_value_bytes)
        if refusal is not None and not self.node.is_leader:
            # Clients take the node that answers for the leader: only the leader refuses.
            raise NotLeaderError(self.node.leader_address)
        return refusal

    # --- the leader's loops ---------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.pool = self._connect(nursery)
            config_client = ConfigClient(self.pool, self.role.config_servers, timeout=5.0)
            nursery.start_soon(self._config_loop, config_client)
            nursery.start_soon(self._pull_loop, nursery)
            nursery.start_soon(self._gc_loop)
            nursery.start_soon(self._expiry_loop)
            nursery.start_soon(run_lease_clock, self.node, self._now_ms, self._stats)
            task_status.started()

    def _tcp_pool(self, nursery: trio.Nursery) -> ConnectionPool:
        return ConnectionPool(
            nursery, self.role.cluster, self.role.host, security=security_of(self.role)
        )

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
                    self._pulls_wakeup.set()
            except (EraftError, RuntimeErrorBase) as exc:
                log.debug("config poll: %s", exc)

    async def _pull_loop(self, nursery: trio.Nursery) -> None:
        while True:
            woken = await self._pulls_wakeup.wait(MIGRATION_POLL_SECONDS)
            if not self.node.is_leader:
                self._progress.clear()
                continue
            try:
                pulls = await self._pending(("pulls",), woken, self._pulling)
            except RuntimeErrorBase as exc:
                log.debug("pull poll: %s", exc)
                continue
            for pull in pulls:
                self._pulling.add(pull["bucket"])
                nursery.start_soon(self._pull_bucket, pull)

    async def _pending(
        self, query: tuple[str], woken: bool, claimed: Collection[int] = ()
    ) -> list[dict[str, Any]]:
        """The `pulls` or `gcs` entries whose bucket is not `claimed`, from committed state.

        The local read is only the cheap "anything to do?" test, since it may trail
        what this leader was already answered (a proposer hears before the state
        commits): the entries acted on come from a linearizable read, which holds every
        install and GC notice applied so far, so a bucket just finished is not pulled again.
        """
        if not woken and all(e["bucket"] in claimed for e in self.node.read_local(query)):
            return []
        entries: list[dict[str, Any]] = await self.node.read(query)
        return [e for e in entries if e["bucket"] not in claimed]

    async def _pull_bucket(self, pull: dict[str, Any]) -> None:
        """Stream one bucket into the log (at most BUCKETS_IN_FLIGHT at once)."""
        bucket = pull["bucket"]
        try:
            async with self._bucket_slots:
                progress = self._progress.setdefault(
                    bucket, PullProgress(bucket, pull["num"], pull["gid"], trio.current_time())
                )
                group = self._group(tuple(pull["addresses"]))

                async def fetch(request: FetchBucket) -> BucketChunk | ErrorReply:
                    reply = await group.call(request, Deadline(PEER_CALL_TIMEOUT))
                    if not isinstance(reply, BucketChunk | ErrorReply):
                        raise ServerError(f"a fetch answered {type(reply).__name__}")
                    return reply

                def begin_install(chunk: commands.InstallChunk) -> Callable[[], Awaitable[bool]]:
                    return self._begin_install(chunk, progress)

                await stream_bucket(pull, self._chunk_bytes, fetch, begin_install)
        except* (EraftError, RuntimeErrorBase) as group_error:
            log.debug("pull of bucket %d: %s", bucket, group_error.exceptions)
        finally:
            self._pulling.discard(bucket)

    def _begin_install(
        self, chunk: commands.InstallChunk, progress: PullProgress
    ) -> Callable[[], Awaitable[bool]]:
        """Propose one chunk now, stamped with our clock (it moves the group's, and a
        moved lease's TTL starts from it); the function returned waits for its answer."""
        chunk = dataclasses.replace(chunk, stamp_ms=self._now_ms())
        proposal = self.node.start_proposal(commands.encode_command(chunk))

        async def applied() -> bool:
            return self._installed(chunk, progress, await proposal.wait())

        return applied

    def _installed(
        self, chunk: commands.InstallChunk, progress: PullProgress, reply: dict[str, Any]
    ) -> bool:
        """Whether the chunk applied (if not, the stream stops and restarts); counts it."""
        if not reply.get("applied"):
            log.debug("chunk of bucket %d not applied: %s", chunk.bucket, reply)
            return False
        self._stats["chunks_installed"] += 1
        self._stats["bytes_installed"] += progress.add(chunk)
        if chunk.done:
            self._progress.pop(chunk.bucket, None)
            self._gc_wakeup.set()
            log.info(
                "group %d installed bucket %d of config %d",
                self.role.group,
                chunk.bucket,
                chunk.config_num,
            )
        return True

    async def _gc_loop(self) -> None:
        while True:
            woken = await self._gc_wakeup.wait(MIGRATION_POLL_SECONDS)
            if not self.node.is_leader:
                continue
            try:
                notices = await self._pending(("gcs",), woken)
            except RuntimeErrorBase as exc:
                log.debug("gc poll: %s", exc)
                continue
            for gc in notices:
                try:
                    group = self._group(tuple(gc["addresses"]))
                    reply = await group.call(
                        DropBucket(gc["num"], gc["bucket"]), Deadline(PEER_CALL_TIMEOUT)
                    )
                    if type(reply) is not Dropped:
                        continue
                    done = commands.GcDone(gc["num"], gc["bucket"])
                    await self.node.propose(commands.encode_command(done))
                    self._stats["buckets_dropped"] += 1
                except (EraftError, RuntimeErrorBase) as exc:
                    log.debug("gc of bucket %d: %s", gc["bucket"], exc)

    async def _expiry_loop(self) -> None:
        while True:
            await trio.sleep(EXPIRY_POLL_SECONDS)
            if not self.node.is_leader:
                continue
            try:
                await self.expire_due_sessions()
            except (EraftError, RuntimeErrorBase) as exc:
                log.debug("session expiry: %s", exc)

    async def expire_due_sessions(self) -> int:
        """Propose expiries while the oldest session is due (each deletes a bounded batch);
        the number of sessions expired."""
        ttl_ms = self.role.session_ttl_s * 1000
        expired = 0
        clock = self.node.read_local(("session_clock",))
        # The group's clock may be ahead of ours (a previous leader's): it decides.
        if not sessions.is_due(clock["oldest_s"], max(self._now_ms(), clock["now_ms"]), ttl_ms):
            return 0
        while True:
            expiry = commands.ExpireSessions(self._now_ms(), ttl_ms)
            reply = await self.node.propose(commands.encode_command(expiry))
            expired += int(reply.get("expired", 0))
            self._stats["sessions_expired"] += int(reply.get("expired", 0))
            if not reply.get("more"):
                break
        if expired:
            log.info("group %d expired %d idle client sessions", self.role.group, expired)
        return expired

    def _group(self, addresses: tuple[str, ...]) -> GroupCaller:
        assert self.pool is not None
        group = self._groups.get(addresses)
        if group is None:
            group = self._groups[addresses] = GroupCaller(self.pool, addresses)
        return group

    def statistics(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"role": "shard", **self._stats}
        stats["watches_open"] = self._watches.open
        stats["watches_served"] = self._watches.served
        now = trio.current_time()
        stats["pulls"] = [p.to_json(now) for _, p in sorted(self._progress.items())]
        # Status must render even when the tables are mid-restore.
        with contextlib.suppress(Exception):
            stats["shard"] = self.node.read_local(("status",))
        return stats
