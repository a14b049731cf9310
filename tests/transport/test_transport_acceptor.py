"""The accept loop over real sockets: pending connections handed over without a task each,
in batches; accept errors that mean overload paused on, others skipped; the socket closed
when the loop is cancelled."""

from __future__ import annotations

import errno
import socket

import pytest
import trio
import trio.testing

from eraft_trio.transport import acceptor
from eraft_trio.transport.acceptor import accept_forever

HOST = "127.0.0.1"


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind((HOST, 0))
    sock.listen(64)
    return sock


def connect(port: int) -> socket.socket:
    """A connection the kernel completes from the backlog, before anyone accepts it."""
    return socket.create_connection((HOST, port))


class Recorder:
    """An on_accept that keeps what it is given, and says which task it ran in."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.tasks: set[trio.lowlevel.Task] = set()

    def __call__(self, sock: socket.socket) -> None:
        self.sockets.append(sock)
        self.tasks.add(trio.lowlevel.current_task())

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


async def test_pending_connections_are_handed_over_in_batches_from_the_loop_itself(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(acceptor, "ACCEPT_BATCH", 2)  # 5 pending: batches of 2, 2 and 1
    listening = listening_socket()
    clients = [connect(listening.getsockname()[1]) for _ in range(5)]
    recorder = Recorder()
    try:
        loop_tasks: list[trio.lowlevel.Task] = []

        async def run_loop() -> None:
            loop_tasks.append(trio.lowlevel.current_task())
            await accept_forever(listening, recorder)

        nursery.start_soon(run_loop)
        await trio.testing.wait_all_tasks_blocked()
        assert len(recorder.sockets) == 5
        # Handed over by the accept loop's own task: no task was started per connection.
        assert recorder.tasks == set(loop_tasks)
        assert {s.getpeername() for s in recorder.sockets} == {c.getsockname() for c in clients}
        # And it carries on with connections that come later.
        clients.append(connect(listening.getsockname()[1]))
        with trio.fail_after(5):
            while len(recorder.sockets) < 6:
                await trio.sleep(0.01)
    finally:
        recorder.close()
        for client in clients:
            client.close()


async def test_cancelling_the_loop_closes_the_listening_socket() -> None:
    listening = listening_socket()
    port = listening.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept_forever, listening, Recorder())
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert listening.fileno() == -1
    with pytest.raises(ConnectionRefusedError):
        connect(port)


class FailingListener:
    """A real listening socket whose next accept() calls fail with the given errnos."""

    def __init__(self, sock: socket.socket, failures: list[int]) -> None:
        self.sock = sock
        self.failures = failures

    def fileno(self) -> int:
        return self.sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self.sock.setblocking(flag)

    def accept(self) -> tuple[socket.socket, object]:
        if self.failures:
            code = self.failures.pop(0)
            raise OSError(code, "on purpose")
        return self.sock.accept()

    def close(self) -> None:
        self.sock.close()


async def test_out_of_descriptors_pauses_then_carries_on(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    listening = listening_socket()
    client = connect(listening.getsockname()[1])
    failing = FailingListener(listening, [errno.EMFILE, errno.ECONNABORTED])
    recorder = Recorder()
    try:
        started = trio.current_time()
        nursery.start_soon(accept_forever, failing, recorder)  # type: ignore[arg-type]
        with trio.fail_after(5):
            while not recorder.sockets:
                await trio.sleep(0.01)
        # EMFILE: a pause before trying again; ECONNABORTED: skipped, on to the next.
        assert trio.current_time() - started >= acceptor.CAPACITY_PAUSE
        assert failing.failures == []
        assert recorder.sockets[0].getpeername() == client.getsockname()
    finally:
        recorder.close()
        client.close()


async def test_any_other_accept_error_ends_the_loop_and_closes_the_socket() -> None:
    listening = listening_socket()
    failing = FailingListener(listening, [errno.EINVAL])
    connect(listening.getsockname()[1]).close()
    with pytest.raises(OSError) as raised:
        await accept_forever(failing, Recorder())  # type: ignore[arg-type]
    assert raised.value.errno == errno.EINVAL
    assert listening.fileno() == -1
