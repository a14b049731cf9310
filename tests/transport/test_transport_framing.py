"""Frames survive any split of the byte stream, bursts cost one receive, bad streams raise."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from eraft_trio.transport.errors import ProtocolError
from eraft_trio.transport.framing import FrameReader, FrameTooLarge, encode_frame


def test_encode_frame_prefixes_big_endian_length() -> None:
    assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert encode_frame(b"") == b"\x00\x00\x00\x00"


def test_encode_frame_refuses_oversize_body() -> None:
    with pytest.raises(FrameTooLarge):
        encode_frame(b"x" * 11, max_frame_size=10)


async def read_all(reader: FrameReader) -> list[bytes]:
    frames = []
    while (frame := await reader.read_frame()) is not None:
        frames.append(frame)
    return frames


async def test_burst_of_frames_costs_one_receive() -> None:
    send, receive = trio.testing.memory_stream_one_way_pair()
    bodies = [bytes([i]) * i for i in range(50)]
    await send.send_all(b"".join(encode_frame(b) for b in bodies))
    reader = FrameReader(receive)
    assert await reader.read_frames() == bodies
    assert reader.receives == 1


async def test_frame_split_byte_by_byte() -> None:
    send, receive = trio.testing.memory_stream_one_way_pair()
    reader = FrameReader(receive)
    data = encode_frame(b"hello") + encode_frame(b"world")
    for i in range(len(data)):
        await send.send_all(data[i : i + 1])
    await send.aclose()
    assert await read_all(reader) == [b"hello", b"world"]


@settings(max_examples=60, deadline=None)
@given(
    bodies=st.lists(st.binary(max_size=300), max_size=20),
    cuts=st.lists(st.integers(min_value=1, max_value=500), max_size=40),
)
def test_any_split_yields_the_same_frames(bodies: list[bytes], cuts: list[int]) -> None:
    async def scenario() -> list[bytes]:
        send, receive = trio.testing.memory_stream_one_way_pair()
        data = b"".join(encode_frame(b) for b in bodies)
        reader = FrameReader(receive)
        pos = 0
        for cut in cuts:
            await send.send_all(data[pos : pos + cut])
            pos += cut
        await send.send_all(data[pos:])
        await send.aclose()
        return await read_all(reader)

    assert trio.run(scenario) == bodies


async def test_clean_end_of_stream_between_frames_is_none() -> None:
    send, receive = trio.testing.memory_stream_one_way_pair()
    await send.send_all(encode_frame(b"only"))
    await send.aclose()
    reader = FrameReader(receive)
    assert await reader.read_frame() == b"only"
    assert await reader.read_frame() is None
    assert await reader.read_frames() == []


@pytest.mark.parametrize("partial", [b"\x00\x00", b"\x00\x00\x00\x05ab"])
async def test_stream_ending_inside_a_frame_is_a_protocol_error(partial: bytes) -> None:
    send, receive = trio.testing.memory_stream_one_way_pair()
    await send.send_all(partial)
    await send.aclose()
    with pytest.raises(ProtocolError):
        await FrameReader(receive).read_frame()


async def test_oversize_length_is_refused_as_soon_as_the_header_arrives() -> None:
    send, receive = trio.testing.memory_stream_one_way_pair()
    # Only the header: the reader must not wait for 2 GB of body before refusing.
    await send.send_all(b"\x80\x00\x00\x00")
    with pytest.raises(FrameTooLarge):
        await FrameReader(receive, max_frame_size=1 << 20).read_frame()


async def test_large_frame_across_many_receives() -> None:
    send, receive = trio.testing.memory_stream_one_way_pair()
    body = bytes(range(256)) * 40_000  # about 10 MB
    reader = FrameReader(receive)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send.send_all, encode_frame(body) + encode_frame(b"next"))
        assert await reader.read_frame() == body
        assert await reader.read_frame() == b"next"
