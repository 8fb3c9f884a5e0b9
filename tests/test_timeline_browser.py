"""`hcdbg timeline GUEST --html FILE` opened in a real headless browser (Debian's chromium,
which scripts/test installs as root): a screenshot is taken, the page's DOM after its script
ran has one lane per vCPU and one mark per call, and the browser logs no console message.

The expected counts come from elsewhere: vCPUs from the bundled guest's table, calls from
`hcdbg trace` of the same deterministic run (one line per call)."""
from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hcdbg import guests

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/test "
                                "installs Debian's chromium when run as root)")
WINDOW = (1400, 700)


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         f"--window-size={WINDOW[0]},{WINDOW[1]}", *args],
        capture_output=True, text=True, timeout=300, cwd=tmp)


class _Dom(HTMLParser):
    """Classes and attributes of the elements of a dumped DOM, and the detail panel's text."""

    def __init__(self) -> None:
        super().__init__()
        self.classes: list[str] = []
        self.body: dict[str, str | None] = {}
        self.detail = ""
        self._in_detail = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.classes.extend((found.get("class") or "").split())
        if tag == "body":
            self.body = found
        if found.get("id") == "detail" or self._in_detail:
            self._in_detail += 1

    def handle_endtag(self, tag: str) -> None:
        if self._in_detail:
            self._in_detail -= 1

    def handle_data(self, data: str) -> None:
        if self._in_detail:
            self.detail += data


def _console(stderr: str) -> list[str]:
    """The page's console messages in chromium's log (errors, uncaught exceptions, logs)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _dom(tmp: Path, page: Path, fragment: str = "") -> tuple[_Dom, list[str]]:
    done = _chromium(tmp, "--dump-dom", page.as_uri() + fragment)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = _Dom()
    dom.feed(done.stdout)
    return dom, _console(done.stderr)


def _calls_traced(guest: str) -> int:
    done = subprocess.run([sys.executable, "-m", "hcdbg", "trace", guest, "--deterministic"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    return sum(1 for line in done.stderr.splitlines() if line.startswith("[vcpu") and " = " in line)


def _png_size_and_colours(path: Path) -> tuple[tuple[int, int], int]:
    """(width, height) from the IHDR chunk, and how many byte values its pixel data has (a
    blank page is one colour: a handful)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat = b""
    at = 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"IDAT":
            idat += data[at + 8:at + 8 + length]
        at += 12 + length
    return (width, height), len(set(zlib.decompress(idat)))


@pytest.mark.parametrize("guest", ["cpu-race", "psci-tour"])
def test_page_in_a_browser(tmp_path: Path, guest: str) -> None:
    page = tmp_path / f"{guest}.html"
    made = subprocess.run([sys.executable, "-m", "hcdbg", "timeline", guest, "--html", str(page)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert made.returncode == 0, made.stderr
    bundled = guests.find(guest)
    assert bundled is not None
    calls = _calls_traced(guest)
    assert calls > 0

    dom, console = _dom(tmp_path, page)
    assert dom.body.get("data-ready") == "1", "the page's script did not finish"
    assert "data-errors" not in dom.body
    assert console == []
    assert dom.classes.count("lane") == bundled.smp
    assert dom.classes.count("mark") == calls
    assert "#1 on vCPU 0" in dom.detail and "registers in" in dom.detail  # the first call, shown

    shot = tmp_path / f"{guest}.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    size, colours = _png_size_and_colours(shot)
    assert size == WINDOW
    assert colours > 20, "the screenshot is blank"


def test_race_page_shows_one_success_and_two_already_on(tmp_path: Path) -> None:
    """cpu-race: CPUs 0, 1 and 2 all CPU_ON CPU 3; one SUCCESS, the others ALREADY_ON (-4,
    DEN0022D.b §5.6), the refused ones marked as refusals."""
    page = tmp_path / "race.html"
    subprocess.run([sys.executable, "-m", "hcdbg", "timeline", "cpu-race", "--html", str(page)],
                   check=True, capture_output=True, timeout=300, cwd=ROOT)
    dom, console = _dom(tmp_path, page)
    assert console == []
    text = page.read_text()
    assert text.count(">ON(3) ok<") == 1 and text.count(">ON(3) ALREADY_ON<") == 2
    assert dom.classes.count("failed") == 2


def test_the_checks_see_a_broken_page(tmp_path: Path) -> None:
    """The two ways the tests above see errors do see them: a page that logs and throws."""
    from hcdbg.render.timeline_html import WATCH
    bad = tmp_path / "bad.html"
    bad.write_text(f"<!DOCTYPE html><html><head><script>{WATCH}</script></head><body><p>x</p>"
                   "<script>console.error('boom'); null.f();</script></body></html>")
    dom, console = _dom(tmp_path, bad)
    assert dom.body.get("data-errors") == "1"
    assert any("boom" in line for line in console) and any("Uncaught" in line for line in console)


def test_a_call_number_in_the_address_opens_that_call(tmp_path: Path) -> None:
    """race.html#4: the side panel shows call 4, vCPU 1's CPU_ON of vCPU 3, decoded, with
    x0 = -4 (ALREADY_ON, DEN0022D.b §5.6) out and CPU_ON's explanation."""
    page = tmp_path / "race.html"
    subprocess.run([sys.executable, "-m", "hcdbg", "timeline", "cpu-race", "--html", str(page)],
                   check=True, capture_output=True, timeout=300, cwd=ROOT)
    dom, console = _dom(tmp_path, page, "#4")
    assert console == [] and "data-errors" not in dom.body
    assert "#4 on vCPU 1" in dom.detail
    assert "PSCI_CPU_ON_64(target_cpu=0x3" in dom.detail and "= -4 ALREADY_ON" in dom.detail
    assert "x0 0xfffffffffffffffc" in " ".join(dom.detail.split())
    assert "0xc4000003: PSCI_CPU_ON" in dom.detail  # explain's first line
