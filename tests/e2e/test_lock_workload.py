"""The chaos lock workload (eraft_trio/chaos/lock_workload.py) against real processes, without
faults: its counter ends exact, and its checks catch a holder that works on after losing
its lease (what the chaos runs look for under faults)."""

from __future__ import annotations

import pytest
import trio
from integration.cluster import wait_for

from eraft_trio.chaos.lock_check import LockVerdict, Section, check_lock
from eraft_trio.chaos.lock_workload import COUNTER_KEY, LockSettings, LockWorkload
from eraft_trio.client import Client
from eraft_trio.client.lock import HeldLock

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe
from .membership import arrange_groups
from .sharded_cluster import ShardedCluster

# Bounds a broken run only.
DEADLINE = 60.0


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    return module_cluster_factory((1, 2), buckets=10)


async def run_until(workload: LockWorkload, sections: int, worker: int = 0) -> LockVerdict:
    """Run the workers until `sections` critical sections ended, `worker`'s among them;
    judge them."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(workload.run, stop)

        async def enough() -> bool | None:
            ended = workload.sections
            mine = any(section.worker == worker for section in ended)
            return True if len(ended) >= sections and mine else None

        await wait_for(enough, timeout=DEADLINE, what=f"{sections} critical sections")
        stop.set()
    return check_lock(workload.sections, await workload.read_counter(timeout=10))


async def test_workers_under_the_lock_keep_the_counter_exact(cluster: ShardedCluster) -> None:
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    workload = LockWorkload.of(cluster.config_servers, LockSettings(workers=4, ttl=5))
    verdict = await run_until(workload, 30)
    assert verdict.result == "exact", verdict.explain()
    assert verdict.counter == verdict.acked >= 30
    assert verdict.overlaps == 0 and verdict.tokens_compared > 0


class LeaseIgnoringWorkload(LockWorkload):
    """Worker 0, once, is a holder frozen past its TTL that does not look at its lease on
    waking: its lease ends after its get (revoked here, as if it had expired), another
    worker takes the lock and increments, and then worker 0 puts its stale value anyway."""

    fired = False

    async def critical_section(
        self, kv: Client, worker: int, held: HeldLock, owner: int | None
    ) -> Section:
        if worker != 0 or self.fired:
            return await super().critical_section(kv, worker, held, owner)
        self.fired = True
        start = trio.current_time()
        value = int(await kv.get(COUNTER_KEY) or b"0")
        await kv.revoke(held.lease.id)
        revoked = trio.current_time()

        async def another_section_ended() -> bool | None:
            done = any(s.worker != 0 and s.start > revoked for s in self.sections)
            return True if done else None

        await wait_for(another_section_ended, timeout=DEADLINE, what="another holder's section")
        await kv.put(COUNTER_KEY, b"%d" % (value + 1))
        return Section(worker, start, trio.current_time(), held.fencing_token, owner, "acked")


async def test_the_checks_catch_a_holder_that_works_on_after_losing_its_lease(
    cluster: ShardedCluster,
) -> None:
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    async with Client.connect(cluster.config_servers, timeout=30) as kv:
        await kv.delete(COUNTER_KEY)  # the other test's counter
    workload = LeaseIgnoringWorkload.of(cluster.config_servers, LockSettings(workers=3, ttl=5))
    verdict = await run_until(workload, 12)
    assert verdict.result == "violation"
    assert verdict.overlaps >= 1
    # The other holders' increments while worker 0 was frozen (one or more: waiters wake
    # on the watch at once) were overwritten by its stale one.
    assert verdict.counter < verdict.acked
    assert any("overlap: worker 0" in line for line in verdict.explain())
