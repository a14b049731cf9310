"""Histories as JSON lines, one op per line, so a failed chaos run can be re-checked offline.

Keys and values are stored as latin-1 strings: every byte maps to one code point, so
the encoding is lossless, and the ASCII values chaos clients write stay readable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from eraft_trio.chaos.history import CAS_KINDS, Op


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("latin-1")


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode("latin-1")


def op_to_json(op: Op) -> str:
    record: dict[str, Any] = {
        "process": op.process,
        "kind": op.kind,
        "key": _text(op.key),
        "value": _text(op.value),
        "invoke": op.invoke,
        "complete": op.complete,
        "outcome": op.outcome,
    }
    if op.kind in CAS_KINDS:
        record.update(
            expected=_text(op.expected), succeeded=op.succeeded, observed=_text(op.observed)
        )
    return json.dumps(record)


def op_from_json(line: str) -> Op:
    record = json.loads(line)
    key = _bytes(record["key"])
    assert key is not None, "an op must name a key"
    return Op(
        process=int(record["process"]),
        kind=record["kind"],
        key=key,
        value=_bytes(record["value"]),
        invoke=float(record["invoke"]),
        complete=None if record["complete"] is None else float(record["complete"]),
        outcome=record["outcome"],
        expected=_bytes(record.get("expected")),
        succeeded=record.get("succeeded"),
        observed=_bytes(record.get("observed")),
    )


def dump_history(ops: Iterable[Op], stream: TextIO) -> None:
    for op in ops:
        stream.write(op_to_json(op) + "\n")


def load_history(stream: TextIO) -> list[Op]:
    return [op_from_json(line) for line in stream if line.strip()]


def save_history(path: Path | str, ops: Iterable[Op]) -> None:
    with open(path, "w", encoding="utf-8") as stream:
        dump_history(ops, stream)


def read_history(path: Path | str) -> list[Op]:
    with open(path, encoding="utf-8") as stream:
        return load_history(stream)
