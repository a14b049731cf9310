"""eraft-trio: a sharded, Raft-replicated key-value store on trio, msgpack and LMDB."""

__version__ = "0.1.0"
