"""The engine is a library with no UI: imports point one way (style.md "A layout")."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "hcdbg"

# package -> third-party/top-level modules it may import (besides the stdlib and the
# hcdbg packages allowed below).
# hcdbg/values.py reads what users type; pure, so policy and session may use it too.
ALLOWED_HCDBG = {
    "smccc": {"smccc"},
    "values": {"smccc", "errors"},
    "policy": {"smccc", "policy", "errors", "handlers", "values"},
    "handlers": {"smccc", "handlers", "errors"},
    "machine": {"smccc", "handlers", "machine", "errors"},
    "session": {"smccc", "handlers", "machine", "policy", "session", "errors", "values"},
}
UI_MODULES = {"prompt_toolkit", "pygments", "capstone"}
PURE = {"smccc", "values", "policy", "handlers"}
THIRD_PARTY = {"unicorn", "capstone", "prompt_toolkit", "pygments", "elftools", "libfdt"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    """The files of package `package`, or the one module hcdbg/`package`.py."""
    single = PKG / f"{package}.py"
    return [single] if single.exists() else sorted((PKG / package).glob("*.py"))


def test_engine_packages_import_only_downward() -> None:
    problems = []
    for package, allowed in ALLOWED_HCDBG.items():
        for path in _modules(package):
            for name in _imports(path):
                top = name.split(".")[0]
                if top == "hcdbg":
                    sub = name.split(".")[1] if "." in name else ""
                    if sub and sub not in allowed:
                        problems.append(f"{path.relative_to(ROOT)} imports {name}")
                elif top in UI_MODULES:
                    problems.append(f"{path.relative_to(ROOT)} imports UI module {name}")
                elif package in PURE and top in THIRD_PARTY:
                    problems.append(f"{path.relative_to(ROOT)} (pure) imports {name}")
    assert problems == []


def test_smccc_raises_no_user_input_errors() -> None:
    """smccc only decodes and looks up (None for unknown names); reading and rejecting
    what a user typed is hcdbg/values.py's job (issue 12.6)."""
    problems = []
    for path in _modules("smccc"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "hcdbg.errors":
                problems.append(f"{path.relative_to(ROOT)} imports from hcdbg.errors")
            elif isinstance(node, ast.Name) and node.id in ("UsageError", "HcdbgError"):
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.id}")
            elif isinstance(node, ast.Attribute) and node.attr in ("UsageError", "HcdbgError"):
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.attr}")
    assert problems == []


def test_running_a_guest_loads_no_prompt_toolkit() -> None:
    code = ("import sys, hcdbg.session.session, hcdbg.cli.trace;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('prompt_toolkit','pygments')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
