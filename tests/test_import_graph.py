"""The package layers: the core, storage, transport and protocol know nothing of the
roles, the client or the user interfaces, and the client and the roles know nothing of
each other (both use protocol/ and group_calls/). Every import counts, function-level
ones included."""

from __future__ import annotations

import ast
from pathlib import Path

import eraft_trio

PACKAGE = Path(eraft_trio.__file__).parent

LOWER = ("raft", "storage", "transport", "protocol")
UPPER = ("roles", "client", "cli", "tui")
APART = (("client", "roles"), ("roles", "client"))
# protocol/ is plain data: the wire vocabulary rests on the Raft core's messages only.
PROTOCOL_MAY_IMPORT = ("protocol", "raft")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every eraft_trio module `path` imports, wherever in the file the import is."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    return imports_in(path.read_text(), package)


def imports_in(source: str, package: str) -> set[str]:
    """The eraft_trio modules `source` (a module of `package`) imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                parts = package.split(".")
                anchor = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from eraft_trio import client` imports the subpackage itself.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "eraft_trio"}


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports_by_subpackage() -> dict[str, set[tuple[str, str]]]:
    """Subpackage -> (importing module, imported eraft_trio subpackage) pairs."""
    graph: dict[str, set[tuple[str, str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        for imported in imports_of(path):
            target = subpackage(imported)
            if target:
                graph.setdefault(subpackage(module), set()).add((module, target))
    return graph


def test_the_lower_layers_import_no_role_client_or_interface() -> None:
    graph = imports_by_subpackage()
    wrong = sorted(
        (module, target)
        for layer in LOWER
        for module, target in graph.get(layer, ())
        if target in UPPER
    )
    assert wrong == []


def test_the_client_and_the_roles_do_not_import_each_other() -> None:
    graph = imports_by_subpackage()
    wrong = sorted(
        (module, target)
        for importer, forbidden in APART
        for module, target in graph.get(importer, ())
        if target == forbidden
    )
    assert wrong == []


def test_the_protocol_rests_on_the_raft_messages_only() -> None:
    wrong = sorted(
        (module, target)
        for module, target in imports_by_subpackage().get("protocol", ())
        if target not in PROTOCOL_MAY_IMPORT
    )
    assert wrong == []


def test_the_checker_sees_imports_inside_functions_and_relative_ones() -> None:
    """A check that finds nothing must be able to find something."""
    source = (
        "def late():\n    from eraft_trio.client import kv_client\n"
        "    from ..roles import shard\n    import eraft_trio.tui.status_view\n"
    )
    found = {subpackage(module) for module in imports_in(source, "eraft_trio.raft")}
    assert found == {"client", "roles", "tui"}
