"""`hcdbg --version`, and the command forms around it still parsing."""
from __future__ import annotations

import importlib.metadata
import re

from conftest import run_hcdbg


def test_version_names_hcdbg_unicorn_and_capstone() -> None:
    r = run_hcdbg("--version")
    assert (r.returncode, r.stderr) == (0, "")
    versions = {name: importlib.metadata.version(name) for name in ("hcdbg", "unicorn", "capstone")}
    assert r.stdout == "hcdbg {hcdbg} (unicorn {unicorn}, capstone {capstone})\n".format(**versions)
    assert re.fullmatch(r"hcdbg \d+\.\d+\.\d+ \(unicorn \S+, capstone \S+\)\n", r.stdout)


def test_the_repl_and_trace_forms_still_parse() -> None:
    r = run_hcdbg("hello", "--batch", "-ex", "continue")
    assert r.returncode == 0 and "Hello from hello" in r.stdout, r.stderr
    r = run_hcdbg("trace", "hello")
    assert r.returncode == 0 and "Hello from hello" in r.stdout, r.stderr
