"""Integration and end-to-end tests: real `eraft node` processes, real sockets, real LMDB."""
