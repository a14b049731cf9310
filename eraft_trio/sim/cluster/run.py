"""One seeded run of a simulated cluster, and its verdict.

The seed draws everything: the network's faults, disk latencies, the nodes' election
timeouts, the clients' ops and the nemesis's crashes and partitions; trio runs under
MockClock with a seeded scheduler (determinism.py), so a seed replays exactly. The
run: configure the shard group (all buckets to it), run clients against faults for
`duration` seconds, heal everything, read every key back, and then check the whole
history for linearizability (chaos/linearizability.py), every acknowledged write for
presence (chaos/lost_writes.py) and every replica's tables against the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
import trio.testing

from eraft_trio.chaos.history import Op
from eraft_trio.chaos.linearizability import check, lost_writes
from eraft_trio.roles.shard.commands import NewConfig, encode_command
from eraft_trio.roles.shard.placement import Placement
from eraft_trio.runtime.errors import NotLeaderError, ProposalDropped
from eraft_trio.sim.cluster.clients import Client, ClientLoad, Unanswered
from eraft_trio.sim.cluster.cluster import GROUP, ClusterShape, SimCluster
from eraft_trio.sim.cluster.determinism import deterministic_scheduling
from eraft_trio.sim.cluster.nemesis import Nemesis
from eraft_trio.sim.cluster.network import LinkFaults

BUCKETS = 4


@dataclass(frozen=True)
class ClusterSpec:
    shape: ClusterShape = ClusterShape()
    load: ClientLoad = ClientLoad()
    duration: float = 15.0  # seconds of client load under faults
    settle: float = 60.0  # seconds the healed cluster has to answer the final reads
    faults: bool = True
    nemesis_pause: tuple[float, float] = (0.2, 1.5)
    power_cuts: float = 0.05  # the share of the nemesis's faults that crash every node


@dataclass
class ClusterResult:
    seed: int
    history: list[Op] = field(default_factory=list)
    final: dict[bytes, bytes | None] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    fault_log: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """A digest of everything the run observed: equal for two runs of one seed."""
        text = repr((self.history, sorted(self.final.items()), self.fault_log, self.stats))
        return hashlib.sha256(text.encode()).hexdigest()


def run_seed(
    seed: int, spec: ClusterSpec = ClusterSpec(), folder: Path | None = None
) -> ClusterResult:
    """Run `seed`; its stores live in a temporary folder (under `folder`) removed after."""
    result = ClusterResult(seed)
    folder = folder or _fast_folder()
    with (
        tempfile.TemporaryDirectory(prefix=f"sim-{seed}-", dir=folder) as tmp,
        deterministic_scheduling(seed),
    ):
        clock = trio.testing.MockClock(autojump_threshold=0)
        try:
            trio.run(_run, seed, spec, Path(tmp), result, clock=clock)
        except Exception:
            # A node failing (a storage error, a broken assertion) is a finding too.
            result.violations.append("error: " + traceback.format_exc())
            return result
    _check(result)
    return result


def _fast_folder() -> Path | None:
    """Memory-backed storage when the machine has it: each simulated write is an fsync."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() else None


async def _run(seed: int, spec: ClusterSpec, folder: Path, result: ClusterResult) -> None:
    rng = random.Random(seed)
    shape = spec.shape
    if spec.faults:  # a seed's own disks: from fast to slow
        shape = dataclasses.replace(shape, disk_latency=(0.0, rng.choice((0.002, 0.01, 0.05))))
    cluster = SimCluster(shape, random.Random(rng.getrandbits(64)), folder)
    if spec.faults:
        cluster.network.faults = LinkFaults.draw(rng)
    nemesis = Nemesis(
        cluster, random.Random(rng.getrandbits(64)), spec.nemesis_pause, spec.power_cuts
    )
    clients = [
        Client(process, cluster, spec.load, random.Random(rng.getrandbits(64)))
        for process in range(1, spec.load.clients + 1)
    ]
    admin = Client(0, cluster, spec.load, random.Random(rng.getrandbits(64)))
    async with trio.open_nursery() as nursery:
        await nursery.start(cluster.run)
        stop = trio.Event()
        async with trio.open_nursery() as load:
            load.start_soon(_configure, admin, spec, stop)
            for client in clients:
                load.start_soon(client.run, stop)
            if spec.faults:
                load.start_soon(nemesis.run, stop)
            await trio.sleep(spec.duration)
            stop.set()
        await nemesis.heal_all()
        with trio.move_on_after(spec.settle):
            for key in sorted({op.key for c in clients for op in c.history}):
                invoke = trio.current_time()
                value = await admin.final_read(key)
                result.final[key] = value
                admin.history.append(Op(0, "get", key, value, invoke, trio.current_time(), "ok"))
        if len(result.final) < len({op.key for c in clients for op in c.history}):
            result.violations.append(
                f"liveness: the healed cluster did not answer every final read in {spec.settle}s"
                + _describe(cluster)
            )
        else:
            with trio.move_on_after(spec.settle) as waiting:
                await _check_replicas(cluster, result)
            if waiting.cancelled_caught:
                result.violations.append(
                    f"liveness: the replicas did not all apply the last commit in {spec.settle}s"
                    + _describe(cluster)
                )
        result.history = [op for client in [admin, *clients] for op in client.history]
        result.fault_log = nemesis.log
        network = cluster.network
        result.stats = {
            "crashes": cluster.crashes,
            "torn_writes": sum(n.torn_writes for n in cluster.nodes),
            "messages": network.sent,
            "dropped": network.dropped,
            "duplicated": network.duplicated,
            "ops": len(result.history),
            "ok_writes": sum(op.is_write and op.outcome == "ok" for op in result.history),
            "snapshots_installed": sum(
                n.snapshots_installed
                + (n.raft.statistics()["snapshots_installed"] if n.raft else 0)
                for n in cluster.nodes
            ),
        }
        nursery.cancel_scope.cancel()


async def _configure(admin: Client, spec: ClusterSpec, stop: trio.Event) -> None:
    """Give every bucket to the group (config 1), retrying until it applied."""
    addresses = spec.shape.addresses()
    config = Placement(1, (GROUP,) * BUCKETS, {GROUP: addresses}).to_json()
    data = encode_command(NewConfig(config))
    while not stop.is_set():
        try:
            reply = await admin.attempt(lambda node: node.start_proposal(data))
        except (NotLeaderError, ProposalDropped, Unanswered):
            continue
        if reply.get("ok") or reply.get("num") == 1:
            return


async def _check_replicas(cluster: SimCluster, result: ClusterResult) -> None:
    """Once every node applied the leader's last commit, their tables must be equal."""
    while True:
        nodes = [n.raft for n in cluster.nodes]
        leader = next((n for n in nodes if n is not None and n.is_leader), None)
        if leader is not None and all(n is not None for n in nodes):
            target = leader.core.commit
            if all(n is not None and n.statistics()["state_applied"] >= target for n in nodes):
                break
        await trio.sleep(0.1)
    views = {}
    for sim in cluster.nodes:
        assert sim.raft is not None
        views[sim.id] = {key: sim.raft.read_local(("get", key)) for key in sorted(result.final)}
    first = views[0]
    for node, view in views.items():
        if view != first:
            result.violations.append(f"replicas disagree: node 0 has {first}, node {node} {view}")


def _describe(cluster: SimCluster) -> str:
    """Where each node stands, for a liveness report."""
    keys = ("role", "term", "leader", "commit", "last_index", "snapshot_index", "state_applied")
    lines = []
    for sim in cluster.nodes:
        if sim.raft is None:
            lines.append(f"\n  node {sim.id}: down")
            continue
        status = sim.raft.statistics()
        shown = ", ".join(f"{key} {status.get(key)}" for key in keys)
        lines.append(f"\n  node {sim.id}: {shown}")
    return "".join(lines)


def _check(result: ClusterResult) -> None:
    verdict = check(result.history)
    if verdict.result == "violation":
        result.violations.append("\n".join(verdict.explain()))
    elif verdict.result == "unknown":
        result.violations.append("linearizability undecided: " + "; ".join(verdict.explain()))
    for lost in lost_writes(result.history, result.final):
        result.violations.append(lost.explain())
