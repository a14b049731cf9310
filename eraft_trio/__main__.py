"""`python -m eraft_trio` runs the `eraft` command line."""

from eraft_trio.cli.main import main

raise SystemExit(main())
