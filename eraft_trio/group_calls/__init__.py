"""Calling a Raft group's leader over the transport: one connection per address, a caller
that follows not_leader hints and backs off until a deadline, and the config group's
client. The client and the shard role (a client of the config group and of the groups
it pulls buckets from) both use it, so neither imports the other.
"""
