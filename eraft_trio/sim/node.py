"""One simulated server: a RaftCore, its disk, and the driver loop that persists, sends and applies."""

from __future__ import annotations

import dataclasses
import enum
import random
from typing import Protocol

from eraft_trio.raft.confchange import ConfChange
from eraft_trio.raft.config import RaftConfig
from eraft_trio.raft.core import RaftCore
from eraft_trio.raft.errors import NotLeader
from eraft_trio.raft.membership import MembershipError
from eraft_trio.raft.types import InstallSnapshot, Message, Ready, Role, SnapshotMeta
from eraft_trio.sim.checker import SafetyChecker
from eraft_trio.sim.disk import MachineImage, NodeDisk
from eraft_trio.sim.violations import READY_CONTRACT, InvariantViolation


class CrashPoint(enum.Enum):
    """Where in the handling of its next Ready a node dies."""

    BEFORE_WRITE = "before-write"  # `messages` went out; nothing of the Ready is on disk
    AFTER_WRITE = "after-write"  # the Ready is on disk; `persisted_messages` never leave


class NodeHost(Protocol):
    """What a node needs from the simulation around it."""

    checker: SafetyChecker

    def new_rng(self) -> random.Random: ...

    def send(self, node: SimNode, msg: Message) -> None: ...

    def ready_done(self, node: SimNode, rd: Ready) -> None: ...

    def crashed(self, node: SimNode) -> None: ...


class SimNode:
    def __init__(
        self, config: RaftConfig, host: NodeHost, *, compact_every: int | None = None
    ) -> None:
        self.id = config.id
        self.config = config
        self.compact_every = compact_every
        self.disk = NodeDisk()
        self.core: RaftCore | None = None
        self.incarnation = 0
        self.crash_point: CrashPoint | None = None  # armed: die while handling the next Ready
        self._host = host
        # Snapshots received but not yet made durable by a Ready, by what they describe.
        self._staged: dict[SnapshotMeta, MachineImage] = {}

    @property
    def alive(self) -> bool:
        return self.core is not None

    def live_core(self) -> RaftCore:
        assert self.core is not None, f"node {self.id} is down"
        return self.core

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Boot (or reboot) from the disk alone."""
        disk = self.disk
        self.core = RaftCore(
            self.config,
            self._host.new_rng(),
            hard_state=disk.hard_state,
            snapshot=disk.snapshot,
            entries=list(disk.log),
            applied=disk.machine.applied_index,
        )
        self.incarnation += 1
        self.crash_point = None
        self.drive()

    def crash(self) -> None:
        """Lose everything that is not on disk."""
        self.core = None
        self.crash_point = None
        self._staged.clear()
        self._host.crashed(self)

    # --- inputs ----------------------------------------------------------------------------

    def tick(self) -> None:
        self.live_core().tick()
        self.drive()

    def deliver(self, msg: Message, image: MachineImage | None) -> None:
        core = self.live_core()
        if isinstance(msg, InstallSnapshot) and image is not None:
            # The stream carried the sender's applied state, which may be newer than the
            # snapshot its core named (see InstallSnapshot's docstring).
            meta = SnapshotMeta(image.applied_index, image.applied_term, image.membership)
            self._staged[meta] = image
            msg = dataclasses.replace(msg, meta=meta)
        core.step(msg)
        self.drive()

    def propose(self, commands: list[bytes]) -> tuple[int, int] | None:
        try:
            placed = self.live_core().propose(commands)
        except NotLeader:
            return None
        self.drive()
        return placed

    def propose_conf_change(self, changes: list[ConfChange]) -> int | None:
        """The index of the change, or None if refused (not leader, one pending, invalid)."""
        try:
            index, _ = self.live_core().propose_conf_change(changes)
        except (NotLeader, MembershipError):
            return None
        self.drive()
        return index

    def read_index(self, ctx: int) -> bool:
        try:
            self.live_core().read_index(ctx)
        except NotLeader:
            return False
        self.drive()
        return True

    def transfer_leadership(self, target: int) -> bool:
        try:
            self.live_core().transfer_leadership(target)
        except (NotLeader, ValueError):  # not leader, or the target is not a voter
            return False
        self.drive()
        return True

    def campaign(self) -> None:
        self.live_core().campaign()
        self.drive()

    def report_unreachable(self, peer: int) -> None:
        self.live_core().report_unreachable(peer)
        self.drive()

    def report_snapshot(self, peer: int, success: bool) -> None:
        self.live_core().report_snapshot(peer, success)
        self.drive()

    # --- the driver loop -------------------------------------------------------------------

    def drive(self) -> None:
        while self.core is not None and self.core.has_ready():
            self._handle(self.core, self.core.ready())

    def _handle(self, core: RaftCore, rd: Ready) -> None:
        checker = self._host.checker
        if core.role is Role.LEADER:
            checker.check_leader(self.id, core.term)
        for msg in rd.messages:
            self._host.send(self, msg)
        if self.crash_point is CrashPoint.BEFORE_WRITE:
            self.crash()
            return
        self._persist(rd)
        if core.role is Role.LEADER:
            checker.check_leader_log(self.id, core.term, self.disk)
        if self.crash_point is CrashPoint.AFTER_WRITE:
            self.crash()
            return
        for msg in rd.persisted_messages:
            self._host.send(self, msg)
        core.advance(rd)
        self._host.ready_done(self, rd)
        self._maybe_compact(core)

    def _persist(self, rd: Ready) -> None:
        """Write the Ready as one transaction: snapshot, entries, hard state, applies."""
        checker = self._host.checker
        disk = self.disk
        if rd.snapshot is not None:
            image = self._staged.get(rd.snapshot)
            if image is None:
                raise InvariantViolation(
                    READY_CONTRACT,
                    f"node {self.id}: Ready.snapshot {rd.snapshot} was never received",
                )
            checker.check_snapshot(self.id, disk, rd.snapshot, image)
            disk.install_snapshot(rd.snapshot, image)
            self._staged = {m: i for m, i in self._staged.items() if m.index > rd.snapshot.index}
        if rd.entries:
            first = rd.entries[0].index
            if not disk.snapshot.index < first <= disk.last_index + 1:
                raise InvariantViolation(
                    READY_CONTRACT,
                    f"node {self.id}: Ready.entries start at {first}, disk holds "
                    f"{disk.snapshot.index + 1}..{disk.last_index}",
                )
            removed = disk.write_entries(rd.entries)
            checker.check_entries(self.id, disk, rd.entries, removed)
        if rd.hard_state is not None:
            old, disk.hard_state = disk.hard_state, rd.hard_state
            checker.check_hard_state(self.id, old, rd.hard_state, disk)
        for entry in rd.committed:
            checker.check_apply(self.id, disk, entry)
            disk.machine.apply(entry)

    def _maybe_compact(self, core: RaftCore) -> None:
        if self.compact_every is None:
            return
        applied = self.disk.machine.applied_index
        if applied - self.disk.snapshot.index >= self.compact_every:
            core.compact(applied)
            self.disk.compact()
