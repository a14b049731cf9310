"""Hostile bytes at a running node's port: it refuses each connection and serves everyone else."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings

from eraft_trio.protocol.address import parse_address
from eraft_trio.protocol.envelope import ErrorFrame, Response
from eraft_trio.protocol.node import StatusRequest
from eraft_trio.transport.rpc import RpcClient

from .cluster import ProcessGroup
from .config_writes import Ack, ConfigWriter
from .ports import free_addresses
from .role_files import GroupLayout
from .wire_probes import ANSWERED, Probe, ask, exchange, probes, replies

CLUSTER = "bad-input-test"
EXAMPLES = 200
# A node must close a connection whose input ended; it has this long to do so.
CLOSE_DEADLINE = 10.0
START_DEADLINE = 30.0


class CorrectClient:
    """A one-node config group, owned by a thread running its own trio loop, and a correct
    client writing and reading through one connection the whole time."""

    def __init__(self, folder: Path) -> None:
        self.layout = GroupLayout.config_group(free_addresses(1), cluster_name=CLUSTER)
        self.folder = folder
        self.group: ProcessGroup | None = None
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.finished = threading.Event()
        self.acks: list[Ack] = []
        self.answers = 0
        self.failure: BaseException | None = None
        self.latest_groups: set[str] = set()
        self.connection_stats: dict[str, int] = {}
        self.writer_retries = -1

    def run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported by the test thread
            self.failure = exc
        finally:
            self.ready.set()
            self.finished.set()

    async def _main(self) -> None:
        async with ProcessGroup(self.layout, self.folder) as group:
            self.group = group
            group.start()
            await group.wait_for_leader(timeout=START_DEADLINE)
            writer = ConfigWriter(group, client_id=7)
            self.ready.set()
            gid = 0
            while not self.stop.is_set():
                gid += 1
                self.acks.append(await writer.join(gid, timeout=CLOSE_DEADLINE))
                assert gid == (await writer.query(timeout=CLOSE_DEADLINE))["num"]
                self.answers += 2
                await trio.sleep(0.01)
            self.latest_groups = set((await writer.query())["groups"])
            self.connection_stats = group.clients[0].statistics()
            self.writer_retries = writer.retries


@pytest.fixture
def served_node(tmp_path: Path) -> Iterator[CorrectClient]:
    client = CorrectClient(tmp_path)
    thread = threading.Thread(target=client.run, name="correct-client")
    thread.start()
    try:
        assert client.ready.wait(START_DEADLINE + 10), "the node did not start"
        if client.failure is not None:
            raise client.failure
        yield client
    finally:
        client.stop.set()
        thread.join(60)
        if client.group is not None:
            client.group.cleanup()  # already done by the thread unless it hung


async def _status_over_new_connection(address: str) -> object:
    async with RpcClient(address, CLUSTER) as rpc:
        return await rpc.call(StatusRequest(), timeout=CLOSE_DEADLINE)


def test_bad_input_is_refused_while_a_correct_client_keeps_being_served(
    served_node: CorrectClient,
) -> None:
    address = served_node.layout.addresses[0]
    host_port = parse_address(address)
    group = served_node.group
    assert group is not None
    seen: set[str] = set()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(probe=probes(CLUSTER))
    def probe_node(probe: Probe) -> None:
        seen.add(probe.kind)
        if probe.expect == ANSWERED:
            messages = ask(host_port, probe.payload, CLOSE_DEADLINE)
            assert any(isinstance(m, Response) for m in messages), (probe.kind, messages)
        else:
            received, closed = exchange(host_port, probe.payload, CLOSE_DEADLINE)
            assert closed, f"{probe.kind}: the node kept the connection open after our EOF"
            if probe.expect is not None:
                messages = replies(received)
                codes = [m.code for m in messages if isinstance(m, ErrorFrame)]
                assert codes == [probe.expect], (probe.kind, messages)
        assert group.nodes[0].running, f"the node died on {probe.kind}"
        assert served_node.failure is None, served_node.failure
        status = trio.run(_status_over_new_connection, address)
        assert isinstance(status, dict) and status["raft"]["role"] == "leader"

    answers_before = served_node.answers
    probe_node()
    assert served_node.answers > answers_before, "the correct client stalled during the probes"
    served_node.stop.set()
    assert served_node.finished.wait(60), "the correct client did not finish"
    assert served_node.failure is None, served_node.failure
    # One connection all along, never broken, never retried: nobody else's input touched it.
    assert served_node.connection_stats["connects"] == 1
    assert served_node.connection_stats["connections_lost"] == 0
    assert served_node.writer_retries == 0
    assert served_node.latest_groups == {str(ack.gid) for ack in served_node.acks}
    assert len(seen) >= 10, seen
