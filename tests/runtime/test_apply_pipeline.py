"""The apply pipeline of a real RaftNode over a real store: batches that queue up behind a
slow state commit are applied together, in order, and every proposer gets its own reply."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import trio

from eraft_trio.raft.config import RaftConfig
from eraft_trio.raft.types import Message, SnapshotMeta
from eraft_trio.runtime.raft_node import NodeSettings, RaftNode
from eraft_trio.storage.node_store import NodeStore
from eraft_trio.storage.view import TableView

IDENTITY: dict[str, str | int] = {"cluster": "test", "role": "shard", "group": 1, "node": 0}


class NoPeers:
    def send(self, peer: int, message: Message) -> bool:
        return False

    def is_connected(self, peer: int) -> bool:
        return False

    def heard_from(self, peer: int) -> None:
        pass

    def set_peers(self, addresses: Any) -> None:
        pass

    async def call(self, peer: int, request: Any, timeout: float) -> Any:
        raise AssertionError("a one-node group calls nobody")


class Echo:
    """Applies each command by storing it, and answers with it."""

    def apply(self, view: TableView, index: int, command: bytes) -> Any:
        view.put("kv", b"%08d" % index, command)
        return command

    def read(self, view: TableView, query: Any) -> Any:
        return view.get("kv", query)


async def wait_until(condition: Any, what: str) -> None:
    with trio.fail_after(10, shield=False):
        while not condition():
            await trio.sleep(0.001)
    assert condition(), what


async def test_applies_queued_behind_a_slow_commit_share_one_transaction(tmp_path: Path) -> None:
    store = NodeStore.open(tmp_path / "node", IDENTITY)
    applies: list[int] = []
    gate = threading.Event()
    real_apply = store.apply

    def slow_apply(apply: Any, index: int, term: int, membership: Any = None) -> list[Any]:
        applies.append(index)
        gate.wait()  # the first commit is slow: everything after it queues up
        return real_apply(apply, index, term, membership)

    store.apply = slow_apply  # type: ignore[method-assign]
    settings = NodeSettings(raft=RaftConfig(id=0, peers=(0,)), peers=("127.0.0.1:1",))
    node = RaftNode(settings, Echo(), store, NoPeers())
    replies: dict[int, Any] = {}

    async def propose(n: int) -> None:
        replies[n] = await node.propose(b"command %d" % n)

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(node.run)
            await wait_until(lambda: node.is_leader and applies, "the no-op is being applied")
            queued = node._state_jobs_out.statistics
            for n in range(8):
                nursery.start_soon(propose, n)
                await wait_until(lambda n=n: queued().current_buffer_used == n + 1, "queued")
            gate.set()
            await wait_until(lambda: len(replies) == 8, "every proposer answered")
            nursery.cancel_scope.cancel()
    finally:
        gate.set()
        store.close()

    assert replies == {n: b"command %d" % n for n in range(8)}
    assert len(applies) == 2  # the slow one, then the eight queued behind it in one
    reopened = NodeStore.open(tmp_path / "node", IDENTITY)
    try:
        assert reopened.load().applied == applies[-1]
        with reopened.read_view() as view:
            assert view.get("kv", b"%08d" % applies[-1]) == b"command 7"
    finally:
        reopened.close()


async def test_a_snapshot_is_counted_installed_in_the_step_that_moves_the_state_to_it(
    tmp_path: Path,
) -> None:
    """Regression: the count went up in the ready loop after the install, so a status read
    in between showed the state at the snapshot's index with `snapshots_installed` 0 (the
    e2e catch-up test failed in CI on exactly that)."""
    store = NodeStore.open(tmp_path / "node", IDENTITY)
    store.install_snapshot = lambda meta: None  # type: ignore[method-assign]
    settings = NodeSettings(raft=RaftConfig(id=0, peers=(0,)), peers=("127.0.0.1:1",))
    node = RaftNode(settings, Echo(), store, NoPeers())
    node._executors.start()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(node._apply_loop)
            installed = trio.Event()
            await node._state_jobs_in.send((SnapshotMeta(index=50, term=3), installed))
            await installed.wait()
            status = node.statistics()
            assert status["state_applied"] == 50
            assert status["snapshots_installed"] == 1
            nursery.cancel_scope.cancel()
    finally:
        node._executors.stop()
        store.close()
