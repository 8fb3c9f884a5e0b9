"""A subprocess that runs `hcdbg ARGV...` in-process, one command line after another, for
the input fuzz tests (tests/test_input_fuzz.py): each case costs milliseconds, not a Python
start-up, and a crash, a hang or a runaway allocation kills this process, never pytest.

Protocol: one JSON list of arguments a line on stdin; one JSON object a line on the
stdout it started with: {"exit": STATUS, "err": the end of what hcdbg wrote to stderr}.
The parent sets the memory limit (RLIMIT_AS) and the time limit.
"""
from __future__ import annotations

import gc
import io
import json
import os
import sys


def serve() -> None:
    replies = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the guest's UART and anything written to fd 1 go nowhere
    from hcdbg.cli.main import main

    for line in sys.stdin:
        argv = json.loads(line)
        sys.stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
        sys.stderr = err = io.StringIO()
        try:
            status = int(main(argv))
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        gc.collect()  # free the run's Unicorn engines before the next: each maps a buffer
        replies.write(json.dumps({"exit": status, "err": err.getvalue()[-2000:]}) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve()
