"""The live status TUI (rich)."""
