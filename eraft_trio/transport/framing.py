"""Length-prefixed frames on a byte stream: a 4-byte big-endian length, then the body."""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Awaitable, Callable

import trio

from eraft_trio.transport.errors import ProtocolError

HEADER = struct.Struct(">I")
HEADER_SIZE = HEADER.size
DEFAULT_MAX_FRAME_SIZE = 64 << 20
# One receive_some asks for at least this much, so a burst of small frames costs one call.
RECEIVE_CHUNK = 64 << 10
# ... and at most this much, so a large frame does not allocate its whole size per call.
RECEIVE_CHUNK_MAX = 4 << 20
# A frame up to this size is read without asking `reserve` first: what one receive brings
# in anyway. Larger ones wait for the node's budget before their body is read.
FREE_FRAME_BYTES = RECEIVE_CHUNK
# Once a large frame's bytes are reserved, its body must arrive within this time, so a
# sender that announces a frame and then trickles it cannot hold the budget forever.
DEFAULT_BODY_TIMEOUT = 30.0

Reserve = Callable[[int], Awaitable[None]]


class FrameTooLarge(ProtocolError):
    """A frame's declared length exceeds the configured maximum."""


class FrameTooSlow(ProtocolError):
    """A large frame's body did not arrive within the body timeout."""


def encode_frame(body: bytes, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    if len(body) > max_frame_size:
        raise FrameTooLarge(f"frame of {len(body)} bytes exceeds the limit of {max_frame_size}")
    return HEADER.pack(len(body)) + body


class FrameReader:
    """Reads frames from a trio receive stream, parsing every frame each receive holds.

    `max_frame_size` may change between reads (the server raises it once a handshake is
    done). Bytes buffered stay within one frame plus one receive: the reader asks the
    stream for no more than the rest of the frame it is in (or RECEIVE_CHUNK).

    With `reserve`, a frame larger than FREE_FRAME_BYTES is announced to it (awaited,
    so it may wait for room) before its body is read, and the body must then arrive
    within `body_timeout`; `read_frames_reserved` tells which frames were reserved, for
    the caller to give their bytes back when done with them.
    """

    def __init__(
        self,
        stream: trio.abc.ReceiveStream,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        *,
        reserve: Reserve | None = None,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
    ) -> None:
        self.stream = stream
        self.max_frame_size = max_frame_size
        self.reserve = reserve
        self.body_timeout = body_timeout
        self._buffer = bytearray()
        self._frames: deque[bytes] = deque()
        self._reserved: deque[bool] = deque()  # per frame in _frames: were its bytes reserved
        self._pending_reserved = False  # the frame in _buffer has been reserved
        self._body_deadline = float("inf")
        self._eof = False
        self.receives = 0  # receive_some calls made; lets tests see the coalescing
        self.bytes_received = 0

    async def read_frame(self) -> bytes | None:
        """The next frame's body, or None at a clean end of stream (between frames)."""
        while not self._frames:
            if not await self._receive_more():
                return None
        self._reserved.popleft()
        return self._frames.popleft()

    async def read_frames(self) -> list[bytes]:
        """Every frame already received (at least one); [] at a clean end of stream."""
        return [body for body, _ in await self.read_frames_reserved()]

    async def read_frames_reserved(self) -> list[tuple[bytes, bool]]:
        """As read_frames, each body with whether `reserve` was called for its length."""
        while not self._frames:
            if not await self._receive_more():
                return []
        frames = list(zip(self._frames, self._reserved, strict=True))
        self._frames.clear()
        self._reserved.clear()
        return frames

    def buffered_bytes(self) -> int:
        """Bytes received and not yet handed out (parsed frames and the partial one)."""
        return len(self._buffer) + sum(len(frame) for frame in self._frames)

    @property
    def pending_reservation(self) -> int:
        """Bytes reserved for the frame still being received (0 when none)."""
        if not self._pending_reserved:
            return 0
        return self._pending_length()

    async def _receive_more(self) -> bool:
        """Receive once and parse what arrived; False at a clean EOF, ProtocolError if truncated."""
        if self._eof:
            return False
        await self._reserve_pending_frame()
        # Cancellation can only land in reserve or receive_some, before the buffer
        # changes, so a cancelled read leaves the reader consistent for the next call.
        if self._pending_reserved:
            with trio.move_on_at(self._body_deadline):
                data = await self.stream.receive_some(self._receive_size())
                self._take(data)
                return bool(data)
            raise FrameTooSlow(
                f"a frame of {self._pending_length()} bytes did not arrive "
                f"within {self.body_timeout}s"
            )
        data = await self.stream.receive_some(self._receive_size())
        self._take(data)
        return bool(data)

    async def _reserve_pending_frame(self) -> None:
        if self.reserve is None or self._pending_reserved or len(self._buffer) < HEADER_SIZE:
            return
        length = self._pending_length()
        if length <= FREE_FRAME_BYTES:
            return
        await self.reserve(length)
        self._pending_reserved = True
        self._body_deadline = trio.current_time() + self.body_timeout

    def _pending_length(self) -> int:
        (length,) = HEADER.unpack_from(self._buffer, 0)
        return int(length)

    def _take(self, data: bytes | bytearray) -> None:
        self.receives += 1
        if not data:
            self._eof = True
            if self._buffer:
                raise ProtocolError(
                    f"stream ended inside a frame ({len(self._buffer)} bytes pending)"
                )
            return
        self.bytes_received += len(data)
        self._buffer += data
        self._parse()

    def _receive_size(self) -> int:
        # Never more than the largest frame allowed: before a handshake that keeps what
        # an unauthenticated sender can make us hold to a few KiB.
        floor = min(RECEIVE_CHUNK, self.max_frame_size + HEADER_SIZE)
        if len(self._buffer) >= HEADER_SIZE:
            missing = HEADER_SIZE + self._pending_length() - len(self._buffer)
            return min(max(missing, floor), RECEIVE_CHUNK_MAX)
        return floor

    def _parse(self) -> None:
        buffer = self._buffer
        pos = 0
        end = len(buffer)
        while end - pos >= HEADER_SIZE:
            (length,) = HEADER.unpack_from(buffer, pos)
            if length > self.max_frame_size:
                raise FrameTooLarge(
                    f"frame of {length} bytes exceeds the limit of {self.max_frame_size}"
                )
            if end - pos - HEADER_SIZE < length:
                break
            start = pos + HEADER_SIZE
            self._frames.append(bytes(buffer[start : start + length]))
            # Only the first frame of the buffer can have been reserved (it was pending).
            self._reserved.append(pos == 0 and self._pending_reserved)
            self._pending_reserved = self._pending_reserved and pos != 0
            pos = start + length
        if pos:
            del buffer[:pos]
