"""The role-file cases of this folder: templates with port placeholders, and running `eraft node`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from string import Template

from integration.ports import free_ports

HERE = Path(__file__).parent
MALFORMED = sorted(HERE.glob("*.toml"))
VALID = sorted((HERE / "valid").glob("*.toml"))
PLACEHOLDERS = 4  # ${port0} .. ${port3}
# A refused file exits at once; a node that wrongly starts is killed after this long.
NODE_RUN_LIMIT = 20.0


def expected_key(template: Path) -> str:
    """The key a malformed file's first line names: `# expect: raft.peers`."""
    first = template.read_text().splitlines()[0]
    prefix = "# expect: "
    if not first.startswith(prefix):
        raise ValueError(f"{template.name} does not start with {prefix!r}")
    return first[len(prefix) :].strip()


def instantiate(template: Path, folder: Path) -> Path:
    """The template with free loopback ports filled in, written into `folder`.

    Real free ports, because a node that wrongly accepts a file will bind them; the
    data_dir it names then lands under `folder`, since it is relative to the file.
    """
    ports = free_ports(PLACEHOLDERS)
    text = Template(template.read_text()).safe_substitute(
        {f"port{i}": str(port) for i, port in enumerate(ports)}
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / template.name
    path.write_text(text)
    return path


def run_node_command(role_path: Path) -> subprocess.CompletedProcess[str]:
    """`python -m eraft_trio node --config role_path`, to completion (killed past the limit)."""
    return subprocess.run(
        [sys.executable, "-m", "eraft_trio", "node", "--config", str(role_path)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=NODE_RUN_LIMIT,
        start_new_session=True,
    )
