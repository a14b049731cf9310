"""Which bucket a key lives in, and the replicated state of one bucket at one group."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import msgpack

from eraft_trio.protocol.keys import bucket_of

__all__ = ["BucketState", "Phase", "bucket_of"]


class Phase(IntEnum):
    """Where a bucket stands at this group. The numbers are stored, so never renumber."""

    NONE = 0  # not ours: no kv or session rows of it are kept here
    SERVING = 1  # ours: reads and writes are answered
    PULLING = 2  # ours since config `num`, being copied from group `from_gid`; not served yet
    HANDOFF = 3  # moved away at config `num`; frozen and kept until the new owner has it


@dataclass(frozen=True, slots=True)
class BucketState:
    """One bucket's phase, the config that put it there, and its progress and size.

    `cursor` is the transfer stream position of the last chunk installed (None: nothing
    yet), so a pull resumes where it stopped after a leader change. `keys` counts the
    bucket's kv rows here, so status reads never scan the data.
    """

    phase: Phase = Phase.NONE
    num: int = 0
    from_gid: int = 0
    cursor: bytes | None = None
    keys: int = 0

    @property
    def name(self) -> str:
        return self.phase.name.lower()

    def encode(self) -> bytes:
        return msgpack.packb(
            [int(self.phase), self.num, self.from_gid, self.cursor, self.keys], use_bin_type=True
        )

    @classmethod
    def decode(cls, data: bytes) -> BucketState:
        phase, num, from_gid, cursor, keys = msgpack.unpackb(data, raw=False, use_list=True)
        return cls(Phase(phase), num, from_gid, cursor, keys)


SERVING_EMPTY = BucketState(Phase.SERVING)
