"""The eraft command line: node, ctl, local, bench."""
