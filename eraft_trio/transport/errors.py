"""The transport's exceptions: every failure a caller of the transport can see is a TransportError."""

from __future__ import annotations


class TransportError(Exception):
    """Base class of every error the transport raises."""


class ProtocolError(TransportError):
    """The peer sent bytes that are not a valid frame or message (or too large a frame)."""


class EncodeError(TransportError, TypeError):
    """A value the codec cannot encode (an unregistered class, say): a programming error."""


class HandshakeRejected(TransportError):
    """The other side refused the handshake (wrong protocol version or cluster)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ConnectFailed(TransportError):
    """No connection could be opened; a request that fails with this was never sent."""


class ConnectionLost(TransportError):
    """The connection broke (or a write stalled) while a request was in flight."""


class RequestTimeout(TransportError):
    """No answer arrived within the call's timeout; whether it was applied is unknown."""


class RemoteError(TransportError):
    """The server's handler failed on this request (it answered with an ErrorFrame)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
