"""`python -m hcdbg` runs the command-line interface."""
from hcdbg.cli import main

raise SystemExit(main())
