"""Snapshot transfers between two in-process RaftNodes over real stores: only a complete,
verified transfer reaches the follower's core, and no late or forged chunk stops it.

The leader's real sender streams each transfer into a recording link; the test then
hands the recorded chunks to the follower's `receive_snapshot_chunk` in the order it
wants (a lost ack and a late delivery are exactly that: an order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from storage.write_batch import WriteBatch, write_batch

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.node import SnapshotChunk
from eraft_trio.protocol.replies import DONE, Done
from eraft_trio.raft.config import RaftConfig
from eraft_trio.raft.types import Entry, InstallSnapshot, Message, SnapshotMeta
from eraft_trio.runtime.raft_node import NodeSettings, RaftNode
from eraft_trio.storage.errors import SnapshotError
from eraft_trio.storage.node_store import NodeStore
from eraft_trio.storage.view import TableView
from eraft_trio.transport import codec

ROWS = 2000
PEERS = ("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
LEADER, FOLLOWER = 0, 1
TERM = 2


class RecordingLink:
    """A PeerLink whose peers acknowledge every chunk without receiving it (or refuse it)."""

    def __init__(self, reply: str = "ok") -> None:
        self.reply = reply
        self.chunks: list[SnapshotChunk] = []

    def send(self, peer: int, message: Message) -> bool:
        return True

    def is_connected(self, peer: int) -> bool:
        return True

    def heard_from(self, peer: int) -> None:
        pass

    def set_peers(self, addresses: Any) -> None:
        pass

    async def call(self, peer: int, request: Any, timeout: float) -> Any:
        self.chunks.append(request)
        return DONE if self.reply == "ok" else ErrorReply(ErrorCode(self.reply))


class NoStateMachine:
    def apply(self, view: TableView, index: int, command: bytes) -> Any:
        raise AssertionError("nothing is applied in these tests")

    def read(self, view: TableView, query: Any) -> Any:
        raise AssertionError("nothing is read in these tests")


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[dict[int, NodeStore]]:
    opened = {
        node: NodeStore.open(
            tmp_path / f"node{node}", {"cluster": "test", "role": "shard", "group": 1, "node": node}
        )
        for node in (LEADER, FOLLOWER)
    }
    yield opened
    for store in opened.values():
        store.close()


@pytest.fixture
def leader(stores: dict[int, NodeStore]) -> RaftNode:
    return make_node(LEADER, stores[LEADER], RecordingLink())


@pytest.fixture
def follower(stores: dict[int, NodeStore]) -> RaftNode:
    return make_node(FOLLOWER, stores[FOLLOWER], RecordingLink())


def make_node(node: int, store: NodeStore, link: RecordingLink) -> RaftNode:
    settings = NodeSettings(
        raft=RaftConfig(id=node, peers=(0, 1, 2)),
        peers=PEERS,
        snapshot_chunk_bytes=8192,  # ROWS make ~30 chunks
    )
    return RaftNode(settings, NoStateMachine(), store, link)


def apply_rows(store: NodeStore, index: int, value: bytes) -> None:
    """Append entry `index` and apply it: ROWS rows, each holding `value`."""
    write_batch(store, WriteBatch(entries=[Entry(term=1, index=index, data=b"x")]))

    def fill(view: TableView) -> list[object]:
        for i in range(ROWS):
            view.put("kv", b"key%05d" % i, value * 100)
        return []

    write_batch(store, WriteBatch(apply=fill, applied_index=index, applied_term=1))


async def record_transfer(leader: RaftNode) -> list[SnapshotChunk]:
    """Every chunk the leader's sender streams in one transfer of its current snapshot."""
    link = leader.link
    assert isinstance(link, RecordingLink)
    link.chunks.clear()
    # The sender streams what its store holds now, whatever meta the core named.
    await leader._send_snapshot(InstallSnapshot(TERM, LEADER, FOLLOWER, SnapshotMeta(1, 1)))
    return list(link.chunks)


def outcome(reply: Done | ErrorReply) -> str:
    """ "ok" for a chunk taken, else the refusal's code."""
    return "ok" if type(reply) is Done else str(reply.code)  # type: ignore[union-attr]


async def deliver(node: RaftNode, chunks: list[SnapshotChunk]) -> list[str]:
    return [outcome(await node.receive_snapshot_chunk(chunk)) for chunk in chunks]


def install_pending(node: RaftNode) -> int | None:
    """Install what the core was handed, as the apply pipeline would; how many rows it has."""
    pending = node.core.log.pending_snapshot
    if pending is None:
        return None
    node.store.install_snapshot(pending)
    with node.store.read_view() as view:
        return len(list(view.scan("kv")))


def can_install(store: NodeStore, meta: SnapshotMeta) -> bool:
    try:
        store.install_snapshot(meta)
    except SnapshotError:
        return False
    return True


async def test_a_late_last_chunk_of_a_superseded_transfer_installs_nothing(
    leader: RaftNode, follower: RaftNode
) -> None:
    apply_rows(leader.store, 1, b"a")
    first = await record_transfer(leader)
    second = await record_transfer(leader)  # same snapshot, same leader, same term
    assert len(first) > 10 and len(second) == len(first)

    # Transfer A stages two chunks, then its sender gives up (a lost ack); transfer B
    # resets the staging and stages its first chunk; then A's last chunk arrives.
    assert await deliver(follower, first[:2] + second[:1]) == ["ok"] * 3
    late = await follower.receive_snapshot_chunk(first[-1])

    assert install_pending(follower) is None, "a partial staging was installed"
    assert late != "ok"
    assert await deliver(follower, second[1:]) == ["ok"] * (len(second) - 1)
    assert install_pending(follower) == ROWS


async def test_a_complete_transfer_installs_every_row_and_its_chunks_cross_the_wire(
    leader: RaftNode, follower: RaftNode
) -> None:
    apply_rows(leader.store, 1, b"a")
    chunks = await record_transfer(leader)
    wired = [codec.decode(codec.encode(chunk)) for chunk in chunks]

    assert wired == chunks
    assert await deliver(follower, wired) == ["ok"] * len(chunks)
    assert install_pending(follower) == ROWS


async def test_a_chunk_out_of_order_is_refused_and_ends_its_transfer(
    leader: RaftNode, follower: RaftNode
) -> None:
    apply_rows(leader.store, 1, b"a")
    chunks = await record_transfer(leader)

    assert await deliver(follower, [chunks[0], chunks[2]]) == ["ok", "out_of_order"]
    assert await deliver(follower, chunks[1:]) == ["unknown_transfer"] * (len(chunks) - 1)
    assert install_pending(follower) is None
    assert not can_install(follower.store, chunks[0].meta)  # staging discarded


async def test_a_repeated_chunk_is_refused(leader: RaftNode, follower: RaftNode) -> None:
    apply_rows(leader.store, 1, b"a")
    chunks = await record_transfer(leader)

    replies = await deliver(follower, [chunks[0], chunks[1], chunks[1]])

    assert replies == ["ok", "ok", "out_of_order"]
    assert install_pending(follower) is None


@pytest.mark.parametrize(
    "forgery",
    [{"checksum": 12345}, {"rows": ROWS - 1}, {"rows": ROWS + 1}],
    ids=["checksum", "fewer_rows", "more_rows"],
)
async def test_a_last_chunk_whose_totals_disagree_installs_nothing(
    leader: RaftNode, follower: RaftNode, forgery: dict[str, int]
) -> None:
    apply_rows(leader.store, 1, b"a")
    chunks = await record_transfer(leader)
    assert (chunks[-1].done, chunks[-1].rows) == (True, ROWS)

    replies = await deliver(follower, chunks[:-1] + [dataclasses.replace(chunks[-1], **forgery)])

    assert replies == ["ok"] * (len(chunks) - 1) + ["mismatch"]
    assert install_pending(follower) is None
    assert not can_install(follower.store, chunks[0].meta)


async def test_a_chunk_with_other_rows_than_the_sender_counted_is_refused(
    leader: RaftNode, follower: RaftNode
) -> None:
    apply_rows(leader.store, 1, b"a")
    chunks = await record_transfer(leader)
    swapped = dataclasses.replace(chunks[1], data=chunks[2].data)

    assert await deliver(follower, [chunks[0], swapped]) == ["ok", "mismatch"]
    assert install_pending(follower) is None


async def test_a_chunk_that_is_not_rows_is_refused_without_stopping_the_node(
    leader: RaftNode, follower: RaftNode
) -> None:
    apply_rows(leader.store, 1, b"a")
    chunks = await record_transfer(leader)
    garbage = dataclasses.replace(chunks[1], data=b"\xc1")

    assert await deliver(follower, [chunks[0], garbage]) == ["ok", "corrupt"]
    assert install_pending(follower) is None
    assert await deliver(follower, chunks) == ["ok"] * len(chunks)  # a new transfer still works
    assert install_pending(follower) == ROWS


async def test_a_late_chunk_of_another_snapshot_neither_stops_nor_mixes(
    leader: RaftNode, follower: RaftNode
) -> None:
    apply_rows(leader.store, 1, b"a")
    old = await record_transfer(leader)
    apply_rows(leader.store, 2, b"b")
    new = await record_transfer(leader)
    assert old[0].meta != new[0].meta
    assert await deliver(follower, old[:2]) == ["ok", "ok"]

    # The old transfer's last chunk races the new transfer's first one.
    replies: dict[str, str] = {}

    async def receive(name: str, chunk: SnapshotChunk) -> None:
        replies[name] = outcome(await follower.receive_snapshot_chunk(chunk))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive, "new", new[0])
        nursery.start_soon(receive, "late", old[-1])

    # Whichever the follower takes first, the old transfer is refused: it is not current,
    # or its last chunk is not the next one expected.
    assert replies["new"] == "ok"
    assert replies["late"] in {"unknown_transfer", "out_of_order"}
    assert install_pending(follower) is None
    assert await deliver(follower, new[1:]) == ["ok"] * (len(new) - 1)
    assert follower.core.log.pending_snapshot == new[0].meta
    assert install_pending(follower) == ROWS
    with follower.store.read_view() as view:
        assert {value for _, value in view.scan("kv")} == {b"b" * 100}


async def test_the_first_chunk_of_an_older_transfer_does_not_reset_a_newer_one(
    leader: RaftNode, follower: RaftNode
) -> None:
    apply_rows(leader.store, 1, b"a")
    first = await record_transfer(leader)
    second = await record_transfer(leader)  # same snapshot, same leader, same term

    assert await deliver(follower, second[:1] + first[:1]) == ["ok", "stale"]
    assert await deliver(follower, second[1:]) == ["ok"] * (len(second) - 1)
    assert install_pending(follower) == ROWS


async def test_the_sender_gives_up_on_a_refused_chunk_and_reports_failure(
    leader: RaftNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_rows(leader.store, 1, b"a")
    assert isinstance(leader.link, RecordingLink)
    leader.link.reply = "out_of_order"
    reports: list[tuple[int, bool]] = []
    monkeypatch.setattr(leader.core, "report_snapshot", lambda peer, ok: reports.append((peer, ok)))

    assert len(await record_transfer(leader)) == 1
    assert reports == [(FOLLOWER, False)]
    assert leader.statistics()["snapshots_sent"] == 0
