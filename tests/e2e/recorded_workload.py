"""Client processes that put unique values and get, recording every op for the history checkers."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import trio

from eraft_trio.chaos import HistoryRecorder, OpKind
from eraft_trio.client import Client
from eraft_trio.errors import BadRequest, EraftError, OperationTimeout

FINAL_PROCESS = 1_000_000  # the process number of the final reads


class RecordedWorkload:
    """`clients` processes on one shared Client, each one op at a time, until `stop`.

    Every put writes a value never written before, so the checkers can tell which write
    a read saw. A process whose op got no answer is, as in Jepsen, retired: its op stays
    open (it may still take effect) and a fresh process number takes over.
    """

    def __init__(self, kv: Client, keys: Sequence[bytes], *, clients: int, seed: int) -> None:
        self.kv = kv
        self.keys = list(keys)
        self.clients = clients
        self.recorder = HistoryRecorder(clock=trio.current_time)
        self.random = random.Random(seed)
        self.outcomes: Counter[str] = Counter()  # "put ok", "get timeout", ...
        self.errors: list[str] = []  # failures other than timeouts, for the report

    async def run(self, stop: trio.Event) -> None:
        async with trio.open_nursery() as nursery:
            for slot in range(self.clients):
                nursery.start_soon(self._client, slot, stop)

    async def _client(self, slot: int, stop: trio.Event) -> None:
        process, count = slot, 0
        rng = random.Random(self.random.getrandbits(64))
        while not stop.is_set():
            key = rng.choice(self.keys)
            if rng.random() < 0.6:
                value = f"p{process}-{count}".encode()
                count += 1
                answered = await self._op(process, "put", key, value)
            else:
                answered = await self._op(process, "get", key, None)
            if not answered:
                process += self.clients  # retire it: its last op stays indeterminate

    async def _op(self, process: int, kind: OpKind, key: bytes, value: bytes | None) -> bool:
        handle = self.recorder.invoke(process, kind, key, value)
        try:
            if kind == "put":
                assert value is not None
                await self.kv.put(key, value)
                self.recorder.complete(handle, "ok")
            else:
                self.recorder.complete(handle, "ok", await self.kv.get(key))
        except BadRequest as exc:
            # Refused as invalid: it cannot have taken effect (and should never happen here).
            self.recorder.complete(handle, "fail")
            self.errors.append(f"{kind} {key!r}: {exc!r}")
            self.outcomes[f"{kind} fail"] += 1
            return True
        except EraftError as exc:
            # A timeout or a server failure: the outcome is unknown.
            self.recorder.complete(handle, "timeout")
            if not isinstance(exc, OperationTimeout):
                self.errors.append(f"{kind} {key!r}: {exc!r}")
            self.outcomes[f"{kind} timeout"] += 1
            return False
        self.outcomes[f"{kind} ok"] += 1
        return True

    async def final_reads(self, kv: Client) -> dict[bytes, bytes | None]:
        """Read every key once more after healing, recorded into the same history."""
        finals: dict[bytes, bytes | None] = {}
        for key in self.keys:
            handle = self.recorder.invoke(FINAL_PROCESS, "get", key)
            finals[key] = await kv.get(key)
            self.recorder.complete(handle, "ok", finals[key])
        return finals
