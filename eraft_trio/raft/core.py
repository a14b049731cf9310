"""RaftCore: the consensus algorithm as a pure, deterministic state machine.

Inputs are `tick()`, `step(message)`, `propose(...)`, `read_index(...)` and a few
reports from the driver; the output is a `Ready` batch (entries and hard state to
persist, messages to send, entries to apply, read states), acknowledged by
`advance(ready)`. Nothing here does I/O or reads a clock; randomness comes from the
`random.Random` the caller passes in, so a seed replays a run exactly.

Section numbers cite the Raft paper (§) or Ongaro's thesis ("thesis §").
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from typing import Any

from eraft_trio.raft.conf_history import ConfHistory
from eraft_trio.raft.confchange import ConfChange, change_membership, leave_joint
from eraft_trio.raft.config import RaftConfig
from eraft_trio.raft.errors import NotLeader
from eraft_trio.raft.log import RaftLog
from eraft_trio.raft.membership import Membership, MembershipError
from eraft_trio.raft.progress import Progress, ProgressState
from eraft_trio.raft.quorum import JointConfig, VoteResult
from eraft_trio.raft.types import (
    AppendEntries,
    AppendResponse,
    Entry,
    EntryKind,
    HardState,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    Message,
    ReadState,
    Ready,
    RequestVote,
    Role,
    SnapshotMeta,
    SnapshotResponse,
    SoftState,
    TimeoutNow,
    VoteResponse,
)

# Why an election (or a leader's step-down) happened; counted in `elections` (status).
# "pre-vote": the election timer fired and a pre-vote round began (a node that counts
# many of these and no "timeout" cannot reach a majority); "timeout": a real election
# (new term) after the timer fired, past a won pre-vote or without one; "transfer": a
# real election a leader asked for (TimeoutNow); "check-quorum": as leader, stepped
# down having not heard from a majority; "slow-disk": as leader, stepped down because
# its own Ready (log write) was not done within an election timeout.
ELECTION_REASONS = ("timeout", "pre-vote", "transfer", "check-quorum", "slow-disk")

# Messages only a leader sends, in a term it already made durable when it campaigned:
# they may leave before the current Ready is persisted (thesis §10.2.1). Everything
# else a node says depends on state it must persist first (votes, acks of entries).
_SEND_BEFORE_PERSIST = (AppendEntries, Heartbeat, InstallSnapshot, TimeoutNow)


class RaftCore:
    def __init__(
        self,
        config: RaftConfig,
        rng: random.Random,
        *,
        hard_state: HardState | None = None,
        snapshot: SnapshotMeta | None = None,
        entries: Sequence[Entry] = (),
        applied: int = 0,
    ) -> None:
        hard_state = hard_state or HardState()
        self.config = config
        self.id = config.id
        self._rng = rng
        self.log = RaftLog(snapshot or SnapshotMeta(), entries, hard_state.commit, applied)
        self.term = hard_state.term
        self.vote = hard_state.vote
        self.role = Role.FOLLOWER
        self.leader: int | None = None
        # The membership in force: that of the last CONF_CHANGE entry in the log, else
        # the snapshot's, else the peers the group was started with (conf_history.py).
        self._conf = ConfHistory(Membership.of(config.peers), self.log.snapshot.membership)
        self._conf.appended(self.log, self.log.entries)
        self.membership = self._conf.current()
        # Every majority decision (commit, votes, check-quorum, reads) asks this.
        self._quorum: JointConfig = self.membership.quorum()
        # Whom a leader replicates to (voters and learners), and whom a candidate asks.
        self._others: tuple[int, ...] = ()
        self._voting_peers: tuple[int, ...] = ()
        self._progress: dict[int, Progress] = {}
        self._transfer_target: int | None = None
        self._use_membership(self.membership)

        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._randomized_timeout = 0
        self._reset_randomized_timeout()
        # The short first timeout lasts until a leader is heard from (then the usual one).
        self._first_timeout = config.first_election_ticks is not None
        if config.first_election_ticks is not None:
            self._randomized_timeout = self._rng.randint(*config.first_election_ticks)
        self._votes: dict[int, bool] = {}
        self._transfer_elapsed = 0
        self._broadcast_pending = False
        # Drained (`set_drained`): never campaign, and hand leadership off when leading.
        self.drained = False
        self.elections = dict.fromkeys(ELECTION_REASONS, 0)
        self.last_election: tuple[int, str] | None = None  # (term, reason) of our last

        # ReadIndex (thesis §6.4): reads wait for a heartbeat round started after them.
        self._read_seq = 0
        self._read_acks: dict[int, int] = {}
        self._reads: list[tuple[int, int, int]] = []  # (seq, ctx, index), seq ascending
        self._reads_before_commit: list[int] = []  # ctxs waiting for a commit in this term

        self._msgs: list[Message] = []
        self._persisted_msgs: list[Message] = []
        self._read_states: list[ReadState] = []
        self._hard_state = hard_state  # as last handed to the driver
        self._soft_state = SoftState(self.role, self.leader)
        self._outstanding: Ready | None = None
        self._outstanding_ticks = 0  # ticks since the outstanding Ready was handed out
        # The driver says the outstanding Ready waits on its own apply queue, not on the
        # disk: those ticks do not count toward the slow-write step-down.
        self._waiting_on_apply = False
        self._handoffs_refused: set[int] = set()  # this leadership's timed-out transfers

    # ------------------------------------------------------------------------------------
    # Public interface
    # ------------------------------------------------------------------------------------

    @property
    def commit(self) -> int:
        return self.log.commit

    @property
    def applied(self) -> int:
        return self.log.applied

    @property
    def first_index(self) -> int:
        return self.log.first_index

    @property
    def last_index(self) -> int:
        return self.log.last_index

    @property
    def snapshot(self) -> SnapshotMeta:
        return self.log.snapshot

    @property
    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.commit)

    def tick(self) -> None:
        if self._outstanding is not None and not self._waiting_on_apply:
            self._outstanding_ticks += 1
        if self.role is Role.LEADER:
            self._tick_leader()
        else:
            self._tick_election()

    def campaign(self) -> None:
        """Start an election now (pre-vote first, if configured); a drained node does
        not, nor does a node that is not a voter."""
        if self.role is not Role.LEADER and self._may_campaign():
            self._campaign(transfer=False, reason="timeout")

    def set_waiting_on_apply(self, waiting: bool) -> None:
        """The driver holds the outstanding Ready back because its state machine is
        behind (a full apply queue, a snapshot install), not because its log write is
        slow; a leader must not step down for a slow disk meanwhile."""
        self._waiting_on_apply = waiting

    def set_drained(self, drained: bool) -> None:
        """Drain (or undrain) this node: a drained node never campaigns, ignores
        TimeoutNow, and while it leads keeps handing leadership to its most up-to-date
        follower until one takes it. It still votes and replicates."""
        self.drained = drained
        if drained and self.role is Role.LEADER and self._transfer_target is None:
            self.hand_off()

    def hand_off(self) -> int | None:
        """As leader, transfer leadership to the most up-to-date follower (the one that
        can win soonest); the target, or None when there is nobody to hand off to."""
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        target = self._most_up_to_date_follower(exclude=self._handoffs_refused)
        if target is None and self._handoffs_refused:
            # Every voter was tried: one that refused (drained, say) may take it now.
            self._handoffs_refused = set()
            target = self._most_up_to_date_follower()
        if target is not None:
            self.transfer_leadership(target)
        return target

    def take_messages(self) -> list[Message]:
        """The messages that may leave before anything is persisted (a leader's appends,
        heartbeats, TimeoutNow), taken out of the next Ready: a driver whose write is
        stuck can still send them (it matters once a leader steps down for a slow disk)."""
        taken, self._msgs = self._msgs, []
        return taken

    def propose(self, commands: list[bytes]) -> tuple[int, int]:
        """Append commands to the leader's log; returns (index of the first, term)."""
        if self.role is not Role.LEADER or self._transfer_target is not None:
            raise NotLeader(self.leader if self.leader != self.id else None)
        first = self.log.last_index + 1
        self.log.append([Entry(self.term, first + i, data) for i, data in enumerate(commands)])
        self._broadcast_pending = True
        if self._sole_voter():
            self._maybe_commit()
        return first, self.term

    def propose_conf_change(
        self,
        changes: Sequence[ConfChange],
        *,
        joint: bool | None = None,
        addresses: dict[int, str] | None = None,
    ) -> tuple[int, int]:
        """Append a membership change; returns (its index, term). No changes on a joint
        membership leave it. Raises MembershipError for a change that cannot be made
        (confchange.py) or while the last one is not committed: one at a time (§4.1).
        `addresses` replaces the members' addresses (Membership.addresses)."""
        if self.role is not Role.LEADER or self._transfer_target is not None:
            raise NotLeader(self.leader if self.leader != self.id else None)
        if self.membership_pending:
            raise MembershipError(
                f"the membership change at index {self._conf.last_index} is not committed yet"
            )
        new = change_membership(self.membership, changes, joint=joint)  # refuses bad ones
        if not self.committed_in_term:
            # A new leader may not know yet that a change of an earlier leader is pending:
            # until an entry of its own term commits, its change could commit under a
            # membership that a rival with that other change elects a leader under too
            # (Ongaro, raft-dev 2015; etcd waits for its first entry the same way).
            raise MembershipError("no entry of this term is committed yet; try again shortly")
        if addresses is not None:
            new = new.with_addresses(addresses)
        return self._append_membership(new)

    @property
    def committed_in_term(self) -> bool:
        """Whether an entry of the current term is committed (a new leader's no-op)."""
        return self.log.term(self.log.commit) == self.term

    @property
    def membership_pending(self) -> bool:
        """Whether the last membership change in the log is not committed yet."""
        return self._conf.last_index > self.log.commit

    def membership_at(self, index: int) -> Membership | None:
        """The membership at `index` (at or after the snapshot), for the driver to record
        with a snapshot of its state machine; None while it is the one the group was
        started with."""
        if index < self.log.snapshot.index:
            raise ValueError(f"index {index} is before the snapshot {self.log.snapshot.index}")
        return self._conf.at(index)

    def progress_match(self, peer: int) -> int | None:
        """As leader, the last index `peer` is known to hold; None when not following it."""
        pr = self._progress.get(peer) if self.role is Role.LEADER else None
        return None if pr is None else pr.match

    def read_index(self, ctx: int) -> None:
        """Ask for a linearizable read point; answered as ReadState(ctx, index) in a Ready."""
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        if self.log.term(self.log.commit) != self.term:
            # Until an entry of this term commits, our commit index may lag the true one
            # (thesis §6.4 step 1): hold the read until the no-op commits.
            self._reads_before_commit.append(ctx)
            return
        self._start_read(ctx)

    def transfer_leadership(self, target: int) -> None:
        """Hand leadership to `target` once its log is current (thesis §3.10)."""
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        if target not in self._voting_peers:
            raise ValueError(f"cannot transfer leadership to {target}: not another voter")
        self._transfer_target = target
        self._transfer_elapsed = 0
        if self._progress[target].match == self.log.last_index:
            self._send(TimeoutNow(self.term, self.id, target))
        else:
            self._send_append(target)

    def compact(self, index: int) -> None:
        """Forget log entries up to `index` (<= applied): the state machine holds them."""
        if index > self.log.snapshot.index:
            self.log.compact(index, self._conf.at(index))
            self._conf.compacted(index)

    def report_snapshot(self, peer: int, success: bool) -> None:
        """The driver finished (or failed) streaming a snapshot to `peer`."""
        pr = self._progress.get(peer)
        if self.role is not Role.LEADER or pr is None or pr.state is not ProgressState.SNAPSHOT:
            return
        if not success:
            pr.snapshot_failed()

    def report_unreachable(self, peer: int) -> None:
        pr = self._progress.get(peer)
        if self.role is Role.LEADER and pr is not None and pr.state is ProgressState.REPLICATE:
            pr.become_probe()

    def has_ready(self) -> bool:
        if self._outstanding is not None:
            return False
        return bool(
            self._broadcast_pending
            or self._msgs
            or self._persisted_msgs
            or self._read_states
            or self.log.pending_snapshot
            or self.log.stable < self.log.last_index
            or self.hard_state != self._hard_state
            or SoftState(self.role, self.leader) != self._soft_state
            or min(self.log.commit, self.log.stable) > self.log.applied
        )

    def ready(self) -> Ready:
        if self._outstanding is not None:
            raise RuntimeError("ready() called again before advance()")
        if self._broadcast_pending:
            self._broadcast_append()
        self._outstanding_ticks = 0
        rd = Ready(
            entries=self.log.unstable_entries(),
            snapshot=self.log.pending_snapshot,
            messages=self._msgs,
            persisted_messages=self._persisted_msgs,
            committed=self.log.next_committed(self.config.max_apply_bytes),
            read_states=self._read_states,
        )
        hard_state = self.hard_state
        if hard_state != self._hard_state:
            rd.hard_state = hard_state
        soft_state = SoftState(self.role, self.leader)
        if soft_state != self._soft_state:
            rd.soft_state = soft_state
            self._soft_state = soft_state
        self._msgs = []
        self._persisted_msgs = []
        self._read_states = []
        self._outstanding = rd
        return rd

    def advance(self, rd: Ready) -> None:
        """The driver persisted `rd` and applied `rd.committed`."""
        if rd is not self._outstanding:
            raise RuntimeError("advance() with a Ready that is not the outstanding one")
        self._outstanding = None
        if rd.hard_state is not None:
            self._hard_state = rd.hard_state
        if rd.snapshot is not None and self.log.pending_snapshot == rd.snapshot:
            self.log.pending_snapshot = None
        if rd.entries:
            last = rd.entries[-1]
            self.log.stable_to(last.index, last.term)
            if self.role is Role.LEADER:
                self._maybe_commit()
        if rd.committed:
            self.log.applied_to(rd.committed[-1].index)

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "term": self.term,
            "vote": self.vote,
            "role": self.role.value,
            "leader": self.leader,
            "commit": self.log.commit,
            "applied": self.log.applied,
            "stable": self.log.stable,
            "first_index": self.log.first_index,
            "last_index": self.log.last_index,
            "snapshot_index": self.log.snapshot.index,
            "transfer_target": self._transfer_target,
            "membership": self.membership.describe(),
            "drained": self.drained,
            "elections": dict(self.elections),
            "last_election": (
                None
                if self.last_election is None
                else {"term": self.last_election[0], "reason": self.last_election[1]}
            ),
            "progress": {p: pr.describe() for p, pr in sorted(self._progress.items())},
        }

    # ------------------------------------------------------------------------------------
    # Role transitions
    # ------------------------------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = None
        self.leader = None
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._reset_randomized_timeout()
        self._votes = {}
        self._progress = {}  # only a leader tracks its followers
        self._transfer_target = None
        self._broadcast_pending = False
        self._read_acks = {}
        self._reads = []
        self._reads_before_commit = []

    def _reset_randomized_timeout(self) -> None:
        c = self.config
        self._randomized_timeout = self._rng.randint(c.election_ticks_min, c.election_ticks_max)

    def _become_follower(self, term: int, leader: int | None) -> None:
        self._reset(term)
        self.role = Role.FOLLOWER
        self.leader = leader

    def _become_pre_candidate(self) -> None:
        # Pre-vote changes neither term nor vote, so a partitioned node that keeps
        # failing pre-votes never inflates its term and disrupts the cluster (thesis §9.6).
        self._votes = {}
        self.role = Role.PRE_CANDIDATE
        self.leader = None
        self._election_elapsed = 0
        self._reset_randomized_timeout()

    def _become_candidate(self) -> None:
        self._reset(self.term + 1)
        self.role = Role.CANDIDATE
        self.vote = self.id

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.role = Role.LEADER
        self.leader = self.id
        self._handoffs_refused = set()
        # Every follower counts as active until the first check-quorum round, so a new
        # leader is not deposed before anyone could answer it.
        self._progress = {
            p: Progress(self.log.last_index + 1, recent_active=True) for p in self._others
        }
        # A no-op of the new term lets the leader commit everything before it (§5.4.2, §8).
        self.log.append([Entry(self.term, self.log.last_index + 1, b"", EntryKind.NOOP)])
        self._broadcast_pending = True
        if self._sole_voter():
            self._maybe_commit()

    def _campaign(self, *, transfer: bool, reason: str) -> None:
        if self.config.pre_vote and not transfer:
            self._become_pre_candidate()
            term = self.term + 1
            self.elections["pre-vote"] += 1
        else:
            self._become_candidate()
            term = self.term
            self._count_election(reason)
        pre_vote = self.role is Role.PRE_CANDIDATE
        self._votes[self.id] = True
        if self._quorum.vote_result(self._votes) is VoteResult.WON:
            self._win_election()
            return
        for peer in self._voting_peers:
            self._send(
                RequestVote(
                    term,
                    self.id,
                    peer,
                    self.log.last_index,
                    self.log.last_term,
                    pre_vote=pre_vote,
                    transfer=transfer,
                )
            )

    def _win_election(self) -> None:
        if self.role is Role.PRE_CANDIDATE:
            self._campaign_after_pre_vote()
        else:
            self._become_leader()

    def _count_election(self, reason: str) -> None:
        self.elections[reason] += 1
        self.last_election = (self.term, reason)

    def _campaign_after_pre_vote(self) -> None:
        self._become_candidate()
        self._count_election("timeout")
        self._votes[self.id] = True
        if self._quorum.vote_result(self._votes) is VoteResult.WON:
            self._become_leader()
            return
        for peer in self._voting_peers:
            self._send(
                RequestVote(self.term, self.id, peer, self.log.last_index, self.log.last_term)
            )

    # ------------------------------------------------------------------------------------
    # Timers
    # ------------------------------------------------------------------------------------

    def _tick_election(self) -> None:
        self._election_elapsed += 1
        if self._election_elapsed >= self._randomized_timeout:
            if self.drained or not self._may_campaign():
                # A learner, a removed or a drained node keeps counting: its leader lease
                # must run out, or it would refuse forever the votes of a voter that
                # needs it (found by the simulator, seed 1832 of --membership; for a
                # drained node by review).
                return
            self._election_elapsed = 0
            if self._may_campaign():
                self._campaign(transfer=False, reason="timeout")

    def _tick_leader(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._election_elapsed >= self.config.election_ticks_min:
            self._election_elapsed = 0
            if self.config.check_quorum and not self._quorum_active():
                # Cut off from a majority: stop claiming leadership so clients go
                # elsewhere (thesis §6.2).
                self.elections["check-quorum"] += 1
                self._become_follower(self.term, None)
                return
        if (
            self.config.step_down_on_slow_write
            and self._outstanding_ticks >= self.config.election_ticks_min
        ):
            self._step_down_for_slow_write()
            return
        if self._transfer_target is not None:
            self._transfer_elapsed += 1
            if self._transfer_elapsed >= self.config.election_ticks_min:
                # The transfer timed out; take proposals again, and let a drained leader
                # try the next best follower rather than the same one (it may be drained
                # too, and refuse every time).
                self._handoffs_refused.add(self._transfer_target)
                self._transfer_target = None
                if self.drained:
                    self.hand_off()
        for peer, pr in self._progress.items():
            if pr.state is ProgressState.SNAPSHOT and pr.tick_snapshot(
                self.config.snapshot_timeout_ticks
            ):
                pr.become_probe()
                self._send_append(peer)
        if self._heartbeat_elapsed >= self.config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            self._broadcast_heartbeat(self._read_seq)

    def _step_down_for_slow_write(self) -> None:
        """Our own write has taken an election timeout: nothing we propose commits or is
        answered meanwhile, while our heartbeats (sent by `take_messages`) keep followers
        from electing anyone. Stop leading and ask the most up-to-date follower to
        campaign now. Safe like any step-down: a leader may always stop leading."""
        target = self._most_up_to_date_follower()
        if target is None:
            return  # nobody could lead instead: stepping down would only add elections
        self.elections["slow-disk"] += 1
        self._become_follower(self.term, None)
        self._outstanding_ticks = 0
        self._send(TimeoutNow(self.term, self.id, target))

    def _most_up_to_date_follower(self, exclude: Collection[int] = ()) -> int | None:
        """The voter with the highest match index, among those heard from lately if any
        are (a silent one may be down); ties go to the lowest id. Learners cannot lead."""
        voters = [p for p in self._voting_peers if p in self._progress and p not in exclude]
        if not voters:
            return None
        active = [p for p in voters if self._progress[p].recent_active]
        pool = active or voters
        return max(pool, key=lambda p: self._progress[p].match)

    def _quorum_active(self) -> bool:
        """Whether a majority, the leader included, was heard from since the last round."""
        active = {peer: pr.recent_active for peer, pr in self._progress.items()}
        active[self.id] = True
        for pr in self._progress.values():
            pr.reset_recent_active()
        return self._quorum.vote_result(active) is VoteResult.WON

    # ------------------------------------------------------------------------------------
    # Message handling
    # ------------------------------------------------------------------------------------

    def step(self, m: Message) -> None:
        if m.dst != self.id:
            return
        if m.term > self.term:
            if not self._accept_higher_term(m):
                return
        elif m.term < self.term:
            self._answer_stale(m)
            return

        if isinstance(m, RequestVote):
            self._handle_vote_request(m)
            return
        match self.role:
            case Role.LEADER:
                self._step_leader(m)
            case Role.FOLLOWER:
                self._step_follower(m)
            case Role.CANDIDATE | Role.PRE_CANDIDATE:
                self._step_candidate(m)

    def _accept_higher_term(self, m: Message) -> bool:
        """React to a higher term (§5.1); False means ignore the message entirely."""
        if isinstance(m, RequestVote):
            in_lease = (
                self.config.check_quorum
                and self.leader is not None
                and self._election_elapsed < self.config.election_ticks_min
            )
            if in_lease and not m.transfer:
                # We heard from a live leader recently: this candidate is disruptive
                # (a rejoining node, say), so do not let it bump our term (thesis §4.2.3).
                return False
            if m.pre_vote:
                return True  # a pre-vote carries a term nobody holds yet
        if isinstance(m, VoteResponse) and m.pre_vote:
            if m.granted:
                return True  # granted pre-votes echo the candidate's future term
            # A rejection carries the voter's real term: ours is stale.
            self._become_follower(m.term, None)
            return False
        leader = m.src if isinstance(m, _SEND_BEFORE_PERSIST) else None
        self._become_follower(m.term, leader)
        return True

    def _answer_stale(self, m: Message) -> None:
        match m:
            case AppendEntries() | Heartbeat():
                # A leader of an old term. With check-quorum a rejoining node may never
                # bump terms through votes, so tell it our term to make it step down.
                self._send(AppendResponse(self.term, self.id, m.src, False, 0))
            case RequestVote(pre_vote=True):
                self._send(VoteResponse(self.term, self.id, m.src, False, pre_vote=True))
            case InstallSnapshot():
                self._send(SnapshotResponse(self.term, self.id, m.src, False, self.log.commit))

    def _handle_vote_request(self, m: RequestVote) -> None:
        can_vote = (
            self.vote == m.src
            or (self.vote is None and self.leader is None)
            or (m.pre_vote and m.term > self.term)
        )
        if can_vote and self.log.is_up_to_date(m.last_index, m.last_term):
            # Answer in the request's term: a pre-vote grant must match the term asked.
            self._send(VoteResponse(m.term, self.id, m.src, True, pre_vote=m.pre_vote))
            if not m.pre_vote:
                self._election_elapsed = 0
                self.vote = m.src
        else:
            self._send(VoteResponse(self.term, self.id, m.src, False, pre_vote=m.pre_vote))

    def _step_candidate(self, m: Message) -> None:
        match m:
            case AppendEntries() | Heartbeat() | InstallSnapshot():
                # A leader of our term exists (§5.2).
                self._become_follower(self.term, m.src)
                self._step_follower(m)
            case VoteResponse() if m.pre_vote == (self.role is Role.PRE_CANDIDATE):
                self._votes.setdefault(m.src, m.granted)
                match self._quorum.vote_result(self._votes):
                    case VoteResult.WON:
                        self._win_election()
                    case VoteResult.LOST:
                        self._become_follower(self.term, None)

    def _step_follower(self, m: Message) -> None:
        if self._first_timeout and isinstance(m, AppendEntries | Heartbeat | InstallSnapshot):
            # A leader exists: the start-up timeout (a couple of heartbeats) must not
            # outlive the start, or every late heartbeat would start a pre-vote (review).
            self._first_timeout = False
            self._reset_randomized_timeout()
        match m:
            case AppendEntries():
                self._election_elapsed = 0
                self.leader = m.src
                self._handle_append(m)
            case Heartbeat():
                self._election_elapsed = 0
                self.leader = m.src
                # The leader sends min(commit, our match), so this never passes our log.
                self.log.commit_to(min(m.commit, self.log.last_index))
                self._send(HeartbeatResponse(self.term, self.id, m.src, m.read_seq))
            case InstallSnapshot():
                self._election_elapsed = 0
                self.leader = m.src
                self._handle_snapshot(m)
            case TimeoutNow() if self._may_campaign():
                self._campaign(transfer=True, reason="transfer")

    def _handle_append(self, m: AppendEntries) -> None:
        if m.prev_index < self.log.commit:
            self._send(AppendResponse(self.term, self.id, m.src, True, self.log.commit))
            return
        last_new = self.log.maybe_append(m.prev_index, m.prev_term, m.commit, m.entries)
        if last_new is not None:
            if m.entries:
                self._conf.appended(self.log, m.entries)
                self._refresh_membership()
            self._send(AppendResponse(self.term, self.id, m.src, True, last_new))
            return
        hint_index = self.log.find_conflict_by_term(
            min(m.prev_index, self.log.last_index), m.prev_term
        )
        self._send(
            AppendResponse(
                self.term,
                self.id,
                m.src,
                False,
                m.prev_index,
                hint_index=hint_index,
                hint_term=self.log.term(hint_index) or 0,
            )
        )

    def _handle_snapshot(self, m: InstallSnapshot) -> None:
        meta = m.meta
        if meta.index <= self.log.commit:
            pass  # nothing new: we already hold a committed prefix at least as long
        elif self.log.matches(meta.index, meta.term):
            self.log.commit_to(meta.index)  # our log already has it: just fast-forward
        else:
            self.log.restore(meta)
            self._conf.restored(meta.membership)
            self._refresh_membership()
        self._send(SnapshotResponse(self.term, self.id, m.src, True, self.log.commit))

    def _step_leader(self, m: Message) -> None:
        pr = self._progress.get(m.src)
        if pr is None:
            return
        match m:
            case AppendResponse():
                pr.mark_recent_active()
                self._handle_append_response(m, pr)
            case HeartbeatResponse():
                pr.mark_recent_active()
                pr.allow_probe()
                if pr.state is ProgressState.REPLICATE and pr.is_paused(self.config.max_inflight):
                    # A full window whose messages were lost silently would pause this
                    # follower forever: free one slot so the next append goes out, and its
                    # rejection (if the follower missed the window) sends us back to
                    # probing (§5.3).
                    pr.free_first_inflight()
                if pr.match < self.log.last_index:
                    self._send_append(m.src)
                if m.read_seq:
                    self._ack_reads(m.src, m.read_seq)
            case SnapshotResponse():
                pr.mark_recent_active()
                if pr.state is ProgressState.SNAPSHOT:
                    if m.success:
                        pr.maybe_update(m.index)
                        pr.become_probe()
                    else:
                        pr.snapshot_failed()
                    self._send_append(m.src)

    def _handle_append_response(self, m: AppendResponse, pr: Progress) -> None:
        if not m.success:
            hint = m.hint_index
            if m.hint_term > 0:
                hint = self.log.find_conflict_by_term(m.hint_index, m.hint_term)
            if pr.maybe_decrease(m.index, hint):
                if pr.state is ProgressState.REPLICATE:
                    pr.become_probe()
                self._send_append(m.src)
            return
        # An answer that only repeats the match still proves where a probed follower's
        # log agrees with ours (after a snapshot, say): replicate now, not after the
        # next entry (tests/raft/testdata/snapshot.txt).
        confirms_probe = pr.state is ProgressState.PROBE and pr.match == m.index
        if not pr.maybe_update(m.index) and not confirms_probe:
            if pr.state is ProgressState.REPLICATE:
                self._send_append(m.src, allow_empty=False)
            return
        if pr.state is ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state is ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot:
            pr.become_probe()
            pr.become_replicate()
        self._maybe_commit()
        if self.role is not Role.LEADER or m.src not in self._progress:
            # The commit changed the membership: it removed us (we stepped down), or the
            # joint membership it committed was left, without the sender.
            return
        # Keep the pipe full: send what the freed window allows.
        while self._send_append(m.src, allow_empty=False):
            pass
        if m.src == self._transfer_target and pr.match == self.log.last_index:
            self._send(TimeoutNow(self.term, self.id, m.src))

    # ------------------------------------------------------------------------------------
    # Replication
    # ------------------------------------------------------------------------------------

    def _send(self, m: Message) -> None:
        # A leader's messages may leave before its write, but not before its term is
        # durable (`_hard_state` is what the driver persisted): a sole voter wins on its
        # own vote at once, and entries it sent a learner in a term it then forgot on a
        # crash would differ from those it sends after the restart under the same term.
        term_durable = self._hard_state.term == self.term
        if (isinstance(m, _SEND_BEFORE_PERSIST) and term_durable) or (
            isinstance(m, RequestVote) and m.pre_vote
        ):
            self._msgs.append(m)
        else:
            self._persisted_msgs.append(m)

    def _send_append(self, peer: int, *, allow_empty: bool = True) -> bool:
        """Send `peer` what it lacks, if its progress allows; True if something was sent."""
        pr = self._progress[peer]
        if pr.is_paused(self.config.max_inflight):
            return False
        prev_index = pr.next - 1
        prev_term = self.log.term(prev_index)
        if prev_term is None:
            # What the follower needs was compacted away: send the snapshot (§7).
            if not pr.recent_active:
                return False
            pr.become_snapshot(self.log.snapshot.index)
            self._send(InstallSnapshot(self.term, self.id, peer, self.log.snapshot))
            return True
        entries: list[Entry] = []
        if pr.next <= self.log.last_index:
            entries = self.log.slice(pr.next, self.log.last_index + 1, self.config.max_msg_bytes)
        if not entries and not allow_empty:
            return False
        self._send(
            AppendEntries(
                self.term, self.id, peer, prev_index, prev_term, tuple(entries), self.log.commit
            )
        )
        pr.sent_entries(entries[-1].index if entries else prev_index)
        return True

    def _broadcast_append(self) -> None:
        self._broadcast_pending = False
        for peer in self._others:
            while self._send_append(peer, allow_empty=False):
                if self._progress[peer].state is not ProgressState.REPLICATE:
                    break

    def _broadcast_heartbeat(self, read_seq: int) -> None:
        for peer in self._others:
            pr = self._progress[peer]
            commit = min(pr.match, self.log.commit)
            self._send(Heartbeat(self.term, self.id, peer, commit, read_seq))

    def _maybe_commit(self) -> None:
        acked = {peer: pr.match for peer, pr in self._progress.items()}
        acked[self.id] = self.log.stable  # the leader's own entries count once durable
        candidate = self._quorum.committed_index(acked)
        # Only entries of the current term are committed by counting replicas (§5.4.2).
        if candidate > self.log.commit and self.log.term(candidate) == self.term:
            self.log.commit_to(candidate)
            if self._reads_before_commit:
                waiting, self._reads_before_commit = self._reads_before_commit, []
                for ctx in waiting:
                    self._start_read(ctx)
            if self.log.commit >= self._conf.last_index:
                self._membership_committed()

    # ------------------------------------------------------------------------------------
    # ReadIndex (thesis §6.4)
    # ------------------------------------------------------------------------------------

    def _start_read(self, ctx: int) -> None:
        if self._sole_voter():
            self._read_states.append(ReadState(ctx, self.log.commit))
            return
        self._read_seq += 1
        self._reads.append((self._read_seq, ctx, self.log.commit))
        self._broadcast_heartbeat(self._read_seq)

    def _ack_reads(self, peer: int, seq: int) -> None:
        if seq > self._read_acks.get(peer, 0):
            self._read_acks[peer] = seq
        # Reads are confirmed in order: a heartbeat answered for seq s proves leadership
        # at a moment after every read with a sequence number <= s was registered. So the
        # highest confirmed seq is the "committed index" of the acks, the leader's own
        # being the latest seq.
        acks = dict(self._read_acks)
        acks[self.id] = self._read_seq
        confirmed = self._quorum.committed_index(acks)
        done = 0
        for seq_i, ctx, index in self._reads:
            if seq_i > confirmed:
                break
            self._read_states.append(ReadState(ctx, index))
            done += 1
        if done:
            del self._reads[:done]

    # ------------------------------------------------------------------------------------
    # Membership (thesis ch. 4; docs/divergence.md, "Membership")
    # ------------------------------------------------------------------------------------

    def _may_campaign(self) -> bool:
        """Only a voter that is not drained may stand for election: a voter of the
        membership in force, or of the last committed one. The second matters when our
        log ends with an uncommitted change that removes us: we may hold the entries the
        others need, so they cannot elect one of themselves without us, and once we lead
        (counting votes by the membership in force) we commit the change and step down
        (tests/raft/test_membership.py)."""
        if self.drained:
            return False
        return (
            self.id in self.membership.all_voters
            or self.id in self._conf.in_force_at(self.log.commit).all_voters
        )

    def _sole_voter(self) -> bool:
        return self.membership.all_voters == {self.id}

    def _append_membership(self, membership: Membership) -> tuple[int, int]:
        # A removed member's address goes with it (leaving a joint config removes some).
        membership = membership.with_addresses(membership.address_map())
        entry = Entry(
            self.term, self.log.last_index + 1, membership.encode(), EntryKind.CONF_CHANGE
        )
        self.log.append([entry])
        self._conf.appended(self.log, [entry])
        self._refresh_membership()  # in force from now on, on the leader too
        self._broadcast_pending = True
        if self._sole_voter():
            self._maybe_commit()
        return entry.index, entry.term

    def _refresh_membership(self) -> None:
        membership = self._conf.current()
        if membership != self.membership:
            self._use_membership(membership)

    def _use_membership(self, membership: Membership) -> None:
        self.membership = membership
        self._quorum = membership.quorum()
        self._others = tuple(sorted(membership.members - {self.id}))
        self._voting_peers = tuple(sorted(membership.all_voters - {self.id}))
        if self.role is not Role.LEADER:
            return
        for peer in self._others:
            if peer not in self._progress:
                # A new member: probe with our last entry (the change itself); a
                # rejection finds where its log (empty, for a new node) matches, or
                # sends it a snapshot.
                self._progress[peer] = Progress(max(self.log.last_index, 1), recent_active=True)
                self._broadcast_pending = True
        for peer in [p for p in self._progress if p not in membership.members]:
            del self._progress[peer]
            self._read_acks.pop(peer, None)
        if self._transfer_target is not None and self._transfer_target not in self._voting_peers:
            self._transfer_target = None

    def _membership_committed(self) -> None:
        """The leader's membership is committed: leave it if it is an auto-leaving joint
        one; step down if it no longer makes us a voter (thesis §4.2.2: a removed leader
        manages the group until the configuration without it is committed)."""
        membership = self.membership
        if membership.joint and membership.auto_leave:
            self._append_membership(leave_joint(membership))
        elif self.id not in membership.all_voters:
            target = self._most_up_to_date_follower()
            self._become_follower(self.term, None)
            if target is not None:
                # Let the most up-to-date voter campaign now, not after a timeout.
                self._send(TimeoutNow(self.term, self.id, target))
