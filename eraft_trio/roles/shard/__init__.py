"""The shard role: buckets of keys, sessions, migration and garbage collection."""
