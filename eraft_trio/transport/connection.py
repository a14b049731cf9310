"""A framed, message-level connection: typed receive, coalesced sends by one writer at a time."""

from __future__ import annotations

from typing import Any

import trio

from eraft_trio.protocol.envelope import Request, RequestBatch, Response, ResponseBatch
from eraft_trio.transport.address import stream_peer_address
from eraft_trio.transport.codec import decode, encode, encode_prepacked, prepacked_array
from eraft_trio.transport.errors import ConnectionLost
from eraft_trio.transport.framing import (
    DEFAULT_MAX_FRAME_SIZE,
    FrameReader,
    FrameTooLarge,
    Reserve,
    encode_frame,
)

DEFAULT_WRITE_TIMEOUT = 10.0
# The most bytes of calls (bodies and ids) one batch frame carries: under the smallest
# frame a node accepts from a client (its value limit plus 64 KiB) and under the size a
# node reads without reserving budget first; a call larger than this goes alone.
BATCH_BYTES = 60 << 10


class FramedConnection:
    """Messages over a trio stream.

    Senders `queue()` encoded frames and then `flush()` or `push()`: the one task
    writing at a time writes everything queued so far in one send_all, so messages
    that become ready together cost one system call, and no sender takes a lock. A
    write that stalls past `write_timeout` (a cut TCP connection stalls rather than
    resets) marks the connection broken.

    `max_frame_size` bounds what we send; `receive_limit` (default: the same) what we
    accept, and may be changed later through `reader.max_frame_size` (a server reads a
    few KiB until the handshake says who is at the other end). `reserve`: see FrameReader.

    Calls (requests on a client's connection, responses on a server's: `answers`) are
    queued with `queue_call`; those queued in one scheduler pass go out as one batch
    frame (RequestBatch, ResponseBatch) when `batch_calls` is set, else one frame each.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        receive_limit: int | None = None,
        reserve: Reserve | None = None,
    ) -> None:
        self.stream = stream
        self.reader = FrameReader(
            stream, max_frame_size if receive_limit is None else receive_limit, reserve=reserve
        )
        self.max_frame_size = max_frame_size
        self.write_timeout = write_timeout
        self.remote = stream_peer_address(stream)
        self.broken = False
        self.frames_sent = 0
        self.writes = 0  # send_all calls, so tests and statistics can see coalescing
        self._outbox: list[bytes] = []
        # One writer at a time (trio streams refuse concurrent send_all); the others
        # leave their frames to it, and those that must know wait for it to go idle.
        self._writing = False
        self._writer_idle = trio.Event()
        self._has_writer_task = False
        self._wakeup = trio.Event()
        self._calls: list[tuple[int, bytes]] = []  # (id, encoded body) for the next write
        self.answers = False  # our calls are Responses (a server), not Requests
        self.batch_calls = False
        self.batch_frames = 0  # frames that carried more than one call

    def queue(self, message: Any) -> None:
        """Encode `message` for the next flush (EncodeError/FrameTooLarge at once, here)."""
        self._outbox.append(encode_frame(encode(message), self.max_frame_size))

    def queue_frame(self, frame: bytes) -> None:
        self._outbox.append(frame)

    def queue_call(self, call_id: int, body: Any) -> None:
        """Queue a Request (or, with `answers`, a Response) for the next write; its body
        is encoded here, so EncodeError and FrameTooLarge reach the caller at once."""
        encoded = encode(body)
        if len(encoded) + 16 > self.max_frame_size:  # 16: the envelope's own bytes
            raise FrameTooLarge(
                f"frame of {len(encoded)} bytes exceeds the limit of {self.max_frame_size}"
            )
        self._calls.append((call_id, encoded))

    async def flush(self) -> None:
        """Return once everything queued so far is written (by this task or another);
        ConnectionLost when the connection is or becomes broken."""
        if not (self._outbox or self._calls or self._writing):
            return
        while self._outbox or self._calls or self._writing:
            if self._writing:
                await self._writer_idle.wait()
            else:
                await self._write_queued()
        if self.broken:
            raise ConnectionLost(f"connection to {self.remote} is broken")

    async def push(self) -> None:
        """Get what is queued written soon, without waiting for it where possible.

        With a writer task (`run_writer`) this only wakes it. Without one, this task
        writes, unless another is writing already: that one takes our frames along.
        For the hot paths (requests, responses), whose senders learn of a failed write
        from the connection breaking rather than from this call.
        """
        if self._has_writer_task:
            self._wakeup.set()
        elif not self._writing:
            await self._write_queued()

    def push_nowait(self) -> None:
        """As push() on a connection with a writer task, from code that cannot await: wake
        the writer. Without one (the connection is closing) the frames stay unsent."""
        if self._has_writer_task:
            self._wakeup.set()

    async def run_writer(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Write whatever `push()` announces until the connection closes or is cancelled.

        The writer is never a caller with a deadline of its own, so a caller's timeout
        cannot cut a write in half (which breaks the connection for every caller).
        Raises ConnectionLost when a write fails.
        """
        self._has_writer_task = True
        task_status.started()
        try:
            while not self.broken:
                if not (self._outbox or self._calls):
                    self._wakeup = trio.Event()
                    await self._wakeup.wait()
                    continue
                if self._writing:  # a flush() from another task is at it
                    await self._writer_idle.wait()
                    continue
                await self._write_queued()
        finally:
            self._has_writer_task = False

    async def _write_queued(self) -> None:
        self._writing = True
        self._writer_idle = trio.Event()
        try:
            # Let the other tasks of this scheduler batch (handlers finishing together,
            # callers sending together) queue their frames, so one write carries them all.
            await trio.lowlevel.checkpoint()
            while self._outbox or self._calls:
                if self.broken:
                    self._outbox.clear()
                    self._calls.clear()
                    raise ConnectionLost(f"connection to {self.remote} is broken")
                frames = self._outbox
                self._outbox = []
                if self._calls:
                    frames += self._call_frames()
                await self._write(b"".join(frames) if len(frames) > 1 else frames[0])
                self.frames_sent += len(frames)
        finally:
            self._writing = False
            self._writer_idle.set()

    def _call_frames(self) -> list[bytes]:
        """The queued calls as frames: runs of them up to BATCH_BYTES in one batch frame
        each when `batch_calls` is set, else one frame per call."""
        calls, self._calls = self._calls, []
        single, batch = (Response, ResponseBatch) if self.answers else (Request, RequestBatch)
        frames: list[bytes] = []
        run: list[tuple[int, bytes]] = []
        size = 0
        for call in calls:
            cost = len(call[1]) + 9  # the body, and its id (a msgpack int is at most 9 bytes)
            if run and (not self.batch_calls or size + cost > BATCH_BYTES):
                frames.append(self._call_frame(run, single, batch))
                run, size = [], 0
            run.append(call)
            size += cost
        frames.append(self._call_frame(run, single, batch))
        return frames

    def _call_frame(self, run: list[tuple[int, bytes]], single: type, batch: type) -> bytes:
        if len(run) == 1:
            call_id, body = run[0]
            return encode_frame(encode_prepacked(single, [encode(call_id), body]))
        self.batch_frames += 1
        ids = encode([call_id for call_id, _ in run])
        return encode_frame(encode_prepacked(batch, [ids, prepacked_array([b for _, b in run])]))

    async def send(self, message: Any) -> None:
        self.queue(message)
        await self.flush()

    async def receive(self) -> Any | None:
        """The next message, None at a clean end of stream; ProtocolError on bad input."""
        try:
            body = await self.reader.read_frame()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise ConnectionLost(f"connection to {self.remote} lost: {exc!r}") from exc
        return None if body is None else decode(body)

    async def receive_batch(self) -> list[Any]:
        """Every message already received (at least one); [] at a clean end of stream."""
        try:
            bodies = await self.reader.read_frames()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise ConnectionLost(f"connection to {self.remote} lost: {exc!r}") from exc
        return [decode(body) for body in bodies]

    async def receive_batch_reserved(self) -> list[tuple[Any, int, bool]]:
        """As receive_batch, each message with its frame's size and whether the reader
        reserved that size (see FrameReader); [] at a clean end of stream."""
        try:
            frames = await self.reader.read_frames_reserved()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise ConnectionLost(f"connection to {self.remote} lost: {exc!r}") from exc
        return [(decode(body), len(body), reserved) for body, reserved in frames]

    async def aclose(self) -> None:
        self.broken = True
        self._wakeup.set()  # the writer task, if any, sees `broken` and ends
        # trio closes the socket even when this is cancelled, so no shield is needed.
        await self.stream.aclose()

    async def _write(self, data: bytes) -> None:
        try:
            with trio.fail_after(self.write_timeout):
                await self.stream.send_all(data)
            self.writes += 1
        except trio.TooSlowError as exc:
            self.broken = True
            raise ConnectionLost(
                f"write to {self.remote} stalled for {self.write_timeout}s"
            ) from exc
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.broken = True
            raise ConnectionLost(f"connection to {self.remote} lost: {exc!r}") from exc
        except trio.Cancelled:
            # Part of `data` may be on the wire: the stream is no longer at a frame boundary.
            self.broken = True
            raise
