"""The config state machine stays pure: no trio, sockets, LMDB, clock or randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import eraft_trio.roles.config as config_package

# The state machine's modules; the config server beside them may well use trio.
PURE_MODULES = (
    "bucket_ranges",
    "commands",
    "model",
    "rebalance",
    "replies",
    "state_machine",
    "tables",
    "transitions",
)
FORBIDDEN = {"trio", "lmdb", "socket", "time", "datetime", "random", "os", "threading", "asyncio"}
ALLOWED_PROJECT_IMPORTS = (
    "eraft_trio.roles.config",
    "eraft_trio.protocol",  # plain data: the wire messages and error codes
    "eraft_trio.storage.view",
    "eraft_trio.runtime.state_machine",
)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_config_role_modules_import_nothing_impure() -> None:
    folder = Path(config_package.__file__).parent
    for path in (folder / f"{name}.py" for name in PURE_MODULES):
        for module in imported_modules(path):
            assert module.split(".")[0] not in FORBIDDEN, (path.name, module)
            if module.startswith("eraft_trio"):
                assert module.startswith(ALLOWED_PROJECT_IMPORTS), (path.name, module)
