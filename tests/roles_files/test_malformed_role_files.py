"""Every malformed role file here makes `eraft node` exit 2 with one line naming file and key."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from eraft_trio.runtime.role_file import RoleFileError, load_role_file

from .role_file_cases import MALFORMED, VALID, expected_key, instantiate, run_node_command

# Node processes started at once: enough to hide interpreter start-up, few enough for 2 cores.
PARALLEL_RUNS = 4


@pytest.fixture(scope="module")
def node_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[Path, subprocess.CompletedProcess[str]]]]:
    """Every malformed file run through `eraft node`, a few at a time, by file name."""
    folder = tmp_path_factory.mktemp("malformed")
    paths = {t.name: instantiate(t, folder / t.stem) for t in MALFORMED}
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        results = dict(zip(paths, pool.map(run_node_command, paths.values()), strict=True))
    yield {name: (paths[name], results[name]) for name in paths}


def test_the_folder_holds_the_cases() -> None:
    assert len(MALFORMED) >= 30
    assert len(VALID) == 2


@pytest.mark.parametrize("template", MALFORMED, ids=lambda p: p.stem)
def test_eraft_node_exits_2_naming_the_key(
    template: Path, node_runs: dict[str, tuple[Path, subprocess.CompletedProcess[str]]]
) -> None:
    path, run = node_runs[template.name]
    key = expected_key(template)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    # The message format is "eraft node: FILE: KEY: PROBLEM".
    assert f"{path}: {key}: " in lines[0]
    assert run.stdout == ""
    # Refused before anything was written.
    assert not (path.parent / "data").exists()


@pytest.mark.parametrize("template", MALFORMED, ids=lambda p: p.stem)
def test_the_parser_names_the_same_key(template: Path, tmp_path: Path) -> None:
    with pytest.raises(RoleFileError) as refused:
        load_role_file(instantiate(template, tmp_path))
    assert refused.value.key == expected_key(template)


@pytest.mark.parametrize("template", VALID, ids=lambda p: p.stem)
def test_the_controls_load(template: Path, tmp_path: Path) -> None:
    """The malformed files differ from these in one thing each, so these must be accepted."""
    role = load_role_file(instantiate(template, tmp_path))
    assert role.role == template.stem
    assert role.data_dir.parent.parent == tmp_path


def test_a_missing_role_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    run = run_node_command(path)
    assert run.returncode == 2
    assert f"{path}: file: " in run.stderr
