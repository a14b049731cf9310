"""The trio driver: runs one node's Raft core over storage and transport."""
