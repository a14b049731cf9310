"""`eraft node --config FILE.toml`: run one node of either role until SIGINT/SIGTERM."""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio

from eraft_trio.cli.node_join import wait_until_added
from eraft_trio.cli.node_limits import connection_limits_for, raise_open_file_limit
from eraft_trio.errors import single_exception
from eraft_trio.protocol.address import parse_address
from eraft_trio.raft.config import RaftConfig
from eraft_trio.runtime import fault_spec
from eraft_trio.runtime.group_link import GroupLink
from eraft_trio.runtime.node_service import NodeService
from eraft_trio.runtime.raft_node import NodeSettings, RaftNode
from eraft_trio.runtime.role_file import (
    RoleFile,
    RoleFileError,
    load_role_file,
    security_of,
)
from eraft_trio.storage.errors import StorageError, StorageIdentityError, StorageInUseError
from eraft_trio.storage.node_store import NodeStore, stored_identity
from eraft_trio.transport.limits import ConnectionLimits
from eraft_trio.transport.security import SecurityConfigError
from eraft_trio.transport.server import TransportServer

log = logging.getLogger("eraft.node")

# Python's defaults are (700, 10, 10): see run_node.
GC_THRESHOLDS = (10_000, 20, 20)


def run_node(config_path: str, log_level: str = "info", secret_file: str | None = None) -> int:
    logging.basicConfig(
        level=getattr(logging, log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        role = load_role_file(config_path)
        limits = connection_limits_for(role, raft_config_for(role))
    except RoleFileError as exc:
        print(f"eraft node: {exc}", file=sys.stderr)
        return 2
    try:
        fault_spec.apply_from_environment()
    except ValueError as exc:
        print(f"eraft node: {exc}", file=sys.stderr)
        return 2
    if secret_file is not None:
        role = dataclasses.replace(role, secret_file=Path(secret_file))
    try:
        security_of(role)  # an unreadable secret or certificate: refuse before opening the store
    except SecurityConfigError as exc:
        print(f"eraft node: {role.path}: {exc.key or 'security'}: {exc}", file=sys.stderr)
        return 2
    join_addresses: dict[int, str] = {}
    if role.join:
        try:
            role, join_addresses = _joined_role(role)
        except KeyboardInterrupt:
            return 0
    identity: dict[str, str | int] = {
        "cluster": role.cluster,
        "role": role.role,
        "group": role.group,
        "node": role.id,
    }
    try:
        store = NodeStore.open(role.data_dir, identity, wal_segment_bytes=role.wal_segment_bytes)
    except (StorageIdentityError, StorageInUseError) as exc:
        print(f"eraft node: {role.path}: node.data_dir: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"eraft node: {role.path}: node.data_dir: {exc}", file=sys.stderr)
        return 2
    # Full (generation-2) collections stop the event loop for every live object: with
    # the default thresholds a leader under a 64-client load ran 15 of them in 17 s
    # (up to 31 ms each, 490 ms in all; a follower had one of 101 ms). Collecting less
    # often leaves one or two, and the tail latency drops (BENCHMARKS.md, session 2).
    gc.set_threshold(*GC_THRESHOLDS)
    raise_open_file_limit(limits)
    try:
        trio.run(serve_node, role, store, limits, join_addresses)
    except KeyboardInterrupt:
        pass
    except (OSError, BaseExceptionGroup) as exc:
        error = single_exception(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if not isinstance(error, OSError):
            raise
        # Typically the listen address is taken or not ours: say which, without a traceback.
        print(f"eraft node: {role.path}: node.listen {role.listen}: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()
    log.info("stopped")
    return 0


def _joined_role(role: RoleFile) -> tuple[RoleFile, dict[int, str]]:
    """A joining node's role with the id its group gave it, and the members' addresses
    when it had to ask for them (a first start); a restart finds its id in its store."""
    stored = stored_identity(role.data_dir)
    if stored is not None and isinstance(stored.get("node"), int):
        return dataclasses.replace(role, id=int(stored["node"])), {}
    node_id, addresses = trio.run(wait_until_added, role, security_of(role))
    return dataclasses.replace(role, id=node_id), addresses


def raft_config_for(role: RoleFile) -> RaftConfig:
    tick = role.tick_ms
    low, high = role.election_timeout_ms
    heartbeat = max(1, round(role.heartbeat_ms / tick))
    election_min = max(2, round(low / tick))
    # After a start the first campaign comes after two heartbeats or so, not 300-600 ms
    # (issue 12: a restarted group elects at once); see RaftConfig.
    first_min = min(2 * heartbeat, election_min)
    return RaftConfig(
        id=role.id,
        # A joining node learns its peers from its leader (RaftConfig.join).
        peers=() if role.join else tuple(range(len(role.peers))),
        join=role.join,
        heartbeat_ticks=heartbeat,
        election_ticks_min=election_min,
        election_ticks_max=max(2, round(high / tick)),
        first_election_ticks=(first_min, max(first_min, election_min // 2)),
    )


def build_role(role: RoleFile, node_factory: Any) -> tuple[RaftNode, Any]:
    """The role's state machine and server around a RaftNode made by `node_factory(sm)`."""
    if role.role == "config":
        from eraft_trio.roles.config.server import ConfigRoleServer
        from eraft_trio.roles.config.state_machine import ConfigStateMachine

        node = node_factory(ConfigStateMachine(role.buckets))
        return node, ConfigRoleServer(node)
    from eraft_trio.roles.shard.server import ShardRoleServer
    from eraft_trio.roles.shard.state_machine import ShardStateMachine

    node = node_factory(ShardStateMachine(role.group))
    return node, ShardRoleServer(node, role)


async def serve_node(
    role: RoleFile,
    store: NodeStore,
    limits: ConnectionLimits,
    join_addresses: dict[int, str] | None = None,
) -> None:
    settings = NodeSettings(
        raft=raft_config_for(role),
        peers=() if role.join else role.peers,
        join_addresses=tuple(sorted((join_addresses or {}).items())),
        tick_seconds=role.tick_ms / 1000,
        snapshot_entries=role.snapshot_entries,
        snapshot_bytes=role.snapshot_bytes,
    )
    security = security_of(role)
    link = GroupLink(
        () if role.join else role.peers,
        role.id,
        cluster=role.cluster,
        group=role.group,
        security=security,
        own_addr=role.address,
    )
    node, role_server = build_role(role, lambda sm: RaftNode(settings, sm, store, link))
    if role.join and not node.core.membership.voters and not join_addresses:
        # Restarted before its leader reached it: it knows nobody to answer yet.
        node.learn_addresses((await wait_until_added(role, security))[1])
    service = NodeService(node, role_server, group=role.group)
    host, port = parse_address(role.listen)
    server = TransportServer(
        host, port, role.cluster, role.id, role.group, service, security=security, limits=limits
    )
    # `ctl status` and /metrics show what the listener holds and refuses.
    service.extra_stats = lambda: {"transport": server.statistics()}
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            await nursery.start(link.run)
            await nursery.start(node.run)
            if hasattr(role_server, "run"):
                await nursery.start(role_server.run)
            if role.metrics_listen:
                from eraft_trio.runtime.metrics import serve_metrics

                await nursery.start(serve_metrics, role.metrics_listen, service)
            log.info(
                "%s node %d of group %d serving on %s (data in %s; security: %s)",
                role.role,
                role.id,
                role.group,
                role.listen,
                role.data_dir,
                security.describe(),
            )
            async for signum in signals:
                log.info("received %s, stopping", signal.Signals(signum).name)
                break
            await hand_off_before_stop(node, signals, handoff_seconds(role))
            # Cancelling waits for a write in flight: trio does not abandon worker
            # threads, so the last fsync completes before the store closes. If that
            # write hangs (a dead disk), a second signal still ends the process.
            exit_at_next_signal()
            server.close()
            nursery.cancel_scope.cancel()


# The exit status of a node stopped by a second signal while a write hung (docs/reference.md).
EXIT_FORCED_STOP = 1


def exit_at_next_signal() -> None:
    """From now on, another SIGINT/SIGTERM exits at once: the stop that follows waits
    for the write in flight, and with a hung disk that wait (the store's close among it)
    may block the event loop itself, so a plain handler does it, not a trio task.

    Like a crash, this loses nothing acknowledged: a write not yet durable was never
    answered, and the next start replays the log up to its last whole record."""

    def exit_now(signum: int, frame: object) -> None:
        log.warning(
            "received %s while a write was in flight: exiting now, as after a crash",
            signal.Signals(signum).name,
        )
        logging.shutdown()
        os._exit(EXIT_FORCED_STOP)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, exit_now)


def handoff_seconds(role: RoleFile) -> float:
    """How long a stopping leader waits for a follower to take over: a few election
    timeouts (a lagging target first catches up, and a failed try is retried once the
    core's transfer times out), then it stops anyway and the group elects as after a crash."""
    return max(1.0, 3 * role.election_timeout_ms[1] / 1000)


async def hand_off_before_stop(node: RaftNode, signals: AsyncIterator[int], seconds: float) -> None:
    """A graceful stop of a leader first hands leadership to its most up-to-date follower
    (as etcd does), so the group never waits for an election timeout; a second signal
    stops at once. Meanwhile the node keeps serving: clients are redirected to the new
    leader instead of finding a closed port."""
    if not node.is_leader:
        node.set_drained(True)  # a follower about to stop must not win an election now
        return
    if not node.reaches_a_peer():
        log.info("no follower is reachable to take leadership; stopping")
        return
    started = trio.current_time()
    async with trio.open_nursery() as waiting:

        async def stop_on_second_signal() -> None:
            async for signum in signals:
                log.info("received %s again: stopping now", signal.Signals(signum).name)
                waiting.cancel_scope.cancel()

        waiting.start_soon(stop_on_second_signal)
        with trio.move_on_after(seconds):
            leader = await node.hand_off_leadership()
            took = (trio.current_time() - started) * 1000
            if leader is None:
                log.info("every follower went away within %.0f ms; stopping", took)
            else:
                log.info("handed leadership to %s in %.0f ms", leader, took)
            waiting.cancel_scope.cancel()
            return
        log.warning("no follower took leadership within %.1fs; stopping anyway", seconds)
        waiting.cancel_scope.cancel()
