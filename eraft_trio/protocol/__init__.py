"""The wire vocabulary: every message nodes and clients exchange, the error codes they
answer with, the one table of type ids, and the address type.

Plain data only: it imports nothing but the Raft core's message types, so the
transport, the runtime, the roles and the client all depend on it and on nothing of
each other's (tests/test_import_graph.py checks this).
"""
