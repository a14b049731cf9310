"""Stable one-line text for the core's entries, messages and Ready batches, as transcripts print them.

Log positions are written term/index, as in etcd's transcripts: `1/12` is the entry
at index 12, written in term 1.
"""

from __future__ import annotations

from eraft_trio.raft.membership import Membership
from eraft_trio.raft.types import (
    AppendEntries,
    AppendResponse,
    Entry,
    EntryKind,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    Message,
    Ready,
    RequestVote,
    SnapshotResponse,
    TimeoutNow,
    VoteResponse,
)


def describe_entry(e: Entry) -> str:
    if e.kind is EntryKind.NOOP:
        return f"{e.term}/{e.index} noop"
    if e.kind is EntryKind.CONF_CHANGE:
        return f"{e.term}/{e.index} conf {Membership.decode(e.data).describe()}"
    return f"{e.term}/{e.index} {e.data.decode(errors='backslashreplace')!r}"


def describe_message(m: Message) -> str:
    head = f"{m.src}->{m.dst}"
    match m:
        case RequestVote(pre_vote=pre_vote, transfer=transfer):
            kind = "PreVote" if pre_vote else "RequestVote"
            flag = " transfer" if transfer else ""
            return f"{head} {kind} term={m.term} last={m.last_term}/{m.last_index}{flag}"
        case VoteResponse(pre_vote=pre_vote, granted=granted):
            kind = "PreVoteResponse" if pre_vote else "VoteResponse"
            return f"{head} {kind} term={m.term} {'granted' if granted else 'rejected'}"
        case AppendEntries(entries=entries):
            text = (
                f"{head} AppendEntries term={m.term} prev={m.prev_term}/{m.prev_index}"
                f" commit={m.commit}"
            )
            if entries:
                text += " entries=[" + ", ".join(describe_entry(e) for e in entries) + "]"
            return text
        case AppendResponse(success=True):
            return f"{head} AppendResponse term={m.term} index={m.index}"
        case AppendResponse():
            return (
                f"{head} AppendResponse term={m.term} rejected index={m.index}"
                f" hint={m.hint_term}/{m.hint_index}"
            )
        case Heartbeat(read_seq=read_seq):
            seq = f" read_seq={read_seq}" if read_seq else ""
            return f"{head} Heartbeat term={m.term} commit={m.commit}{seq}"
        case HeartbeatResponse(read_seq=read_seq):
            seq = f" read_seq={read_seq}" if read_seq else ""
            return f"{head} HeartbeatResponse term={m.term}{seq}"
        case InstallSnapshot(meta=meta):
            text = f"{head} InstallSnapshot term={m.term} snapshot={meta.term}/{meta.index}"
            if meta.membership is not None:
                text += f" {meta.membership.describe()}"
            return text
        case SnapshotResponse(success=success):
            outcome = "ok" if success else "rejected"
            return f"{head} SnapshotResponse term={m.term} {outcome} index={m.index}"
        case TimeoutNow():
            return f"{head} TimeoutNow term={m.term}"
    raise TypeError(f"not a message: {m!r}")


def describe_ready(rd: Ready) -> list[str]:
    """The Ready's non-empty parts, in the order the driver handles them."""
    lines: list[str] = []
    if rd.soft_state is not None:
        leader = "none" if rd.soft_state.leader is None else rd.soft_state.leader
        lines.append(f"soft state: {rd.soft_state.role.value}, leader {leader}")
    if rd.hard_state is not None:
        hs = rd.hard_state
        vote = "none" if hs.vote is None else hs.vote
        lines.append(f"hard state: term={hs.term} vote={vote} commit={hs.commit}")
    if rd.snapshot is not None:
        lines.append(f"snapshot: {rd.snapshot.term}/{rd.snapshot.index}")
    _section(lines, "entries", [describe_entry(e) for e in rd.entries])
    _section(lines, "committed", [describe_entry(e) for e in rd.committed])
    _section(lines, "messages", [describe_message(m) for m in rd.messages])
    _section(
        lines, "after persisting, messages", [describe_message(m) for m in rd.persisted_messages]
    )
    _section(lines, "read states", [f"ctx={r.ctx} index={r.index}" for r in rd.read_states])
    return lines


def _section(lines: list[str], title: str, items: list[str]) -> None:
    if items:
        lines.append(f"{title}:")
        lines.extend("  " + item for item in items)
