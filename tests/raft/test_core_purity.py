"""The Raft core is pure: eraft_trio/raft imports no trio, sockets, LMDB, clock or threads (docs/architecture.md)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import eraft_trio.raft

RAFT_DIR = Path(eraft_trio.raft.__file__).parent
FORBIDDEN = ("trio", "socket", "lmdb", "time", "asyncio", "threading", "selectors", "datetime")
# Modules the core may import: the standard library's pure parts and itself.
ALLOWED = {
    "__future__",
    "collections",
    "dataclasses",
    "enum",
    "random",
    "typing",
    "eraft_trio",
}

_PROBE = r"""
import importlib, json, pkgutil, sys
forbidden = set(sys.argv[1].split(","))
# Some of these are loaded at interpreter start-up ("time" is); unload them so any
# import from the core shows, and record every import request from here on.
for name in list(sys.modules):
    if name.split(".")[0] in forbidden:
        del sys.modules[name]
requested = set()
class Recorder:
    def find_spec(self, fullname, path=None, target=None):
        requested.add(fullname.split(".")[0])
        return None
sys.meta_path.insert(0, Recorder())
import eraft_trio.raft as raft
names = [m.name for m in pkgutil.walk_packages(raft.__path__, "eraft_trio.raft.")]
for name in names:
    importlib.import_module(name)
loaded = {m.split(".")[0] for m in sys.modules}
print(json.dumps({"modules": names, "bad": sorted((loaded | requested) & forbidden)}))
"""


def test_importing_the_core_loads_nothing_forbidden() -> None:
    """Import every module of eraft_trio.raft in a fresh interpreter and inspect sys.modules."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(FORBIDDEN)],
        check=True,
        capture_output=True,
        text=True,
        cwd=RAFT_DIR.parent.parent,
    ).stdout
    report = json.loads(out)
    assert "eraft_trio.raft.core" in report["modules"]
    assert report["bad"] == []


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_core_sources_import_only_pure_modules() -> None:
    """Scan every file's import statements, including ones inside functions."""
    files = sorted(RAFT_DIR.glob("*.py"))
    assert any(f.name == "core.py" for f in files)
    for path in files:
        for module in _imports(path):
            top = module.split(".")[0]
            assert top not in FORBIDDEN, f"{path.name} imports {module}"
            assert top in ALLOWED, f"{path.name} imports {module}, not on the allow-list"
            if top == "eraft_trio":
                # Nothing below may import anything above (docs/architecture.md).
                assert module.startswith("eraft_trio.raft"), f"{path.name} imports {module}"
