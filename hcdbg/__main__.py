"""`python -m hcdbg` runs the command-line interface."""
from hcdbg.cli.main import main

raise SystemExit(main())
