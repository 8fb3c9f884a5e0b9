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
# hcdbg/files.py reads the files users name, bounded (stdlib only).
# hcdbg/stop.py (a stop and its view) and hcdbg/code.py (code words) are pure data that the
# machine and session make and render draws.
ALLOWED_HCDBG = {
    "smccc": {"smccc"},
    "values": {"smccc", "errors"},
    "code": {"errors"},
    "stop": {"smccc", "code"},
    "policy": {"smccc", "policy", "errors", "handlers", "values"},
    "handlers": {"smccc", "handlers", "errors"},
    "files": {"errors"},
    "machine": {"smccc", "machine", "errors", "stop", "files"},
    "session": {"smccc", "handlers", "machine", "policy", "session", "errors", "values", "stop",
                "code", "files"},
}
UI_MODULES = {"prompt_toolkit", "pygments", "capstone"}
PURE = {"smccc", "values", "code", "stop", "policy", "handlers"}
#: What render draws from: data only, never the session or the machine (issue 12.3), so
#: it is tested without Unicorn and draws a saved stop.
RENDER_ALLOWED = {"smccc", "render", "errors", "stop", "code"}
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


def test_render_imports_no_session_or_machine() -> None:
    problems = []
    for path in _modules("render"):
        for name in _imports(path):
            top, _, rest = name.partition(".")
            if top == "hcdbg" and rest.split(".")[0] not in RENDER_ALLOWED or top in (
                    "unicorn", "prompt_toolkit"):
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert problems == []


def test_drawing_a_stop_loads_no_unicorn() -> None:
    code = ("import sys, hcdbg.render.context, hcdbg.render.call_lines;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'unicorn'"
            " or m.startswith(('hcdbg.session', 'hcdbg.machine'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


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


def test_machine_imports_no_handlers() -> None:
    """The call, answer and effect types are smccc's: machine -> smccc, not -> handlers."""
    found = [f"{path.relative_to(ROOT)} imports {name}" for path in (PKG / "machine").glob("*.py")
             for name in _imports(path) if name.split(".")[:2] == ["hcdbg", "handlers"]]
    assert found == []


#: How sessions and scripts once spelled who answered a call (issue 12): code compares
#: AnswerSource values, not these strings.
#: ("rule" alone also names answer rules, a header key and a completion kind: only a
#: prefix test on it is the old way of telling a rule's answer.)
_SOURCE_WORDS = {"handle", "deny", "reply", "built-in", "user"}
_SOURCE_PREFIXES = ("rule", "replay")


def _is_source_word(node: ast.AST, prefix: bool = False) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        word = node.value
        return (word in _SOURCE_WORDS or word.startswith(("rule ", "replay "))
                or prefix and word.startswith(_SOURCE_PREFIXES))
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_source_word(e, prefix) for e in node.elts)
    return False


def _is_type_name(node: ast.AST) -> bool:
    """`type(x).__name__` or `x.__class__.__name__`."""
    return (isinstance(node, ast.Attribute) and node.attr == "__name__"
            and (isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                 and node.value.func.id == "type"
                 or isinstance(node.value, ast.Attribute) and node.value.attr == "__class__"))


def _string_matches(tree: ast.AST) -> list[tuple[int, str]]:
    """Comparisons against answer-source spellings, prefix tests on them, and any use of a
    class name as a value to compare or look up (effects are objects, not names)."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_source_word(side) for side in sides):
                out.append((node.lineno, "compares with an answer-source string"))
            if any(_is_type_name(side) for side in sides):
                out.append((node.lineno, "compares a class name"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("startswith", "endswith", "removeprefix") and any(
                    _is_source_word(a, prefix=True) for a in node.args):
                out.append((node.lineno, f"{node.func.attr} on an answer-source string"))
        elif isinstance(node, ast.Subscript) and _is_type_name(node.slice):
            out.append((node.lineno, "looks a class name up"))
    return out


def test_no_string_matching_on_answer_sources_or_effect_names() -> None:
    """Who answered is an AnswerSource and an effect an object (issue 12.1): no code tells
    them apart by spelling (a `calls handle` once missed replayed calls that way)."""
    problems = [f"{path.relative_to(ROOT)}:{line}: {what}"
                for path in sorted(PKG.rglob("*.py"))
                if path.name != "filter.py"  # the filter's own actions: handle, deny, forward
                for line, what in _string_matches(ast.parse(path.read_text()))]
    assert problems == []


def test_the_string_check_finds_the_old_spellings() -> None:
    old = ('r.source.startswith("rule")\nif p.source == "handle": pass\n'
           'x = low in ("handle", "deny", "reply")\nname = type(e).__name__ == "CpuOn"\n'
           'text = _NO_RETURN[type(effect).__name__]\n')
    assert len(_string_matches(ast.parse(old))) == 5


def test_the_repl_runs_a_session_the_command_line_built() -> None:
    # cli sits on top: it builds the session and hands it to the REPL, never the reverse.
    code = ("import sys, hcdbg.repl.app, hcdbg.repl.commands.inspect;"
            "print(sorted(m for m in sys.modules if m.startswith('hcdbg.cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
