"""One chaos run from start to verdict: start the cluster, load it, break it, heal it, check it.

Phases: start every node and join the shard groups; run the clients and the nemesis
for the run's duration; heal everything and let the clients run a little longer;
wait for the cluster to settle; read every key; check the history. Every node is
killed and every link healed on the way out, whatever happened.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import trio

from eraft_trio.chaos.events import EventLog
from eraft_trio.chaos.history import HistoryRecorder, Op
from eraft_trio.chaos.linearizability import Verdict, check
from eraft_trio.chaos.link_cuts import LinkCuts
from eraft_trio.chaos.lock_check import LockVerdict, check_lock
from eraft_trio.chaos.lock_workload import LockSettings, LockWorkload
from eraft_trio.chaos.lost_writes import LostWrite, lost_writes
from eraft_trio.chaos.member_nemesis import MemberNemesis
from eraft_trio.chaos.membership import MembershipNemesis
from eraft_trio.chaos.nemesis import NETWORK_FAULTS, PROCESS_FAULTS, Nemesis
from eraft_trio.chaos.node_processes import NodeSet
from eraft_trio.chaos.topology import Topology, build_topology
from eraft_trio.chaos.workload import Workload, WorkloadSettings, WorkloadStats, final_reads
from eraft_trio.group_calls.cluster_probe import ClusterProbe
from eraft_trio.group_calls.config_client import ConfigClient

STARTUP_TIMEOUT = 60.0
SETTLE_TIMEOUT = 90.0
RECOVERY_SECONDS = 5.0  # clients keep going after the heal, to see the cluster serve again
FINAL_READ_TIMEOUT = 10.0


class SetupError(RuntimeError):
    """The cluster never came up, so there is nothing to test."""


@dataclass(frozen=True)
class RunSettings:
    duration: float
    seed: int
    faults: frozenset[str]
    shard_groups: int
    folder: Path  # role files, node logs and data folders go here
    partitions: bool  # False outside a namespace: no nftables cuts
    overlap: bool = False  # process and network faults at the same time
    workload: WorkloadSettings = field(default_factory=WorkloadSettings)
    lock: LockSettings | None = None  # the lock workload beside the register one, or not
    log_level: str = "info"


@dataclass
class RunResult:
    settings: RunSettings
    topology: Topology
    history: list[Op]
    final_reads: dict[bytes, bytes | None]
    verdict: Verdict
    lost: list[LostWrite]
    events: EventLog
    workload_stats: WorkloadStats
    membership: dict[str, int]
    unsettled: list[str]  # why the cluster had not settled when final reads began
    terms: dict[int, int]  # gid -> highest term at the end (0: the config group)
    crashes: dict[str, list[int]]  # node -> exit codes of exits nobody asked for
    elapsed: float
    lock: LockVerdict | None = None
    lock_workload: LockWorkload | None = None

    @property
    def violation(self) -> bool:
        lock_broken = self.lock is not None and self.lock.result == "violation"
        return self.verdict.result == "violation" or bool(self.lost) or lock_broken

    @property
    def conclusive(self) -> bool:
        """The checks could judge everything: no undecided key, every key read at the end,
        and the lock's counter exact (not merely within its unknown increments)."""
        keys = self.settings.workload.key_names()
        lock_judged = self.lock is None or self.lock.result == "exact"
        return (
            self.verdict.result != "unknown"
            and all(k in self.final_reads for k in keys)
            and lock_judged
        )


async def run_chaos(settings: RunSettings, events: EventLog) -> RunResult:
    topology = build_topology(settings.folder, settings.shard_groups)
    nodes = NodeSet(topology.nodes, settings.log_level)
    cuts = LinkCuts() if settings.partitions else None
    try:
        if cuts is not None:
            cuts.install()
        nodes.start_all()
        events.say(
            f"started {len(topology.nodes)} nodes: config group + groups {list(topology.groups)}"
        )
        return await _run_started(settings, topology, nodes, cuts, events)
    except SetupError as error:
        raise SetupError(f"{error}{_crash_report(nodes)}") from None
    finally:
        nodes.cleanup_all()
        if cuts is not None:
            cuts.uninstall()


async def _run_started(
    settings: RunSettings,
    topology: Topology,
    nodes: NodeSet,
    cuts: LinkCuts | None,
    events: EventLog,
) -> RunResult:
    rng = random.Random(settings.seed)
    recorder = HistoryRecorder()
    workload = Workload(topology.config_servers, recorder, settings.workload, settings.seed)
    locker = (
        None if settings.lock is None else LockWorkload.of(topology.config_servers, settings.lock)
    )
    async with ClusterProbe.open(
        topology.config_servers, cluster=topology.cluster, known_groups=topology.groups
    ) as probe:
        await _join_groups(topology, probe, events)
        problems = await probe.wait_settled(STARTUP_TIMEOUT)
        if problems:
            raise SetupError("cluster did not settle after start: " + "; ".join(problems))
        events.say("cluster settled; clients and nemesis start")

        membership = MembershipNemesis(topology, probe.pool, events, random.Random(rng.random()))
        members = MemberNemesis(topology, nodes, events, random.Random(rng.random()))
        nemeses = _nemeses(settings, topology, nodes, cuts, probe, events, rng)
        clients_stop, nemesis_stop = trio.Event(), trio.Event()
        async with trio.open_nursery() as clients:
            clients.start_soon(workload.run, clients_stop)
            if locker is not None:
                clients.start_soon(locker.run, clients_stop)
            clients.start_soon(_progress, recorder, locker, events, clients_stop)
            async with trio.open_nursery() as faults:
                for nemesis in nemeses:
                    faults.start_soon(nemesis.run, nemesis_stop)
                if "membership" in settings.faults:
                    faults.start_soon(membership.run, nemesis_stop)
                if "members" in settings.faults:
                    faults.start_soon(members.run, nemesis_stop)
                await trio.sleep(settings.duration)
                nemesis_stop.set()
            # Each nemesis healed its own fault as it stopped; make sure nothing is left.
            nemeses[0].heal_all()
            events.say("nemesis stopped, everything healed; clients run on a while")
            await trio.sleep(RECOVERY_SECONDS)
            clients_stop.set()
        events.say(f"clients stopped after {len(recorder.ops())} ops")
        unsettled = await probe.wait_settled(SETTLE_TIMEOUT)
        if unsettled:
            events.say("cluster did NOT settle: " + "; ".join(unsettled))
        else:
            events.say("cluster settled; final reads")
        terms = await probe.terms()
    reads = await final_reads(workload, timeout=FINAL_READ_TIMEOUT)
    events.say(f"final reads: {len(reads)} of {len(workload.keys)} keys answered; checking")
    lock = None
    if locker is not None:
        counter = await locker.read_counter(timeout=FINAL_READ_TIMEOUT)
        lock = check_lock(locker.sections, counter)
    history = recorder.ops()
    verdict = await trio.to_thread.run_sync(check, history)
    lost = lost_writes(history, reads)
    return RunResult(
        settings=settings,
        topology=topology,
        history=history,
        final_reads=reads,
        verdict=verdict,
        lost=lost,
        events=events,
        workload_stats=workload.stats,
        membership=dict(membership.outcomes + members.outcomes),
        unsettled=unsettled,
        terms=terms,
        crashes=nodes.crashes(),
        elapsed=events.elapsed(),
        lock=lock,
        lock_workload=locker,
    )


def _crash_report(nodes: NodeSet) -> str:
    """The nodes that died by themselves, each with the last line of its log."""
    crashes = nodes.crashes()
    lines = [
        f"\n  {name} exited with {codes[-1]}: {(nodes[name].log_tail(1) or ['(no log)'])[-1]}"
        for name, codes in sorted(crashes.items())
    ]
    return "".join(lines)


def _nemeses(
    settings: RunSettings,
    topology: Topology,
    nodes: NodeSet,
    cuts: LinkCuts | None,
    probe: ClusterProbe,
    events: EventLog,
    rng: random.Random,
) -> list[Nemesis]:
    """One nemesis for every fault kind, or with `overlap` one for process faults and one
    for network faults, running at once."""
    if not settings.overlap:
        return [Nemesis(topology, nodes, cuts, probe, events, settings.faults, rng)]
    process = settings.faults & set(PROCESS_FAULTS)
    network = settings.faults & set(NETWORK_FAULTS)
    network_rng = random.Random(rng.random())
    return [
        Nemesis(topology, nodes, cuts, probe, events, process, rng),
        Nemesis(topology, nodes, cuts, probe, events, network, network_rng),
    ]


async def _join_groups(topology: Topology, probe: ClusterProbe, events: EventLog) -> None:
    """Join every shard group in one config change (retried: the config group may still be electing)."""
    client = ConfigClient(probe.pool, topology.config_servers, timeout=STARTUP_TIMEOUT)
    try:
        num = await client.join(dict(topology.groups))
    except Exception as exc:
        raise SetupError(f"could not join the shard groups: {type(exc).__name__}: {exc}") from exc
    events.say(f"joined groups {list(topology.groups)}: config {num}")


async def _progress(
    recorder: HistoryRecorder, locker: LockWorkload | None, events: EventLog, stop: trio.Event
) -> None:
    while not stop.is_set():
        with trio.move_on_after(10):
            await stop.wait()
        ops = recorder.ops()
        done = Counter(op.outcome for op in ops if op.complete is not None)
        locked = ""
        if locker is not None:
            held = Counter(section.outcome for section in locker.sections)
            locked = (
                f"; lock: {held['acked']} increments, {held['unknown']} unknown, "
                f"{held['abandoned']} abandoned"
            )
        events.say(
            f"progress: {len(ops)} ops, {done['ok']} ok, {done['timeout']} timeout, "
            f"{done['fail']} fail, {recorder.pending_count} in flight{locked}"
        )
