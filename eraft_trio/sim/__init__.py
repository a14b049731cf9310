"""Deterministic simulation of Raft groups: seeded network, clock, disks, faults and checkers."""

from eraft_trio.sim.faults import FAULT_KINDS, NO_FAULTS, FaultConfig, parse_faults
from eraft_trio.sim.network import NetworkFaults
from eraft_trio.sim.node import CrashPoint
from eraft_trio.sim.simulation import SIM_RAFT_DEFAULTS, Simulation
from eraft_trio.sim.violations import InvariantViolation
from eraft_trio.sim.workload import Workload

__all__ = [
    "FAULT_KINDS",
    "NO_FAULTS",
    "SIM_RAFT_DEFAULTS",
    "CrashPoint",
    "FaultConfig",
    "InvariantViolation",
    "NetworkFaults",
    "Simulation",
    "Workload",
    "parse_faults",
]
