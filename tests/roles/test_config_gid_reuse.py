"""Group ids never alias: a gid that any config of the chain held is never joined again."""

from __future__ import annotations

import pytest

from eraft_trio.roles.config import tables
from eraft_trio.roles.config.commands import (
    ConfigCommand,
    Join,
    Leave,
    Move,
    SessionCommand,
    encode_command,
)
from eraft_trio.roles.config.model import Config
from eraft_trio.roles.config.state_machine import ConfigStateMachine
from eraft_trio.storage.view import MemoryView


def addresses(gid: int, generation: int = 0) -> tuple[str, ...]:
    return (f"10.{generation}.{gid}.1:6088", f"10.{generation}.{gid}.2:6088")


class Chain:
    """One client's commands applied to one config replica, seq and index counted for it."""

    def __init__(self) -> None:
        self.machine = ConfigStateMachine(10)
        self.view = MemoryView()
        self.seq = 0

    def apply(self, command: ConfigCommand) -> dict:
        self.seq += 1
        return self.machine.apply(
            self.view, self.seq, encode_command(SessionCommand(1, self.seq, command))
        )

    def latest(self) -> Config:
        return self.machine.latest(self.view)


def issue_scenario() -> Chain:
    """join 1 (k's bucket goes to 1), join 2, move that bucket to 2, leave 1."""
    chain = Chain()
    assert chain.apply(Join({1: addresses(1)}))["ok"]
    assert chain.apply(Join({2: addresses(2)}))["ok"]
    bucket_of_k = chain.latest().buckets.index(1)  # the first bucket group 1 serves
    assert chain.apply(Move((bucket_of_k,), 2))["ok"]
    assert chain.apply(Leave((1,)))["ok"]
    assert 1 not in chain.latest().groups
    return chain


@pytest.mark.parametrize("rebalance", [True, False])
def test_rejoining_a_left_gid_is_refused_and_changes_nothing(rebalance: bool) -> None:
    chain = issue_scenario()
    before = chain.view.copy().tables
    reply = chain.apply(Join({1: addresses(1, generation=1)}, rebalance=rebalance))
    assert reply == {
        "ok": False,
        "code": "gid_used",
        "message": "gid 1 was used before; choose a new one",
    }
    assert chain.view.tables["cfg"] == before["cfg"]
    assert chain.latest().num == 4
    # The refusal is the session's answer for that seq, like any other refusal.
    assert (
        chain.machine.apply(
            chain.view, 99, encode_command(SessionCommand(1, chain.seq, Join({1: addresses(1)})))
        )
        == reply
    )


def test_a_fresh_gid_on_the_same_machines_is_accepted() -> None:
    chain = issue_scenario()
    reply = chain.apply(Join({3: addresses(1)}))
    assert reply == {"ok": True, "num": 5}
    assert chain.latest().groups[3] == addresses(1)


def test_a_join_naming_a_used_gid_among_new_ones_is_refused_whole() -> None:
    chain = issue_scenario()
    reply = chain.apply(Join({1: addresses(1, 1), 7: addresses(7)}))
    assert reply["code"] == "gid_used"
    assert set(chain.latest().groups) == {2}


def test_a_gid_only_registered_and_left_is_used_too() -> None:
    chain = Chain()
    assert chain.apply(Join({4: addresses(4)}, rebalance=False))["ok"]
    assert chain.apply(Leave((4,)))["ok"]
    assert chain.apply(Join({4: addresses(4)}))["code"] == "gid_used"


def test_a_chain_stored_before_the_gid_table_is_indexed_on_its_next_join() -> None:
    """Tables written by an older version have no "gids" table: the first join builds it
    from the chain (the same way on every replica), so the old history counts too."""
    chain = issue_scenario()
    del chain.view.tables[tables.USED_GIDS]
    chain.view.delete(tables.META, b"gids_indexed")
    assert chain.apply(Join({1: addresses(1, 1)}))["code"] == "gid_used"
    assert chain.apply(Join({5: addresses(5)}))["ok"]
    assert chain.apply(Leave((5,)))["ok"]
    assert chain.apply(Join({5: addresses(5)}))["code"] == "gid_used"
    assert chain.apply(Join({2: addresses(2, 1)}))["code"] == "gid_exists"


def test_the_gid_table_records_the_config_a_gid_first_appeared_in() -> None:
    chain = issue_scenario()
    rows = {
        int.from_bytes(key, "big"): int.from_bytes(value, "big")
        for key, value in chain.view.tables[tables.USED_GIDS].items()
    }
    assert rows == {1: 1, 2: 2}


def test_rejoin_brings_back_the_same_group_explicitly() -> None:
    """The escape for undoing a leave of machines that kept running with their data."""
    chain = issue_scenario()
    reply = chain.apply(Join({1: addresses(1)}, rejoin=True))
    assert reply == {"ok": True, "num": 5}
    assert 1 in chain.latest().groups
    # rejoin only lifts the gid_used check: every other refusal still holds.
    assert chain.apply(Join({2: addresses(9)}, rejoin=True))["code"] == "gid_exists"
    assert chain.apply(Join({9: addresses(2)}, rejoin=True))["code"] == "address_in_use"
