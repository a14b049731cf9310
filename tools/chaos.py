#!/usr/bin/env python3
"""Chaos run of real eraft nodes in a private network namespace, checked for linearizability (docs/chaos.md).

The outer process makes the namespace `eraft-chaos-<pid>`, re-runs this script inside
it (`ip netns exec`) to start the nodes, clients and nemesis there, and tears it all
down afterwards: every process in the namespace, the namespace (with its nftables
rules), and the data folder. Where no namespace can be made it runs in place with
kills and pauses only, and says so.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType

import trio

from eraft_trio.chaos import netns
from eraft_trio.chaos.events import EventLog
from eraft_trio.chaos.history_jsonl import read_history
from eraft_trio.chaos.linearizability import check
from eraft_trio.chaos.link_cuts import ensure_nft
from eraft_trio.chaos.lock_workload import LOCK_TTL_S, LockSettings
from eraft_trio.chaos.lost_writes import lost_writes
from eraft_trio.chaos.nemesis import ALL_FAULTS, NETWORK_FAULTS
from eraft_trio.chaos.report import (
    EXIT_INCONCLUSIVE,
    EXIT_SETUP,
    EXIT_USAGE,
    EXIT_VIOLATION,
    exit_code,
    save_outputs,
    summary_lines,
)
from eraft_trio.chaos.runner import RunResult, RunSettings, SetupError, run_chaos
from eraft_trio.chaos.workload import WorkloadSettings, final_reads_of
from eraft_trio.client.leases import MAX_TTL_S, MIN_TTL_S
from eraft_trio.errors import single_exception

EXIT_INTERRUPTED = 130


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tools/chaos.py",
        description="Kill, pause, partition and reconfigure a real eraft cluster under load, "
        "then check the history for linearizability and lost writes.",
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="how long to inject faults")
    length.add_argument("--seconds", type=float, help="how long to inject faults (default 60)")
    parser.add_argument("--seed", type=int, help="fixes the nemesis' and clients' choices")
    parser.add_argument(
        "--faults",
        default="all",
        help=f"comma-separated, from {','.join(ALL_FAULTS)}; 'all' (default) or 'none'",
    )
    parser.add_argument(
        "--overlap",
        action="store_true",
        help="inject a process fault and a network fault at the same time",
    )
    parser.add_argument("--groups", type=int, choices=(2, 3), default=3, help="shard groups")
    parser.add_argument("--clients", type=int, default=10, help="concurrent client workers")
    parser.add_argument("--keys", type=int, default=30, help="how many keys the clients use")
    parser.add_argument("--op-timeout", type=float, default=5.0, help="client op timeout, s")
    parser.add_argument(
        "--lock-workers",
        type=int,
        default=0,
        help="also run the lock workload: N workers incrementing a counter under client.lock "
        "(0: none; docs/chaos.md)",
    )
    parser.add_argument(
        "--lock-ttl",
        type=float,
        default=LOCK_TTL_S,
        help=f"the lock's lease TTL, s (default {LOCK_TTL_S:g}; short ones get lost in faults)",
    )
    parser.add_argument("--history", type=Path, help="where to save the history (JSON lines)")
    parser.add_argument("--keep-data", action="store_true", help="keep the data folder")
    parser.add_argument(
        "--no-namespace",
        action="store_true",
        help="run in place, without a network namespace (kills, pauses and membership only)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.add_argument(
        "--check", type=Path, metavar="HISTORY", help="only re-check a saved history, then exit"
    )
    # Set by the outer process for the copy of itself it runs inside the namespace.
    parser.add_argument("--inside", metavar="NAMESPACE", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-partitions", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def parse_faults(text: str) -> frozenset[str]:
    if text == "all":
        return frozenset(ALL_FAULTS)
    if text in ("none", ""):
        return frozenset()
    faults = frozenset(word.strip() for word in text.split(",") if word.strip())
    unknown = faults - set(ALL_FAULTS)
    if unknown:
        raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; known: {', '.join(ALL_FAULTS)}")
    return faults


def lock_settings(args: argparse.Namespace) -> LockSettings | None:
    if args.lock_workers == 0:
        return None
    return LockSettings(workers=args.lock_workers, ttl=args.lock_ttl)


def duration_of(args: argparse.Namespace) -> float:
    if args.minutes is not None:
        return args.minutes * 60
    return args.seconds if args.seconds is not None else 60.0


def default_history_path(seed: int) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / "eraft-chaos" / f"seed{seed}-{stamp}.jsonl"


# --- outside the namespace --------------------------------------------------------------------


def run_outside(args: argparse.Namespace, faults: frozenset[str]) -> int:
    seed = args.seed if args.seed is not None else random.randrange(1, 2**31)
    history = args.history or default_history_path(seed)
    data = Path(tempfile.mkdtemp(prefix="eraft-chaos-data-"))
    name = netns.namespace_name()
    print(f"chaos: seed {seed}; data in {data}; history will be saved to {history}", flush=True)
    try:
        try:
            if args.no_namespace:
                raise netns.NamespaceError("--no-namespace")
            netns.create_namespace(name)
        except netns.NamespaceError as exc:
            print(f"chaos: NO NAMESPACE ({exc}): running in place without partitions or clogs")
            return run_inside(args, seed, history, data, faults, partitions=False)
        partitions = bool(faults & set(NETWORK_FAULTS)) and ensure_nft(print)
        if faults & set(NETWORK_FAULTS) and not partitions:
            print("chaos: nft is missing and could not be installed: partitions and clogs disabled")
        return _run_child(args, name, seed, history, data, partitions)
    finally:
        netns.delete_namespace(name)
        if args.keep_data:
            print(f"chaos: data kept in {data}")
        else:
            shutil.rmtree(data, ignore_errors=True)
        made = "namespace {name}, " if not args.no_namespace else ""
        print(f"chaos: cleaned up ({made.format(name=name)}processes, data)", flush=True)


def _run_child(
    args: argparse.Namespace, name: str, seed: int, history: Path, data: Path, partitions: bool
) -> int:
    argv = [
        *netns.exec_prefix(name),
        sys.executable,
        str(Path(__file__).resolve()),
        "--seconds", str(duration_of(args)),
        "--seed", str(seed),
        "--faults", args.faults,
        "--groups", str(args.groups),
        *(["--overlap"] if args.overlap else []),
        "--clients", str(args.clients),
        "--keys", str(args.keys),
        "--op-timeout", str(args.op_timeout),
        "--lock-workers", str(args.lock_workers),
        "--lock-ttl", str(args.lock_ttl),
        "--history", str(history.resolve()),
        "--log-level", args.log_level,
        "--inside", name,
        "--data", str(data),
    ]  # fmt: skip
    if args.quiet:
        argv.append("--quiet")
    if not partitions:
        argv.append("--no-partitions")
    # Its own session: a terminal's Ctrl-C reaches only us, and we pass it on as SIGTERM.
    child = subprocess.Popen(argv, start_new_session=True)
    interrupts = 0

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupts
        interrupts += 1
        child.send_signal(signal.SIGTERM if interrupts == 1 else signal.SIGKILL)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            child.kill()
            child.wait()


# --- inside the namespace ---------------------------------------------------------------------


def run_inside(
    args: argparse.Namespace,
    seed: int,
    history: Path,
    data: Path,
    faults: frozenset[str],
    partitions: bool,
) -> int:
    settings = RunSettings(
        duration=duration_of(args),
        seed=seed,
        faults=faults,
        shard_groups=args.groups,
        folder=data,
        partitions=partitions,
        overlap=args.overlap,
        workload=WorkloadSettings(clients=args.clients, keys=args.keys, op_timeout=args.op_timeout),
        lock=lock_settings(args),
        log_level=args.log_level,
    )
    events = EventLog(quiet=args.quiet)
    try:
        result = trio.run(_run_until_signalled, settings, events)
    except Exception as raised:
        # Nurseries wrap what their tasks raise. Either way nothing was checked, and
        # exit code 1 must keep meaning "violation", so a harness error is not one.
        error = single_exception(raised) if isinstance(raised, BaseExceptionGroup) else raised
        if isinstance(error, SetupError):
            print(f"chaos: setup failed: {error}", flush=True)
        else:
            traceback.print_exception(raised)
            print(f"chaos: the run failed (harness error): {error!r}", flush=True)
        _keep_logs(data, history)
        return EXIT_SETUP
    if result is None:
        print("chaos: interrupted; nodes killed", flush=True)
        return EXIT_INTERRUPTED
    print("\n".join(summary_lines(result)), flush=True)
    for path in save_outputs(result, history):
        print(f"saved {path}")
    code = exit_code(result)
    if code == EXIT_VIOLATION or result.crashes:
        _keep_logs(data, history)
    return code


async def _run_until_signalled(settings: RunSettings, events: EventLog) -> RunResult | None:
    """The run's result, or None when SIGINT / SIGTERM stopped it first."""
    result: RunResult | None = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                async for signum in signals:
                    events.say(f"received {signal.Signals(signum).name}: stopping")
                    nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            result = await run_chaos(settings, events)
            nursery.cancel_scope.cancel()
    return result


def _keep_logs(data: Path, history: Path) -> None:
    """Copy the node logs beside the history: the data folder is about to be removed."""
    logs = history.with_name(history.name.replace(".jsonl", "") + ".logs")
    logs.mkdir(parents=True, exist_ok=True)
    for log in data.glob("*.log"):
        shutil.copy(log, logs / log.name)
    print(f"node logs copied to {logs}")


def check_saved(path: Path) -> int:
    """Re-check a saved history offline: linearizability, and lost writes against its final reads."""
    try:
        history = read_history(path)
    except (OSError, ValueError, KeyError) as exc:
        print(f"tools/chaos.py: --check {path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    verdict = check(history)
    reads = final_reads_of(history)
    lost = lost_writes(history, reads)
    print(f"{path}: {len(history)} ops, final reads of {len(reads)} keys")
    print("\n".join(verdict.explain()))
    print(f"lost acknowledged writes: {len(lost)}")
    print("\n".join(f"  {item.explain()}" for item in lost[:20]))
    if verdict.result == "violation" or lost:
        return EXIT_VIOLATION
    return EXIT_INCONCLUSIVE if verdict.result == "unknown" else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check is not None:
        return check_saved(args.check)
    try:
        faults = parse_faults(args.faults)
    except ValueError as exc:
        print(f"tools/chaos.py: --faults: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.lock_workers < 0:
        print("tools/chaos.py: --lock-workers: a number of workers, 0 or more", file=sys.stderr)
        return EXIT_USAGE
    if not MIN_TTL_S <= args.lock_ttl <= MAX_TTL_S:
        print(
            f"tools/chaos.py: --lock-ttl: {MIN_TTL_S:g} to {MAX_TTL_S:g} seconds", file=sys.stderr
        )
        return EXIT_USAGE
    if args.inside is not None:
        assert args.data is not None and args.history is not None and args.seed is not None
        return run_inside(
            args, args.seed, args.history, args.data, faults, partitions=not args.no_partitions
        )
    if os.geteuid() != 0:
        print("chaos: not root: no namespace can be made", file=sys.stderr)
    try:
        return run_outside(args, faults)
    except Exception:
        traceback.print_exc()
        print("chaos: the run failed (harness error)", flush=True)
        return EXIT_SETUP


if __name__ == "__main__":
    sys.exit(main())
