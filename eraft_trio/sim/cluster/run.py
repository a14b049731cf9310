"""One seeded run of the whole simulated cluster, and its verdict.

The seed draws everything: the network's faults, disk latencies, the nodes' election
timeouts, the clients' ops, the operator's config changes and the nemesis's crashes,
partitions and disk faults; trio runs under MockClock with a seeded scheduler
(determinism.py) and the process's `random` seeded (the client draws its ids and
backoffs from it), so a seed replays exactly. The run: group 1 joins, then clients
run for `duration` seconds while groups join and leave and buckets move, under
faults; then everything heals, every group must catch up and finish migrating, and
every key is read back. Checked: the whole history for linearizability
(chaos/linearizability.py), every acknowledged write for presence
(chaos/lost_writes.py), no bucket served by two groups in one config, the replicas
of each group equal, and each key at its owner only (ownership.py).
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
from eraft_trio.errors import EraftError
from eraft_trio.sim.cluster.clients import ClientLoad, ClientProcess
from eraft_trio.sim.cluster.cluster import CONFIG_GID, ClusterShape, SimCluster
from eraft_trio.sim.cluster.determinism import deterministic_scheduling
from eraft_trio.sim.cluster.nemesis import Nemesis
from eraft_trio.sim.cluster.network import LinkFaults
from eraft_trio.sim.cluster.ownership import ServingMonitor, check_placement, wait_settled
from eraft_trio.sim.cluster.reconfigure import Operator


@dataclass(frozen=True)
class ClusterSpec:
    shape: ClusterShape = ClusterShape()
    load: ClientLoad = ClientLoad()
    duration: float = 10.0  # seconds of client load under faults
    settle: float = 60.0  # seconds the healed cluster has to settle and answer the final reads
    faults: bool = True
    nemesis_pause: tuple[float, float] = (0.2, 1.5)
    reconfigure_pause: tuple[float, float] = (1.0, 3.0)  # between config changes
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
    operator = Operator(cluster, random.Random(rng.getrandbits(64)), spec.reconfigure_pause)
    clients = [
        ClientProcess(process, cluster, spec.load, random.Random(rng.getrandbits(64)))
        for process in range(1, spec.load.clients + 1)
    ]
    admin = ClientProcess(0, cluster, spec.load, random.Random(rng.getrandbits(64)))
    monitor = ServingMonitor(cluster)
    async with trio.open_nursery() as nursery:
        await nursery.start(cluster.run)
        nursery.start_soon(monitor.run)
        stop = trio.Event()
        for client in [admin, *clients]:
            await nursery.start(client.run, stop)
        async with trio.open_nursery() as load:
            load.start_soon(operator.run, stop)
            if spec.faults:
                load.start_soon(nemesis.run, stop)
            await trio.sleep(spec.duration)
            stop.set()
            for client in clients:
                await client.idle.wait()
        await nemesis.heal_all()
        keys = sorted({op.key for c in clients for op in c.history})
        await _settle(cluster, admin, keys, spec, result)
        monitor.sample()
        result.violations.extend(monitor.violations)
        result.history = [op for client in [admin, *clients] for op in client.history]
        result.fault_log = sorted(nemesis.log + operator.log)
        network = cluster.network
        errors: dict[str, int] = {}
        for client in [admin, *clients]:
            for name, count in client.errors.items():
                errors[name] = errors.get(name, 0) + count
        result.stats = {
            "crashes": cluster.crashes,
            "fail_stops": sum(n.fail_stops for n in cluster.nodes),
            "disk_full_errors": sum(n.disk.full_errors for n in cluster.nodes),
            "torn_writes": sum(n.torn_writes for n in cluster.nodes),
            "config_changes": operator.changes,
            "messages": network.sent,
            "dropped": network.dropped,
            "ops": len(result.history),
            "ok_writes": sum(op.is_write and op.outcome == "ok" for op in result.history),
            "snapshots_installed": sum(
                n.snapshots_installed
                + (n.raft.statistics()["snapshots_installed"] if n.raft else 0)
                for n in cluster.nodes
            ),
            "chunks_installed": sum(
                n.chunks_installed
                + (n.role.statistics()["chunks_installed"] if n.role is not None else 0)
                for n in cluster.nodes
                if n.gid != CONFIG_GID
            ),
            "op_errors": sum(errors.values()),
            **{f"errors_{name}": count for name, count in sorted(errors.items())},
        }
        nursery.cancel_scope.cancel()


async def _settle(
    cluster: SimCluster,
    admin: ClientProcess,
    keys: list[bytes],
    spec: ClusterSpec,
    result: ClusterResult,
) -> None:
    """With every fault healed: every group catches up with the latest config and finishes
    its migrations, every key is read back, and where each key lives is checked."""
    with trio.move_on_after(spec.settle):
        latest = await _latest_config(admin)
        await wait_settled(cluster, latest["num"])
        for key in keys:
            result.final[key] = await admin.final_read(key)
        result.violations.extend(check_placement(cluster, latest, result.final))
        return
    result.violations.append(
        f"liveness: the healed cluster did not settle (catch up, migrate, answer every final "
        f"read) in {spec.settle}s" + _describe(cluster)
    )


async def _latest_config(admin: ClientProcess) -> dict[str, Any]:
    assert admin._client is not None
    while True:
        try:
            return await admin._client.config_client.query()
        except EraftError:
            continue


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
