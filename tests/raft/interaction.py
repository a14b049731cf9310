"""InteractionEnv: RaftCore instances driven by transcript commands, printing what they do.

The counterpart of etcd's rafttest.InteractionEnv, for our core. Each node is a bare
`RaftCore`; the env plays the driver (print the Ready, then "persist" it, which for an
in-memory core means nothing more than `advance`) and the network (one FIFO queue of
messages that only moves when a command says so). Node ids are 1..n here, as in
etcd's transcripts; the core takes any distinct integers (the runtime uses a node's
index in its group's peer list).

Commands (see tests/raft/testdata/README.md for the notation of the output):
    add-nodes N [pre_vote=true] [check_quorum=true] [heartbeat_ticks=1]
                [election_ticks=10] [max_inflight=64] [seed=0] [join=false]
                (join=true: new, empty nodes that learn their group from its leader)
    propose-conf-change ID [CHANGE...] [joint=true|false]
                (CHANGE: v4 add or promote voter 4, l5 add learner 5, r2 remove 2;
                 none: leave a joint membership)
    membership [ID...]
    campaign ID                      tick-election ID        tick-heartbeat ID
    propose ID DATA                  process-ready ID...     stabilize [ID...]
    deliver-msgs [ID...] [drop=ID,...] [type=NAME]
    status ID                        raft-state              raft-log ID
    transfer-leadership FROM TO      read-index ID [ctx=N]   compact ID INDEX
    report-snapshot ID PEER ok|failed                       report-unreachable ID PEER
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from eraft_trio.raft.confchange import ConfChange
from eraft_trio.raft.config import RaftConfig
from eraft_trio.raft.core import RaftCore
from eraft_trio.raft.errors import RaftError
from eraft_trio.raft.types import Message

from .datadriven import Command
from .describe import describe_entry, describe_message, describe_ready

# A stabilize that has not settled after this many rounds is a livelock in the core.
MAX_STABILIZE_ROUNDS = 1000


def _flag(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError(f"expected true or false, not {value!r}")
    return value == "true"


class InteractionEnv:
    def __init__(self) -> None:
        self.nodes: dict[int, RaftCore] = {}
        self.messages: list[Message] = []  # in flight, oldest first
        self._next_ctx = 1
        self._out: list[str] = []
        self._indent = ""
        self._handlers: dict[str, Callable[[Command], None]] = {
            "add-nodes": self._add_nodes,
            "campaign": self._campaign,
            "tick-election": self._tick_election,
            "tick-heartbeat": self._tick_heartbeat,
            "propose": self._propose,
            "propose-conf-change": self._propose_conf_change,
            "membership": self._membership,
            "process-ready": self._process_ready,
            "stabilize": self._stabilize,
            "deliver-msgs": self._deliver_msgs,
            "status": self._status,
            "raft-state": self._raft_state,
            "raft-log": self._raft_log,
            "transfer-leadership": self._transfer_leadership,
            "read-index": self._read_index,
            "compact": self._compact,
            "report-snapshot": self._report_snapshot,
            "report-unreachable": self._report_unreachable,
        }

    def execute(self, command: Command) -> list[str]:
        handler = self._handlers.get(command.name)
        if handler is None:
            raise ValueError(f"unknown command {command.name!r}")
        self._out = []
        handler(command)
        return self._out

    # --- output ---------------------------------------------------------------------------

    def _print(self, line: str) -> None:
        self._out.append(self._indent + line)

    @contextmanager
    def _indented(self) -> Iterator[None]:
        saved = self._indent
        self._indent += "  "
        try:
            yield
        finally:
            self._indent = saved

    @contextmanager
    def _watching(self, core: RaftCore) -> Iterator[None]:
        """Print the node's role changes, which the core itself does not log."""
        before = (core.role, core.term)
        try:
            yield
        finally:
            if (core.role, core.term) != before:
                self._print(f"{core.id} became {core.role.value} at term {core.term}")

    def _node(self, text: str) -> RaftCore:
        node = self.nodes.get(int(text))
        if node is None:
            raise ValueError(f"no node {text}")
        return node

    def _ids(self, command: Command) -> list[int]:
        return [int(a) for a in command.args] or sorted(self.nodes)

    # --- commands -------------------------------------------------------------------------

    def _add_nodes(self, c: Command) -> None:
        count = int(c.args[0])
        o = dict(c.options)
        election = int(o.pop("election_ticks", "10"))
        seed = int(o.pop("seed", "0"))
        join = _flag(o.pop("join", "false"))
        ids = tuple(range(len(self.nodes) + 1, len(self.nodes) + count + 1))
        config_options = {
            "heartbeat_ticks": int(o.pop("heartbeat_ticks", "1")),
            "pre_vote": _flag(o.pop("pre_vote", "true")),
            "check_quorum": _flag(o.pop("check_quorum", "true")),
            "max_inflight": int(o.pop("max_inflight", "64")),
        }
        if o:
            raise ValueError(f"unknown options {sorted(o)}")
        for node_id in ids:
            # One fixed election timeout (min == max) so that tick-election fires exactly.
            config = RaftConfig(
                node_id,
                () if join else ids,
                join=join,
                election_ticks_min=election,
                election_ticks_max=election,
                **config_options,  # type: ignore[arg-type]
            )
            self.nodes[node_id] = RaftCore(config, random.Random(seed * 1000 + node_id))
            self._print(self._state_line(self.nodes[node_id]))

    def _campaign(self, c: Command) -> None:
        node = self._node(c.args[0])
        with self._watching(node):
            node.campaign()

    def _tick(self, node: RaftCore, ticks: int) -> None:
        with self._watching(node):
            for _ in range(ticks):
                node.tick()

    def _tick_election(self, c: Command) -> None:
        node = self._node(c.args[0])
        self._tick(node, node.config.election_ticks_max)

    def _tick_heartbeat(self, c: Command) -> None:
        node = self._node(c.args[0])
        self._tick(node, node.config.heartbeat_ticks)

    def _propose(self, c: Command) -> None:
        node = self._node(c.args[0])
        self._guarded(lambda: node.propose([c.words[2].encode()]))

    def _propose_conf_change(self, c: Command) -> None:
        node = self._node(c.args[0])
        joint = c.options.get("joint")

        def go() -> None:
            changes = [ConfChange.parse(word) for word in c.args[1:]]
            index, term = node.propose_conf_change(
                changes, joint=None if joint is None else _flag(joint)
            )
            self._print(f"{term}/{index} conf {node.membership.describe()}")

        self._guarded(go)

    def _membership(self, c: Command) -> None:
        for node_id in self._ids(c):
            self._print(f"{node_id}: {self.nodes[node_id].membership.describe()}")

    def _guarded(self, call: Callable[[], object]) -> None:
        try:
            call()
        except (RaftError, ValueError) as exc:
            self._print(f"error: {exc}")

    def _process_ready(self, c: Command) -> None:
        ids = self._ids(c)
        for node_id in ids:
            if len(ids) > 1:
                self._print(f"> {node_id} handling Ready")
                with self._indented():
                    self._handle_ready(self.nodes[node_id])
            else:
                self._handle_ready(self.nodes[node_id])

    def _handle_ready(self, node: RaftCore) -> None:
        if not node.has_ready():
            self._print("no Ready")
            return
        rd = node.ready()
        for line in describe_ready(rd):
            self._print(line)
        # As the driver: `messages` leave at once, `persisted_messages` after the write.
        self.messages.extend(rd.messages)
        self.messages.extend(rd.persisted_messages)
        with self._watching(node):
            node.advance(rd)

    def _stabilize(self, c: Command) -> None:
        ids = self._ids(c)
        for _ in range(MAX_STABILIZE_ROUNDS):
            done = True
            for node_id in ids:
                if self.nodes[node_id].has_ready():
                    self._print(f"> {node_id} handling Ready")
                    with self._indented():
                        self._handle_ready(self.nodes[node_id])
                    done = False
            for node_id in ids:
                if any(m.dst == node_id for m in self.messages):
                    self._print(f"> {node_id} receiving messages")
                    with self._indented():
                        self._deliver(node_id, drop=False, kind=None)
                    done = False
            if done:
                return
        raise AssertionError(f"no fixed point after {MAX_STABILIZE_ROUNDS} rounds")

    def _deliver_msgs(self, c: Command) -> None:
        kind = c.options.get("type")
        dropped = [int(x) for x in c.options.get("drop", "").split(",") if x]
        handled = sum(self._deliver(int(a), drop=False, kind=kind) for a in c.args)
        if not c.args and not dropped:
            handled += sum(self._deliver(i, drop=False, kind=kind) for i in sorted(self.nodes))
        handled += sum(self._deliver(i, drop=True, kind=kind) for i in dropped)
        if not handled:
            self._print("no messages")

    def _deliver(self, dst: int, *, drop: bool, kind: str | None) -> int:
        """Step (or drop) the queued messages to `dst`, oldest first; how many there were."""

        def chosen(m: Message) -> bool:
            return m.dst == dst and (kind is None or describe_message(m).split()[1] == kind)

        picked = [m for m in self.messages if chosen(m)]
        self.messages = [m for m in self.messages if not chosen(m)]
        node = self.nodes[dst]
        for m in picked:
            if drop:
                self._print(f"dropped: {describe_message(m)}")
                continue
            self._print(describe_message(m))
            with self._indented(), self._watching(node):
                node.step(m)
        return len(picked)

    def _status(self, c: Command) -> None:
        node = self._node(c.args[0])
        progress = node.status()["progress"]
        if not progress:
            self._print(f"{node.id} is {node.role.value}: no progress tracked")
        for peer, pr in progress.items():
            line = f"{peer}: {pr['state']} match={pr['match']} next={pr['next']}"
            if pr["inflight"]:
                line += f" inflight={pr['inflight']}"
            if not pr["recent_active"]:
                line += " inactive"
            self._print(line)

    def _state_line(self, node: RaftCore) -> str:
        vote = "none" if node.vote is None else node.vote
        leader = "none" if node.leader is None else node.leader
        return (
            f"{node.id}: {node.role.value} term={node.term} vote={vote} leader={leader}"
            f" last={node.log.last_term}/{node.last_index} commit={node.commit}"
            f" applied={node.applied}"
        )

    def _raft_state(self, c: Command) -> None:
        for node_id in self._ids(c):
            self._print(self._state_line(self.nodes[node_id]))

    def _raft_log(self, c: Command) -> None:
        node = self._node(c.args[0])
        snap = node.snapshot
        if snap.index:
            self._print(f"snapshot: {snap.term}/{snap.index}")
        for e in node.log.entries:
            self._print(describe_entry(e))
        if not snap.index and not node.log.entries:
            self._print("empty log")

    def _transfer_leadership(self, c: Command) -> None:
        node = self._node(c.args[0])
        self._guarded(lambda: node.transfer_leadership(int(c.args[1])))

    def _read_index(self, c: Command) -> None:
        node = self._node(c.args[0])
        ctx = int(c.options.get("ctx", self._next_ctx))
        self._guarded(lambda: node.read_index(ctx))
        if not self._out:  # taken: the next read gets a new ctx
            self._next_ctx = max(self._next_ctx, ctx + 1)

    def _compact(self, c: Command) -> None:
        node = self._node(c.args[0])
        node.compact(int(c.args[1]))
        self._print(f"snapshot: {node.snapshot.term}/{node.snapshot.index}")

    def _report_snapshot(self, c: Command) -> None:
        node = self._node(c.args[0])
        outcome = c.args[2]
        if outcome not in ("ok", "failed"):
            raise ValueError(f"report-snapshot: expected ok or failed, not {outcome!r}")
        node.report_snapshot(int(c.args[1]), outcome == "ok")

    def _report_unreachable(self, c: Command) -> None:
        self._node(c.args[0]).report_unreachable(int(c.args[1]))
