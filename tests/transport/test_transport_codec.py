"""Every message type survives a round trip exactly; bad bytes only ever raise ProtocolError."""

from __future__ import annotations

import contextlib
import enum
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eraft_trio.protocol.envelope import ErrorFrame, Hello, Push, Request, Response, Welcome
from eraft_trio.protocol.shard import KvPut
from eraft_trio.raft.types import (
    MESSAGE_TYPES,
    AppendEntries,
    AppendResponse,
    Entry,
    EntryKind,
    HardState,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    RequestVote,
    SnapshotMeta,
    SnapshotResponse,
    TimeoutNow,
    VoteResponse,
)
from eraft_trio.transport import codec
from eraft_trio.transport.errors import EncodeError, ProtocolError

ints = st.integers(min_value=0, max_value=2**63 - 1)
node_ids = st.integers(min_value=0, max_value=16)
entries = st.builds(
    Entry, term=ints, index=ints, data=st.binary(max_size=64), kind=st.sampled_from(EntryKind)
)
snapshot_metas = st.builds(SnapshotMeta, index=ints, term=ints)
hard_states = st.builds(HardState, term=ints, vote=st.none() | node_ids, commit=ints)
strategies_by_type: dict[type, st.SearchStrategy[Any]] = {
    RequestVote: st.builds(
        RequestVote, ints, node_ids, node_ids, ints, ints, st.booleans(), st.booleans()
    ),
    VoteResponse: st.builds(VoteResponse, ints, node_ids, node_ids, st.booleans(), st.booleans()),
    AppendEntries: st.builds(
        AppendEntries,
        term=ints,
        src=node_ids,
        dst=node_ids,
        prev_index=ints,
        prev_term=ints,
        entries=st.lists(entries, max_size=8).map(tuple),
        commit=ints,
    ),
    AppendResponse: st.builds(
        AppendResponse, ints, node_ids, node_ids, st.booleans(), ints, ints, ints
    ),
    Heartbeat: st.builds(Heartbeat, ints, node_ids, node_ids, ints, ints),
    HeartbeatResponse: st.builds(HeartbeatResponse, ints, node_ids, node_ids, ints),
    InstallSnapshot: st.builds(InstallSnapshot, ints, node_ids, node_ids, snapshot_metas),
    SnapshotResponse: st.builds(SnapshotResponse, ints, node_ids, node_ids, st.booleans(), ints),
    TimeoutNow: st.builds(TimeoutNow, ints, node_ids, node_ids),
}
raft_messages = st.one_of(*strategies_by_type.values())
plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text() | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=5) | st.integers(-(2**63), 2**64 - 1), inner, max_size=4)
    ),
    max_leaves=12,
)


def round_trip(value: Any) -> Any:
    return codec.decode(codec.encode(value))


def test_strategies_cover_every_raft_message_type() -> None:
    assert set(strategies_by_type) == set(MESSAGE_TYPES)


@settings(max_examples=300)
@given(raft_messages)
def test_raft_messages_round_trip(message: Any) -> None:
    decoded = round_trip(message)
    assert decoded == message
    assert type(decoded) is type(message)
    if isinstance(message, AppendEntries):
        assert type(decoded.entries) is tuple
        assert all(type(e.kind) is EntryKind for e in decoded.entries)


@given(st.one_of(entries, snapshot_metas, hard_states))
def test_nested_core_types_round_trip(value: Any) -> None:
    assert round_trip(value) == value


@given(raft_messages, plain_values)
def test_envelopes_round_trip_with_any_body(message: Any, value: Any) -> None:
    for envelope in (Push(message), Request(7, value), Response(8, (message, value))):
        decoded = round_trip(envelope)
        assert decoded == envelope
        assert type(decoded.body) is type(envelope.body)


def test_tuples_and_lists_keep_their_type() -> None:
    value: dict[Any, Any] = {"t": (1, [2, (3, b"x")]), 4: [(), []]}
    decoded = round_trip(value)
    assert decoded == value
    assert type(decoded["t"]) is tuple and type(decoded["t"][1]) is list
    assert type(decoded[4][0]) is tuple


def test_handshake_messages_round_trip() -> None:
    for message in (Hello(1, "c", None, 0), Hello(1, "c", 3, 2), Welcome(1, "c", 0)):
        assert round_trip(message) == message
    assert round_trip(ErrorFrame("malformed", "why")) == ErrorFrame("malformed", "why")


# --- application types -----------------------------------------------------------------------


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True, slots=True)
class SampleCommand:
    key: bytes
    colour: Colour
    groups: dict[int, tuple[str, ...]]
    entry: Entry | None = None


codec.register(200, SampleCommand)


def test_application_type_with_enum_dict_and_nested_entry_round_trips() -> None:
    command = SampleCommand(b"k", Colour.BLUE, {1: ("a:1", "b:2")}, Entry(1, 2, b"d"))
    decoded = round_trip(command)
    assert decoded == command
    assert decoded.colour is Colour.BLUE


def test_register_is_idempotent_but_refuses_conflicts() -> None:
    codec.register(200, SampleCommand)  # same pair again: fine
    with pytest.raises(ValueError):
        codec.register(201, SampleCommand)
    with pytest.raises(ValueError):
        codec.register(200, HardState)  # the id is taken
    with pytest.raises(TypeError):
        codec.register(202, Colour)  # not a dataclass
    assert codec.registered_types()[200] is SampleCommand


def test_unregistered_class_cannot_be_encoded() -> None:
    @dataclass(frozen=True)
    class Unregistered:
        x: int

    with pytest.raises(EncodeError):
        codec.encode(Push(Unregistered(1)))


def test_trailing_fields_with_defaults_may_be_missing_from_an_older_sender() -> None:
    # A shard write from a client that predates sessions expiring: no new_session field.
    old_put = message_ext(codec.type_id_of(KvPut), 7, 2, b"k", b"v")
    assert codec.decode(old_put) == KvPut(7, 2, b"k", b"v", None)
    new_put = codec.encode(KvPut(7, 2, b"k", b"v", True))
    assert codec.decode(new_put) == KvPut(7, 2, b"k", b"v", True)
    cas_put = message_ext(codec.type_id_of(KvPut), 7, 2, b"k", b"v", True, 0)
    assert codec.decode(cas_put) == KvPut(7, 2, b"k", b"v", True, if_version=0)
    for short in (
        message_ext(codec.type_id_of(KvPut), 7, 2, b"k"),  # a required field missing
        message_ext(codec.type_id_of(KvPut), 7, 2, b"k", b"v", 1),  # the default's type holds
        message_ext(codec.type_id_of(KvPut), 7, 2, b"k", b"v", True, 0, None, 0),  # too many
        message_ext(codec.type_id_of(KvPut), 7, 2, b"k", b"v", True, "0"),  # a version as str
    ):
        with pytest.raises(ProtocolError):
            codec.decode(short)


# --- bad input ---------------------------------------------------------------------------------


def message_ext(type_id: int, *fields: Any) -> bytes:
    payload = msgpack.packb([type_id, *fields], use_bin_type=True)
    return msgpack.packb(msgpack.ExtType(codec.EXT_MESSAGE, payload))


@pytest.mark.parametrize(
    "data",
    [
        message_ext(9999, 1, 2),  # unknown type id
        message_ext(5, 1, 2, 3),  # Heartbeat with too few fields
        message_ext(5, 1, 2, 3, 4, 5, 6),  # ... and too many
        message_ext(5, "one", 2, 3, 4, 0),  # a str where the term belongs
        message_ext(5, True, 2, 3, 4, 0),  # a bool is not a term either
        message_ext(3, 1, 0, 1, 0, 0, 0, [1], [], [], []),  # AppendEntries columns differ
        message_ext(3, 1, 0, 1, 0, 0, 0, [1], [1], ["s"], [0]),  # entry data not bytes
        message_ext(3, 1, 0, 1, 0, 0, 0, [1], [1], [b""], [7]),  # unknown entry kind
        message_ext(10, 1, 2, b"", 9),  # Entry with an unknown kind
        msgpack.packb(msgpack.ExtType(77, b"")),  # unknown ext type
        msgpack.packb(msgpack.ExtType(codec.EXT_MESSAGE, b"\xc1")),  # garbage payload
        b"\xc1",  # never-used msgpack byte
        b"\x92\x01",  # truncated array
        b"\x01\x02",  # trailing data
        b"",
    ],
)
def test_bad_encodings_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        codec.decode(data)


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise_anything_but_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        codec.decode(data)


@settings(max_examples=500)
@given(raft_messages, st.data())
def test_mutated_encodings_never_raise_anything_but_protocol_error(
    message: Any, data: st.DataObject
) -> None:
    encoded = bytearray(codec.encode(Push(message)))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(encoded)))
    try:
        decoded = codec.decode(bytes(encoded[:cut]))
    except ProtocolError:
        return
    # What does decode must be well-typed: a Push whose body, if a Raft message, is sound.
    if isinstance(decoded, Push) and isinstance(decoded.body, AppendEntries):
        assert all(type(e.term) is int and type(e.data) is bytes for e in decoded.body.entries)


def test_deeply_nested_garbage_is_a_protocol_error() -> None:
    payload = b"\x00"
    for _ in range(3000):
        payload = msgpack.packb(msgpack.ExtType(codec.EXT_TUPLE, payload))
    with pytest.raises(ProtocolError):
        codec.decode(payload)


def test_a_snapshot_meta_carries_its_membership_and_a_bad_one_is_a_protocol_error() -> None:
    from eraft_trio.raft.membership import Membership

    membership = Membership.of([0, 1, 2], [3]).with_addresses({0: "h:1", 3: "[::1]:7"})
    for meta in (SnapshotMeta(5, 2, membership), SnapshotMeta(5, 2)):
        assert codec.decode(codec.encode(meta)) == meta
    forged = codec.encode(SnapshotMeta(5, 2, membership)).replace(b"voters=0,1,2", b"voters=0,1,x")
    with pytest.raises(ProtocolError, match="Membership"):
        codec.decode(forged)
