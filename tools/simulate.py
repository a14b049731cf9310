"""Run many seeded random Raft schedules on the simulator and report any broken invariant.

`--cluster` runs the whole cluster as production runs it instead (eraft_trio/sim/cluster/):
a config group and three shard groups of real RaftNodes, stores and role servers, the
real client, groups joining and leaving and buckets moving under crashes, partitions and
disk faults, each seed checked for linearizability, lost writes and bucket ownership.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eraft_trio.sim.cluster.run import run_seed  # noqa: E402
from eraft_trio.sim.faults import FAULT_KINDS, parse_faults  # noqa: E402
from eraft_trio.sim.schedule import ScheduleSpec, run_schedule  # noqa: E402


def parse_raft_option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--raft wants key=value, got {text!r}")
    value: Any
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    else:
        try:
            value = int(raw)
        except ValueError as error:
            raise argparse.ArgumentTypeError(
                f"--raft {key}: {raw!r} is not an int or bool"
            ) from error
    return key, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds to run")
    parser.add_argument("--seed-start", type=int, default=0, help="first seed")
    parser.add_argument("--nodes", type=int, default=3, choices=(3, 5, 7))
    parser.add_argument(
        "--faults", default="all", help=f"all, none, or a comma list of {','.join(FAULT_KINDS)}"
    )
    parser.add_argument("--steps", type=int, default=3000, help="random steps per seed")
    parser.add_argument(
        "--compact-every", type=int, default=20, help="compact after this many applies (0: never)"
    )
    parser.add_argument(
        "--no-liveness", action="store_true", help="skip the final heal-and-commit check"
    )
    parser.add_argument(
        "--visible-cuts",
        action="store_true",
        help="sends over a cut link fail visibly (the driver reports the peer unreachable)",
    )
    parser.add_argument(
        "--raft", action="append", default=[], type=parse_raft_option, help="RaftConfig key=value"
    )
    parser.add_argument(
        "--membership",
        action="store_true",
        help="also change the group's membership at random (add learner, promote, remove, replace)",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="simulate real RaftNodes, stores and clients (other options but --seeds, "
        "--seed-start and --keep-going do not apply)",
    )
    parser.add_argument("--keep-going", action="store_true", help="run every seed, count failures")
    args = parser.parse_args(argv)
    try:
        parse_faults(args.faults)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cluster:
        return run_cluster(args)
    spec = ScheduleSpec(
        nodes=args.nodes,
        faults=args.faults,
        steps=args.steps,
        compact_every=args.compact_every or None,
        liveness=not args.no_liveness,
        senders_see_cut_links=args.visible_cuts,
        raft_options=dict(args.raft),
        membership=args.membership,
    )
    started = time.monotonic()
    violations = 0
    committed = reads = crashes = snapshots = changes = 0
    for k in range(args.seeds):
        seed = args.seed_start + k
        result = run_schedule(seed, spec)
        committed += result.committed
        reads += result.reads_served
        crashes += result.crashes
        snapshots += result.snapshots_installed
        changes += result.membership_changes
        if result.violation is not None:
            violations += 1
            v = result.violation
            print(f"\nseed {seed}: VIOLATION of {v.invariant}", flush=True)
            print(f"  at step {v.step}, tick {v.tick}: {v.detail}")
            print("  last faults:")
            for line in result.fault_log[-8:]:
                print(f"    {line}")
            print(f"  replay: {spec.replay_command(seed)}", flush=True)
            if not args.keep_going:
                break
        if (k + 1) % 10 == 0 or k + 1 == args.seeds:
            elapsed = time.monotonic() - started
            print(
                f"\r{k + 1}/{args.seeds} seeds, {violations} violations, "
                f"{committed} entries committed, {reads} reads served, {crashes} crashes, "
                f"{snapshots} snapshots installed"
                + (f", {changes} membership changes" if args.membership else "")
                + f" ({elapsed:.1f}s)",
                end="",
                flush=True,
            )
    ran = k + 1 if args.seeds else 0
    print(f"\n{ran} seeds, {violations} violations")
    return 1 if violations else 0


def run_cluster(args: argparse.Namespace) -> int:
    # A simulated run fails snapshots, disks and stores on purpose: the verdict is the news.
    logging.getLogger("eraft_trio").setLevel(logging.CRITICAL)
    started = time.monotonic()
    violations = 0
    totals: dict[str, int] = {}
    ran = 0
    for k in range(args.seeds):
        seed = args.seed_start + k
        result = run_seed(seed)
        ran += 1
        for key, value in result.stats.items():
            totals[key] = totals.get(key, 0) + value
        if result.violations:
            violations += 1
            print(f"\nseed {seed}: {len(result.violations)} violations", flush=True)
            for line in result.violations:
                print(f"  {line}")
            print("  last faults:")
            for line in result.fault_log[-8:]:
                print(f"    {line}")
            print(f"  replay: python tools/simulate.py --cluster --seeds 1 --seed-start {seed}")
            if not args.keep_going:
                break
        if ran % 10 == 0 or ran == args.seeds:
            elapsed = time.monotonic() - started
            shown = ", ".join(f"{value} {key}" for key, value in totals.items())
            print(
                f"\r{ran}/{args.seeds} seeds, {violations} violations, {shown} "
                f"({elapsed:.1f}s, {ran / elapsed:.2f} seeds/s)",
                end="",
                flush=True,
            )
    print(f"\n{ran} seeds, {violations} violations")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
