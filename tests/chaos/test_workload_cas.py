"""The chaos workload's compare-and-sets as recorded: what the client answered becomes the
op's outcome, `succeeded` and `observed` (a fake client stands in for the cluster)."""

from __future__ import annotations

from typing import Any

from eraft_trio.chaos.history import HistoryRecorder
from eraft_trio.chaos.linearizability import check
from eraft_trio.chaos.workload import Workload, WorkloadSettings
from eraft_trio.client.results import CasResult, GetResult
from eraft_trio.client.txn import TxnResult
from eraft_trio.errors import OperationTimeout
from eraft_trio.protocol.txn import TxnCompare, TxnOp


class FakeRegister:
    """One key's register answering CAS puts, deletes and one-key txns like the cluster."""

    def __init__(self) -> None:
        self.value: bytes | None = None
        self.timeout_next = False

    def _cas(self, holds: bool, new: bytes | None, deleting: bool) -> CasResult:
        if self.timeout_next:
            self.timeout_next = False
            if holds:
                self.value = new  # it applied, but the answer was lost
            raise OperationTimeout("lost answer")
        if not holds:
            return CasResult(False, None, GetResult(self.value, 1 if self.value else 0, 1))
        self.value = None if deleting else new
        return CasResult(True, 2, GetResult(self.value, 1, 2))

    async def put(self, key: bytes, value: bytes, **condition: Any) -> CasResult:
        expected = None if condition.get("if_absent") else condition["if_value"]
        return self._cas(self.value == expected, value, False)

    async def delete(self, key: bytes, *, if_value: bytes) -> CasResult:
        return self._cas(self.value == if_value, None, True)

    async def txn(
        self, compares: list[TxnCompare], success: list[TxnOp], failure: list[TxnOp]
    ) -> TxnResult:
        (compare,) = compares
        holds = self.value is None if compare.target == "version" else self.value == compare.operand
        if holds:
            self.value = success[0].value
            return TxnResult(True, 3, ())
        return TxnResult(False, 3, (GetResult(self.value, 1, 1),))


async def test_cas_answers_are_recorded_as_register_ops() -> None:
    recorder = HistoryRecorder()
    workload = Workload(("127.0.0.1:1",), recorder, WorkloadSettings(), seed=1)
    kv: Any = FakeRegister()
    first = await workload.cas_op(kv, 0, "cas_put", b"k", b"a", None)
    assert (first.outcome, first.succeeded, first.observed) == ("ok", True, None)
    lost = await workload.cas_op(kv, 1, "txn", b"k", b"b", None)
    assert (lost.succeeded, lost.observed) == (False, b"a")
    moved = await workload.cas_op(kv, 1, "txn", b"k", b"c", b"a")
    assert moved.succeeded is True
    kv.timeout_next = True
    timed_out = await workload.cas_op(kv, 2, "cas_delete", b"k", None, b"c")
    assert (timed_out.outcome, timed_out.succeeded) == ("timeout", None)
    stale = await workload.cas_op(kv, 0, "cas_put", b"k", b"d", b"a")
    assert (stale.succeeded, stale.observed) == (False, None)  # the delete landed
    assert check(recorder.ops()).result == "ok"
