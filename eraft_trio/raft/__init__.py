"""The consensus core: a pure, deterministic Raft state machine (no I/O, no clock, no trio)."""
