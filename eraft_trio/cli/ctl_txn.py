"""`eraft ctl txn`: a transaction read as JSON on stdin (docs/reference.md, "Transactions").

    {"compare": [{"key": "user{1}:n", "target": "version", "op": "==", "operand": 3}],
     "success": [{"op": "put", "key": "user{1}:n", "value": "ann"}],
     "failure": [{"op": "get", "key": "user{1}:n"}]}

A compare may also be a list `[key, target, op, operand]`. Keys are UTF-8 strings;
values (of puts, and the operands of value compares) too, or base64 with --base64,
which also prints the values read in base64. Exit 0 when the compares held, 1 when
they did not (the failure ops ran), 2 for bad input, 3 when the cluster is unreachable.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from typing import Any

from eraft_trio.client.kv_client import Client
from eraft_trio.client.results import DeleteResult, GetResult, PutResult
from eraft_trio.client.txn import TxnResult, compare, delete_op, get_op, put_op
from eraft_trio.protocol.txn import TxnCompare, TxnOp

EXIT_OK, EXIT_COMPARE_FAILED, EXIT_USAGE = 0, 1, 2


class TxnInputError(ValueError):
    """The document on stdin is not a txn; the message says where."""


def add_txn_parser(cmds: Any) -> None:
    txn = cmds.add_parser(
        "txn",
        help="run a transaction read as JSON on stdin (exit 1 when its compares fail)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    txn.add_argument("--json", action="store_true", help="print the result as JSON")
    txn.add_argument(
        "--base64", action="store_true", help="values in and out are base64, not UTF-8 text"
    )


async def run_txn_command(client: Client, args: argparse.Namespace) -> int:
    from eraft_trio.cli.ctl_command import UsageError

    try:
        compares, success, failure, keys = parse_txn(sys.stdin.read(), args.base64)
    except TxnInputError as exc:
        raise UsageError(f"stdin: {exc}") from None
    result = await client.txn(compares, success, failure)
    print_result(result, keys, args.json, args.base64)
    return EXIT_OK if result.succeeded else EXIT_COMPARE_FAILED


Keys = tuple[list[str], list[str]]  # the keys of the success ops, and of the failure ops


def parse_txn(text: str, b64: bool) -> tuple[list[TxnCompare], list[TxnOp], list[TxnOp], Keys]:
    """(compares, success, failure, the keys of each list's ops); TxnInputError for any
    document that is not a txn, so bad input exits 2, never 1 (a failed compare)."""
    try:
        return _parse(text, b64)
    except UnicodeError as exc:  # a lone surrogate (\ud800) in a key or value
        raise TxnInputError(f"a key or value is not valid UTF-8 text: {exc}") from None
    except RecursionError:
        raise TxnInputError("the document is nested too deeply") from None


def _parse(text: str, b64: bool) -> tuple[list[TxnCompare], list[TxnOp], list[TxnOp], Keys]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TxnInputError(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise TxnInputError('a txn is an object {"compare": [...], "success": [...], ...}')
    unknown = set(document) - {"compare", "success", "failure"}
    if unknown:
        raise TxnInputError(f"unknown field(s) {', '.join(sorted(unknown))}")
    compares = [_compare(item, i, b64) for i, item in enumerate(_list(document, "compare"))]
    lists = {}
    for name in ("success", "failure"):
        lists[name] = [
            _op(item, f"{name}[{i}]", b64) for i, item in enumerate(_list(document, name))
        ]
    keys = (
        [op.key.decode() for op in lists["success"]],
        [op.key.decode() for op in lists["failure"]],
    )
    return compares, lists["success"], lists["failure"], keys


def _list(document: dict[str, Any], name: str) -> list[Any]:
    items = document.get(name, [])
    if not isinstance(items, list):
        raise TxnInputError(f"{name} must be a list")
    return items


def _text(item: Any, where: str) -> str:
    if not isinstance(item, str):
        raise TxnInputError(f"{where} must be a string")
    return item


def _value(item: Any, where: str, b64: bool) -> bytes:
    text = _text(item, where)
    if not b64:
        return text.encode()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise TxnInputError(f"{where} is not base64") from None


def _compare(item: Any, index: int, b64: bool) -> TxnCompare:
    where = f"compare[{index}]"
    if isinstance(item, list) and len(item) == 4:
        item = dict(zip(("key", "target", "op", "operand"), item, strict=True))
    if not isinstance(item, dict) or set(item) != {"key", "target", "op", "operand"}:
        raise TxnInputError(f"{where}: give key, target, op and operand")
    key = _text(item["key"], f"{where}.key")
    target = _text(item["target"], f"{where}.target")
    operand = item["operand"]
    if target == "value":
        operand = _value(operand, f"{where}.operand", b64)
    elif not isinstance(operand, int) or isinstance(operand, bool):
        raise TxnInputError(f"{where}.operand: a {target} compare needs an integer")
    return compare(key, target, _text(item["op"], f"{where}.op"), operand)


def _op(item: Any, where: str, b64: bool) -> TxnOp:
    if not isinstance(item, dict) or not {"op", "key"} <= set(item):
        raise TxnInputError(f'{where}: give "op" (put, delete or get) and "key"')
    kind, key = _text(item["op"], f"{where}.op"), _text(item["key"], f"{where}.key")
    extra = set(item) - {"op", "key", "value"}
    if extra:
        raise TxnInputError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
    if kind == "put":
        if "value" not in item:
            raise TxnInputError(f"{where}: a put needs a value")
        return put_op(key, _value(item["value"], f"{where}.value", b64))
    if "value" in item:
        raise TxnInputError(f"{where}: a {kind} takes no value")
    if kind == "delete":
        return delete_op(key)
    if kind == "get":
        return get_op(key)
    raise TxnInputError(f"{where}.op: {kind!r} is not put, delete or get")


def _shown(value: bytes | None, b64: bool) -> str | None:
    if value is None:
        return None
    return base64.b64encode(value).decode() if b64 else value.decode("utf-8", errors="replace")


def result_json(result: TxnResult, keys: Keys, b64: bool) -> dict[str, Any]:
    """The --json document; `keys` the keys of the ops of each list, in order."""
    ran = keys[0] if result.succeeded else keys[1]
    items: list[dict[str, Any]] = []
    for key, op in zip(ran, result.results, strict=False):
        if isinstance(op, GetResult):
            items.append(
                {
                    "op": "get",
                    "key": key,
                    "value": _shown(op.value, b64),
                    "version": op.version,
                    "mod_revision": op.mod_revision,
                }
            )
        elif isinstance(op, PutResult):
            items.append({"op": "put", "key": key, "version": op.version})
        elif isinstance(op, DeleteResult):
            items.append({"op": "delete", "key": key, "deleted": op.deleted})
    return {"succeeded": result.succeeded, "revision": result.revision, "results": items}


def print_result(result: TxnResult, keys: Keys, as_json: bool, b64: bool) -> None:
    document = result_json(result, keys, b64)
    if as_json:
        print(json.dumps(document))
        return
    outcome = "succeeded" if result.succeeded else "compare failed"
    print(f"{outcome}: revision={result.revision}")
    for item in document["results"]:
        if item["op"] == "get":
            print(
                f"get {item['key']} = {json.dumps(item['value'])} "
                f"version={item['version']} mod_revision={item['mod_revision']}"
            )
        elif item["op"] == "put":
            print(f"put {item['key']} version={item['version']}")
        else:
            print(f"delete {item['key']} deleted={str(item['deleted']).lower()}")
