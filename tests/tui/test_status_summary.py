"""summarize(): leaders, lag and migrations derived from a recorded snapshot."""

from __future__ import annotations

from eraft_trio.tui.status_summary import summarize

from .snapshots import migrating, take_down


def test_leaders_terms_and_nodes_up() -> None:
    snapshot = migrating()
    take_down(snapshot, 2, 2)  # the leader of group 2
    summary = summarize(snapshot)
    groups = {g["gid"]: g for g in summary["groups"]}
    assert groups[0]["leader"] == "127.0.0.1:41089" and groups[0]["term"] == 3
    assert groups[1]["leader"] == "127.0.0.1:39089"
    assert groups[2]["leader"] is None and groups[2]["nodes_up"] == 2
    # Without a leader the bucket view comes from the most advanced replica that answered.
    assert groups[2]["shard"]["gid"] == 2 and groups[2]["shard"]["num"] == 4
    assert groups[0]["shard"] is None


def test_a_pull_is_matched_with_the_old_owners_handoff() -> None:
    summary = summarize(migrating())
    moving = summary["migrations"]
    pulls = [m for m in moving if m["state"] == "pulling"]
    handoffs = [m for m in moving if m["state"] == "handoff"]
    assert [m["bucket"] for m in pulls] == list(range(7))
    assert all(m["from_gid"] == 2 and m["to_gid"] == 1 and m["num"] == 4 for m in pulls)
    assert all(h["pulled_by"] == 1 for h in handoffs)
    totals = {h["bucket"]: h["keys"] for h in handoffs}
    assert {p["bucket"]: p["total_keys"] for p in pulls} == totals
    assert sum(totals.values()) == 35037


def test_a_handoff_nobody_pulls_waits_for_gc() -> None:
    snapshot = migrating()
    group1 = next(g for g in snapshot["groups"] if g["gid"] == 1)
    for node in group1["nodes"]:
        for bucket in node["status"]["role"]["shard"]["buckets"]:
            bucket["state"] = "serving"  # the pulls finished; group 2 still holds its copies
    moving = summarize(snapshot)["migrations"]
    assert {m["state"] for m in moving} == {"handoff"}
    assert all(m["pulled_by"] is None and m["to_gid"] == 1 for m in moving)


def test_lag_is_leader_commit_minus_applied() -> None:
    snapshot = migrating()
    group2 = next(g for g in snapshot["groups"] if g["gid"] == 2)
    group2["nodes"][0]["status"]["raft"]["applied"] -= 5
    summary = summarize(snapshot)
    lags = [n["lag"] for n in next(g for g in summary["groups"] if g["gid"] == 2)["nodes"]]
    assert lags == [5, 0, 0]


def test_a_pull_shows_its_leaders_progress_rate_and_eta() -> None:
    snapshot = migrating()
    group1 = next(g for g in snapshot["groups"] if g["gid"] == 1)
    leader = next(n for n in group1["nodes"] if n["status"]["raft"]["role"] == "leader")
    pulling = next(
        b for b in leader["status"]["role"]["shard"]["buckets"] if b["state"] == "pulling"
    )
    progress = {"bucket": pulling["bucket"], "num": pulling["num"], "from_gid": 2,
                "bytes": 8 << 20, "rows": 100, "chunks": 8, "seconds": 2.0,
                "bytes_per_s": 4 << 20}  # fmt: skip
    leader["status"]["role"]["pulls"] = [progress]
    moving = summarize(snapshot)["migrations"]
    entry = next(m for m in moving if m["bucket"] == pulling["bucket"] and m["gid"] == 1)
    assert entry["bytes"] == 8 << 20 and entry["bytes_per_s"] == 4 << 20
    # The keys still to copy, at the rate this leader's keys arrived.
    left = entry["total_keys"] - entry["keys"]
    assert left > 0 and entry["eta_s"] == round(left * 2.0 / 100, 1)
    others = [m for m in moving if m["state"] == "pulling" and m is not entry]
    assert all(m["bytes"] is None and m["eta_s"] is None for m in others)


def test_drained_nodes_and_election_reasons_per_group() -> None:
    from eraft_trio.tui.status_view import status_text

    snapshot = migrating()
    group1 = next(g for g in snapshot["groups"] if g["gid"] == 1)
    leader = next(n for n in group1["nodes"] if n["status"]["raft"]["role"] == "leader")
    follower = next(n for n in group1["nodes"] if n is not leader)
    follower["status"]["raft"]["drained"] = True
    term = leader["status"]["raft"]["term"]
    leader["status"]["raft"]["last_election"] = {"term": term, "reason": "transfer"}
    leader["status"]["raft"]["elections"] = {"timeout": 1, "transfer": 1, "slow-disk": 0}
    follower["status"]["raft"]["elections"] = {"timeout": 2, "pre-vote": 3}
    summary = summarize(snapshot)
    groups = {g["gid"]: g for g in summary["groups"]}
    assert summary["drained"] == [follower["address"]]
    assert groups[1]["drained"] == [follower["address"]] and groups[2]["drained"] == []
    assert groups[1]["election"] == {"term": term, "reason": "transfer"}
    assert groups[1]["elections"] == {"timeout": 3, "transfer": 1, "slow-disk": 0, "pre-vote": 3}
    assert groups[2]["election"] is None  # these recorded nodes predate the field
    text = status_text(summary, 160, 60)
    assert "follower drained" in text
    assert f"g1 leader by transfer (term {term}) · 3 timeout, 3 pre-vote, 1 transfer" in text
