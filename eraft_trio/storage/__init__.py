"""LMDB storage: Raft log, hard state and state-machine tables in one environment."""
