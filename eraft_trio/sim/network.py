"""A seeded in-memory network: loss, delay, duplication, reordering and cut links."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from eraft_trio.raft.types import (
    AppendEntries,
    Heartbeat,
    InstallSnapshot,
    Message,
    RequestVote,
    TimeoutNow,
)
from eraft_trio.sim.disk import MachineImage

# Messages that open an exchange; counted as "RPCs" the way the 6.824 labs count them.
REQUEST_TYPES = (AppendEntries, Heartbeat, InstallSnapshot, RequestVote, TimeoutNow)

Link = tuple[int, int]


@dataclass(slots=True)
class NetworkFaults:
    """How unreliable the wire is; all delays are in ticks."""

    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    delay_min: int = 0
    delay_max: int = 1
    long_delay_rate: float = 0.0
    long_delay_max: int = 60
    reorder: bool = False  # off: each link delivers in order, like TCP


@dataclass(slots=True)
class Envelope:
    msg: Message
    sender_incarnation: int
    deliver_at: int
    seq: int
    # For InstallSnapshot: the sender's state machine when it sent (the bytes that would
    # be streamed out of band).
    image: MachineImage | None = None


@dataclass(slots=True)
class NetworkStats:
    sent: int = 0
    requests: int = 0
    delivered: int = 0
    dropped: int = 0
    duplicated: int = 0
    entry_bytes: int = 0  # entry data bytes handed to the wire in AppendEntries
    snapshots_delivered: int = 0
    by_type: Counter[str] = field(default_factory=Counter)


class SimNetwork:
    def __init__(self, rng: random.Random, faults: NetworkFaults | None = None) -> None:
        self._rng = rng
        self.faults = faults or NetworkFaults()
        self.stats = NetworkStats()
        self._inflight: list[Envelope] = []
        self._seq = 0
        self._link_tail: dict[Link, int] = {}  # last deliver_at per link, for FIFO links
        # A link is down while any fault holds it: partitions, isolation and clogging
        # overlap, and each heals only its own cuts.
        self._cuts: Counter[Link] = Counter()

    # --- links ---------------------------------------------------------------------------

    def is_cut(self, src: int, dst: int) -> bool:
        return self._cuts[(src, dst)] > 0

    def cut(self, src: int, dst: int) -> None:
        self._cuts[(src, dst)] += 1

    def heal(self, src: int, dst: int) -> None:
        if self._cuts[(src, dst)] > 0:
            self._cuts[(src, dst)] -= 1

    def heal_all(self) -> None:
        self._cuts.clear()

    def cut_links(self) -> list[Link]:
        return sorted(link for link, n in self._cuts.items() if n > 0)

    # --- traffic -------------------------------------------------------------------------

    def send(
        self, msg: Message, now: int, incarnation: int, image: MachineImage | None = None
    ) -> bool:
        """Put `msg` on the wire; False if it is lost at once (cut link or random loss)."""
        stats = self.stats
        stats.sent += 1
        stats.by_type[type(msg).__name__] += 1
        if isinstance(msg, REQUEST_TYPES):
            stats.requests += 1
        if isinstance(msg, AppendEntries):
            stats.entry_bytes += sum(len(e.data) for e in msg.entries)
        if self.is_cut(msg.src, msg.dst) or self._rng.random() < self.faults.drop_rate:
            stats.dropped += 1
            return False
        self._enqueue(msg, now, incarnation, image)
        # A snapshot is a stream, not a datagram: it is never duplicated.
        if image is None and self._rng.random() < self.faults.duplicate_rate:
            stats.duplicated += 1
            self._enqueue(msg, now, incarnation, None)
        return True

    def _enqueue(
        self, msg: Message, now: int, incarnation: int, image: MachineImage | None
    ) -> None:
        faults = self.faults
        if faults.long_delay_rate and self._rng.random() < faults.long_delay_rate:
            delay = self._rng.randint(
                faults.delay_max, max(faults.delay_max, faults.long_delay_max)
            )
        else:
            delay = self._rng.randint(faults.delay_min, faults.delay_max)
        deliver_at = now + delay
        link = (msg.src, msg.dst)
        if not faults.reorder:
            deliver_at = max(deliver_at, self._link_tail.get(link, 0))
            self._link_tail[link] = deliver_at
        self._seq += 1
        self._inflight.append(Envelope(msg, incarnation, deliver_at, self._seq, image))

    def due_count(self, now: int) -> int:
        return sum(1 for e in self._inflight if e.deliver_at <= now)

    def pop_deliverable(self, now: int) -> Envelope | None:
        """Take one message that is due: any of them if reordering, else a due link head."""
        if self.faults.reorder:
            due = [i for i, e in enumerate(self._inflight) if e.deliver_at <= now]
        else:
            heads: dict[Link, int] = {}
            for i, e in enumerate(self._inflight):
                link = (e.msg.src, e.msg.dst)
                if link not in heads:
                    heads[link] = i  # the list is in send order, so this is the head
            due = [i for i in heads.values() if self._inflight[i].deliver_at <= now]
        if not due:
            return None
        return self._inflight.pop(due[self._rng.randrange(len(due))])

    def inflight(self) -> list[Envelope]:
        return list(self._inflight)

    def drop_link(self, src: int, dst: int) -> int:
        """Lose what is on the wire from `src` to `dst`; returns how many messages."""
        keep = [e for e in self._inflight if (e.msg.src, e.msg.dst) != (src, dst)]
        lost = len(self._inflight) - len(keep)
        self._inflight = keep
        self.stats.dropped += lost
        return lost

    def drop_all(self) -> list[Envelope]:
        """Lose everything on the wire (used by tests that want a clean slate)."""
        lost, self._inflight = self._inflight, []
        self.stats.dropped += len(lost)
        return lost
