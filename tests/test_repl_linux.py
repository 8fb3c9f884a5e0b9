"""Debian's arm64 Linux kernel at the REPL, in a real pty: forward PSCI, stop at each call of
the kernel's firmware probe, answer PSCI_VERSION by hand and watch the kernel believe it."""
from __future__ import annotations

from pathlib import Path

import pexpect
import pytest

from test_real_guests import LINUX, needs_linux
from test_repl_pty import Repl


@pytest.fixture
def linux_repl(tmp_path: Path):
    r = Repl(tmp_path, str(LINUX), "--mem", "512M", "--append", "earlycon=pl011,0x9000000",
             "--max-insns", "100000000", "--no-color")
    yield r
    r.close()


@needs_linux
def test_answer_linuxs_psci_version_by_hand(linux_repl: Repl) -> None:
    r = linux_repl
    banner = r.prompt()
    assert ", image), entry 0x40200000" in banner  # placed per its Image header, as QEMU does
    r.cmd("filter add psci forward")
    text = r.cmd("c")
    assert "[ forwarded call: vCPU 0 ]" in text and "PSCI_VERSION" in text
    assert "psci: probing for conduit method from DT." in text  # the kernel's console so far
    assert "built-in answer: 0x10001 (1.1)" in text
    assert "answer (reply) for PSCI_VERSION on vCPU 0: 0x10000 (1.0)" in r.cmd("reply 0x10000")
    text = r.cmd("c")
    assert "psci: PSCIv1.0 detected in firmware." in text  # the answer given by hand
    assert "PSCI_MIGRATE_INFO_TYPE" in text
    # The rest of psci_probe (drivers/firmware/psci/psci.c): each call stops; the built-in
    # handlers answer it. SMCCC_VERSION and TRNG_VERSION are not PSCI: they do not stop.
    for feature in ("0x80000000", "0xc4000001", "0xc400000e", "0xc4000012"):
        assert "answer (handle)" in r.cmd("h")
        text = r.cmd("c")
        assert "PSCI_FEATURES" in text and feature in text, text[-2000:]
    assert "answer (handle)" in r.cmd("h")
    text = r.cmd("c")  # on past time_init (the board has a timer now), then --max-insns
    assert "arch_timer: cp15 timer(s) running at 62.50MHz (virt)." in text and "instruction limit" in text
    assert "psci: SMC Calling Convention v1.1" in r.transcript  # SMCCC_VERSION went by unstopped
    calls = r.cmd("calls psci")
    assert "PSCI_VERSION() = 0x10000 (1.0)  <reply>" in calls
    assert "(6 of " in calls  # the six PSCI calls of the probe, the first answered by hand
    assert "Traceback" not in r.transcript
    r.child.send("\x04")  # Ctrl-D; the guest could go on, so it asks
    r._until("(y or n)")
    r.child.sendline("y")
    r.child.expect(pexpect.EOF)

