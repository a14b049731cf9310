"""`eraft local`: run a whole cluster from a folder of role files as child processes, until Ctrl-C.

The folder is ./eraft-local/ unless --dir names another; on first use it gets role files
for the shape --groups, --replicas and --base-port ask for, and a second run resumes it."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import trio
from rich.console import Console

from eraft_trio.cli.ctl_command import EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE
from eraft_trio.cli.local_folder import (
    DEFAULT_FOLDER,
    EARLIER_DEFAULT_FOLDER,
    ShapeFlags,
    has_role_files,
    shape_mismatch,
    shape_of,
    write_layout,
)
from eraft_trio.cli.local_layout import LayoutError, LocalLayout
from eraft_trio.cli.local_ports import can_listen, free_base_port
from eraft_trio.client.kv_client import DEFAULT_CONFIG_SERVERS, Client
from eraft_trio.errors import EraftError
from eraft_trio.group_calls.cluster_probe import ClusterProbe
from eraft_trio.protocol.address import parse_address
from eraft_trio.runtime.role_file import (
    RoleFile,
    RoleFileError,
    load_role_file,
    security_of,
)
from eraft_trio.transport.security import Security, SecurityConfigError, ensure_local_secret
from eraft_trio.tui.startup_progress import StartupProgress
from eraft_trio.tui.status_command import show_live
from eraft_trio.tui.status_summary import summarize

START_SECONDS = 60.0  # leaders must be elected within this; a fresh start takes a few seconds
SETTLE_SECONDS = 30.0  # then the first bucket moves; the status view shows any still going
STOP_GRACE_SECONDS = 5.0  # SIGTERM, then SIGKILL for those still running
POLL_SECONDS = 0.25
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# Runs first in each child: it asks the kernel to SIGTERM it when this process dies, even
# by SIGKILL, then becomes the node. Checking the parent after prctl closes the race with
# a parent that died in between; PR_SET_PDEATHSIG (1) survives the exec.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


class LocalError(Exception):
    """A one-line reason `eraft local` cannot run, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LocalPlan:
    """The cluster a folder of role files describes."""

    directory: Path
    roles: tuple[RoleFile, ...]
    config_servers: tuple[str, ...]
    cluster: str
    shard_groups: dict[int, tuple[str, ...]]

    @property
    def config_role(self) -> RoleFile:
        return next(r for r in self.roles if r.role == "config")

    @property
    def log_dir(self) -> Path:
        return self.directory / "data" / "logs"

    @property
    def data_dir(self) -> Path:
        return Path(os.path.commonpath([r.data_dir for r in self.roles]))


def run_local(args: argparse.Namespace) -> int:
    console = Console()
    try:
        plan, intro = prepare_plan(args)
        if getattr(args, "secret", False):
            plan = with_local_secret(plan)
        check_ports(plan)
        security = client_security_of(plan)
        _say(console, intro)
        result: int = trio.run(_main, plan, security, console, not args.no_status)
    except KeyboardInterrupt:
        return EXIT_OK  # a second Ctrl-C redelivered after every child was stopped
    except LocalError as exc:
        print(f"eraft local: {exc}", file=sys.stderr)
        return exc.code
    return result


# --- the plan ---------------------------------------------------------------------------


def prepare_plan(args: argparse.Namespace) -> tuple[LocalPlan, str]:
    """The folder's cluster, made on first use, and the lines that say which it is."""
    directory = DEFAULT_FOLDER if args.dir is None else Path(args.dir)
    flags = ShapeFlags(args.groups, args.replicas, args.base_port)
    if has_role_files(directory):
        plan = load_plan(directory)
        mismatch = shape_mismatch(flags, plan.config_servers, plan.shard_groups)
        if mismatch is not None:
            raise LocalError(
                f"{mismatch}: {directory}/ already holds a cluster made with "
                f"{shape_of(plan.config_servers, plan.shard_groups)}; leave the flag out to "
                "resume it, or pass --dir with a new folder for another cluster"
            )
        return plan, f"eraft local: resuming the cluster in {directory}/ (its data stays there)"
    layout = flags.layout()
    try:
        layout.check()
    except LayoutError as exc:
        raise LocalError(str(exc)) from None
    check_layout_ports(layout)
    try:
        write_layout(directory, layout)
    except OSError as exc:
        raise LocalError(f"cannot write the role files in {directory}/: {exc}") from None
    intro = _first_run_intro(directory, layout)
    if args.dir is None and (EARLIER_DEFAULT_FOLDER / "data").is_dir():
        intro += (
            f"\n  (the data of an earlier run is in {EARLIER_DEFAULT_FOLDER}/data/: "
            f"`eraft local --dir {EARLIER_DEFAULT_FOLDER}` resumes that one)"
        )
    return load_plan(directory), intro


def _first_run_intro(directory: Path, layout: LocalLayout) -> str:
    groups = "shard groups" if layout.groups > 1 else "shard group"
    nodes = "nodes" if layout.replicas > 1 else "node"
    ports = layout.config_servers[0]
    if layout.replicas > 1:
        ports += f"-{layout.base_port + layout.replicas - 1}"
    return (
        f"eraft local: a new cluster in {directory}/ (first run): {layout.groups} {groups} "
        f"of {layout.replicas} {nodes}, config group on {ports}\n"
        f"  its role files and data stay in {directory}/; a second run from here resumes it"
    )


def load_plan(directory: Path) -> LocalPlan:
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        raise LocalError(f"--dir {directory}: no role files (*.toml) in it")
    try:
        roles = tuple(load_role_file(p) for p in paths)
    except RoleFileError as exc:
        raise LocalError(str(exc)) from None
    peers: dict[int, tuple[str, ...]] = {}
    seen: dict[tuple[int, int], Path] = {}
    for role in roles:
        if peers.setdefault(role.group, role.peers) != role.peers:
            raise LocalError(f"{role.path}: raft.peers: differs from another node of its group")
        other = seen.setdefault((role.group, role.id), role.path)
        if other != role.path:
            raise LocalError(f"{role.path}: node.id: {role.id} is also the id in {other.name}")
    if 0 not in peers:
        raise LocalError(f'--dir {directory}: no config role file (role = "config") in it')
    config_servers = peers.pop(0)
    for role in roles:
        if set(role.config_servers) != set(config_servers):
            raise LocalError(
                f"{role.path}: shard.config_servers: not the config group's raft.peers "
                f"({', '.join(config_servers)})"
            )
    return LocalPlan(directory, roles, config_servers, roles[0].cluster, peers)


def with_local_secret(plan: LocalPlan) -> LocalPlan:
    """Every node (and our own connections) use DIR/data/cluster.key, made on first use."""
    key = ensure_local_secret(plan.directory / "data")
    return replace(plan, roles=tuple(replace(r, secret_file=key) for r in plan.roles))


def client_security_of(plan: LocalPlan) -> Security:
    """Our own connections (status, joins) prove what the config nodes demand: the same
    secret, and their certificate and CA when the role files turn TLS on."""
    role = plan.config_role
    try:
        return security_of(role)
    except SecurityConfigError as exc:
        raise LocalError(f"{role.path}: {exc.key or 'security'}: {exc}") from None


def check_layout_ports(layout: LocalLayout) -> None:
    """Before a new cluster's folder is written: every port free, or the --base-port to use."""
    for gid in range(layout.groups + 1):
        for node, addr in enumerate(layout.addresses(gid)):
            if not can_listen(*parse_address(addr)):
                name = f"config-{node}" if gid == 0 else f"group{gid}-{node}"
                free = free_base_port(layout)
                hint = f" (--base-port {free} is free)" if free is not None else ""
                raise LocalError(
                    f"{addr} ({name}) is already in use: is another local cluster running? "
                    f"Stop it, or move every port with --base-port{hint}"
                )


def check_ports(plan: LocalPlan) -> None:
    """Fail at once, naming the port, when a node could not listen (say, a cluster runs)."""
    for role in plan.roles:
        for addr in filter(None, (role.listen, role.metrics_listen)):
            host, port = parse_address(addr)
            if not can_listen(host, port):
                raise LocalError(
                    f"{addr} ({role.path.name}) is already in use: is another local cluster "
                    f"running? Stop it; the cluster in {plan.directory}/ keeps its ports, so "
                    "for another one pass --dir with a new folder and --base-port"
                )


# --- the children -----------------------------------------------------------------------


@dataclass
class Child:
    role: RoleFile
    process: subprocess.Popen[bytes]
    log_path: Path
    reported: bool = False

    @property
    def name(self) -> str:
        return self.role.path.stem

    def last_log_line(self) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
                lines = log.read().decode("utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return next((line.strip() for line in reversed(lines) if line.strip()), "")


@dataclass
class ChildProcesses:
    """The node processes, each the leader of its own process group (killed by its PID)."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, role: RoleFile) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{role.path.stem}.log"
        node = ["-m", "eraft_trio", "node", "--config", str(role.path)]
        if role.secret_file is not None:
            node += ["--secret-file", str(role.secret_file)]
        if sys.platform.startswith("linux"):
            argv = [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *node]
        else:
            argv = [sys.executable, *node]
        with log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"=== {stamp} eraft local starts {role.path} ===\n".encode())
            log.flush()
            # Called from the main thread on purpose: PDEATHSIG follows the forking thread.
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        child = Child(role, process, log_path)
        self.children.append(child)
        return child

    def newly_exited(self) -> list[Child]:
        gone = [c for c in self.children if not c.reported and c.process.poll() is not None]
        for child in gone:
            child.reported = True
        return gone

    async def stop(self, signals: Any, console: Console) -> None:
        """SIGTERM every child; SIGKILL those left after the grace period or a second signal."""
        running = [c for c in self.children if c.process.poll() is None]
        if not running:
            return
        _say(console, f"stopping {len(running)} nodes…")
        for child in running:
            _signal_group(child, signal.SIGTERM)
        with trio.move_on_after(STOP_GRACE_SECONDS):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_on_signal, signals, nursery.cancel_scope)
                await self._wait_all(running)
                nursery.cancel_scope.cancel()
        hung = [c for c in running if c.process.poll() is None]
        for child in hung:
            _signal_group(child, signal.SIGKILL)
        with trio.move_on_after(STOP_GRACE_SECONDS):  # only a process stuck in the kernel stays
            await self._wait_all(hung)
        if hung:
            names = ", ".join(c.name for c in hung)
            nodes = "node" if len(hung) == 1 else "nodes"
            _say(console, f"killed {len(hung)} {nodes} that did not stop: {names}", "yellow")
        failed = [c for c in running if c not in hung and c.process.returncode != 0]
        for child in failed:
            _say(console, f"{child.name} exited with code {child.process.returncode}", "yellow")
        _say(console, f"stopped {len(running)} nodes; the data stays for the next run")

    async def _wait_all(self, children: list[Child]) -> None:
        # poll() reaps; polling a few times a second costs nothing next to a node's start-up.
        while any(c.process.poll() is None for c in children):
            await trio.sleep(0.05)


def _signal_group(child: Child, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(child.process.pid, signum)


async def _cancel_on_signal(signals: Any, scope: trio.CancelScope) -> None:
    async for _ in signals:
        scope.cancel()
        return


# --- the run ----------------------------------------------------------------------------


async def _main(plan: LocalPlan, security: Security, console: Console, show_status: bool) -> int:
    children = ChildProcesses(plan.log_dir)
    code = EXIT_OK
    with trio.open_signal_receiver(*_STOP_SIGNALS) as signals:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_on_signal, signals, nursery.cancel_scope)
                code = await _run(plan, security, children, console, show_status)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await children.stop(signals, console)
    return code


async def _run(
    plan: LocalPlan, security: Security, children: ChildProcesses, console: Console, live: bool
) -> int:
    counts = [f"group {gid}: {len(p)}" for gid, p in sorted(plan.shard_groups.items())]
    _say(
        console,
        f"eraft local: starting {len(plan.roles)} nodes from {plan.directory} "
        f"(config group: {len(plan.config_servers)}, {', '.join(counts)})\n"
        f"  logs: {plan.log_dir}/\n  data: {plan.data_dir}/",
    )
    for role in plan.roles:
        try:
            children.start(role)
        except OSError as exc:
            return _failed(LocalError(f"cannot start {role.path}: {exc}", EXIT_UNAVAILABLE))
    async with ClusterProbe.open(
        plan.config_servers,
        cluster=plan.cluster,
        known_groups=plan.shard_groups,
        security=security,
    ) as probe:
        # Caught here, inside the probe's nursery, which would wrap it in an exception group.
        try:
            await _bring_up(plan, security, children, probe, console)
        except LocalError as exc:
            return _failed(exc)
        put, get = _ctl(plan, "put hello world"), _ctl(plan, "get hello")
        _say(console, f"try in another terminal:\n  {put}\n  {get}\n  {_ctl(plan, 'status')}")
        if live:
            footer = f"Ctrl-C stops the cluster · try: {put} · logs in {plan.log_dir}"
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_report_exits, children, console)
                await show_live(probe, console, footer)
        else:
            _say(console, "running; Ctrl-C (or SIGTERM) stops every node")
            await _report_exits(children, console)
    return EXIT_OK


def _failed(exc: LocalError) -> int:
    print(f"eraft local: {exc}", file=sys.stderr)
    return exc.code


def _say(console: Console, text: str, style: str | None = None) -> None:
    """Print plain text (no markup: paths and errors hold brackets); a closed terminal
    (SIGHUP) must not stop the shutdown that follows."""
    with contextlib.suppress(OSError):
        console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


async def _bring_up(
    plan: LocalPlan,
    security: Security,
    children: ChildProcesses,
    probe: ClusterProbe,
    console: Console,
) -> None:
    sizes = {0: len(plan.config_servers)} | {g: len(p) for g, p in plan.shard_groups.items()}
    with StartupProgress(console, sizes) as progress:
        deadline = trio.current_time() + START_SECONDS
        while True:
            _fail_on_exit(children)
            snapshot = summarize(await probe.gather())
            progress.show_groups(snapshot)
            waiting = [
                g["gid"] for g in snapshot["groups"] if g["gid"] in sizes and not g["leader"]
            ]
            if not waiting:
                break
            if trio.current_time() > deadline:
                names = ", ".join("the config group" if g == 0 else f"group {g}" for g in waiting)
                raise LocalError(
                    f"no leader in {names} after {START_SECONDS:.0f}s; see the logs in "
                    f"{plan.log_dir}",
                    EXIT_UNAVAILABLE,
                )
            await trio.sleep(POLL_SECONDS)
        await _join_missing(plan, security, progress)
        deadline = trio.current_time() + SETTLE_SECONDS
        while True:
            _fail_on_exit(children)
            snapshot = summarize(await probe.gather())
            served, total = _buckets_served(snapshot)
            moving = len(snapshot["migrations"])
            progress.show_buckets(served, total, f"{moving} moving" if moving else "")
            if served == total or trio.current_time() > deadline:
                break
            await trio.sleep(POLL_SECONDS)
    config = snapshot["config"] or {}
    _say(
        console,
        f"cluster up: config {config.get('num')}, {served} of {total} buckets served by "
        f"groups {', '.join(str(g) for g in sorted(plan.shard_groups))}",
    )


def _fail_on_exit(children: ChildProcesses) -> None:
    for child in children.newly_exited():
        code = child.process.returncode
        raise LocalError(
            f"{child.name} exited with code {code} during start-up: {child.last_log_line()} "
            f"(log: {child.log_path})",
            EXIT_USAGE if code == EXIT_USAGE else EXIT_UNAVAILABLE,
        )


async def _join_missing(plan: LocalPlan, security: Security, progress: StartupProgress) -> None:
    """Join each group of the role files the latest config lacks: one join per group, so a
    second run (whose config has them all) joins nothing."""
    try:
        async with Client.connect(
            plan.config_servers, cluster=plan.cluster, security=security
        ) as client:
            config = await client.config_client.query(-1)
            known = {int(gid) for gid in config["groups"]}
            for gid, addresses in sorted(plan.shard_groups.items()):
                if gid in known:
                    continue
                progress.note(gid, "joining")
                # The role files' own nodes and data dirs: bringing back a group left
                # earlier is a rejoin of that same group, not a new one under its gid.
                num = await client.config_client.join({gid: addresses}, rejoin=True)
                progress.note(gid, f"joined at config {num}")
    except EraftError as exc:
        raise LocalError(f"could not join the shard groups: {exc}", EXIT_UNAVAILABLE) from None


def _buckets_served(snapshot: dict[str, Any]) -> tuple[int, int]:
    """Buckets whose owner in the latest config serves them at that config."""
    config = snapshot["config"] or {"num": 0, "buckets": []}
    views = {g["gid"]: g.get("shard") or {} for g in snapshot["groups"]}
    served = 0
    for bucket, gid in enumerate(config["buckets"]):
        view = views.get(gid) or {}
        states = {b["bucket"]: b["state"] for b in view.get("buckets", [])}
        if gid and view.get("num") == config["num"] and states.get(bucket) == "serving":
            served += 1
    return served, len(config["buckets"])


async def _report_exits(children: ChildProcesses, console: Console) -> None:
    """Say so when a node dies while the cluster runs (the status view shows it down)."""
    while True:
        for child in children.newly_exited():
            _say(
                console,
                f"{child.name} exited with code {child.process.returncode}: "
                f"{child.last_log_line()} (log: {child.log_path})",
                "bold red",
            )
        await trio.sleep(POLL_SECONDS)


def _ctl(plan: LocalPlan, command: str) -> str:
    """The `eraft ctl` command line that reaches this cluster."""
    options = []
    if plan.config_servers != DEFAULT_CONFIG_SERVERS:
        options.append("-s " + ",".join(plan.config_servers))
    role = plan.config_role
    if role.secret_file is not None:
        options.append(f"--secret-file {role.secret_file}")
    if role.ca_file is not None:
        options.append(f"--ca-file {role.ca_file}")
    if role.require_client_cert:
        options.append(f"--cert-file {role.cert_file} --key-file {role.key_file}")
    return " ".join(["eraft ctl", *options, command])
