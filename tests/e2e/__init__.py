"""End-to-end tests: whole clusters of `eraft node` processes, driven by the client and `eraft ctl`."""
