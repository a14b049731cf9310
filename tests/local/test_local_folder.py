"""`eraft local`'s folder without starting nodes: the layout it writes, resuming, refusals."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from eraft_trio.cli.local_command import LocalError, LocalPlan, prepare_plan
from eraft_trio.cli.local_layout import LayoutError, LocalLayout
from eraft_trio.cli.main import build_parser
from eraft_trio.runtime.role_file import RoleFile, load_role_file

from .local_run import ROLE_FILES, free_base_port


def _prepare(*flags: str) -> tuple[LocalPlan, str]:
    return prepare_plan(build_parser().parse_args(["local", *flags]))


def _essentials(role: RoleFile) -> tuple[object, ...]:
    """What makes a node the node it is (not comments, not where the file lies)."""
    data_dir = role.data_dir.relative_to(role.path.parent)
    return (role.role, role.id, data_dir, role.peers, role.group, role.config_servers)


def test_the_default_layout_is_configs_local(tmp_path: Path) -> None:
    for name, text in LocalLayout().role_files().items():
        (tmp_path / name).write_text(text)
    written = {p.name: load_role_file(p) for p in tmp_path.glob("*.toml")}
    example = {p.name: load_role_file(p) for p in ROLE_FILES.glob("*.toml")}
    assert sorted(written) == sorted(example)
    for name, role in written.items():
        assert _essentials(role) == _essentials(example[name]), name
        assert role.buckets == example[name].buckets


def test_ports_move_with_the_base_and_never_collide() -> None:
    layout = LocalLayout(groups=4, replicas=3, base_port=20000)
    assert layout.config_servers == ("127.0.0.1:20000", "127.0.0.1:20001", "127.0.0.1:20002")
    assert [layout.first_port(gid) for gid in (1, 2, 3, 4)] == [18000, 19000, 21000, 22000]
    widest = LocalLayout(groups=40, replicas=9, base_port=8088)
    widest.check()
    assert len(set(widest.ports())) == len(widest.ports()) == 41 * 9


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        (LocalLayout(groups=0), "--groups 0: must be at least 1"),
        (LocalLayout(replicas=0), "--replicas 0: must be 1 to 9"),
        (LocalLayout(replicas=10), "--replicas 10: must be 1 to 9"),
        (
            LocalLayout(base_port=3000),
            "--base-port 3000: shard group 1 would listen on port 1000; "
            "the lowest base port is 3024",
        ),
        (
            LocalLayout(groups=60),
            "--groups 60 --base-port 8088: group 60 would listen on port 66090, past 65535",
        ),
    ],
)
def test_a_shape_without_room_names_its_flag(layout: LocalLayout, message: str) -> None:
    with pytest.raises(LayoutError) as caught:
        layout.check()
    assert str(caught.value) == message


def test_first_use_writes_the_folder_then_resumes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    base = free_base_port(LocalLayout(groups=3, replicas=1))
    plan, intro = _prepare("--groups", "3", "--replicas", "1", "--base-port", str(base))
    assert intro.splitlines()[0].startswith("eraft local: a new cluster in eraft-local/ ")
    assert plan.directory == Path("eraft-local")
    assert sorted(p.name for p in (tmp_path / "eraft-local").glob("*.toml")) == [
        "config-0.toml",
        "group1-0.toml",
        "group2-0.toml",
        "group3-0.toml",
    ]
    assert plan.config_servers == (f"127.0.0.1:{base}",)
    assert sorted(plan.shard_groups) == [1, 2, 3]

    # No flags: whatever the folder holds; the same flags again: the same cluster.
    for flags in ((), ("--groups", "3", "--base-port", str(base))):
        again, intro = _prepare(*flags)
        assert intro == "eraft local: resuming the cluster in eraft-local/ (its data stays there)"
        assert again.roles == plan.roles


def test_flags_that_contradict_the_folder_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    base = free_base_port()
    _prepare("--base-port", str(base))
    before = {p.name: p.read_text() for p in (tmp_path / "eraft-local").iterdir()}
    for flags in (("--groups", "3"), ("--replicas", "5"), ("--base-port", str(base + 1))):
        with pytest.raises(LocalError) as caught:
            _prepare(*flags)
        assert caught.value.code == 2
        assert str(caught.value) == (
            f"{' '.join(flags)}: eraft-local/ already holds a cluster made with --groups 2 "
            f"--replicas 3 --base-port {base}; leave the flag out to resume it, or pass --dir "
            "with a new folder for another cluster"
        )
    assert {p.name: p.read_text() for p in (tmp_path / "eraft-local").iterdir()} == before


def test_a_busy_port_writes_nothing_and_names_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    base = free_base_port()
    busy_port = LocalLayout(base_port=base).first_port(2) + 1
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", busy_port))
        busy.listen(1)
        with pytest.raises(LocalError) as caught:
            _prepare("--base-port", str(base))
    message = str(caught.value)
    assert caught.value.code == 2
    assert message.startswith(
        f"127.0.0.1:{busy_port} (group2-1) is already in use: is another local cluster "
        "running? Stop it, or move every port with --base-port"
    )
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_dir_names_the_folder_and_is_made_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    base = free_base_port()
    plan, intro = _prepare("--dir", "clusters/a", "--base-port", str(base))
    assert "a new cluster in clusters/a/" in intro
    assert len(list((tmp_path / "clusters" / "a").glob("*.toml"))) == 9
    assert not (tmp_path / "eraft-local").exists()


def test_a_first_run_in_the_repository_points_at_the_earlier_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before ./eraft-local/, `eraft local` kept its data in configs/local/data/.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs" / "local" / "data").mkdir(parents=True)
    _, intro = _prepare("--base-port", str(free_base_port()))
    assert intro.splitlines()[-1] == (
        "  (the data of an earlier run is in configs/local/data/: "
        "`eraft local --dir configs/local` resumes that one)"
    )
