"""BenchOptions: `eraft bench`'s validated settings, built from the parsed command line."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from eraft_trio.cli.ctl_command import UsageError, config_servers_from

# The operation kinds of a mix, in the order `--mix PUT:GET` names their weights.
KINDS = ("put", "get")


@dataclass(frozen=True)
class BenchOptions:
    servers: tuple[str, ...]
    timeout: float
    clients: int
    duration: float
    value_size: int
    weights: dict[str, float]  # only the kinds with a weight > 0
    keys: int
    json: bool

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.weights)

    @property
    def reads(self) -> bool:
        """Whether the run reads, so the key space must be written first."""
        return "get" in self.weights


def parse_mix(text: str) -> dict[str, float]:
    """'1:1' -> {"put": 1.0, "get": 1.0}; kinds of weight 0 are left out."""
    parts = text.split(":")
    if len(parts) != len(KINDS):
        raise UsageError(f"--mix: {text!r} is not PUT:GET (e.g. 1:0, 0:1, 1:1)")
    weights: dict[str, float] = {}
    for kind, part in zip(KINDS, parts, strict=True):
        try:
            weight = float(part)
        except ValueError:
            raise UsageError(f"--mix: {kind} weight {part!r} is not a number") from None
        if not math.isfinite(weight) or weight < 0:
            raise UsageError(f"--mix: {kind} weight {part!r} must be a number >= 0")
        if weight > 0:
            weights[kind] = weight
    if not weights:
        raise UsageError(f"--mix: {text!r} has no operation with a weight > 0")
    return weights


def options_from(args: argparse.Namespace) -> BenchOptions:
    """The run's settings; UsageError naming the option when one is out of range."""
    if not args.timeout > 0:
        raise UsageError("--timeout: must be > 0")
    if args.clients < 1:
        raise UsageError(f"--clients: {args.clients} must be >= 1")
    if not (math.isfinite(args.duration) and args.duration > 0):
        raise UsageError(f"--duration: {args.duration} must be > 0 seconds")
    if args.value_size < 0:
        raise UsageError(f"--value-size: {args.value_size} must be >= 0 bytes")
    if args.keys < 1:
        raise UsageError(f"--keys: {args.keys} must be >= 1")
    weights = parse_mix(args.mix)
    return BenchOptions(
        servers=config_servers_from(args),
        timeout=float(args.timeout),
        clients=args.clients,
        duration=float(args.duration),
        value_size=args.value_size,
        weights=weights,
        keys=args.keys,
        json=bool(args.json),
    )
