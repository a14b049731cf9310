"""The end of a chaos run: op and fault counts, the verdict in words, the exit code, saved files."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

from eraft_trio.chaos.history_jsonl import save_history
from eraft_trio.chaos.lock_check import Section
from eraft_trio.chaos.nemesis import NETWORK_FAULTS
from eraft_trio.chaos.runner import RunResult, RunSettings
from eraft_trio.chaos.workload import FINAL_READ_PROCESS

EXIT_OK = 0
EXIT_VIOLATION = 1
EXIT_USAGE = 2
EXIT_SETUP = 3  # the cluster never came up, or the harness failed: nothing was checked
EXIT_INCONCLUSIVE = 4  # no violation found, but the checks could not judge everything


def op_counts(result: RunResult) -> dict[str, Counter[str]]:
    """Per op kind, how many ended ok / fail / timeout (final reads counted apart)."""
    counts: dict[str, Counter[str]] = {}
    for op in result.history:
        kind = "final get" if op.process == FINAL_READ_PROCESS else op.kind
        counts.setdefault(kind, Counter())[op.outcome] += 1
    return counts


def verdict_word(result: RunResult) -> str:
    if result.violation:
        return "VIOLATION"
    if not result.conclusive:
        return "INCONCLUSIVE"
    return "OK"


def exit_code(result: RunResult) -> int:
    if result.violation:
        return EXIT_VIOLATION
    return EXIT_OK if result.conclusive else EXIT_INCONCLUSIVE


def summary_lines(result: RunResult) -> list[str]:
    s = result.settings
    lines = [
        "== chaos run summary",
        f"seed {s.seed}, {s.duration:g}s of faults, {s.shard_groups} shard groups, "
        f"faults: {','.join(sorted(s.faults)) or 'none'}"
        + (" (process and network faults overlapping)" if s.overlap else "")
        + (" (partitions and clogs disabled: no namespace or no nft)" if _lost_network(s) else ""),
        f"wall time {result.elapsed:.1f}s, {len(result.history)} ops recorded",
        "ops (ok / fail / timeout):",
    ]
    for kind, counts in sorted(op_counts(result).items()):
        lines.append(
            f"  {kind:<10} {counts['ok']:>7} / {counts['fail']:>5} / {counts['timeout']:>6}"
        )
    errors = result.workload_stats.errors
    if errors:
        lines.append(f"client errors (counted as fail or timeout above): {dict(errors)}")
        lines.extend(f"  e.g. {sample}" for sample in result.workload_stats.error_samples[:5])
    faults = result.events.faults
    lines.append(f"faults injected: {sum(faults.values())}")
    lines.extend(f"  {kind:<24} {count}" for kind, count in sorted(faults.items()))
    terms = ", ".join(
        f"{'config' if gid == 0 else f'g{gid}'} {term}"
        for gid, term in sorted(result.terms.items())
    )
    lines.append(f"raft terms at the end (elections): {terms}")
    if result.membership:
        lines.append(f"membership outcomes: {dict(sorted(result.membership.items()))}")
    if result.crashes:
        lines.append(f"nodes that exited on their own (see their logs): {result.crashes}")
    if result.unsettled:
        lines.append(
            "cluster had not settled before the final reads: " + "; ".join(result.unsettled)
        )
    keys = result.settings.workload.key_names()
    missing = [k for k in keys if k not in result.final_reads]
    lines.append(f"final reads: {len(keys) - len(missing)} of {len(keys)} keys answered")
    if missing:
        lines.append(f"  no final read for {missing}: their lost-write check was skipped")
    lines.append(f"linearizability: {result.verdict.result}")
    lines.extend(f"  {line}" for line in result.verdict.explain())
    lines.append(f"lost acknowledged writes: {len(result.lost)}")
    lines.extend(f"  {lost.explain()}" for lost in result.lost[:20])
    lines.extend(_lock_lines(result))
    lines.append(f"verdict: {verdict_word(result)}")
    return lines


def _lock_lines(result: RunResult) -> list[str]:
    """The lock workload's verdict: exact, bounded (unknown increments), violation or unknown."""
    settings, verdict, workload = result.settings.lock, result.lock, result.lock_workload
    if settings is None or verdict is None or workload is None:
        return []
    lines = [
        f"lock: {verdict.result} ({settings.workers} workers, lease TTL {settings.ttl:g}s, "
        f"op timeout {settings.op_timeout:g}s, margin {settings.margin:g}s)"
    ]
    lines.extend(f"  {line}" for line in verdict.explain())
    if workload.leases_lost:
        lines.append(
            f"  sections whose lease was given up before they ended: {workload.leases_lost}"
        )
    if workload.errors:
        lines.append(f"  lock client errors (retried): {dict(workload.errors)}")
        lines.extend(f"    e.g. {sample}" for sample in workload.error_samples[:3])
    return lines


def _lost_network(settings: RunSettings) -> bool:
    return not settings.partitions and bool(settings.faults & set(NETWORK_FAULTS))


def save_outputs(result: RunResult, history_path: Path) -> list[Path]:
    """The history (JSON lines) and, beside it, the event log and the lock workload's
    sections (when it ran); the paths written."""
    history_path.parent.mkdir(parents=True, exist_ok=True)
    save_history(history_path, result.history)
    stem = history_path.name.replace(".jsonl", "")
    events_path = history_path.with_name(stem + ".events.txt")
    result.events.save(events_path)
    paths = [history_path, events_path]
    if result.lock_workload is not None:
        lock_path = history_path.with_name(stem + ".lock.jsonl")
        _save_sections(lock_path, result.lock_workload.sections)
        paths.append(lock_path)
    return paths


def _save_sections(path: Path, sections: list[Section]) -> None:
    """One critical section a line, in start order, on the events' clock."""
    with path.open("w") as out:
        for section in sorted(sections, key=lambda s: s.start):
            out.write(json.dumps(dataclasses.asdict(section)) + "\n")
