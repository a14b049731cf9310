"""The accept loop of a listening socket: the connections pending are taken together, and
each is handed to a plain function that serves it (starting a task) or refuses it there
and then.

Not trio.serve_listeners, because it starts a task for every connection before anyone
looks at it and takes one scheduler round per accept: under a flood of connections that
a node refuses at once (docs/security.md, "Limits"), those tasks and rounds were what
the flood cost the node. Here a refused connection costs an accept, a send and a close.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable
from typing import NoReturn

import trio

log = logging.getLogger(__name__)

# Connections taken in one pass before the other tasks get their turn.
ACCEPT_BATCH = 64
# accept(2) failing for want of descriptors or memory: the system is overloaded, so wait
# a moment rather than spin (what trio.serve_listeners does too).
CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
CAPACITY_PAUSE = 0.1
# A connection that went away, or was denied by a firewall, before we took it.
IGNORED_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ECONNABORTED", "EPERM", "EPROTO", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN")
    + ("ENONET", "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "ENOSR", "ESOCKTNOSUPPORT")
    + ("EPROTONOSUPPORT", "ETIMEDOUT", "ECONNRESET")
    if hasattr(errno, name)
)

OnAccept = Callable[[socket.socket], None]


def plain_sockets(listeners: list[trio.SocketListener]) -> list[socket.socket]:
    """The standard sockets under trio's listeners, which give them up (detach)."""
    return [socket.socket(fileno=listener.socket.detach()) for listener in listeners]


async def accept_forever(listening: socket.socket, on_accept: OnAccept) -> NoReturn:
    """Give `on_accept` every connection `listening` receives, until cancelled; then close it.

    `on_accept` must not block: it owns the socket it is given (a blocking one, which it
    closes, or hands to trio.socket.from_stdlib_socket).
    """
    listening.setblocking(False)
    try:
        while True:
            try:
                full = _accept_pending(listening, on_accept)
            except OSError as exc:
                if exc.errno not in CAPACITY_ERRNOS:
                    raise
                log.error("accept failed: %s; retrying in %ss", exc, CAPACITY_PAUSE)
                await trio.sleep(CAPACITY_PAUSE)
                continue
            if full:
                await trio.lowlevel.checkpoint()  # more may be waiting: after the others
            else:
                await trio.lowlevel.wait_readable(listening)
    finally:
        listening.close()


def _accept_pending(listening: socket.socket, on_accept: OnAccept) -> bool:
    """Accept up to ACCEPT_BATCH connections; True if the batch filled up."""
    for _ in range(ACCEPT_BATCH):
        try:
            conn, _ = listening.accept()
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in IGNORED_ERRNOS:
                continue
            raise
        on_accept(conn)
    return True
