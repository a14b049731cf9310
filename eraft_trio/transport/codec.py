"""The one codec: frozen-dataclass messages <-> msgpack bytes, through a registry of type ids.

Wire format (PROTOCOL.md in this folder has the whole protocol):
- a registered dataclass is msgpack ext type 1 whose payload is the msgpack array
  `[type_id, field_1, ..., field_n]` (every init field, in declaration order);
- a tuple is ext type 2 whose payload is the msgpack array of its items (so tuples
  and lists survive a round trip as themselves);
- enums travel as their value, and are restored where a field declares the enum;
- everything else is plain msgpack (bin for bytes, str for str, maps for dicts).

On decode every field is checked against its type hint (see schema.py), so a peer
cannot smuggle a str where the Raft core expects an int. Any decoding failure is a
ProtocolError, never another exception type.

AppendEntries, the hot path, has its own field layout: its entries travel as four
parallel arrays (terms, indexes, data, kinds) instead of one ext per entry.

Every type id is in one table, protocol/type_ids.py, registered below; `register`
stays public for tests that need a type of their own.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from eraft_trio.protocol.type_ids import TYPE_IDS
from eraft_trio.raft.membership import Membership, MembershipError
from eraft_trio.raft.types import AppendEntries, Entry, EntryKind
from eraft_trio.transport.errors import EncodeError, ProtocolError
from eraft_trio.transport.schema import Checker, field_checkers

EXT_MESSAGE = 1
EXT_TUPLE = 2
MAX_TYPE_ID = 0xFFFF

ToFields = Callable[[Any], list[Any]]
FromFields = Callable[[list[Any]], Any]


@dataclass(slots=True)
class Registration:
    """How one class travels: its id, and how its fields become a list and back."""

    type_id: int
    cls: type
    to_fields: ToFields
    from_fields: FromFields
    arity: int
    # Fields with defaults may be missing at the end of what an older sender wrote.
    defaults: tuple[Any, ...] = ()
    _checkers: tuple[Checker, ...] | None = field(default=None, repr=False)
    _checked: bool = False


_by_id: dict[int, Registration] = {}
_by_class: dict[type, Registration] = {}


def register(
    type_id: int,
    cls: type,
    *,
    to_fields: ToFields | None = None,
    from_fields: FromFields | None = None,
) -> None:
    """Give `cls` (a dataclass) the wire id `type_id`; idempotent for the same pair.

    `to_fields`/`from_fields` replace the default layout (the init fields in order)
    for a class that needs a faster or more compact one; `from_fields` then owns the
    validation of what it is given and must raise ProtocolError on bad input.
    """
    if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not 0 <= type_id <= MAX_TYPE_ID:
        raise ValueError(f"type id {type_id} outside 0..{MAX_TYPE_ID}")
    known = _by_id.get(type_id)
    if known is not None:
        if known.cls is cls:
            return
        raise ValueError(f"type id {type_id} already names {known.cls.__qualname__}")
    if cls in _by_class:
        raise ValueError(f"{cls.__qualname__} already has type id {_by_class[cls].type_id}")
    init_fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in init_fields]
    registration = Registration(
        type_id=type_id,
        cls=cls,
        to_fields=to_fields or _default_to_fields(names),
        from_fields=from_fields or (lambda values: _default_from_fields(registration, values)),
        arity=len(names),
        defaults=_trailing_defaults(init_fields),
    )
    _by_id[type_id] = registration
    _by_class[cls] = registration


def _trailing_defaults(init_fields: list[dataclasses.Field[Any]]) -> tuple[Any, ...]:
    """The plain defaults of the last fields, which a message may leave out (a sender that
    predates them); a field with a default factory ends the run."""
    defaults: list[Any] = []
    for f in reversed(init_fields):
        if f.default is dataclasses.MISSING:
            break
        defaults.insert(0, f.default)
    return tuple(defaults)


def registered_types() -> dict[int, type]:
    return {type_id: r.cls for type_id, r in _by_id.items()}


def type_id_of(cls: type) -> int:
    return _by_class[cls].type_id


def encode(obj: Any) -> bytes:
    """msgpack bytes of `obj`; EncodeError for a value the codec cannot carry."""
    try:
        return _pack(obj)
    except EncodeError:
        raise
    except Exception as exc:  # msgpack and to_fields hooks raise many types; one is ours
        raise EncodeError(f"cannot encode {type(obj).__name__}: {exc}") from exc


def decode(data: bytes) -> Any:
    """The value encoded in `data`; ProtocolError for anything that is not a valid encoding."""
    try:
        return _unpack(data)
    except ProtocolError:
        raise
    except Exception as exc:  # msgpack, hooks and constructors raise many types; one is ours
        raise ProtocolError(f"undecodable message: {type(exc).__name__}: {exc}") from exc


def encode_prepacked(cls: type, fields: list[bytes]) -> bytes:
    """The encoding of a registered message whose fields are given already encoded (each
    the bytes of one msgpack value, such as `encode` returns): how a connection joins
    bodies encoded one by one, as their callers queued them, into one frame."""
    registration = _by_class[cls]
    if len(fields) != registration.arity:
        raise EncodeError(f"{cls.__name__} takes {registration.arity} fields, got {len(fields)}")
    payload = _array_header(1 + len(fields)) + _pack(registration.type_id) + b"".join(fields)
    return _pack(msgpack.ExtType(EXT_MESSAGE, payload))


def prepacked_array(items: list[bytes]) -> bytes:
    """A msgpack array of values given already encoded."""
    return _array_header(len(items)) + b"".join(items)


_header_packer = msgpack.Packer()


def _array_header(length: int) -> bytes:
    header: bytes = _header_packer.pack_array_header(length)
    return header


# --- packing ------------------------------------------------------------------------------

# Nested exts recurse through msgpack's C code, which Python's recursion limit does not
# guard: a hostile frame of thousands of nested exts would overflow the C stack. Both
# directions count the depth (per thread: storage may encode off the event loop).
MAX_EXT_DEPTH = 100
_ext_depth = threading.local()


def _default(obj: Any) -> Any:
    depth = getattr(_ext_depth, "value", 0)
    if depth >= MAX_EXT_DEPTH:
        raise EncodeError(f"messages nested more than {MAX_EXT_DEPTH} deep")
    _ext_depth.value = depth + 1
    try:
        return _encode_ext(obj)
    finally:
        _ext_depth.value = depth


def _encode_ext(obj: Any) -> Any:
    registration = _by_class.get(type(obj))
    if registration is not None:
        return msgpack.ExtType(
            EXT_MESSAGE, _pack([registration.type_id, *registration.to_fields(obj)])
        )
    if type(obj) is tuple:
        return msgpack.ExtType(EXT_TUPLE, _pack(list(obj)))
    # strict_types sends subclasses here; carry them as their plain base type.
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, bytes | bytearray):
        return bytes(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, list):
        return list(obj)
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, memoryview):
        return obj.tobytes()
    raise EncodeError(f"cannot encode a {type(obj).__qualname__} (not a registered message)")


# Building a Packer costs more than packing a small message, so packers are reused. A
# pool rather than one packer because _default packs nested messages while the outer
# pack is still running.
_packers: list[msgpack.Packer] = []
# A packer keeps its grown buffer; one that packed something this large is let go.
_PACKER_KEEP_LIMIT = 1 << 20


def _pack(obj: Any) -> bytes:
    packer = _packers.pop() if _packers else _new_packer()
    data = packer.pack(obj)  # on error msgpack resets the packer's buffer, so it stays usable
    if len(data) <= _PACKER_KEEP_LIMIT:
        _packers.append(packer)
    return data


def _new_packer() -> msgpack.Packer:
    # strict_types: tuples and subclasses reach _default instead of passing as arrays/bases.
    return msgpack.Packer(default=_default, use_bin_type=True, strict_types=True)


def _default_to_fields(names: list[str]) -> ToFields:
    if not names:
        return lambda obj: []
    if len(names) == 1:
        name = names[0]
        return lambda obj: [getattr(obj, name)]
    getter = operator.attrgetter(*names)
    return lambda obj: list(getter(obj))


# --- unpacking ----------------------------------------------------------------------------


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False, use_list=True)


def _ext_hook(code: int, payload: bytes) -> Any:
    depth = getattr(_ext_depth, "value", 0)
    if depth >= MAX_EXT_DEPTH:
        raise ProtocolError(f"messages nested more than {MAX_EXT_DEPTH} deep")
    _ext_depth.value = depth + 1
    try:
        return _decode_ext(code, payload)
    finally:
        _ext_depth.value = depth


def _decode_ext(code: int, payload: bytes) -> Any:
    if code == EXT_MESSAGE:
        fields = _unpack(payload)
        if type(fields) is not list or not fields or type(fields[0]) is not int:
            raise ProtocolError("message ext without a type id")
        registration = _by_id.get(fields[0])
        if registration is None:
            raise ProtocolError(f"unknown message type id {fields[0]}")
        del fields[0]
        return registration.from_fields(fields)
    if code == EXT_TUPLE:
        items = _unpack(payload)
        if type(items) is not list:
            raise ProtocolError("tuple ext without an array")
        return tuple(items)
    raise ProtocolError(f"unknown ext type {code}")


def _default_from_fields(registration: Registration, values: list[Any]) -> Any:
    cls = registration.cls
    missing = registration.arity - len(values)
    if missing < 0 or missing > len(registration.defaults):
        raise ProtocolError(f"{cls.__name__} takes {registration.arity} fields, got {len(values)}")
    if missing:
        values = [*values, *registration.defaults[-missing:]]
    if not registration._checked:
        # Lazily, so hints may name classes registered after this one.
        registration._checkers = field_checkers(cls, dataclasses.is_dataclass)
        registration._checked = True
    checkers = registration._checkers
    try:
        if checkers is not None:
            values = [check(value) for check, value in zip(checkers, values, strict=True)]
        return cls(*values)
    except Exception as exc:  # a check, or the class's own __post_init__ validation
        raise ProtocolError(f"bad {cls.__name__}: {exc}") from exc


# --- the AppendEntries fast path -----------------------------------------------------------

_ENTRY_KINDS: dict[int, EntryKind] = {kind.value: kind for kind in EntryKind}
_new_entry = object.__new__
# Entry is a frozen, slotted dataclass without __post_init__: writing its slots directly
# builds the same object as Entry(...) in about half the time (it skips the frozen
# __setattr__ guard), which is most of the cost of decoding a large AppendEntries.
_set_term = vars(Entry)["term"].__set__
_set_index = vars(Entry)["index"].__set__
_set_data = vars(Entry)["data"].__set__
_set_kind = vars(Entry)["kind"].__set__
assert not hasattr(Entry, "__post_init__"), "the Entry fast path would skip __post_init__"


def _make_entry(term: int, index: int, data: bytes, kind: EntryKind) -> Entry:
    entry = _new_entry(Entry)
    _set_term(entry, term)
    _set_index(entry, index)
    _set_data(entry, data)
    _set_kind(entry, kind)
    return entry


def _append_entries_to_fields(msg: AppendEntries) -> list[Any]:
    entries = msg.entries
    return [
        msg.term,
        msg.src,
        msg.dst,
        msg.prev_index,
        msg.prev_term,
        msg.commit,
        [e.term for e in entries],
        [e.index for e in entries],
        [e.data for e in entries],
        [int(e.kind) for e in entries],
    ]


def _append_entries_from_fields(values: list[Any]) -> AppendEntries:
    if len(values) != 10:
        raise ProtocolError(f"AppendEntries takes 10 fields, got {len(values)}")
    term, src, dst, prev_index, prev_term, commit, terms, indexes, datas, kinds = values
    if {type(term), type(src), type(dst), type(prev_index), type(prev_term), type(commit)} != {int}:
        raise ProtocolError("bad AppendEntries: header fields must be ints")
    if not (type(terms) is type(indexes) is type(datas) is type(kinds) is list):
        raise ProtocolError("bad AppendEntries: entry columns must be arrays")
    count = len(terms)
    if not (len(indexes) == len(datas) == len(kinds) == count):
        raise ProtocolError("bad AppendEntries: entry columns differ in length")
    if count:
        # One type check per column (C-speed set building) instead of one per value.
        if set(map(type, terms)) != {int} or set(map(type, indexes)) != {int}:
            raise ProtocolError("bad AppendEntries: entry term and index must be ints")
        if set(map(type, datas)) != {bytes}:
            raise ProtocolError("bad AppendEntries: entry data must be bytes")
        try:
            kind_values = [_ENTRY_KINDS[k] for k in kinds]
        except (KeyError, TypeError) as exc:
            raise ProtocolError(f"bad AppendEntries: unknown entry kind {exc}") from exc
        entries = tuple(map(_make_entry, terms, indexes, datas, kind_values))
    else:
        entries = ()
    return AppendEntries(
        term=term,
        src=src,
        dst=dst,
        prev_index=prev_index,
        prev_term=prev_term,
        entries=entries,
        commit=commit,
    )


# --- registering the table -----------------------------------------------------------------


def _membership_from_fields(values: list[Any]) -> Membership:
    if len(values) != 1 or type(values[0]) is not bytes:
        raise ProtocolError("bad Membership: one bytes field expected")
    try:
        return Membership.decode(values[0])
    except MembershipError as exc:
        raise ProtocolError(f"bad Membership: {exc}") from exc


# Classes with their own layout; every other class travels as its init fields in order.
_LAYOUTS: dict[type, tuple[ToFields, FromFields]] = {
    AppendEntries: (_append_entries_to_fields, _append_entries_from_fields),
    # As its own one-line encoding (membership.py): the log and the WAL store the same bytes.
    Membership: (lambda m: [m.encode()], _membership_from_fields),
}

for _type_id, _cls in TYPE_IDS.items():
    _layout = _LAYOUTS.get(_cls)
    if _layout is None:
        register(_type_id, _cls)
    else:
        register(_type_id, _cls, to_fields=_layout[0], from_fields=_layout[1])
