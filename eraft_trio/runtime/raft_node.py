"""RaftNode: runs one node's Raft core over LMDB storage and the TCP transport.

One trio task (the ready loop) owns the core's output: for each Ready it sends the
leader's messages at once, hands the committed entries to the apply pipeline,
appends the new entries and hard state to the write-ahead log (one fdatasync) on the
log thread, then sends the messages that needed that write and advances the core.
Everything that arrives while a write is in flight (peer messages, proposals, reads)
is stepped into the core and goes into the next Ready: that is the group commit.

The apply pipeline (one task and the state thread) applies committed entries in
order, each batch in one transaction of the state's LMDB environment, while the ready
loop already persists the next entries: applying never delays an append. Proposers are
answered from inside the apply; reads are served once the state holds their index.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, TypeVar

import trio

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.node import SnapshotChunk
from eraft_trio.protocol.replies import DONE, Done
from eraft_trio.raft.confchange import ConfChange
from eraft_trio.raft.config import RaftConfig
from eraft_trio.raft.core import RaftCore
from eraft_trio.raft.errors import NotLeader
from eraft_trio.raft.membership import Membership
from eraft_trio.raft.types import (
    AppendEntries,
    AppendResponse,
    Entry,
    EntryKind,
    InstallSnapshot,
    Message,
    Ready,
    Role,
    SnapshotMeta,
)
from eraft_trio.runtime.errors import NotLeaderError, ProposalDropped
from eraft_trio.runtime.executors import Executor, Executors
from eraft_trio.runtime.snapshot_receiver import SnapshotReceiver
from eraft_trio.runtime.state_machine import StateMachine
from eraft_trio.runtime.waiter import Waiter
from eraft_trio.storage.buffered_view import BufferedView
from eraft_trio.storage.errors import StorageFullError
from eraft_trio.storage.log_write import LogWrite
from eraft_trio.storage.node_store import NodeStore
from eraft_trio.storage.view import TableView
from eraft_trio.transport.stage_trace import stage

log = logging.getLogger(__name__)

T = TypeVar("T")

SNAPSHOT_CHUNK_BYTES = 1 << 20
APPLY_QUEUE_LENGTH = 64
# Bounds of one apply transaction made of queued batches: a commit that has to wait
# does not make every later batch wait for a commit of its own.
MERGED_APPLY_ENTRIES = 4096
MERGED_APPLY_BYTES = 16 << 20


@dataclass(frozen=True)
class Applies:
    """Committed entries for the apply pipeline, with the group's membership at the last
    of them (recorded with the applied position: a snapshot of the tables carries it)."""

    entries: list[Entry]
    membership: Membership | None


# A job of the apply pipeline: committed entries, or a snapshot to install (with the
# event its installer waits on).
StateJob: TypeAlias = "Applies | tuple[SnapshotMeta, trio.Event]"


@dataclass(frozen=True)
class NodeSettings:
    """What a RaftNode needs to know beyond its core's RaftConfig."""

    raft: RaftConfig
    peers: tuple[str, ...]  # address of every node of the group, by node id
    # A joining node (raft.join) knows no `peers`: the addresses of the members it
    # learned before starting (its own included), until its log tells it the membership.
    join_addresses: tuple[tuple[int, str], ...] = ()
    tick_seconds: float = 0.01
    snapshot_entries: int = 10000
    snapshot_bytes: int = 32 << 20
    # Smaller only (cli/node_limits.py sizes the transport's frames by the default).
    snapshot_chunk_bytes: int = SNAPSHOT_CHUNK_BYTES


class PeerLink(Protocol):
    """How the node reaches its peers: one-way Raft messages, and snapshot chunks."""

    def send(self, peer: int, message: Message) -> bool: ...

    def is_connected(self, peer: int) -> bool: ...

    def heard_from(self, peer: int) -> None: ...

    def set_peers(self, addresses: Mapping[int, str]) -> None:
        """Reach exactly these peers (id -> address) from now on."""
        ...

    async def call(self, peer: int, request: Any, timeout: float) -> Any: ...


class RaftNode:
    def __init__(
        self,
        settings: NodeSettings,
        state_machine: StateMachine,
        store: NodeStore,
        link: PeerLink,
        *,
        rng: random.Random | None = None,
        executors: Executors | None = None,
    ) -> None:
        """`executors`: where the storage work runs (default: the node's own threads)."""
        self.settings = settings
        self.state_machine = state_machine
        self.store = store
        self.link = link
        loaded = store.load()
        self.core = RaftCore(
            settings.raft,
            rng or random.Random(),
            hard_state=loaded.hard_state,
            snapshot=loaded.snapshot,
            entries=loaded.entries,
            applied=loaded.applied,
        )
        self._work = trio.Event()
        self._pending_proposals: list[tuple[bytes, Waiter]] = []
        self._proposals: dict[int, tuple[int, Waiter]] = {}  # index -> (term, waiter)
        self._pending_reads: list[tuple[Any, Waiter]] = []
        self._reads_by_ctx: dict[int, list[tuple[Any, Waiter]]] = {}
        self._reads_by_index: list[tuple[int, list[tuple[Any, Waiter]]]] = []
        self._next_read_ctx = 0
        self._pending_compact: SnapshotMeta | None = None
        self._snapshot_senders: set[int] = set()
        # Numbers this node's transfers. It restarts at 0 with the process, yet (term,
        # node, number) stays unique: a restarted node leads again only in a later term.
        self._snapshot_transfers = 0
        self._executors = executors or Executors.threads(settings.raft.id)
        self._snapshot_receiver = SnapshotReceiver(store, self._executors.snapshots)
        # Chunks are taken one at a time: checking, staging and stepping one chunk must
        # not interleave with another's (a late chunk racing a new transfer's first).
        self._snapshot_chunk_lock = trio.Lock()
        self._nursery: trio.Nursery | None = None
        self._trio_token: trio.lowlevel.TrioToken | None = None
        # Jobs of the apply pipeline, in log order: committed entries to apply, or a
        # snapshot to install (with the event its installer waits on). Bounded, so a
        # node catching up cannot run far ahead of what its state has applied.
        self._state_jobs_in, self._state_jobs_out = trio.open_memory_channel[StateJob](
            APPLY_QUEUE_LENGTH
        )
        self._state_applied = loaded.applied  # the last index the tables hold
        self._applied = trio.Event()  # set (and replaced) each time the tables move on
        # Addresses of the members the group was started with (by id), then the link
        # follows the membership the core reports (_follow_membership).
        self._bootstrap_addresses: dict[int, str] = (
            dict(settings.join_addresses) if settings.raft.join else dict(enumerate(settings.peers))
        )
        self._linked_membership = self.core.membership
        self._handling_ready = False  # a Ready's writes are under way
        self._ready_handled = trio.Event()  # set (and renewed) after every Ready
        self._stats = {
            "proposals": 0,
            "applied_commands": 0,
            "apply_batches": 0,
            "reads": 0,
            "ready_batches": 0,
            "snapshots_sent": 0,
            "snapshots_installed": 0,
            "storage_full_errors": 0,
        }

    # ------------------------------------------------------------------------------------
    # Running
    # ------------------------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self._trio_token = trio.lowlevel.current_trio_token()
        self.link.set_peers(self._peer_addresses())  # a restart may hold a changed membership
        self._executors.start()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._tick_loop)
                nursery.start_soon(self._apply_loop)
                nursery.start_soon(self._ready_loop)
                task_status.started()
        finally:
            self._executors.stop()

    def _kick(self) -> None:
        self._work.set()

    def kick(self) -> None:
        """Have the ready loop look at the core (after changing it from outside)."""
        self._work.set()

    async def wait_ready_handled(self) -> None:
        """Wait until the ready loop has handled one more Ready."""
        await self._ready_handled.wait()

    async def _tick_loop(self) -> None:
        while True:
            await trio.sleep(self.settings.tick_seconds)
            slow_disk_step_downs = self.core.elections["slow-disk"]
            self.core.tick()
            if self.core.elections["slow-disk"] != slow_disk_step_downs:
                log.warning(
                    "stepped down as leader: our own log write has taken an election timeout "
                    "(a slow or stuck disk); a healthy follower is asked to take over"
                )
            if self._handling_ready:
                # The ready loop waits on a write: what may leave before any write
                # (heartbeats, appends, a slow-disk step-down's TimeoutNow) goes now.
                self._send_all(self.core.take_messages())
            self._kick()

    async def _ready_loop(self) -> None:
        while True:
            await self._work.wait()
            self._work = trio.Event()
            self._flush_proposals()
            self._flush_reads()
            while self.core.has_ready():
                self._handling_ready = True
                try:
                    await self._handle_ready(self.core.ready())
                finally:
                    self._handling_ready = False
                self._ready_handled.set()
                self._ready_handled = trio.Event()
                self._flush_proposals()
                self._flush_reads()

    async def _handle_ready(self, rd: Ready) -> None:
        self._stats["ready_batches"] += 1
        self._send_all(rd.messages)
        if rd.snapshot is not None:
            # Through the pipeline, after every apply queued before it; the log is
            # reset only once the state holds the snapshot (load() relies on that).
            installed = trio.Event()
            await self._queue_state_job((rd.snapshot, installed))
            self.core.set_waiting_on_apply(True)
            try:
                await installed.wait()
            finally:
                self.core.set_waiting_on_apply(False)
        if rd.committed:
            stage("commit", rd.committed[-1].index)
            # Already durable here (the core hands out only stable entries), so they
            # are applied while this Ready's own write runs: a new commit index in
            # the hard state need not be on disk before its entries apply.
            membership = self.core.membership_at(rd.committed[-1].index)
            await self._queue_state_job(Applies(rd.committed, membership))
        write = LogWrite(rd.snapshot, rd.entries, rd.hard_state, self._pending_compact)
        if not write.empty:
            if rd.entries:
                stage("append_start", rd.entries[-1].index)
            await self._durably(self._executors.log, self.store.write_log, write)
            if rd.entries:
                stage("append_done", rd.entries[-1].index)
            if write.compact_to is not None:
                self._pending_compact = None
        self._send_all(rd.persisted_messages)
        for read_state in rd.read_states:
            waiting = self._reads_by_ctx.pop(read_state.ctx, None)
            if waiting:
                stage("read_confirmed", read_state.index)
                self._reads_by_index.append((read_state.index, waiting))
        if rd.soft_state is not None:
            self._on_soft_state_change(rd.soft_state.role)
        self.core.advance(rd)
        self._follow_membership()
        self._serve_reads()
        self._maybe_compact()

    async def _queue_state_job(self, job: StateJob) -> None:
        """Queue an apply or install; while the queue is full the state machine is
        behind, which is no reason for a leader to step down as if its disk were slow."""
        try:
            self._state_jobs_in.send_nowait(job)
            return
        except trio.WouldBlock:
            pass
        self.core.set_waiting_on_apply(True)
        try:
            await self._state_jobs_in.send(job)
        finally:
            self.core.set_waiting_on_apply(False)

    async def _apply_loop(self) -> None:
        held: StateJob | None = None
        while True:
            if held is None:
                try:
                    job = await self._state_jobs_out.receive()
                except trio.EndOfChannel:
                    return
            else:
                job, held = held, None
            if isinstance(job, tuple):
                meta, installed = job
                await self._durably(self._executors.state, self.store.install_snapshot, meta)
                # Counted with `state_applied`, in the same step: a status that shows the
                # state at the snapshot's index also counts the install (the core's
                # `applied` moves when the snapshot is handed out, before it is installed).
                self._state_applied = meta.index
                self._stats["snapshots_installed"] += 1
                installed.set()
            else:
                job, held = self._merge_queued_applies(job)
                last = job.entries[-1]
                apply = self._apply_function(job.entries)
                await self._durably(
                    self._executors.state,
                    self.store.apply,
                    apply,
                    last.index,
                    last.term,
                    job.membership,
                )
                self._state_applied = last.index
                self._stats["applied_commands"] += len(job.entries)
                self._stats["apply_batches"] += 1
            self._serve_reads()
            self._applied.set()  # wake whoever waits for new state (watches)
            self._applied = trio.Event()

    def _merge_queued_applies(self, job: Applies) -> tuple[Applies, StateJob | None]:
        """Committed entries that queued up behind a slow state commit go into one
        transaction (one flush) with these, up to a bound; a snapshot job ends the merge
        and is handed back to run next."""
        entries, membership = job.entries, job.membership
        size = sum(len(e.data) for e in entries)
        while len(entries) < MERGED_APPLY_ENTRIES and size < MERGED_APPLY_BYTES:
            try:
                more = self._state_jobs_out.receive_nowait()
            except trio.WouldBlock:
                break
            if isinstance(more, tuple):
                return Applies(entries, membership), more
            entries = entries + more.entries
            membership = more.membership
            size += sum(len(e.data) for e in more.entries)
        return Applies(entries, membership), None

    async def _durably(self, thread: Executor, write: Callable[..., T], *args: Any) -> T:
        """Run a write; on a full disk keep retrying it until space returns.

        Nothing of a failed write is stored, and the core (or the apply pipeline) waits
        for it, so nothing is acknowledged meanwhile: clients time out, and the node
        resumes by itself once the write succeeds. Any other storage failure stops the node.
        """
        delay = 0.1
        while True:
            try:
                return await thread.run(write, *args)
            except StorageFullError as exc:
                self._stats["storage_full_errors"] += 1
                log.error("storage full, writes paused (retrying in %.1fs): %s", delay, exc)
            await trio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _apply_function(self, committed: list[Entry]) -> Callable[[TableView], list[Any]]:
        machine = self.state_machine

        token = self._trio_token

        def apply(view: TableView) -> list[Any]:
            # Each row read once per batch, the rows written together at the end.
            batch = BufferedView(view)
            replies = [
                machine.apply(batch, e.index, e.data)
                if e.kind == EntryKind.NORMAL and e.data
                else None
                for e in committed
            ]
            batch.write_back()
            # These entries are already durable on a majority, so their outcome is
            # decided and the replies are deterministic: answer proposers now, while
            # this transaction's own commit runs (it only records state that replay
            # would rebuild), and only from here: an apply run again after the map
            # grew finds them answered. Reads still wait for the commit: they are
            # served from committed state only.
            assert token is not None, "applies run only inside run()"
            token.run_sync_soon(self._answer_proposers, committed, replies)
            return replies

        return apply

    def _answer_proposers(self, committed: list[Entry], replies: list[Any]) -> None:
        stage("applied", committed[-1].index)
        for entry, reply in zip(committed, replies, strict=True):
            found = self._proposals.pop(entry.index, None)
            if found is None:
                continue
            term, waiter = found
            if term == entry.term:
                waiter.set(reply)
            else:
                waiter.fail(ProposalDropped("another leader's entry took this log position"))

    def _send_all(self, messages: list[Message]) -> None:
        for m in messages:
            if isinstance(m, InstallSnapshot):
                self._start_snapshot_transfer(m)
                continue
            self.link.send(m.dst, m)
            if isinstance(m, AppendEntries) and m.entries:
                stage("send_append", m.entries[-1].index)
            elif isinstance(m, AppendResponse):
                stage("send_ack", m.dst)
            if isinstance(m, AppendEntries) and not self.link.is_connected(m.dst):
                # As etcd's ReportUnreachable: stop streaming entries into a queue that
                # may never drain; probe with one at a time until the peer answers.
                self.core.report_unreachable(m.dst)

    # ------------------------------------------------------------------------------------
    # Proposals and reads
    # ------------------------------------------------------------------------------------

    async def propose(self, command: bytes) -> Any:
        """Replicate `command`, wait for it to apply; return the state machine's reply."""
        return await self.start_proposal(command).wait()

    def start_proposal(self, command: bytes) -> Waiter:
        """Queue `command` for the log now, behind every proposal started before it (so
        several can be in flight in a known order); its Waiter gives the reply."""
        if self.core.role is not Role.LEADER:
            raise NotLeaderError(self.leader_address)
        waiter = Waiter()
        self._pending_proposals.append((command, waiter))
        self._stats["proposals"] += 1
        self._kick()
        return waiter

    async def read(self, query: Any) -> Any:
        """A linearizable read: confirm leadership (ReadIndex), wait for apply, then read."""
        return await self.start_read(query).wait()

    def start_read(self, query: Any) -> Waiter:
        """Queue a linearizable read now; its Waiter gives the answer."""
        if self.core.role is not Role.LEADER:
            raise NotLeaderError(self.leader_address)
        waiter = Waiter()
        self._pending_reads.append((query, waiter))
        self._stats["reads"] += 1
        self._kick()
        return waiter

    async def wait_applied(self) -> None:
        """Return once the tables move on (an apply batch committed, a snapshot installed):
        what a long-polling reader waits on instead of polling a sleep."""
        await self._applied.wait()

    def read_local(self, query: Any) -> Any:
        """Read this node's applied state without confirming anything (not linearizable)."""
        with self.store.read_view() as view:
            return self.state_machine.read(view, query)

    def _flush_proposals(self) -> None:
        if not self._pending_proposals:
            return
        pending, self._pending_proposals = self._pending_proposals, []
        try:
            first, term = self.core.propose([command for command, _ in pending])
        except NotLeader as exc:
            error = NotLeaderError(self._address_of(exc.leader))
            for _, waiter in pending:
                waiter.fail(error)
            return
        for offset, (_, waiter) in enumerate(pending):
            self._proposals[first + offset] = (term, waiter)
        stage("propose", first + len(pending) - 1)

    def _flush_reads(self) -> None:
        # One ReadIndex round at a time: reads arriving meanwhile share the next round,
        # so under load one heartbeat per follower confirms a large batch (a round
        # that loses its heartbeats is confirmed by the next regular one).
        if not self._pending_reads or self._reads_by_ctx:
            return
        pending, self._pending_reads = self._pending_reads, []
        self._next_read_ctx += 1
        ctx = self._next_read_ctx
        try:
            self.core.read_index(ctx)
        except NotLeader as exc:
            error = NotLeaderError(self._address_of(exc.leader))
            for _, waiter in pending:
                waiter.fail(error)
            return
        self._reads_by_ctx[ctx] = pending
        stage("read_index", len(pending))

    def _serve_reads(self) -> None:
        if not self._reads_by_index:
            return
        applied = self._state_applied
        ready = [batch for index, batch in self._reads_by_index if index <= applied]
        if not ready:
            return
        self._reads_by_index = [(i, b) for i, b in self._reads_by_index if i > applied]
        stage("read_served", applied)
        with self.store.read_view() as view:
            for batch in ready:
                for query, waiter in batch:
                    try:
                        waiter.set(self.state_machine.read(view, query))
                    except Exception as exc:  # a bad query must not stop the loop
                        waiter.fail(exc)

    def _on_soft_state_change(self, role: Role) -> None:
        if role is Role.LEADER:
            return
        # Whatever we were waiting on as leader may still commit under the next leader,
        # or not: the outcome is unknown, and retrying with the same session is safe.
        error = ProposalDropped("leadership changed; outcome unknown, retry")
        for _, waiter in self._proposals.values():
            waiter.fail(error)
        self._proposals.clear()
        not_leader = NotLeaderError(self.leader_address)
        for batch in list(self._reads_by_ctx.values()) + [b for _, b in self._reads_by_index]:
            for _, waiter in batch:
                waiter.fail(not_leader)
        self._reads_by_ctx.clear()
        self._reads_by_index.clear()

    # ------------------------------------------------------------------------------------
    # Compaction and snapshots
    # ------------------------------------------------------------------------------------

    def _maybe_compact(self) -> None:
        core = self.core
        target = core.log.compaction_point(
            self.settings.snapshot_entries, self.settings.snapshot_bytes
        )
        # The log may only drop what the tables hold.
        target = min(target or 0, self._state_applied)
        if target > core.snapshot.index:
            core.compact(target)
            self._pending_compact = core.snapshot

    def _start_snapshot_transfer(self, m: InstallSnapshot) -> None:
        if m.dst in self._snapshot_senders or self._nursery is None:
            return
        self._snapshot_senders.add(m.dst)
        self._nursery.start_soon(self._send_snapshot, m)

    async def _send_snapshot(self, m: InstallSnapshot) -> None:
        ok = False
        self._snapshot_transfers += 1
        transfer = self._snapshot_transfers
        try:
            reader = await self._executors.snapshots.run(
                self.store.open_snapshot, self.settings.snapshot_chunk_bytes
            )
            try:
                meta = reader.meta
                seq = 0
                while True:
                    chunk = await self._executors.snapshots.run(reader.next_chunk)
                    done = chunk is None
                    request = SnapshotChunk(
                        term=m.term,
                        src=m.src,
                        dst=m.dst,
                        meta=meta,
                        transfer=transfer,
                        seq=seq,
                        data=chunk or b"",
                        done=done,
                        rows=reader.rows_read,
                        checksum=reader.checksum,
                    )
                    reply = await self.link.call(m.dst, request, timeout=30.0)
                    if type(reply) is not Done:
                        # The follower has dropped this transfer: the core retries later.
                        raise RuntimeError(f"peer refused snapshot chunk: {reply!r}")
                    seq += 1
                    if done:
                        break
            finally:
                reader.close()
            ok = True
            self._stats["snapshots_sent"] += 1
            log.info("sent snapshot at %d to node %d in %d chunks", meta.index, m.dst, seq)
        except Exception as exc:
            log.warning("snapshot to node %d failed: %s", m.dst, exc)
        finally:
            self._snapshot_senders.discard(m.dst)
            self.core.report_snapshot(m.dst, ok)
            self._kick()

    async def receive_snapshot_chunk(self, chunk: SnapshotChunk) -> Done | ErrorReply:
        """Stage one chunk of a leader's snapshot; once a transfer is complete and
        verified, hand it to the core. Answers Done, or why the chunk was refused."""
        async with self._snapshot_chunk_lock:
            if chunk.term < self.core.term:
                return ErrorReply(ErrorCode.STALE)
            if self.core.log.pending_snapshot is not None:
                # The previous snapshot is still being installed.
                return ErrorReply(ErrorCode.BUSY)
            refusal = await self._snapshot_receiver.receive(chunk)
            if refusal is not None:
                return ErrorReply(refusal)
            if chunk.done:
                self.core.step(InstallSnapshot(chunk.term, chunk.src, chunk.dst, chunk.meta))
                self._kick()
            return DONE

    # ------------------------------------------------------------------------------------
    # Membership
    # ------------------------------------------------------------------------------------

    def addresses(self) -> dict[int, str]:
        """The address of every member of the membership in force, by id (this node's too,
        when known): the membership's own addresses over those the group started with."""
        membership = self.core.membership
        known = {**self._bootstrap_addresses, **membership.address_map()}
        # A joining node has no membership yet: it answers whoever it was told of.
        members = membership.members or frozenset(known)
        return {node: known[node] for node in sorted(members) if node in known}

    def members(self) -> list[dict[str, Any]]:
        """Each member: id, address, "voter" or "learner", and whether it leads (as seen
        from here); a joint membership's outgoing voters are voters until it is left."""
        membership = self.core.membership
        addresses = self.addresses()
        return [
            {
                "id": node,
                "addr": addresses.get(node),
                "role": "voter" if node in membership.all_voters else "learner",
                "leader": node == self.core.leader,
            }
            for node in sorted(membership.members)
        ]

    def learn_addresses(self, addresses: Mapping[int, str]) -> None:
        """A joining node that knows no member yet (restarted before its leader reached
        it) is told their addresses, to answer its leader."""
        self._bootstrap_addresses.update(addresses)
        self.link.set_peers(self._peer_addresses())

    def knows(self, node: int) -> bool:
        """Whether `node` may send this node Raft messages: a member of the membership in
        force, or, until this node has a membership of its own (it is joining), anyone
        of its group (the leader that is adding it)."""
        return node in self.core.membership.members or not self.core.membership.voters

    def next_member_id(self) -> int:
        """An id for a new member: one past every id of the membership and of the nodes the
        group was started with. The highest id, once removed, may be given again (see
        docs/divergence.md, "Membership")."""
        used = set(self.core.membership.members) | set(self._bootstrap_addresses)
        return max(used, default=-1) + 1

    def match_index(self, node: int) -> int | None:
        """As leader, the last index `node` is known to hold; None if it is not followed."""
        return self.core.progress_match(node)

    async def change_membership(
        self,
        changes: Sequence[ConfChange],
        *,
        addresses: Mapping[int, str] | None = None,
        joint: bool | None = None,
    ) -> int:
        """Propose a membership change (confchange.py) and wait until it applies; return
        its index. `addresses` adds (or moves) members' addresses. Raises
        MembershipError for a change that cannot be made now, NotLeaderError, or
        ProposalDropped when leadership changed meanwhile (outcome unknown)."""
        if self.core.role is not Role.LEADER:
            raise NotLeaderError(self.leader_address)
        known = {**self.addresses(), **(addresses or {})}
        try:
            index, term = self.core.propose_conf_change(changes, joint=joint, addresses=known)
        except NotLeader as exc:
            raise NotLeaderError(self._address_of(exc.leader)) from exc
        waiter = Waiter()
        self._proposals[index] = (term, waiter)
        self._follow_membership()  # in force on the leader from now on
        self._kick()
        await waiter.wait()
        return index

    def _peer_addresses(self) -> dict[int, str]:
        return {n: a for n, a in self.addresses().items() if n != self.core.id}

    def _follow_membership(self) -> None:
        """Reach the members the core reports, no others; called whenever it may change."""
        membership = self.core.membership
        if membership is self._linked_membership:
            return
        if membership != self._linked_membership:
            log.info("membership: %s", membership.describe())
            self.link.set_peers(self._peer_addresses())
        self._linked_membership = membership

    # ------------------------------------------------------------------------------------
    # Messages and status
    # ------------------------------------------------------------------------------------

    def step(self, message: Message) -> None:
        """A Raft message arrived from a peer."""
        if isinstance(message, InstallSnapshot):
            return  # only ever stepped by receive_snapshot_chunk, once the data is staged
        self.link.heard_from(message.src)
        if type(message) is AppendEntries and message.entries:
            stage("follower_receive", message.entries[-1].index)
        elif type(message) is AppendResponse:
            stage("ack_received", message.src)
        self.core.step(message)
        self._kick()

    def set_drained(self, drained: bool) -> None:
        """Drain (or undrain) this node: see RaftCore.set_drained. Not persisted: a
        restarted node campaigns again (docs/operations.md, "Maintenance")."""
        if drained != self.core.drained:
            log.info(
                "%s",
                "drained: handing leadership off, not campaigning"
                if drained
                else "undrained: may campaign again",
            )
        self.core.set_drained(drained)
        self._kick()

    def reaches_a_peer(self) -> bool:
        """Whether any other member is connected now (a leader can hand off to it)."""
        return any(
            self.link.is_connected(peer) for peer in self.core.membership.members - {self.core.id}
        )

    async def hand_off_leadership(self) -> str | None:
        """Drain, and if leading, wait until another node leads (its address); None when
        this node did not lead, or every peer went away meanwhile. The caller bounds the
        wait (a lone node never hands off)."""
        self.set_drained(True)
        if self.core.role is not Role.LEADER:
            return None
        while self.core.leader in (None, self.core.id):
            if not self.reaches_a_peer():
                return None  # they are all gone (a whole cluster stopping): nobody to wait for
            await self._ready_handled.wait()
        return self.leader_address

    def transfer_leadership(self, target: int) -> None:
        try:
            self.core.transfer_leadership(target)
        except NotLeader as exc:
            raise NotLeaderError(self._address_of(exc.leader)) from exc
        self._kick()

    @property
    def is_leader(self) -> bool:
        return self.core.role is Role.LEADER

    @property
    def leader_address(self) -> str | None:
        return self._address_of(self.core.leader)

    def _address_of(self, node: int | None) -> str | None:
        if node is None:
            return None
        return self.addresses().get(node)

    def statistics(self) -> dict[str, Any]:
        status = self.core.status()
        status["leader_address"] = self.leader_address
        status["peers"] = [addr for _, addr in sorted(self.addresses().items())]
        status["members"] = self.members()
        status["log_length"] = status["last_index"] - status["snapshot_index"]
        status["state_applied"] = self._state_applied  # `applied` is the core's: handed out
        status.update(self._stats)
        status["pending_proposals"] = len(self._proposals) + len(self._pending_proposals)
        return status
