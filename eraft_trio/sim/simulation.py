"""The deterministic simulation: one seed drives the clock, network, faults, clients and cores."""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from eraft_trio.raft.confchange import ConfChange
from eraft_trio.raft.config import RaftConfig
from eraft_trio.raft.types import AppendEntries, InstallSnapshot, Message, Ready, Role
from eraft_trio.sim.checker import SafetyChecker
from eraft_trio.sim.disk import NodeDisk
from eraft_trio.sim.faults import NO_FAULTS, FaultConfig, Nemesis
from eraft_trio.sim.network import Envelope, SimNetwork
from eraft_trio.sim.node import CrashPoint, SimNode
from eraft_trio.sim.reads import ReadRequest, ReadTracker
from eraft_trio.sim.violations import CORE_ERROR, LIVENESS, InvariantViolation
from eraft_trio.sim.workload import Workload

# Small timeouts keep runs short: a heartbeat every 2 ticks, elections after 10-20.
SIM_RAFT_DEFAULTS: dict[str, Any] = {
    "heartbeat_ticks": 2,
    "election_ticks_min": 10,
    "election_ticks_max": 20,
    "snapshot_timeout_ticks": 60,
    "max_inflight": 8,
    "max_msg_bytes": 64 * 1024,
}


class DriverReport(NamedTuple):
    """A report the driver owes a core, made on a later tick (never from inside a Ready)."""

    due: int  # tick
    node: int
    incarnation: int
    peer: int
    snapshot_ok: bool | None  # the outcome of a snapshot transfer; None: peer unreachable


class Simulation:
    """A Raft group of `nodes` cores on a simulated network, clock and disks.

    Each `step()` either delivers one due message or advances the clock one tick (on
    which every live node ticks, unless clock skew makes it miss the tick, and the
    nemesis and clients act). All checkers run after every step; the first broken
    invariant raises InvariantViolation carrying the seed and step.
    """

    def __init__(
        self,
        nodes: int = 3,
        seed: int = 0,
        *,
        faults: FaultConfig = NO_FAULTS,
        workload: Workload | None = None,
        compact_every: int | None = None,
        raft_options: Mapping[str, Any] | None = None,
        unique_commands: bool = True,
        tick_bias: float = 0.1,
        senders_see_cut_links: bool = False,
    ) -> None:
        if nodes < 1:
            raise ValueError("a simulation needs at least one node")
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = 0  # ticks
        self.steps = 0
        self.faults = faults
        self.workload = workload
        self.tick_bias = tick_bias  # chance a step ticks although one message is due
        # When set, a send over a cut link fails visibly (as in the 6.824 labrpc, or a
        # refused connection) and the driver calls report_unreachable. When clear, every
        # loss is silent, as when a stalled TCP connection is torn down much later.
        self.senders_see_cut_links = senders_see_cut_links
        self.network = SimNetwork(self.rng, faults.network_faults())
        ids = tuple(range(nodes))
        options = {**SIM_RAFT_DEFAULTS, **(raft_options or {})}
        self.configs = [RaftConfig(id=i, peers=ids, **options) for i in ids]
        self._raft_options = options
        self.checker = SafetyChecker(ids, unique_commands=unique_commands)
        self.reads = ReadTracker(self.checker)
        self._compact_every = compact_every
        self.nodes = [SimNode(c, self, compact_every=compact_every) for c in self.configs]
        self.nemesis = Nemesis(self, self.rng, faults)
        self._commands = 0
        self._reports: list[DriverReport] = []
        for node in self.nodes:
            self._guard(node.start)

    # --- NodeHost ------------------------------------------------------------------------

    def new_rng(self) -> random.Random:
        return random.Random(self.rng.getrandbits(64))

    def send(self, node: SimNode, msg: Message) -> None:
        image = node.disk.machine.copy() if isinstance(msg, InstallSnapshot) else None
        visibly_cut = self.senders_see_cut_links and self.network.is_cut(msg.src, msg.dst)
        if self.network.send(msg, self.now, node.incarnation, image):
            return
        if image is not None:  # the transfer failed at once
            self._reports.append(
                DriverReport(self.now + 1, node.id, node.incarnation, msg.dst, False)
            )
        elif visibly_cut and isinstance(msg, AppendEntries):
            self._reports.append(
                DriverReport(self.now + 1, node.id, node.incarnation, msg.dst, None)
            )

    def ready_done(self, node: SimNode, rd: Ready) -> None:
        for state in rd.read_states:
            self.reads.on_read_state(node.id, node.incarnation, state)
        self.reads.serve(node.id, node.incarnation, node.disk)
        if node.core is not None and node.core.role is not Role.LEADER:
            self.reads.abandon(node.id, unconfirmed_only=True)

    def crashed(self, node: SimNode) -> None:
        self.reads.abandon(node.id)

    # --- the clock -------------------------------------------------------------------------

    def step(self) -> None:
        self.steps += 1
        envelope = None
        due = self.network.due_count(self.now)
        # Sometimes the clock runs ahead of due messages (timers race deliveries), but
        # less so the more are due, so the wire never falls ever further behind.
        if due and self.rng.random() >= self.tick_bias / due:
            envelope = self.network.pop_deliverable(self.now)
        if envelope is not None:
            self._guard(lambda: self._deliver(envelope))
        else:
            self._guard(self._tick)
        self._guard(lambda: self.checker.check_durable(self.disks))

    def _tick(self) -> None:
        self.now += 1
        due = [r for r in self._reports if r.due <= self.now]
        if due:
            self._reports = [r for r in self._reports if r.due > self.now]
            for r in due:
                if r.snapshot_ok is None:
                    self._report_unreachable(r.node, r.incarnation, r.peer)
                else:
                    self._report_snapshot(r.node, r.incarnation, r.peer, r.snapshot_ok)
        self.nemesis.on_tick(self.now)
        if self.workload is not None:
            self.workload.on_tick(self, self.rng)
        skip = self.faults.tick_skip_rate
        for node in self.nodes:
            if node.alive and (not skip or self.rng.random() >= skip):
                node.tick()

    def _deliver(self, envelope: Envelope) -> None:
        msg = envelope.msg
        dst = self.nodes[msg.dst]
        if not dst.alive or self.network.is_cut(msg.src, msg.dst):
            self.network.stats.dropped += 1
            if isinstance(msg, InstallSnapshot):
                self._report_snapshot(msg.src, envelope.sender_incarnation, msg.dst, False)
            elif isinstance(msg, AppendEntries) and self.senders_see_cut_links:
                self._report_unreachable(msg.src, envelope.sender_incarnation, msg.dst)
            return
        self.network.stats.delivered += 1
        dst.deliver(msg, envelope.image)
        if isinstance(msg, InstallSnapshot):
            self.network.stats.snapshots_delivered += 1
            self._report_snapshot(msg.src, envelope.sender_incarnation, msg.dst, True)

    def _report_unreachable(self, src: int, incarnation: int, dst: int) -> None:
        node = self.nodes[src]
        if node.alive and node.incarnation == incarnation:
            node.report_unreachable(dst)

    def _report_snapshot(self, src: int, incarnation: int, dst: int, success: bool) -> None:
        node = self.nodes[src]
        if node.alive and node.incarnation == incarnation:
            node.report_snapshot(dst, success)

    def _guard(self, action: Callable[[], None]) -> None:
        """Run one input; tag violations with where they happened, wrap core exceptions."""
        try:
            action()
        except InvariantViolation as violation:
            self._annotate(violation)
            raise
        except Exception as error:  # the core (or the simulator) blew up: a finding too
            frames = traceback.extract_tb(error.__traceback__)
            where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
            wrapped = InvariantViolation(CORE_ERROR, f"{error!r} at {where}")
            self._annotate(wrapped)
            raise wrapped from error

    def _annotate(self, violation: InvariantViolation) -> None:
        if violation.seed is None:
            violation.seed, violation.step, violation.tick = self.seed, self.steps, self.now

    # --- running -----------------------------------------------------------------------------

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def run_ticks(self, ticks: int) -> None:
        end = self.now + ticks
        while self.now < end:
            self.step()

    def run_until(self, predicate: Callable[[], bool], max_ticks: int) -> bool:
        """Step until `predicate()` holds (checked after every step); False on timeout."""
        end = self.now + max_ticks
        while not predicate():
            if self.now >= end:
                return False
            self.step()
        return True

    # --- faults and clients ------------------------------------------------------------------

    def crash(self, node_id: int, point: CrashPoint | None = None) -> None:
        """Crash now, or arm a crash at `point` of the node's next Ready."""
        node = self.nodes[node_id]
        if not node.alive:
            return
        if point is None:
            node.crash()
        else:
            node.crash_point = point

    def restart(self, node_id: int) -> None:
        node = self.nodes[node_id]
        if not node.alive:
            self._guard(node.start)

    def add_node(self) -> int:
        """Start a new, empty node that knows no members (RaftConfig.join); its id."""
        node_id = len(self.nodes)
        config = RaftConfig(id=node_id, peers=(), join=True, **self._raft_options)
        self.configs.append(config)
        self.nodes.append(SimNode(config, self, compact_every=self._compact_every))
        self._guard(self.nodes[node_id].start)
        return node_id

    def propose_conf_change(self, node_id: int, changes: list[ConfChange]) -> int | None:
        """Ask `node_id` to change the membership; its index, or None if refused."""
        node = self.nodes[node_id]
        if not node.alive:
            return None
        placed: list[int | None] = [None]

        def go() -> None:
            placed[0] = node.propose_conf_change(changes)

        self._guard(go)
        return placed[0]

    def next_command(self) -> bytes:
        self._commands += 1
        return b"cmd-%d" % self._commands

    def propose(self, node_id: int, commands: list[bytes]) -> tuple[int, int] | None:
        node = self.nodes[node_id]
        if not node.alive:
            return None
        placed: list[tuple[int, int] | None] = [None]

        def go() -> None:
            placed[0] = node.propose(commands)

        self._guard(go)
        return placed[0]

    def transfer_leadership(self, node_id: int, target: int) -> bool:
        """Ask `node_id` to hand leadership to `target`; False if it is down or not leader."""
        node = self.nodes[node_id]
        if not node.alive:
            return False
        accepted = [False]

        def go() -> None:
            accepted[0] = node.transfer_leadership(target)

        self._guard(go)
        return accepted[0]

    def campaign(self, node_id: int) -> None:
        """Make `node_id` start an election now (pre-vote first, if configured)."""
        node = self.nodes[node_id]
        if node.alive:
            self._guard(node.campaign)

    def read(self, node_id: int) -> ReadRequest | None:
        """Start a ReadIndex read at `node_id`; None if it is down or not the leader."""
        node = self.nodes[node_id]
        if not node.alive:
            return None
        min_index = max(d.hard_state.commit for d in self.disks)
        request = self.reads.new_request(node_id, node.incarnation, min_index)
        accepted = [False]

        def go() -> None:
            accepted[0] = node.read_index(request.ctx)

        self._guard(go)
        if not accepted[0]:
            self.reads.forget(request.ctx)
            return None
        return request

    # --- views -------------------------------------------------------------------------------

    @property
    def disks(self) -> list[NodeDisk]:
        return [n.disk for n in self.nodes]

    @property
    def election_ticks(self) -> int:
        return self.configs[0].election_ticks_max

    def leader(self) -> int | None:
        """The live node that leads the highest term, if any."""
        best: tuple[int, int] | None = None
        for node in self.nodes:
            core = node.core
            if (
                core is not None
                and core.role is Role.LEADER
                and (best is None or core.term > best[0])
            ):
                best = (core.term, node.id)
        return best[1] if best else None

    def describe(self) -> str:
        lines = [f"seed {self.seed} step {self.steps} tick {self.now}"]
        for node in self.nodes:
            disk = node.disk
            if node.core is None:
                state = "down"
            else:
                core = node.core
                state = f"{core.role.value} term {core.term} commit {core.commit}"
            lines.append(
                f"  node {node.id}: {state}; disk term {disk.hard_state.term} commit "
                f"{disk.hard_state.commit} applied {disk.machine.applied_index} "
                f"log {disk.snapshot.index + 1}..{disk.last_index}"
            )
        return "\n".join(lines)

    # --- liveness ----------------------------------------------------------------------------

    def heal(self) -> None:
        """End every fault: no new events, all links up, a clean wire, every node running."""
        self.nemesis.stop()
        self.network.heal_all()
        self.network.faults = NO_FAULTS.network_faults()
        for node in self.nodes:
            node.crash_point = None
            self.restart(node.id)

    def settle(self, max_ticks: int | None = None) -> int:
        """Heal, then require a fresh command to commit on every node; returns its index."""
        self.heal()
        workload, self.workload = self.workload, None
        limit = max_ticks if max_ticks is not None else 30 * self.election_ticks
        deadline = self.now + limit
        command = self.next_command()
        try:
            while self.now < deadline:
                leader = self.leader()
                if leader is None:
                    self.run_until(lambda: self.leader() is not None, deadline - self.now)
                    continue
                placed = self.propose(leader, [command])
                if placed is None:
                    self.step()
                    continue
                index = placed[0]
                budget = min(deadline - self.now, 4 * self.election_ticks)
                if self.run_until_applied(index, command, budget):
                    return index
                command = self.next_command()  # the old one may yet commit: keep both unique
        finally:
            self.workload = workload
        violation = InvariantViolation(
            LIVENESS, f"no command committed on all nodes within {limit} ticks\n{self.describe()}"
        )
        self._annotate(violation)
        raise violation

    def run_until_served(self, request: ReadRequest, max_ticks: int) -> bool:
        """Step until the read was served; False on timeout (or if its node crashed)."""
        return self.run_until(lambda: request.served_at is not None, max_ticks)

    def run_until_applied(self, index: int, command: bytes, max_ticks: int) -> bool:
        """Step until every node applied `command` at `index`; False on timeout."""
        return self.run_until(lambda: self._applied_everywhere(index, command), max_ticks)

    def _applied_everywhere(self, index: int, command: bytes) -> bool:
        """On every member of the last committed membership (a removed node is not fed)."""
        members = self.checker.committed_membership.members
        for disk in (self.nodes[i].disk for i in sorted(members)):
            history = disk.machine.history
            if len(history) < index:
                return False
            if history[index - 1].data != command:
                return False
        return True
