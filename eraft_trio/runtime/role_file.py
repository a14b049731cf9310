"""Parse and validate a node's role file (TOML), naming the file, key and problem on error."""

from __future__ import annotations

import functools
import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eraft_trio.protocol.address import parse_address
from eraft_trio.protocol.limits import DEFAULT_MAX_VALUE_BYTES
from eraft_trio.storage import wal
from eraft_trio.transport.framing import DEFAULT_MAX_FRAME_SIZE
from eraft_trio.transport.limits import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_INFLIGHT_BYTES,
    DEFAULT_MAX_UNAUTHENTICATED,
    MAX_CLUSTER_NAME_BYTES,
)
from eraft_trio.transport.security import Security, node_security

# Compact the log once it holds this much data, whatever the entry count, so that
# memory and what a restart reads stay bounded with large values.
DEFAULT_SNAPSHOT_BYTES = 32 << 20
# A value travels whole in one frame (the put, its log entry, a migration chunk that holds
# it next to up to a chunk of other rows), so the limit stays well below the frame limit.
MAX_VALUE_BYTES_CEILING = DEFAULT_MAX_FRAME_SIZE // 4
# How long a shard group keeps a client session nobody uses ([shard] session_ttl_s); the
# client starts a new session for a bucket it has not written for a minute, far below.
DEFAULT_SESSION_TTL_S = 3600


class RoleFileError(ValueError):
    """A role file that cannot be used; the message names the file, the key and the problem."""

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        super().__init__(f"{path}: {key}: {problem}")
        self.path = str(path)
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class RoleFile:
    path: Path
    role: str  # "config" or "shard"
    id: int
    data_dir: Path
    listen: str
    peers: tuple[str, ...]
    heartbeat_ms: int
    election_timeout_ms: tuple[int, int]
    snapshot_entries: int
    snapshot_bytes: int
    tick_ms: int
    group: int  # 0 for the config group
    config_servers: tuple[str, ...]
    buckets: int
    cluster: str
    secret_file: Path | None
    metrics_listen: str | None
    # TLS ([security]): on when cert_file is set; the same certificate serves and, towards
    # peers, identifies this node as a client.
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None
    require_client_cert: bool = False
    check_hostname: bool = True
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES  # [limits], shard role only
    # [limits], either role: what connections may cost (transport/limits.py)
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_unauthenticated_connections: int = DEFAULT_MAX_UNAUTHENTICATED
    max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES
    session_ttl_s: int = DEFAULT_SESSION_TTL_S  # [shard] only
    # [raft] join: a node added to a running group. `peers` then lists members it can
    # reach, not the group; `id` is -1 until the group gives it one (cli/node_join.py).
    join: bool = False
    # [raft] wal_segment_bytes: what each log segment is preallocated to (storage/wal.py).
    wal_segment_bytes: int = wal.SEGMENT_BYTES

    @property
    def address(self) -> str:
        return self.listen if self.join else self.peers[self.id]

    @property
    def host(self) -> str:
        return parse_address(self.address)[0]


# Each section's keys: name -> (type, required). Types are checked exactly (bool is not int).
_SCHEMA: dict[str, dict[str, tuple[type, bool]]] = {
    "node": {
        "role": (str, True),
        "id": (int, False),  # required unless raft.join
        "data_dir": (str, True),
        "listen": (str, False),
        "cluster": (str, False),
    },
    "raft": {
        "peers": (list, True),
        "heartbeat_ms": (int, False),
        "election_timeout_ms": (list, False),
        "snapshot_entries": (int, False),
        "snapshot_bytes": (int, False),
        "tick_ms": (int, False),
        "join": (bool, False),
        "wal_segment_bytes": (int, False),
    },
    "shard": {
        "group": (int, True),
        "config_servers": (list, True),
        "session_ttl_s": (int, False),
    },
    "config": {"buckets": (int, False)},
    "security": {
        "secret_file": (str, False),
        "cert_file": (str, False),
        "key_file": (str, False),
        "ca_file": (str, False),
        "require_client_cert": (bool, False),
        "check_hostname": (bool, False),
    },
    "metrics": {"listen": (str, False)},
    "limits": {
        "max_value_bytes": (int, False),
        "max_connections": (int, False),
        "max_unauthenticated_connections": (int, False),
        "max_inflight_bytes": (int, False),
    },
}


def cluster_id_for(config_servers: tuple[str, ...]) -> str:
    """Default cluster id: derived from the config group's addresses, same on every node."""
    digest = zlib.crc32(",".join(sorted(config_servers)).encode())
    return f"eraft-{digest:08x}"


def load_role_file(path: str | Path) -> RoleFile:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise RoleFileError(path, "file", f"cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RoleFileError(path, "file", f"not valid TOML: {exc}") from exc
    return parse_role(raw, path)


def parse_role(raw: dict[str, Any], path: Path) -> RoleFile:
    _check_schema(raw, path)
    node, raft = raw["node"], raw["raft"]
    role = node["role"]
    if role not in ("config", "shard"):
        raise RoleFileError(path, "node.role", f'must be "config" or "shard", not {role!r}')
    if role == "shard" and "shard" not in raw:
        raise RoleFileError(path, "shard", "missing section (required for role = shard)")
    if role == "config" and "shard" in raw:
        raise RoleFileError(path, "shard", "not allowed for role = config")
    if role == "shard" and "config" in raw:
        raise RoleFileError(path, "config", "not allowed for role = shard")
    if role == "config" and "max_value_bytes" in raw.get("limits", {}):
        # Config nodes store no values: a limit set there would silently do nothing.
        raise RoleFileError(path, "limits.max_value_bytes", "not allowed for role = config")

    peers = _addresses(raft["peers"], path, "raft.peers")
    if not peers:
        raise RoleFileError(path, "raft.peers", "must list at least one address")
    if len(set(peers)) != len(peers):
        raise RoleFileError(path, "raft.peers", "lists an address twice")
    # As written: a config node's cluster id derives from these, and a node joining on
    # an address the group was created with lists its own (not asked, still counted).
    listed_peers = peers
    join = raft.get("join", False)
    if join:
        # The group names the node when it is added; its address is all it brings.
        if "id" in node:
            raise RoleFileError(path, "node.id", "not allowed with raft.join (the group gives it)")
        if "listen" not in node:
            raise RoleFileError(
                path, "node.listen", "required with raft.join (this node's address)"
            )
        node_id = -1
        listen = node["listen"]
        peers = tuple(p for p in peers if p != listen)
        if not peers:
            raise RoleFileError(path, "raft.peers", "must list a member of the group to join")
    else:
        if "id" not in node:
            raise RoleFileError(path, "node.id", "missing required key")
        node_id = node["id"]
        if not 0 <= node_id < len(peers):
            raise RoleFileError(
                path, "node.id", f"{node_id} is outside raft.peers (0..{len(peers) - 1})"
            )
        listen = node.get("listen", peers[node_id])
    _address(listen, path, "node.listen")
    heartbeat_ms = _positive(raft.get("heartbeat_ms", 50), path, "raft.heartbeat_ms")
    election = raft.get("election_timeout_ms", [300, 600])
    if (
        len(election) != 2
        or not all(type(v) is int for v in election)
        or not 0 < election[0] <= election[1]
    ):
        raise RoleFileError(
            path, "raft.election_timeout_ms", "must be [min, max] in ms with 0 < min <= max"
        )
    if election[0] <= heartbeat_ms:
        raise RoleFileError(
            path, "raft.election_timeout_ms", f"minimum must exceed heartbeat_ms ({heartbeat_ms})"
        )
    snapshot_entries = _positive(raft.get("snapshot_entries", 10000), path, "raft.snapshot_entries")
    snapshot_bytes = _positive(
        raft.get("snapshot_bytes", DEFAULT_SNAPSHOT_BYTES), path, "raft.snapshot_bytes"
    )
    tick_ms = _positive(raft.get("tick_ms", min(10, heartbeat_ms)), path, "raft.tick_ms")
    if tick_ms > heartbeat_ms:
        raise RoleFileError(path, "raft.tick_ms", "must not exceed heartbeat_ms")
    wal_segment_bytes = raft.get("wal_segment_bytes", wal.SEGMENT_BYTES)
    if not wal.MIN_SEGMENT_BYTES <= wal_segment_bytes <= wal.MAX_SEGMENT_BYTES:
        raise RoleFileError(
            path,
            "raft.wal_segment_bytes",
            f"must be between {wal.MIN_SEGMENT_BYTES} (64 KiB) and "
            f"{wal.MAX_SEGMENT_BYTES} (1 GiB), not {wal_segment_bytes}",
        )

    if role == "shard":
        group = raw["shard"]["group"]
        if group <= 0:
            raise RoleFileError(path, "shard.group", f"must be an integer > 0, not {group}")
        config_servers = _addresses(raw["shard"]["config_servers"], path, "shard.config_servers")
        if not config_servers:
            raise RoleFileError(path, "shard.config_servers", "must list at least one address")
        session_ttl_s = _positive(
            raw["shard"].get("session_ttl_s", DEFAULT_SESSION_TTL_S), path, "shard.session_ttl_s"
        )
        buckets = 0
    else:
        group = 0
        config_servers = listed_peers
        session_ttl_s = DEFAULT_SESSION_TTL_S
        buckets = _positive(raw.get("config", {}).get("buckets", 10), path, "config.buckets")

    cluster = node.get("cluster") or cluster_id_for(config_servers)
    if len(cluster.encode()) > MAX_CLUSTER_NAME_BYTES:
        # The Hello carries it, and a handshake frame is at most a few KiB.
        raise RoleFileError(
            path, "node.cluster", f"must be at most {MAX_CLUSTER_NAME_BYTES} bytes long"
        )
    limits = raw.get("limits", {})
    max_connections = _positive(
        limits.get("max_connections", DEFAULT_MAX_CONNECTIONS), path, "limits.max_connections"
    )
    max_unauthenticated = _positive(
        limits.get("max_unauthenticated_connections", DEFAULT_MAX_UNAUTHENTICATED),
        path,
        "limits.max_unauthenticated_connections",
    )
    if max_unauthenticated > max_connections:
        raise RoleFileError(
            path,
            "limits.max_unauthenticated_connections",
            f"must not exceed limits.max_connections ({max_connections})",
        )
    base = path.parent
    data_dir = base / node["data_dir"]
    security = raw.get("security", {})
    secret = security.get("secret_file")
    _check_tls_keys(security, path)
    metrics = raw.get("metrics", {}).get("listen")
    if metrics is not None:
        _address(metrics, path, "metrics.listen")
    return RoleFile(
        path=path,
        role=role,
        id=node_id,
        data_dir=data_dir,
        listen=listen,
        peers=peers,
        heartbeat_ms=heartbeat_ms,
        election_timeout_ms=(election[0], election[1]),
        snapshot_entries=snapshot_entries,
        snapshot_bytes=snapshot_bytes,
        tick_ms=tick_ms,
        group=group,
        config_servers=config_servers,
        buckets=buckets,
        cluster=cluster,
        secret_file=base / secret if secret else None,
        metrics_listen=metrics,
        cert_file=_relative(base, security.get("cert_file")),
        key_file=_relative(base, security.get("key_file")),
        ca_file=_relative(base, security.get("ca_file")),
        require_client_cert=security.get("require_client_cert", False),
        check_hostname=security.get("check_hostname", True),
        max_value_bytes=_max_value_bytes(limits, path),
        max_connections=max_connections,
        max_unauthenticated_connections=max_unauthenticated,
        max_inflight_bytes=_positive(
            limits.get("max_inflight_bytes", DEFAULT_MAX_INFLIGHT_BYTES),
            path,
            "limits.max_inflight_bytes",
        ),
        session_ttl_s=session_ttl_s,
        join=join,
        wal_segment_bytes=wal_segment_bytes,
    )


@functools.cache
def security_of(role: RoleFile) -> Security:
    """The secret and TLS contexts the role file names, loaded once per process (the
    listener, the group link and the shard role's pool share them).

    Raises SecurityConfigError naming the file when one cannot be read or used.
    """
    return node_security(
        secret_file=role.secret_file,
        cert_file=role.cert_file,
        key_file=role.key_file,
        ca_file=role.ca_file,
        require_client_cert=role.require_client_cert,
        check_hostname=role.check_hostname,
    )


def _check_tls_keys(security: dict[str, Any], path: Path) -> None:
    for key in ("key_file", "ca_file", "require_client_cert", "check_hostname"):
        if key in security and "cert_file" not in security:
            raise RoleFileError(
                path, f"security.{key}", "needs security.cert_file (this node's certificate)"
            )
    if security.get("require_client_cert") and "ca_file" not in security:
        raise RoleFileError(
            path,
            "security.require_client_cert",
            "needs security.ca_file (the CA that signs client certificates)",
        )
    for key in ("secret_file", "cert_file", "key_file", "ca_file"):
        if security.get(key) == "":
            raise RoleFileError(path, f"security.{key}", "must name a file, not be empty")


def _relative(base: Path, name: str | None) -> Path | None:
    return base / name if name else None


def _check_schema(raw: dict[str, Any], path: Path) -> None:
    for section, value in raw.items():
        if section not in _SCHEMA:
            raise RoleFileError(path, section, "unknown section")
        if not isinstance(value, dict):
            raise RoleFileError(path, section, "must be a table")
        keys = _SCHEMA[section]
        for key, item in value.items():
            if key not in keys:
                raise RoleFileError(path, f"{section}.{key}", "unknown key")
            expected = keys[key][0]
            if type(item) is not expected:
                raise RoleFileError(
                    path,
                    f"{section}.{key}",
                    f"must be {expected.__name__}, not {type(item).__name__}",
                )
    for section in ("node", "raft"):
        if section not in raw:
            raise RoleFileError(path, section, "missing section")
    for section, keys in _SCHEMA.items():
        if section not in raw:
            continue
        for key, (_, required) in keys.items():
            if required and key not in raw[section]:
                raise RoleFileError(path, f"{section}.{key}", "missing required key")


def _max_value_bytes(limits: dict[str, Any], path: Path) -> int:
    value = _positive(
        limits.get("max_value_bytes", DEFAULT_MAX_VALUE_BYTES), path, "limits.max_value_bytes"
    )
    if value > MAX_VALUE_BYTES_CEILING:
        raise RoleFileError(
            path,
            "limits.max_value_bytes",
            f"must be <= {MAX_VALUE_BYTES_CEILING} (a quarter of the frame limit), not {value}",
        )
    return value


def _positive(value: int, path: Path, key: str) -> int:
    if value <= 0:
        raise RoleFileError(path, key, f"must be > 0, not {value}")
    return value


def _address(value: Any, path: Path, key: str) -> str:
    if not isinstance(value, str):
        raise RoleFileError(path, key, f"must be a string host:port, not {type(value).__name__}")
    try:
        parse_address(value)
    except ValueError as exc:
        raise RoleFileError(path, key, str(exc)) from exc
    return value


def _addresses(values: list[Any], path: Path, key: str) -> tuple[str, ...]:
    return tuple(_address(v, path, key) for v in values)
