"""The production driver simulated: real RaftNodes, NodeStores and the shard state machine
on a simulated network, under trio's MockClock, one schedule per seed (run.py)."""
