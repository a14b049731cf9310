"""`eraft ctl member` writes a shard group's voters into the config chain after a change
(cli/ctl_member.py): only when they differ from what the chain holds, and a group that
left the config meanwhile is a note on stderr, not a failure of the change already made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from eraft_trio.cli import ctl_member
from eraft_trio.errors import BadRequest
from eraft_trio.protocol.replies import Members
from eraft_trio.transport.security import Security

VOTERS = [
    {"id": 0, "addr": "a:1", "role": "voter"},
    {"id": 3, "addr": "a:9", "role": "voter"},
    {"id": 4, "addr": "a:7", "role": "learner"},
]


class FakeMembers:
    async def listing(self) -> Members:
        return Members(VOTERS, "a:1", False, "")


class FakeConfigClient:
    def __init__(self, refusal: BadRequest | None) -> None:
        self.refusal = refusal
        self.recorded: list[tuple[int, tuple[str, ...]]] = []

    async def set_addresses(self, gid: int, addresses: tuple[str, ...]) -> int:
        if self.refusal is not None:
            raise self.refusal
        self.recorded.append((gid, addresses))
        return 12


def fake_connect(config_client: FakeConfigClient) -> Any:
    class FakeClient:
        pass

    client = FakeClient()
    client.config_client = config_client  # type: ignore[attr-defined]

    @asynccontextmanager
    async def connect(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        yield client

    return connect


async def record(
    monkeypatch: pytest.MonkeyPatch, recorded: tuple[str, ...], refusal: BadRequest | None = None
) -> FakeConfigClient:
    config_client = FakeConfigClient(refusal)
    monkeypatch.setattr(ctl_member.Client, "connect", fake_connect(config_client))
    await ctl_member._record_members(
        FakeMembers(),  # type: ignore[arg-type]
        1,
        recorded,
        ("c:1",),
        1.0,
        Security(),
    )
    return config_client


async def test_changed_voters_are_recorded_learners_left_out(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config_client = await record(monkeypatch, ("a:1", "a:2"))
    assert config_client.recorded == [(1, ("a:1", "a:9"))]
    assert capsys.readouterr().out == "config 12 records group 1 at a:1,a:9\n"


async def test_the_same_voters_in_another_order_record_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (await record(monkeypatch, ("a:9", "a:1"))).recorded == []


async def test_a_group_that_left_meanwhile_is_a_note_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refusal = BadRequest("unknown_gid", "group 1 is not in config 12")
    await record(monkeypatch, ("a:1", "a:2"), refusal)
    err = capsys.readouterr().err
    assert err.startswith("note: the config chain was not updated: unknown_gid")
