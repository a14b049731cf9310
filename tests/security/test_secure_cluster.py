"""Real `eraft node` processes with a cluster secret or mutual TLS, and `eraft ctl` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path

import trio
from e2e.ctl_process import CtlResult, ctl
from integration.ports import free_addresses
from integration.role_files import GroupLayout

from eraft_trio.protocol.config import ConfigQuery
from eraft_trio.protocol.envelope import AUTH_FAILED, Challenge, ErrorFrame, Request, Response
from eraft_trio.protocol.node import StatusRequest
from eraft_trio.raft.types import RequestVote
from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.handshake import client_handshake
from eraft_trio.transport.peer import PeerSender
from eraft_trio.transport.rpc import RpcClient
from eraft_trio.transport.security import NO_SECURITY, Security, load_secret

from .certificates import Pki
from .conftest import OTHER_SECRET, SECRET, write_secret
from .secure_cluster import refusal_lines, running_nodes, write_secured_role_files
from .test_secret_handshake import RecordingStream, everything_until_closed

# Generous: the first command also waits for both groups to elect leaders on 2 cores.
FIRST_TIMEOUT = 60.0


async def concurrently(*runs: Awaitable[CtlResult]) -> list[CtlResult]:
    """Independent ctl commands at once: each is mostly interpreter start-up."""
    results: list[CtlResult | None] = [None] * len(runs)

    async def run(i: int, command: Awaitable[CtlResult]) -> None:
        results[i] = await command

    async with trio.open_nursery() as nursery:
        for i, command in enumerate(runs):
            nursery.start_soon(run, i, command)
    return [r for r in results if r is not None]


async def raft_term(address: str, cluster: str, security: Security) -> int:
    async with RpcClient(address, cluster, security=security) as client:
        status = await client.call(StatusRequest(), timeout=5)
    term: int = status["raft"]["term"]
    return term


async def test_a_cluster_with_a_secret_serves_only_those_who_know_it(tmp_path: Path) -> None:
    addresses = free_addresses(6)
    config = GroupLayout.config_group(addresses[:3])
    shard = GroupLayout.shard_group(1, addresses[3:], config.addresses)
    secret_path = write_secret(tmp_path / "cluster.key", SECRET)
    wrong_path = write_secret(tmp_path / "wrong.key", OTHER_SECRET)
    security = {"secret_file": str(secret_path)}
    paths = write_secured_role_files(config, tmp_path, security)
    paths += write_secured_role_files(shard, tmp_path, security)
    servers = config.addresses
    with running_nodes(paths) as nodes:
        with_secret = ("--secret-file", str(secret_path))
        joined = await ctl(servers, *with_secret, "join", "1", ",".join(shard.addresses),
                           timeout=FIRST_TIMEOUT)  # fmt: skip
        assert joined.code == 0, joined.describe()
        put = await ctl(servers, *with_secret, "put", "alpha", "one", timeout=FIRST_TIMEOUT)
        assert (put.code, put.stdout) == (0, "OK\n"), put.describe()

        # Refused at the handshake, before any request is read: exit 2, bad credentials.
        absent = tmp_path / "absent.key"
        bare, wrong, query, unreadable = await concurrently(
            ctl(servers, "put", "beta", "two"),
            ctl(servers, "--secret-file", str(wrong_path), "put", "beta", "two"),
            ctl(servers, "query"),
            ctl(servers, "--secret-file", str(absent), "put", "beta", "two"),
        )
        assert bare.code == 2 and "auth_required" in bare.stderr, bare.describe()
        assert wrong.code == 2 and "auth_failed" in wrong.stderr, wrong.describe()
        assert query.code == 2 and "auth_required" in query.stderr, query.describe()
        assert unreadable.code == 2 and str(absent) in unreadable.stderr, unreadable.describe()

        # ... and they changed nothing.
        missing, got, latest = await concurrently(
            ctl(servers, *with_secret, "get", "beta"),
            ctl(servers, "get", "alpha", env={"ERAFT_SECRET_FILE": str(secret_path)}),
            ctl(servers, *with_secret, "query", "--json"),
        )
        assert missing.code == 1, missing.describe()
        assert (got.code, got.stdout) == (0, "one\n"), got.describe()
        assert latest.code == 0 and json.loads(latest.stdout)["groups"] == {
            "1": list(shard.addresses)
        }, latest.describe()

        secret = Security(secret=load_secret(secret_path))
        await _replayed_handshake_is_refused(config, secret)
        await _a_member_without_the_secret_cannot_disturb_raft(config, secret)
        assert len(refusal_lines(nodes, "auth_required")) >= 2
        assert len(refusal_lines(nodes, "auth_failed")) >= 2


async def _replayed_handshake_is_refused(config: GroupLayout, secret: Security) -> None:
    address = config.addresses[0]
    host, port = address.rsplit(":", 1)
    recording = RecordingStream(await trio.open_tcp_stream(host, int(port)))
    conn = FramedConnection(recording)
    await client_handshake(conn, cluster="", node=None, group=0, secret=secret.secret)
    await conn.send(Request(id=1, body=ConfigQuery(-1)))
    with trio.fail_after(10):
        answer = await conn.receive()
    await conn.aclose()
    assert isinstance(answer, Response) and answer.id == 1

    replay = FramedConnection(await trio.open_tcp_stream(host, int(port)))
    await replay.stream.send_all(bytes(recording.sent))
    received = await everything_until_closed(replay)
    await replay.aclose()
    assert isinstance(received[0], Challenge)
    assert received[1:] == [ErrorFrame(AUTH_FAILED, "wrong cluster secret")]


async def _a_member_without_the_secret_cannot_disturb_raft(
    config: GroupLayout, secret: Security
) -> None:
    """Node 1's id and group without the secret: its vote request for a far term is never read."""
    target = config.addresses[0]
    term = await raft_term(target, config.cluster, secret)
    impostor = PeerSender(target, cluster=config.cluster, node=1, group=0,
                          security=NO_SECURITY, backoff_min=0.01, backoff_max=0.01)  # fmt: skip
    async with trio.open_nursery() as nursery:
        await nursery.start(impostor.run)
        impostor.send(
            RequestVote(term=term + 100, src=1, dst=0, last_index=10**9, last_term=term + 99)
        )
        with trio.fail_after(10):
            while impostor.statistics()["connect_failures"] < 3:
                await trio.sleep(0.01)
        impostor.close()
    assert impostor.statistics()["sent"] == 0
    assert await raft_term(target, config.cluster, secret) < term + 100


async def test_a_cluster_with_mutual_tls_serves_only_certified_clients(
    tmp_path: Path, pki: Pki
) -> None:
    config = GroupLayout.config_group(free_addresses(3))
    security = {
        "cert_file": str(pki.node.cert),
        "key_file": str(pki.node.key),
        "ca_file": str(pki.ca),
        "require_client_cert": True,
    }
    servers = config.addresses
    with running_nodes(write_secured_role_files(config, tmp_path, security)) as nodes:
        ca = ("--ca-file", str(pki.ca))
        client_cert = ("--cert-file", str(pki.client.cert), "--key-file", str(pki.client.key))
        ok = await ctl(servers, *ca, *client_cert, "query", "--json", timeout=FIRST_TIMEOUT)
        assert ok.code == 0 and json.loads(ok.stdout)["num"] == 0, ok.describe()

        rogue = ("--cert-file", str(pki.rogue_node.cert), "--key-file", str(pki.rogue_node.key))
        plain, no_cert, stranger = await concurrently(
            ctl(servers, "query"),
            ctl(servers, *ca, "query"),
            ctl(servers, *ca, *rogue, "query"),
        )
        assert plain.code == 2 and "tls_required" in plain.stderr, plain.describe()
        assert no_cert.code == 2 and "tls_failed" in no_cert.stderr, no_cert.describe()
        assert stranger.code == 2 and "tls_failed" in stranger.stderr, stranger.describe()
        assert refusal_lines(nodes, "tls_required") and refusal_lines(nodes, "tls_failed")


def test_a_node_whose_secret_file_cannot_be_read_exits_2_naming_it(tmp_path: Path) -> None:
    config = GroupLayout.config_group(free_addresses(1))
    absent = tmp_path / "absent.key"
    [path] = write_secured_role_files(config, tmp_path, {"secret_file": str(absent)})[:1]
    run = subprocess.run(
        [sys.executable, "-m", "eraft_trio", "node", "--config", str(path)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        start_new_session=True,
    )
    assert run.returncode == 2, run.stderr
    assert f"{path}: security.secret_file: {absent}: cannot read" in run.stderr
    assert not (tmp_path / "data").exists()  # refused before the store was created
