"""ERAFT_TEST_FAULTS: the one parser of a node process's test faults, and what it sets."""

from __future__ import annotations

import pytest

from eraft_trio.runtime.fault_spec import VARIABLE, FaultSpec, apply_from_environment
from eraft_trio.storage.disk_faults import DISK_FAULTS
from eraft_trio.transport.faults import FAULTS, FaultRule

UNRELIABLE = "drop=0.05,delay_ms=0-5,duplicate=0.05,seed=11"


def test_fault_spec_parses_and_refuses_nonsense() -> None:
    spec = FaultSpec.parse(UNRELIABLE)
    assert spec == FaultSpec(FaultRule(drop=0.05, delay_ms=(0.0, 5.0), duplicate=0.05), seed=11)
    assert FaultSpec.parse(spec.text()) == spec
    assert FaultSpec.parse("slow_fsync_ms=20") == FaultSpec(slow_fsync_ms=20.0)
    with pytest.raises(ValueError, match="unknown fault"):
        FaultSpec.parse("explode=1")
    with pytest.raises(ValueError, match="name=value"):
        FaultSpec.parse("drop")
    with pytest.raises(ValueError, match="probabilities"):
        FaultSpec.parse("drop=2")
    with pytest.raises(ValueError, match="'seed=x'"):
        FaultSpec.parse("seed=x")


def test_the_environment_sets_the_layers_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "drop=1,slow_fsync_ms=250")
    try:
        spec = apply_from_environment()
        assert spec is not None and spec.network == FaultRule(drop=1.0)
        assert FAULTS.plan("127.0.0.1:1", "127.0.0.1:2") == ()  # dropped
        assert DISK_FAULTS.slow_fsync_s == 0.25
    finally:
        FAULTS.clear()
        DISK_FAULTS.slow_fsync_s = 0.0
    monkeypatch.delenv(VARIABLE)
    assert apply_from_environment() is None
