"""Random puts, deletes, compare-and-sets, retries, configs and partial migration steps,
against a dict model of each key's value, version and mod revision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from roles.memory_cluster import MemoryClerk, MemoryCluster

from eraft_trio.roles.shard.commands import Delete, Put
from eraft_trio.roles.shard.tables import KV, SESSIONS

NBUCKETS = 5
GIDS = (1, 2, 3)
KEYS = [f"key{i}".encode() for i in range(4)]  # few keys: retries race other writes

clients = st.integers(0, 2)
keys = st.integers(0, len(KEYS) - 1)
operations = st.one_of(
    st.tuples(st.just("put"), clients, keys, st.binary(max_size=8)),
    st.tuples(st.just("delete"), clients, keys),
    # Small compared versions, so that some comparisons hold and some fail.
    st.tuples(st.just("cas_put"), clients, keys, st.binary(max_size=8), st.integers(0, 3)),
    st.tuples(st.just("cas_delete"), clients, keys, st.integers(0, 3)),
    st.tuples(st.just("retry"), clients, st.integers(0, 3)),
    st.tuples(
        st.just("config"), st.lists(st.sampled_from(GIDS), min_size=NBUCKETS, max_size=NBUCKETS)
    ),
    st.tuples(st.just("step"), st.sampled_from(GIDS), st.sampled_from(["config", "pull", "gc"])),
)


def check_settled(cluster: MemoryCluster) -> None:
    """Each bucket is served by its owner alone; nobody else keeps rows of it; counts match."""
    owners = cluster.configs[-1]["buckets"]
    for gid, group in cluster.groups.items():
        status = group.read(("status",))
        assert status["num"] == len(cluster.configs) - 1
        assert status["gcs"] == 0
        held = {row["bucket"]: row for row in status["buckets"]}
        assert set(held) == {b for b in range(NBUCKETS) if owners[b] == gid}
        assert all(row["state"] == "serving" for row in held.values())
        for table in (KV, SESSIONS):
            buckets_with_rows = {
                int.from_bytes(k[:4], "big") for k in group.view.tables.get(table, {})
            }
            assert buckets_with_rows <= set(held)
        for bucket, row in held.items():
            rows = [
                k for k in group.view.tables.get(KV, {}) if int.from_bytes(k[:4], "big") == bucket
            ]
            assert row["keys"] == len(rows)


@dataclass(frozen=True)
class Stored:
    value: bytes
    version: int
    mod_revision: int


def expect_compare(reply: dict[str, Any], stored: Stored | None, condition: int) -> bool:
    """Whether the model says the comparison holds; checks a failed one's answer."""
    holds = (0 if stored is None else stored.version) == condition
    assert reply["succeeded"] is holds, (reply, stored, condition)
    if not holds:
        expected = (
            (None, 0, 0) if stored is None else (stored.value, stored.version, stored.mod_revision)
        )
        assert (reply["value"], reply["version"], reply["mod_revision"]) == expected
    return holds


@settings(max_examples=150, deadline=None)
@given(st.lists(operations, min_size=10, max_size=60))
def test_the_store_behaves_like_a_dict(ops: list[tuple[Any, ...]]) -> None:
    """Versions count writes since creation (a delete resets them), a mod revision is the
    log index of the key's last write, and both survive any number of bucket moves."""
    cluster = MemoryCluster(NBUCKETS, list(GIDS))
    cluster.add_config([1] * NBUCKETS)
    clerks = [MemoryClerk(cluster, client_id) for client_id in range(3)]
    sent: dict[int, list[Put | Delete]] = {client: [] for client in range(3)}
    model: dict[bytes, Stored] = {}

    def put(key: bytes, value: bytes, reply: dict[str, Any]) -> None:
        version = model[key].version + 1 if key in model else 1
        assert reply["version"] == version
        model[key] = Stored(value, version, reply["revision"])

    def delete(key: bytes, reply: dict[str, Any]) -> None:
        assert reply["deleted"] is (key in model)
        model.pop(key, None)

    for op in ops:
        match op:
            case ("put", client, index, value):
                put(KEYS[index], value, clerks[client].put(KEYS[index], value))
                sent[client].append(Put(client, clerks[client].seq, KEYS[index], value))
            case ("delete", client, index):
                delete(KEYS[index], clerks[client].delete(KEYS[index]))
                sent[client].append(Delete(client, clerks[client].seq, KEYS[index]))
            case ("cas_put", client, index, value, condition):
                reply = clerks[client].put(KEYS[index], value, condition)
                if expect_compare(reply, model.get(KEYS[index]), condition):
                    put(KEYS[index], value, reply)
                seq = clerks[client].seq
                sent[client].append(Put(client, seq, KEYS[index], value, condition=condition))
            case ("cas_delete", client, index, condition):
                reply = clerks[client].delete(KEYS[index], condition)
                if expect_compare(reply, model.get(KEYS[index]), condition):
                    delete(KEYS[index], reply)
                seq = clerks[client].seq
                sent[client].append(Delete(client, seq, KEYS[index], condition=condition))
            case ("retry", client, back) if sent[client]:
                # The last write again, or an older one: either way it changes nothing.
                command = sent[client][-1 - min(back, len(sent[client]) - 1)]
                assert clerks[client].send(command)["ok"] is True
            case ("config", owners):
                cluster.add_config(owners)
            case ("step", gid, "config"):
                cluster.offer_next_config(gid)
            case ("step", gid, "pull"):
                cluster.pull_once(gid, max_bytes=16)
            case ("step", gid, "gc"):
                cluster.collect_garbage(gid)
        if op[0] in ("put", "delete", "cas_put", "cas_delete", "retry"):
            for key in KEYS:
                assert clerks[0].get(key) == (model[key].value if key in model else None)
                assert_versioned(clerks[0], key, model.get(key))

    cluster.settle(max_bytes=16)
    check_settled(cluster)
    for key in KEYS:
        assert clerks[1].get(key) == (model[key].value if key in model else None)
        assert_versioned(clerks[1], key, model.get(key))


def assert_versioned(clerk: MemoryClerk, key: bytes, stored: Stored | None) -> None:
    expected = (
        (None, 0, 0) if stored is None else (stored.value, stored.version, stored.mod_revision)
    )
    reply = clerk.get_versioned(key)
    assert (reply["value"], reply["version"], reply["mod_revision"]) == expected, key
