"""Write role files (the TOML subset role_file.py reads) from Python values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TomlValue = str | int | bool | list[Any]


def render_toml(sections: Mapping[str, Mapping[str, TomlValue]], comment: str = "") -> str:
    """Tables of strings, integers, booleans and lists, after `comment` (one `#` line per
    line of it): all a role file needs, so no TOML writer is a dependency."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: TomlValue) -> str:
    # bool before int: bool is a subclass of int, and TOML spells it lower case.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
