"""A data directory belongs to one node: other identities, foreign folders and second owners are refused."""

from __future__ import annotations

from pathlib import Path

import lmdb
import pytest

from eraft_trio.storage.errors import StorageIdentityError, StorageInUseError
from eraft_trio.storage.node_store import NodeStore

from .conftest import IDENTITY, StoreOpener


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"node": 2}, "node is 0 in the store but 2 was given"),
        ({"cluster": "other"}, "cluster is 'test' in the store but 'other' was given"),
        ({"group": "1"}, "group is 1 in the store but '1' was given"),
        ({"role": "config"}, "role is 'shard' in the store but 'config' was given"),
    ],
)
def test_reopening_with_another_identity_names_the_field(
    open_store: StoreOpener, change: dict[str, str | int], message: str
) -> None:
    open_store().close()

    with pytest.raises(StorageIdentityError, match=message):
        open_store(identity={**IDENTITY, **change})


def test_a_missing_or_extra_identity_field_is_a_mismatch(open_store: StoreOpener) -> None:
    open_store().close()
    without_node = {k: v for k, v in IDENTITY.items() if k != "node"}

    with pytest.raises(StorageIdentityError, match="node is 0 in the store but absent"):
        open_store(identity=without_node)
    with pytest.raises(StorageIdentityError, match="zone is absent in the store but 'a'"):
        open_store(identity={**IDENTITY, "zone": "a"})


def test_reopening_with_the_same_identity_works(open_store: StoreOpener) -> None:
    open_store().close()

    assert open_store().load().applied == 0


def test_a_non_empty_folder_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"\xff\xd8")

    with pytest.raises(StorageIdentityError, match="not an eraft store.*cat.jpg"):
        NodeStore.open(folder, IDENTITY)
    assert sorted(p.name for p in folder.iterdir()) == ["cat.jpg"]


def test_a_file_in_place_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "node").write_text("not a folder")

    with pytest.raises(StorageIdentityError, match="not a directory"):
        NodeStore.open(tmp_path / "node", IDENTITY)


def test_an_lmdb_environment_of_another_program_is_refused(tmp_path: Path) -> None:
    env = lmdb.open(str(tmp_path / "other"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"user:1", b"alice")
    env.close()

    with pytest.raises(StorageIdentityError, match="not an eraft store"):
        NodeStore.open(tmp_path / "other", IDENTITY)


def test_a_data_file_that_is_not_lmdb_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "node"
    folder.mkdir()
    (folder / "data.mdb").write_bytes(b"definitely not a database" * 400)

    with pytest.raises(StorageIdentityError, match="not an LMDB environment"):
        NodeStore.open(folder, IDENTITY)


def test_a_second_open_of_an_open_store_is_refused(open_store: StoreOpener) -> None:
    first = open_store()

    with pytest.raises(StorageInUseError, match="in use"):
        open_store()
    assert first.load().applied == 0  # the refused open left the first one working


def test_a_closed_store_can_be_reopened_by_another_owner(open_store: StoreOpener) -> None:
    open_store().close()

    assert open_store().statistics()["fsyncs"] == 0
