"""CPU time per operation for tools/bench_compare.py: processes' CPU read from /proc while a
load runs, and the share of it that falls inside the load's measured window.

Both clients (wrk, `eraft bench`) measure a window of `duration` seconds that ends just
before they exit; `eraft bench` spends its first seconds importing and, for gets, writing
the key space, which must not count. So a thread samples every cluster process and the
client every SAMPLE_SECONDS, and the window is taken as the `duration` seconds before the
client's last sample, each process's CPU time interpolated at both ends.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

SAMPLE_SECONDS = 0.05
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_stat_cpu(stat: str, ticks: int = CLOCK_TICKS) -> float:
    """utime + stime in seconds from the text of /proc/PID/stat (every thread of the process).

    The command name (field 2) is in parentheses and may hold spaces or ')': the fields
    are counted from the last ')'. utime and stime are fields 14 and 15."""
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / ticks


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds the process has used so far, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return parse_stat_cpu(stat.read())
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    cluster: float  # CPU seconds of every cluster process together
    client: float | None  # the client's, None before it started or after it ended


def _at(samples: Sequence[Sample], when: float, client: bool) -> float:
    """A series interpolated linearly at `when` (clamped to the first and last sample)."""
    points = [(s.at, s.client if client else s.cluster) for s in samples]
    series = [(t, v) for t, v in points if v is not None]
    if not series:
        raise ValueError("no samples")
    if when <= series[0][0]:
        return series[0][1]
    for (t0, v0), (t1, v1) in zip(series, series[1:], strict=False):
        if t0 <= when <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (when - t0) / (t1 - t0)
    return series[-1][1]


def window_cpu(samples: Sequence[Sample], duration: float) -> tuple[float, float]:
    """(cluster, client) CPU seconds over the `duration` seconds before the client's last
    sample; ValueError when the client was never seen."""
    seen = [s for s in samples if s.client is not None]
    if not seen:
        raise ValueError("the client was never sampled")
    end = seen[-1].at
    start = end - duration
    cluster = _at(samples, end, client=False) - _at(samples, start, client=False)
    client = _at(seen, end, client=True) - _at(seen, start, client=True)
    return cluster, client


@dataclass(frozen=True)
class CpuPerOp:
    """CPU microseconds per operation: the cluster's processes, the client, and both."""

    cluster_us: float
    client_us: float

    @property
    def total_us(self) -> float:
        return self.cluster_us + self.client_us


def per_op(cluster_s: float, client_s: float, ops: int) -> CpuPerOp | None:
    if ops <= 0:
        return None
    return CpuPerOp(round(cluster_s * 1e6 / ops, 1), round(client_s * 1e6 / ops, 1))


class CpuSampler:
    """Samples `cluster` PIDs, and the client PID once `client_started` names it, from a
    thread, until `stop()`. Use as a context manager around one client run."""

    def __init__(self, cluster: Sequence[int], period: float = SAMPLE_SECONDS) -> None:
        self.cluster = tuple(cluster)
        self.period = period
        self.samples: list[Sample] = []
        self._client: int | None = None
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def client_started(self, pid: int) -> None:
        self._client = pid

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.period)

    def _sample(self) -> None:
        cluster = 0.0
        for pid in self.cluster:
            used = cpu_seconds(pid)
            if used is not None:
                self._last[pid] = used
            cluster += self._last.get(pid, 0.0)  # a node that died keeps what it used
        client = None if self._client is None else cpu_seconds(self._client)
        self.samples.append(Sample(time.monotonic(), cluster, client))

    def per_op(self, duration: float, ops: int) -> CpuPerOp | None:
        """CPU per operation over the client's measured window; None if it cannot be told."""
        try:
            cluster, client = window_cpu(self.samples, duration)
        except ValueError:
            return None
        return per_op(cluster, client, ops)
