"""hcdbg as a user installs it: the wheel built from this checkout, installed (not editable)
into a fresh venv, runs the bundled default guest from anywhere (issue 12 item 8)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import GUESTS, ROOT
from hcdbg import __version__

#: Not part of a build: VCS data, build output, caches (a stale build/ would leak old modules).
_NOT_SOURCE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".hypothesis", ".mypy_cache")


def _run(argv: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd, env=env,
                       timeout=timeout)
    assert r.returncode == 0, f"{argv}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def test_the_wheel_bundles_the_guests_and_runs_the_default_one(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=_NOT_SOURCE)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", src], tmp_path)
    (wheel,) = (tmp_path / "dist").glob("hcdbg-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for guest in (GUESTS / "guests.json", *GUESTS.glob("*.elf"), GUESTS / "raw" / "boot-info.bin"):
        assert f"hcdbg/guest-files/{guest.relative_to(GUESTS)}" in names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    python, hcdbg = venv / "bin" / "python", venv / "bin" / "hcdbg"
    # The host's pip installs into the venv (no pip of its own to bootstrap); dependencies
    # come from the index as for any user.
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", wheel], tmp_path)

    where = _run([python, "-c", "import hcdbg.guests as g; print(g.__file__); print(g.GUESTS_DIR)"], tmp_path)
    module, guests_dir = (Path(line) for line in where.stdout.split())
    inside = venv.resolve()
    assert module.resolve().is_relative_to(inside) and guests_dir.is_relative_to(inside), where.stdout

    r = _run([hcdbg, "trace"], tmp_path)  # the default guest, psci-tour, from the venv's copy
    assert "PSCI_VERSION -> 0x0000000000010001" in r.stdout
    assert r.stderr.splitlines()[-1] == "+++ guest powered off (PSCI_SYSTEM_OFF)"
    assert _run([hcdbg, "--version"], tmp_path).stdout.startswith(f"hcdbg {__version__} (unicorn ")
    assert "psci-tour" in _run([python, "-m", "hcdbg", "guests"], tmp_path).stdout
