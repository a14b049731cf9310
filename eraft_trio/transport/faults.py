"""Test-only network faults (drop, delay, duplicate) by source and destination, off by default.

A node process sets them from ERAFT_TEST_FAULTS (runtime/fault_spec.py, the one parser);
in-process tests set rules directly.

The kernel here has no netem, so loss and delay between nodes come from the transport
itself (docs/chaos.md, the faults): PeerSender and RpcClient ask `FAULTS.plan(src, dst)` what to do
with each outgoing message. With no rules (the default) the answer is always "send
once, now" and costs one truthiness check.

Patterns name an address as "host:port", a host alone (any port) or "*". The most
specific rule wins: an exact source beats a host, which beats "*", and the source is
weighed before the destination.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from eraft_trio.protocol.address import parse_address

ANY = "*"


@dataclass(frozen=True, slots=True)
class FaultRule:
    drop: float = 0.0  # probability that a message is lost
    delay_ms: tuple[float, float] = (0.0, 0.0)  # uniform delay range for each copy
    duplicate: float = 0.0  # probability that a message is delivered twice

    def __post_init__(self) -> None:
        low, high = self.delay_ms
        if not 0.0 <= self.drop <= 1.0 or not 0.0 <= self.duplicate <= 1.0:
            raise ValueError("drop and duplicate are probabilities in [0, 1]")
        if not 0.0 <= low <= high:
            raise ValueError(f"delay_ms {self.delay_ms}: need 0 <= low <= high")


SEND_NOW: tuple[float, ...] = (0.0,)


class FaultRules:
    """The rule table, with its own seeded random source so a failing run can be replayed."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: dict[tuple[str, str], FaultRule] = {}
        self.random = random.Random(seed)
        self.dropped = 0
        self.delayed = 0
        self.duplicated = 0

    def __bool__(self) -> bool:
        return bool(self._rules)

    def set(
        self,
        src: str = ANY,
        dst: str = ANY,
        *,
        drop: float = 0.0,
        delay_ms: tuple[float, float] = (0.0, 0.0),
        duplicate: float = 0.0,
    ) -> FaultRule:
        return self.put(src, dst, FaultRule(drop=drop, delay_ms=delay_ms, duplicate=duplicate))

    def put(self, src: str, dst: str, rule: FaultRule) -> FaultRule:
        self._rules[(src, dst)] = rule
        return rule

    def remove(self, src: str = ANY, dst: str = ANY) -> None:
        self._rules.pop((src, dst), None)

    def clear(self) -> None:
        self._rules.clear()
        self.dropped = self.delayed = self.duplicated = 0

    def seed(self, seed: int) -> None:
        self.random.seed(seed)

    def rule_for(self, src: str, dst: str) -> FaultRule | None:
        for src_pattern in _patterns(src):
            for dst_pattern in _patterns(dst):
                rule = self._rules.get((src_pattern, dst_pattern))
                if rule is not None:
                    return rule
        return None

    def plan(self, src: str, dst: str) -> tuple[float, ...]:
        """Delays in seconds, one per copy to deliver: () drops, (0.0,) is a normal send."""
        if not self._rules:
            return SEND_NOW
        rule = self.rule_for(src, dst)
        if rule is None:
            return SEND_NOW
        rng = self.random
        if rule.drop and rng.random() < rule.drop:
            self.dropped += 1
            return ()
        copies = 2 if rule.duplicate and rng.random() < rule.duplicate else 1
        if copies == 2:
            self.duplicated += 1
        low, high = rule.delay_ms
        if high <= 0.0:
            return (0.0,) * copies
        self.delayed += 1
        return tuple(rng.uniform(low, high) / 1000.0 for _ in range(copies))

    def statistics(self) -> dict[str, int]:
        return {
            "rules": len(self._rules),
            "dropped": self.dropped,
            "delayed": self.delayed,
            "duplicated": self.duplicated,
        }


def _patterns(addr: str) -> tuple[str, ...]:
    try:
        host = parse_address(addr).host
    except ValueError:
        return (addr, ANY) if addr else (ANY,)
    return (addr, host, ANY)


FAULTS = FaultRules()
