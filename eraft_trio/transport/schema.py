"""Field checkers derived from a dataclass's type hints, so decoded messages have the declared types.

A checker takes a decoded value and returns it converted to the declared type (a list
to a tuple, an int to its IntEnum) or raises ValueError. Hints the checker does not
understand (and `object`/`Any`) accept anything: the schema is a guard against
garbage on the wire, not a full type system.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from typing import Any

Checker = Callable[[Any], Any]


def _accept(value: Any) -> Any:
    return value


def field_checkers(cls: type, is_message: Callable[[type], bool]) -> tuple[Checker, ...] | None:
    """One checker per dataclass field, in order; None when the hints cannot be resolved.

    `is_message(t)` tells whether `t` is a registered message class (decoded by the
    codec itself, so the checker only verifies its class).
    """
    try:
        hints = typing.get_type_hints(cls)
    except Exception:
        # A class defined inside a function, say: its hints name locals we cannot see.
        return None
    names = [name for name in cls.__dataclass_fields__]  # type: ignore[attr-defined]
    return tuple(checker_for(hints.get(name, Any), is_message) for name in names)


def checker_for(hint: Any, is_message: Callable[[type], bool]) -> Checker:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object:
        return _accept
    if hint is None or hint is type(None):
        return _exact(type(None))
    if origin in (typing.Union, types.UnionType):
        return _union([checker_for(arg, is_message) for arg in args])
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _homogeneous(tuple, checker_for(args[0], is_message))
        if args == ((),) or not args:
            return _homogeneous(tuple, _accept)
        return _fixed_tuple([checker_for(arg, is_message) for arg in args])
    if origin is list:
        return _homogeneous(list, checker_for(args[0], is_message) if args else _accept)
    if origin is dict:
        key = checker_for(args[0], is_message) if args else _accept
        value = checker_for(args[1], is_message) if args else _accept
        return _mapping(key, value)
    if origin is typing.Literal:
        return _literal(args)
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return _enum(hint)
        if hint is bool:
            return _exact(bool)
        if hint is int:
            return _int
        if hint is float:
            return _float
        if hint in (str, bytes):
            return _exact(hint)
        if is_message(hint):
            return _instance(hint)
    return _accept


def _exact(expected: type) -> Checker:
    def check(value: Any) -> Any:
        if type(value) is not expected:
            raise ValueError(f"expected {expected.__name__}, got {type(value).__name__}")
        return value

    return check


def _int(value: Any) -> Any:
    # bool is an int subclass, but a True arriving where a number belongs is garbage.
    if type(value) is not int:
        raise ValueError(f"expected int, got {type(value).__name__}")
    return value


def _float(value: Any) -> Any:
    if type(value) is int:
        return float(value)
    if type(value) is not float:
        raise ValueError(f"expected float, got {type(value).__name__}")
    return value


def _instance(cls: type) -> Checker:
    def check(value: Any) -> Any:
        if not isinstance(value, cls):
            raise ValueError(f"expected {cls.__name__}, got {type(value).__name__}")
        return value

    return check


def _enum(cls: type[enum.Enum]) -> Checker:
    def check(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if type(value) not in (int, str):
            raise ValueError(f"expected {cls.__name__}, got {type(value).__name__}")
        return cls(value)  # ValueError when not a member

    return check


def _literal(allowed: tuple[Any, ...]) -> Checker:
    def check(value: Any) -> Any:
        if value not in allowed or type(value) not in {type(a) for a in allowed}:
            raise ValueError(f"expected one of {allowed!r}, got {value!r}")
        return value

    return check


def _union(options: list[Checker]) -> Checker:
    def check(value: Any) -> Any:
        for option in options:
            try:
                return option(value)
            except ValueError:
                continue
        raise ValueError(f"{type(value).__name__} matches no member of the union")

    return check


def _homogeneous(container: type, item: Checker) -> Checker:
    def check(value: Any) -> Any:
        if type(value) not in (tuple, list):
            raise ValueError(f"expected a {container.__name__}, got {type(value).__name__}")
        if item is _accept:
            return value if type(value) is container else container(value)
        return container([item(v) for v in value])

    return check


def _fixed_tuple(items: list[Checker]) -> Checker:
    def check(value: Any) -> Any:
        if type(value) not in (tuple, list) or len(value) != len(items):
            raise ValueError(f"expected a tuple of {len(items)}")
        return tuple(item(v) for item, v in zip(items, value, strict=True))

    return check


def _mapping(key: Checker, value_checker: Checker) -> Checker:
    def check(value: Any) -> Any:
        if type(value) is not dict:
            raise ValueError(f"expected a dict, got {type(value).__name__}")
        if key is _accept and value_checker is _accept:
            return value
        return {key(k): value_checker(v) for k, v in value.items()}

    return check
