"""Length-prefixed frames on a byte stream: a 4-byte big-endian length, then the body."""

from __future__ import annotations

import struct
from collections import deque

import trio

from eraft_trio.transport.errors import ProtocolError

HEADER = struct.Struct(">I")
HEADER_SIZE = HEADER.size
DEFAULT_MAX_FRAME_SIZE = 64 << 20
# One receive_some asks for at least this much, so a burst of small frames costs one call.
RECEIVE_CHUNK = 64 << 10
# ... and at most this much, so a large frame does not allocate its whole size per call.
RECEIVE_CHUNK_MAX = 4 << 20


class FrameTooLarge(ProtocolError):
    """A frame's declared length exceeds the configured maximum."""


def encode_frame(body: bytes, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    if len(body) > max_frame_size:
        raise FrameTooLarge(f"frame of {len(body)} bytes exceeds the limit of {max_frame_size}")
    return HEADER.pack(len(body)) + body


class FrameReader:
    """Reads frames from a trio receive stream, parsing every frame each receive holds."""

    def __init__(
        self, stream: trio.abc.ReceiveStream, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    ) -> None:
        self.stream = stream
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._frames: deque[bytes] = deque()
        self._eof = False
        self.receives = 0  # receive_some calls made; lets tests see the coalescing
        self.bytes_received = 0

    async def read_frame(self) -> bytes | None:
        """The next frame's body, or None at a clean end of stream (between frames)."""
        while not self._frames:
            if not await self._receive_more():
                return None
        return self._frames.popleft()

    async def read_frames(self) -> list[bytes]:
        """Every frame already received (at least one); [] at a clean end of stream."""
        while not self._frames:
            if not await self._receive_more():
                return []
        frames = list(self._frames)
        self._frames.clear()
        return frames

    def buffered_frames(self) -> int:
        return len(self._frames)

    async def _receive_more(self) -> bool:
        """Receive once and parse what arrived; False at a clean EOF, ProtocolError if truncated."""
        if self._eof:
            return False
        # Cancellation can only land in receive_some, before the buffer changes, so a
        # cancelled read leaves the reader consistent for the next call.
        data = await self.stream.receive_some(self._receive_size())
        self.receives += 1
        if not data:
            self._eof = True
            if self._buffer:
                raise ProtocolError(
                    f"stream ended inside a frame ({len(self._buffer)} bytes pending)"
                )
            return False
        self.bytes_received += len(data)
        self._buffer += data
        self._parse()
        return True

    def _receive_size(self) -> int:
        if len(self._buffer) >= HEADER_SIZE:
            (length,) = HEADER.unpack_from(self._buffer, 0)
            missing = HEADER_SIZE + length - len(self._buffer)
            return min(max(missing, RECEIVE_CHUNK), RECEIVE_CHUNK_MAX)
        return RECEIVE_CHUNK

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
            pos = start + length
        if pos:
            del buffer[:pos]
