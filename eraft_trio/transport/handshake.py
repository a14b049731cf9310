"""The connection handshake: the connecting side's Hello, the accepting side's Welcome or refusal.

Both halves live here, and nowhere else, including the optional proof of the cluster
secret (an HMAC challenge and response, docs/security.md; PROTOCOL.md has the exchange).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, NoReturn

import trio

from eraft_trio.protocol.envelope import (
    AUTH_FAILED,
    AUTH_REQUIRED,
    BAD_HANDSHAKE,
    BAD_VERSION,
    PROTOCOL_VERSION,
    TLS_FAILED,
    WRONG_CLUSTER,
    Challenge,
    ClientProof,
    ErrorFrame,
    Hello,
    ServerProof,
    Welcome,
)
from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.errors import (
    ConnectFailed,
    ConnectionLost,
    HandshakeRejected,
    ProtocolError,
    TransportError,
)
from eraft_trio.transport.security import (
    NONCE_BYTES,
    ClusterSecret,
    client_proof_input,
    new_nonce,
    server_proof_input,
)
from eraft_trio.transport.tls import ssl_reason

DEFAULT_HANDSHAKE_TIMEOUT = 5.0
# The cluster a client names when it does not know the cluster id.
ANY_CLUSTER = ""
# How long a refusal may take to write before the connection is closed without it.
ERROR_FRAME_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Who is at the other end of an accepted connection, as its Hello said."""

    address: str  # "host:port" of the remote socket
    node: int | None  # None: a client
    group: int  # the sender's Raft group id (0: the config group)
    cluster: str
    version: int

    @property
    def is_client(self) -> bool:
        return self.node is None


async def client_handshake(
    conn: FramedConnection,
    *,
    cluster: str,
    node: int | None,
    group: int,
    timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    version: int = PROTOCOL_VERSION,
    secret: ClusterSecret | None = None,
) -> Welcome:
    """Introduce ourselves; the server's Welcome, or HandshakeRejected with its reason.

    With a `secret`, the server must challenge us and prove the secret too: a server
    that welcomes us without a challenge is refused (no silent downgrade).
    """
    hello = Hello(version=version, cluster=cluster, node=node, group=group)
    with trio.move_on_after(timeout) as scope:
        await conn.send(hello)
        reply = await _client_receive(conn)
        if isinstance(reply, Challenge):
            reply = await _answer_challenge(conn, hello, reply, secret)
        elif secret is not None and isinstance(reply, Welcome):
            raise HandshakeRejected(
                AUTH_FAILED,
                "the node did not ask for the cluster secret "
                "(it runs without one, or is not a member of this cluster)",
            )
    if scope.cancelled_caught:
        raise ConnectFailed(f"no answer to Hello from {conn.remote} within {timeout}s")
    welcome = _expect_welcome(conn, reply)
    if welcome.version != version or (welcome.cluster != cluster and cluster != ANY_CLUSTER):
        raise HandshakeRejected(
            BAD_HANDSHAKE,
            f"{conn.remote} answered for version {welcome.version} of cluster {welcome.cluster!r}",
        )
    return welcome


async def _answer_challenge(
    conn: FramedConnection, hello: Hello, challenge: Challenge, secret: ClusterSecret | None
) -> Any:
    """Prove the secret, check the server's proof; the message after it (its Welcome)."""
    if secret is None:
        await send_error_frame(conn, AUTH_REQUIRED, "this client has no cluster secret")
        raise HandshakeRejected(
            AUTH_REQUIRED,
            "the node requires the cluster secret (--secret-file or ERAFT_SECRET_FILE)",
        )
    if len(challenge.nonce) != NONCE_BYTES:
        raise ProtocolError(f"{conn.remote} sent a {len(challenge.nonce)}-byte nonce")
    client_nonce = new_nonce()
    mac = secret.prove(client_proof_input(hello, challenge.nonce, client_nonce))
    await conn.send(ClientProof(nonce=client_nonce, mac=mac))
    proof = await _client_receive(conn)
    if isinstance(proof, ErrorFrame | None):
        return proof  # the refusal (auth_failed) or the close, reported by _expect_welcome
    if not isinstance(proof, ServerProof):
        raise ProtocolError(f"expected ServerProof from {conn.remote}, got {type(proof).__name__}")
    welcome = _expect_welcome(conn, await _client_receive(conn))
    expected = server_proof_input(
        hello, challenge.nonce, client_nonce, welcome.cluster, welcome.node
    )
    if not secret.verify(expected, proof.mac):
        raise HandshakeRejected(
            AUTH_FAILED, "the node could not prove the cluster secret (a different secret?)"
        )
    return welcome


async def _client_receive(conn: FramedConnection) -> Any:
    try:
        return await conn.receive()
    except ConnectionLost as exc:
        # Under TLS 1.3 a server that refuses our certificate says so only now, as an
        # alert: that is a refusal to report, not a connection to retry.
        reason = ssl_reason(exc)
        if reason is None:
            raise
        raise HandshakeRejected(TLS_FAILED, f"the node refused TLS: {reason}") from exc


def _expect_welcome(conn: FramedConnection, reply: Any) -> Welcome:
    if reply is None:
        raise ConnectFailed(f"{conn.remote} closed the connection during the handshake")
    if isinstance(reply, ErrorFrame):
        raise HandshakeRejected(reply.code, reply.message)
    if not isinstance(reply, Welcome):
        raise ProtocolError(f"expected Welcome from {conn.remote}, got {type(reply).__name__}")
    return reply


async def server_handshake(
    conn: FramedConnection,
    *,
    cluster: str,
    node: int | None,
    timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    secret: ClusterSecret | None = None,
) -> PeerInfo:
    """Read the Hello and answer it; on refusal send an ErrorFrame and raise HandshakeRejected.

    With a `secret`, the Hello is answered by a Challenge, and only a valid ClientProof
    earns a ServerProof and the Welcome. The whole exchange shares one `timeout`, so a
    silent client cannot hold a connection open for longer.

    ProtocolError (a first frame that does not decode) and ConnectionLost propagate:
    the caller answers the former with its own ErrorFrame.
    """
    deadline = trio.current_time() + timeout
    hello = await _server_receive(conn, deadline, "no Hello")
    if hello is None:
        raise ConnectionLost(f"{conn.remote} closed the connection before its Hello")
    if not isinstance(hello, Hello):
        await _refuse(conn, BAD_HANDSHAKE, f"expected Hello, got {type(hello).__name__}")
    if hello.version != PROTOCOL_VERSION:
        await _refuse(
            conn,
            BAD_VERSION,
            f"protocol version {hello.version} not supported (this node speaks {PROTOCOL_VERSION})",
        )
    # A client may name no cluster (it knows only some addresses of the config group,
    # not the id derived from all of them); nodes must always name ours.
    client_without_cluster = hello.node is None and hello.cluster == ANY_CLUSTER
    if hello.cluster != cluster and not client_without_cluster:
        await _refuse(conn, WRONG_CLUSTER, f"this is cluster {cluster!r}, not {hello.cluster!r}")
    if secret is not None:
        conn.queue(await _verify_client(conn, hello, deadline, secret, cluster, node))
    conn.queue(Welcome(version=PROTOCOL_VERSION, cluster=cluster, node=node))
    await conn.flush()
    return PeerInfo(
        address=conn.remote,
        node=hello.node,
        group=hello.group,
        cluster=hello.cluster,
        version=hello.version,
    )


async def _verify_client(
    conn: FramedConnection,
    hello: Hello,
    deadline: float,
    secret: ClusterSecret,
    cluster: str,
    node: int | None,
) -> ServerProof:
    """Challenge the client with a fresh nonce; our proof once its own proof verifies."""
    server_nonce = new_nonce()
    await conn.send(Challenge(nonce=server_nonce))
    answer = await _server_receive(conn, deadline, "no proof of the cluster secret")
    if answer is None:
        raise HandshakeRejected(
            AUTH_REQUIRED, "closed the connection instead of proving the secret"
        )
    if isinstance(answer, ErrorFrame):
        raise HandshakeRejected(answer.code, f"the client gave up: {answer.message}")
    if not isinstance(answer, ClientProof):
        await _refuse(conn, AUTH_REQUIRED, f"expected ClientProof, got {type(answer).__name__}")
    # A fresh server nonce in every MAC is what makes a recorded proof worthless.
    message = client_proof_input(hello, server_nonce, answer.nonce)
    if len(answer.nonce) != NONCE_BYTES or not secret.verify(message, answer.mac):
        await _refuse(conn, AUTH_FAILED, "wrong cluster secret")
    mac = secret.prove(server_proof_input(hello, server_nonce, answer.nonce, cluster, node))
    return ServerProof(mac=mac)


async def _server_receive(conn: FramedConnection, deadline: float, missing: str) -> Any:
    with trio.move_on_at(deadline) as scope:
        return await conn.receive()
    assert scope.cancelled_caught
    await _refuse(conn, BAD_HANDSHAKE, f"{missing} within the handshake timeout")


async def send_error_frame(conn: FramedConnection, code: str, message: str) -> None:
    """Best effort: tell the other side why we are closing, without waiting long."""
    with trio.move_on_after(ERROR_FRAME_TIMEOUT):
        with contextlib.suppress(TransportError):
            await conn.send(ErrorFrame(code=code, message=message))


async def _refuse(conn: FramedConnection, code: str, message: str) -> NoReturn:
    await send_error_frame(conn, code, message)
    raise HandshakeRejected(code, message)
