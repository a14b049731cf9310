"""TLS on the transport's TCP streams: SSL contexts from certificate files, and each side's handshake."""

from __future__ import annotations

import contextlib
import socket
import ssl
from pathlib import Path

import trio

from eraft_trio.protocol.envelope import BAD_HANDSHAKE, TLS_FAILED, TLS_REQUIRED, ErrorFrame
from eraft_trio.transport.codec import encode
from eraft_trio.transport.errors import ConnectFailed, HandshakeRejected
from eraft_trio.transport.framing import encode_frame

# Every TLS connection starts with a handshake record; our plain frames start with a
# length whose first byte is 0 for any frame under 16 MiB, so one peeked byte tells them apart.
TLS_HANDSHAKE_RECORD = 0x16
# Closing politely (close_notify) must not hang on a peer that stopped reading.
CLOSE_NOTIFY_TIMEOUT = 1.0


class TlsFileError(ValueError):
    """A certificate, key or CA file that cannot be loaded; the message names it."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


def server_context(
    cert_file: Path | str,
    key_file: Path | str | None,
    ca_file: Path | str | None = None,
    *,
    require_client_cert: bool = False,
) -> ssl.SSLContext:
    """The accepting side's context; a client certificate is checked against `ca_file` if sent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, cert_file, key_file)
    if ca_file is not None:
        _load_ca(context, ca_file)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    elif require_client_cert:
        raise ValueError("require_client_cert needs ca_file, the CA that signs client certificates")
    return context


def client_context(
    ca_file: Path | str | None = None,
    cert_file: Path | str | None = None,
    key_file: Path | str | None = None,
    *,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """The connecting side's context: the server must present a certificate `ca_file` trusts
    (the system's CAs when None); ours goes along when `cert_file` is given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    if ca_file is not None:
        _load_ca(context, ca_file)
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if cert_file is not None:
        _load_chain(context, cert_file, key_file)
    return context


class TlsStream(trio.abc.Stream):
    """A trio.SSLStream that keeps the TCP socket visible (for the remote address) and
    whose close never waits long for the peer."""

    def __init__(self, ssl_stream: trio.SSLStream[trio.SocketStream]) -> None:
        self.ssl_stream = ssl_stream
        self.socket = ssl_stream.transport_stream.socket

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.ssl_stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.ssl_stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.ssl_stream.receive_some(max_bytes)

    async def aclose(self) -> None:
        try:
            with trio.move_on_after(CLOSE_NOTIFY_TIMEOUT):
                await self.ssl_stream.aclose()
        finally:
            # Also when cancelled from outside: the socket must not outlive the stream.
            await trio.aclose_forcefully(self.ssl_stream.transport_stream)


async def accept_tls(
    stream: trio.SocketStream, context: ssl.SSLContext, timeout: float
) -> TlsStream:
    """The server's half; HandshakeRejected when the client does not complete a TLS handshake.

    A client speaking our plain protocol is told so in a plain ErrorFrame, since it
    could not read anything else.
    """
    with trio.move_on_after(timeout):
        first = await stream.socket.recv(1, socket.MSG_PEEK)
        if not first:
            raise HandshakeRejected(BAD_HANDSHAKE, "closed before the TLS handshake")
        if first[0] != TLS_HANDSHAKE_RECORD:
            message = "this node accepts TLS only (clients: --ca-file or ERAFT_CA_FILE)"
            frame = encode_frame(encode(ErrorFrame(TLS_REQUIRED, message)))
            # Best effort: a client that already left hears nothing; the caller logs the refusal.
            with contextlib.suppress(trio.BrokenResourceError, OSError):
                await stream.send_all(frame)
            raise HandshakeRejected(TLS_REQUIRED, "plain TCP to a TLS-only node")
        tls = trio.SSLStream(stream, context, server_side=True)
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError as exc:
            raise HandshakeRejected(TLS_FAILED, f"TLS handshake failed: {ssl_reason(exc)}") from exc
        return TlsStream(tls)
    raise HandshakeRejected(BAD_HANDSHAKE, f"no TLS handshake within {timeout}s")


async def connect_tls(
    stream: trio.SocketStream, context: ssl.SSLContext, host: str, timeout: float
) -> TlsStream:
    """The client's half: a refusal of either certificate is HandshakeRejected (a setup
    problem that retrying will not fix); a dropped or slow connection is ConnectFailed."""
    tls = trio.SSLStream(stream, context, server_hostname=host)
    with trio.move_on_after(timeout):
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError as exc:
            reason = ssl_reason(exc)
            if reason is None:
                raise ConnectFailed(f"connection closed during the TLS handshake: {exc!r}") from exc
            raise HandshakeRejected(TLS_FAILED, f"TLS handshake failed: {reason}") from exc
        return TlsStream(tls)
    raise ConnectFailed(f"no TLS handshake within {timeout}s")


async def secure_client_stream(
    tcp: trio.SocketStream, context: ssl.SSLContext | None, host: str, timeout: float
) -> trio.abc.Stream:
    """`tcp` itself when `context` is None, else a TLS stream over it (closed on failure)."""
    if context is None:
        return tcp
    try:
        return await connect_tls(tcp, context, host, timeout)
    except BaseException:
        await trio.aclose_forcefully(tcp)
        raise


def ssl_reason(exc: BaseException) -> str | None:
    """The SSL error behind `exc` (trio wraps it in BrokenResourceError), if there is one."""
    seen: BaseException | None = exc
    for _ in range(8):  # a cause chain is short; the bound only guards against cycles
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return str(getattr(seen, "verify_message", None) or seen.reason or seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _load_chain(
    context: ssl.SSLContext, cert_file: Path | str, key_file: Path | str | None
) -> None:
    _check_readable(cert_file)
    if key_file is not None:
        _check_readable(key_file)
    try:
        context.load_cert_chain(cert_file, key_file)
    except OSError as exc:  # ssl.SSLError is an OSError
        names = f"{cert_file} with {key_file}" if key_file is not None else str(cert_file)
        raise TlsFileError(names, f"cannot load certificate and key: {_describe(exc)}") from exc


def _load_ca(context: ssl.SSLContext, ca_file: Path | str) -> None:
    _check_readable(ca_file)
    try:
        context.load_verify_locations(cafile=ca_file)
    except OSError as exc:
        raise TlsFileError(ca_file, f"cannot load CA certificates: {_describe(exc)}") from exc


def _check_readable(path: Path | str) -> None:
    # The ssl module's errors do not say which file was missing; this does.
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise TlsFileError(path, f"cannot read: {exc.strerror or exc}") from exc


def _describe(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    return exc.strerror or str(exc)
