"""The one table of wire type ids: every message class that travels, with its fixed id.

The codec (transport/codec.py) registers exactly these when it is imported, so a
process that can send or receive anything knows every type. An id never changes
meaning: add rows, never renumber. Ids 10-13 are also stored (the WAL and snapshots
keep entries, hard state, snapshot metadata and memberships in this encoding).

Ranges: 1-15 the Raft core, 16-63 the transport's envelope and handshake, 64-71 the
node runtime, 72-79 the config role, 80-95 the shard role (92-95 its transactions),
96-127 answers every role may give, 128-135 scans (protocol/scan.py), 136-143 watches
(protocol/watch.py), 144-151 the shard role's leases (protocol/lease.py).
"""

from __future__ import annotations

from eraft_trio.protocol import (
    config,
    envelope,
    errors,
    lease,
    node,
    replies,
    scan,
    shard,
    txn,
    watch,
)
from eraft_trio.raft.membership import Membership
from eraft_trio.raft.types import (
    AppendEntries,
    AppendResponse,
    Entry,
    HardState,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    RequestVote,
    SnapshotMeta,
    SnapshotResponse,
    TimeoutNow,
    VoteResponse,
)

TYPE_IDS: dict[int, type] = {
    # the Raft core
    1: RequestVote,
    2: VoteResponse,
    3: AppendEntries,
    4: AppendResponse,
    5: Heartbeat,
    6: HeartbeatResponse,
    7: InstallSnapshot,
    8: SnapshotResponse,
    9: TimeoutNow,
    10: Entry,
    11: HardState,
    12: SnapshotMeta,
    13: Membership,
    # the transport
    16: envelope.Hello,
    17: envelope.Welcome,
    18: envelope.ErrorFrame,
    19: envelope.Request,
    20: envelope.Response,
    21: envelope.Push,
    22: envelope.Challenge,
    23: envelope.ClientProof,
    24: envelope.ServerProof,
    25: envelope.RequestBatch,
    26: envelope.ResponseBatch,
    # the node runtime
    64: node.SnapshotChunk,
    65: node.StatusRequest,
    66: node.TransferLeadership,
    67: node.MemberList,
    68: node.MemberChange,
    70: node.Drain,
    69: replies.Drained,
    71: replies.MemberChanged,
    # the config role
    72: config.ConfigChange,
    73: config.ConfigQuery,
    74: replies.ConfigChanged,
    75: replies.ConfigView,
    76: config.Join,
    77: config.Leave,
    78: config.Move,
    79: config.SetAddresses,
    # the shard role
    80: shard.KvGet,
    81: shard.KvPut,
    82: shard.KvDelete,
    83: shard.FetchBucket,
    84: shard.DropBucket,
    85: replies.Value,
    86: replies.Written,
    87: replies.BucketChunk,
    88: replies.Dropped,
    89: shard.KvGetVersioned,
    90: replies.VersionedValue,
    91: replies.CompareFailed,
    92: txn.KvTxn,
    93: txn.TxnCompare,
    94: txn.TxnOp,
    95: txn.TxnDone,
    # any role
    96: errors.ErrorReply,
    97: replies.Done,
    98: replies.Members,
    # scans
    128: scan.KvScan,
    129: scan.ScanPage,
    130: scan.ScanCursor,
    131: scan.ScanBucketPage,
    # watches (the shard role)
    136: watch.WatchRequest,
    137: watch.WatchPage,
    # the shard role's leases (151 kept free for them)
    144: lease.LeaseGrant,
    145: lease.LeaseKeepAlive,
    146: lease.LeaseRevoke,
    147: lease.KvPutLeased,
    148: lease.LeaseGranted,
    149: lease.LeaseAlive,
    150: lease.LeaseRevoked,
}
