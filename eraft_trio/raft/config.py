"""Every knob of the Raft core, in one validated object."""

from __future__ import annotations

from dataclasses import dataclass


class ConfigError(ValueError):
    """A RaftConfig that cannot work (named field and reason in the message)."""


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Times are in ticks; the driver decides how long a tick is.

    The defaults suit a 10 ms tick: heartbeats every 50 ms, elections after 300-600 ms.
    """

    id: int
    peers: tuple[int, ...]
    heartbeat_ticks: int = 5
    election_ticks_min: int = 30
    election_ticks_max: int = 60
    pre_vote: bool = True
    check_quorum: bool = True
    # Flow control of replication: bytes of entry data per AppendEntries, and how many
    # AppendEntries may be unacknowledged per follower in replicate state.
    max_msg_bytes: int = 1 << 20
    max_inflight: int = 64
    # Upper bound on the entry bytes handed to the driver to apply in one Ready.
    max_apply_bytes: int = 8 << 20
    # A follower in snapshot state goes back to probing after this many ticks without
    # an answer, so a lost transfer cannot stall it forever.
    snapshot_timeout_ticks: int = 3000
    # The election timeout drawn once, when the core starts: (min, max) ticks, or None
    # for the usual range. A whole group restarting then elects a leader in about a
    # heartbeat or two instead of 300-600 ms (etcd advances its first election on boot
    # for the same reason). It cannot disturb a group that has a leader: with pre-vote
    # and check-quorum, members that heard from their leader refuse the pre-vote.
    first_election_ticks: tuple[int, int] | None = None
    # A leader whose Ready (its own log write) has been out for an election timeout
    # (election_ticks_min) steps down and hands off to its most up-to-date follower:
    # a slow disk must not keep a group without a working leader (docs/operations.md,
    # "Disk health").
    step_down_on_slow_write: bool = True
    # A node added to a running group (a membership change): it starts with no members
    # and learns them from its leader's log or snapshot, so `peers` must be empty. Until
    # then it is nobody's voter and never campaigns.
    join: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.join:
            if self.peers:
                raise ConfigError("peers: a joining node learns its peers from the leader")
        elif not self.peers:
            raise ConfigError("peers: at least one node is required")
        if len(set(self.peers)) != len(self.peers):
            raise ConfigError(f"peers: duplicate node ids in {self.peers}")
        if not self.join and self.id not in self.peers:
            raise ConfigError(f"id: {self.id} is not one of peers {self.peers}")
        if self.heartbeat_ticks < 1:
            raise ConfigError("heartbeat_ticks: must be at least 1")
        if self.election_ticks_min <= self.heartbeat_ticks:
            raise ConfigError(
                "election_ticks_min: must exceed heartbeat_ticks "
                f"({self.election_ticks_min} <= {self.heartbeat_ticks})"
            )
        if self.election_ticks_max < self.election_ticks_min:
            raise ConfigError("election_ticks_max: must be >= election_ticks_min")
        if self.max_msg_bytes < 1:
            raise ConfigError("max_msg_bytes: must be positive")
        if self.max_inflight < 1:
            raise ConfigError("max_inflight: must be at least 1")
        if self.max_apply_bytes < 1:
            raise ConfigError("max_apply_bytes: must be positive")
        if self.snapshot_timeout_ticks < 1:
            raise ConfigError("snapshot_timeout_ticks: must be at least 1")
        if self.first_election_ticks is not None:
            low, high = self.first_election_ticks
            if not self.heartbeat_ticks < low <= high <= self.election_ticks_max:
                raise ConfigError(
                    "first_election_ticks: must be (min, max) with heartbeat_ticks < min"
                    f" <= max <= election_ticks_max, not {self.first_election_ticks}"
                )

    @property
    def quorum(self) -> int:
        return len(self.peers) // 2 + 1
