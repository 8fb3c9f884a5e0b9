"""A raw binary or a gzip-compressed Image boots as `qemu-system-aarch64 -kernel FILE` boots it.

The guest is guests/raw/boot-info.bin (source guests/raw/boot-info.S, built by
scripts/build-guests): 440 bytes with neither an ELF nor an arm64 Image header. It prints
x0 (the device tree's address), where it was loaded, and whether the tree is above it.

What QEMU does, measured with QEMU 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3), `-M virt
-cpu cortex-a57`, the UART on stdio, and through its gdbstub (-S; the boot stub's literals
at 0x4000_0018, then x0..x3 at a breakpoint on the entry point):
  -m 128M -kernel boot-info.bin                         image 0x4008_0000, x0 = 0x4400_0000
  -m 512M -kernel boot-info.bin                         image 0x4008_0000, x0 = 0x4800_0000
  -m 128M ... -initrd RD (3,000,000 B) -append TEXT     initrd 0x4400_0000, x0 = 0x4440_0000
  -m 512M ... -initrd RD -append TEXT                   initrd 0x4800_0000, x0 = 0x4840_0000
  -m 64M  -kernel boot-info.bin                         x0 = 0x4200_0000
  -kernel boot-info.bin.gz                              as boot-info.bin
  -kernel Image / Image.gz (boot-info behind a header with text_offset 0): image at
  0x4020_0000 (RAM + 2 MiB, booting.rst), x0 as for the raw binary
x1..x3 are 0 at the entry, which runs at EL1. The initrd addresses are QEMU's
/chosen/linux,initrd-start (`-M virt,dumpdtb=FILE`) and the first bytes of RD read there.
The tests below hold hcdbg to those numbers, and re-measure QEMU when it is installed.
"""
from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
from pathlib import Path

import libfdt
import pytest

from conftest import GUESTS, run_hcdbg
from hcdbg.machine import loader
from hcdbg.machine.machine import Machine, MachineConfig

BOOT_INFO = GUESTS / "raw" / "boot-info.bin"
INITRD_SIZE = 3_000_000
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None, reason="no qemu-system-aarch64")


def _transcript(x0: int, image: int = 0x4008_0000) -> list[str]:
    """boot-info's UART lines for a boot that gave it `x0` and loaded it at `image`."""
    end = image + BOOT_INFO.stat().st_size
    return [f"boot-info x0 {x0:#018x}",
            f"boot-info image {image:#018x}-{end:#018x}",
            f"boot-info x1-x3 {0:#018x}",
            f"boot-info fdt magic {0xEDFE0DD0:#018x}",  # FDT magic 0xd00dfeed, big-endian
            "boot-info fdt above image"]


def _arm64_image(body: bytes) -> bytes:
    """`body` behind an arm64 Image header (Documentation/arch/arm64/booting.rst): code0
    branches over the 64-byte header, text_offset 0, image_size set, magic "ARM\\x64"."""
    return struct.pack("<IIQQQQQQ4sI", 0x1400_0010, 0, 0, 0x40 + len(body), 0, 0, 0, 0, b"ARM\x64", 0) + body


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The guest as QEMU takes it: raw, raw.gz, Image, Image.gz; and a 3 MB initrd."""
    d = tmp_path_factory.mktemp("kernel-boot")
    raw = BOOT_INFO.read_bytes()
    contents = {"raw": raw, "raw.gz": gzip.compress(raw, mtime=0), "Image": _arm64_image(raw),
                "Image.gz": gzip.compress(_arm64_image(raw), mtime=0),
                "initrd": bytes(range(256)) * (INITRD_SIZE // 256) + bytes(INITRD_SIZE % 256)}
    for name, data in contents.items():
        (d / name).write_bytes(data)
    return {name: d / name for name in contents}


# (file, MiB, with a 3 MB -initrd and -append, x0, image address): QEMU's numbers above.
BOOTS = [
    ("raw", 128, False, 0x4400_0000, 0x4008_0000),
    ("raw", 512, False, 0x4800_0000, 0x4008_0000),
    ("raw", 128, True, 0x4440_0000, 0x4008_0000),
    ("raw", 512, True, 0x4840_0000, 0x4008_0000),
    ("raw", 64, False, 0x4200_0000, 0x4008_0000),
    ("raw.gz", 128, False, 0x4400_0000, 0x4008_0000),
    ("Image", 128, False, 0x4400_0000, 0x4020_0040),  # boot-info starts after the header
    ("Image.gz", 128, False, 0x4400_0000, 0x4020_0040),
    ("Image.gz", 512, True, 0x4840_0000, 0x4020_0040),
]
BOOT_IDS = [f"{f}-{m}M{'-initrd' if rd else ''}" for f, m, rd, _, _ in BOOTS]


def _boot_args(files: dict[str, Path], initrd: bool) -> list[str]:
    return ["-initrd", str(files["initrd"]), "-append", "console=ttyAMA0"] if initrd else []


@pytest.mark.parametrize("name, mem, initrd, x0, image", BOOTS, ids=BOOT_IDS)
def test_hcdbg_boots_it_where_qemu_does(files, name: str, mem: int, initrd: bool, x0: int, image: int) -> None:
    args = [a.replace("-initrd", "--initrd").replace("-append", "--append") for a in _boot_args(files, initrd)]
    r = run_hcdbg("trace", str(files[name]), "--mem", f"{mem}M", *args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == _transcript(x0, image)


@needs_qemu
@pytest.mark.parametrize("name, mem, initrd, x0, image", BOOTS, ids=BOOT_IDS)
def test_qemu_still_boots_it_so(files, name: str, mem: int, initrd: bool, x0: int, image: int) -> None:
    r = subprocess.run(["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", f"{mem}M",
                        "-display", "none", "-monitor", "none", "-serial", "stdio", "-nodefaults",
                        "-no-reboot", "-kernel", str(files[name]), *_boot_args(files, initrd)],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == _transcript(x0, image)


def _initrd_start(tree: bytes) -> int:
    fdt = libfdt.Fdt(tree)
    return int.from_bytes(bytes(fdt.getprop(fdt.path_offset("/chosen"), "linux,initrd-start")), "big")


@pytest.mark.parametrize("mem, start", [(128, 0x4400_0000), (512, 0x4800_0000)], ids=["128M", "512M"])
def test_the_initrd_goes_where_qemu_puts_it(files, mem: int, start: int) -> None:
    data = files["initrd"].read_bytes()
    machine = Machine(loader.load(BOOT_INFO), MachineConfig(ram_size=mem << 20, initrd=data))
    size = int.from_bytes(machine.read_memory(machine.dtb_address + 4, 4), "big")  # FDT totalsize
    assert _initrd_start(machine.read_memory(machine.dtb_address, size)) == start
    assert machine.read_memory(start, len(data)) == data


@needs_qemu
@pytest.mark.parametrize("mem, start", [(128, 0x4400_0000), (512, 0x4800_0000)], ids=["128M", "512M"])
def test_qemu_still_puts_the_initrd_so(files, tmp_path: Path, mem: int, start: int) -> None:
    dump = tmp_path / "qemu.dtb"
    subprocess.run(["qemu-system-aarch64", "-M", f"virt,dumpdtb={dump}", "-cpu", "cortex-a57", "-m", f"{mem}M",
                    "-display", "none", "-nodefaults", "-kernel", str(BOOT_INFO), "-initrd", str(files["initrd"])],
                   capture_output=True, timeout=60, check=True)
    assert _initrd_start(dump.read_bytes()) == start


# --- placement, without running anything ---------------------------------------------------

def test_a_raw_binary_loads_as_a_kernel_at_ram_plus_0x80000() -> None:
    image = loader.load(BOOT_INFO)
    assert (image.kind, image.is_linux, image.entry) == ("raw", True, 0x4008_0000)
    assert [(s.address, s.data) for s in image.segments] == [(0x4008_0000, BOOT_INFO.read_bytes())]


@pytest.mark.parametrize("mem, initrd, dtb_at", [
    (128, 0, 0x4400_0000), (512, 0, 0x4800_0000), (64, 0, 0x4200_0000),
    (128, INITRD_SIZE, 0x4440_0000), (512, INITRD_SIZE, 0x4840_0000),
])
def test_the_device_tree_goes_above_image_and_initrd(mem: int, initrd: int, dtb_at: int) -> None:
    blobs = loader.boot_blobs(loader.load(BOOT_INFO), ram_size=mem << 20, mpidrs=(0,), conduit="hvc",
                              bootargs="console=ttyAMA0", initrd=bytes(initrd) if initrd else None)
    assert blobs.dtb_address == dtb_at
    initrd_at = 0x4000_0000 + min((mem << 20) // 2, 128 << 20)  # half way into RAM, at most 128 MiB
    assert [s.address for s in blobs.segments] == ([initrd_at] if initrd else []) + [dtb_at]


def test_load_moves_a_raw_binary_and_the_tree_stays_above_it(tmp_path: Path) -> None:
    """--load 0x40080000 (QEMU's own address) used to put the tree at the bottom of RAM."""
    same = run_hcdbg("trace", str(BOOT_INFO), "--load", "0x40080000")
    assert same.returncode == 0 and same.stdout.splitlines() == _transcript(0x4400_0000)
    high = run_hcdbg("trace", str(BOOT_INFO), "--load", "0x45000000")
    assert high.returncode == 0 and high.stdout.splitlines() == _transcript(0x4500_0000 + 0x20_0000, 0x4500_0000)


# --- bad files: one line, exit status 2 ----------------------------------------------------

@pytest.mark.parametrize("make, args, needle", [
    (lambda raw: raw[:12] + bytes(b ^ 0xFF for b in raw[12:40]) + raw[40:], [], "corrupt"),
    (lambda raw: raw[: len(raw) // 2], [], "truncated"),
    (lambda raw: gzip.compress(bytes(40 << 20)), ["--mem", "32M"], "more than the 32 MiB of RAM"),
    (lambda raw: gzip.compress(b""), [], "empty once decompressed"),
], ids=["corrupt", "truncated", "bigger-than-ram", "empty"])
def test_a_bad_gzip_file_is_one_line_and_status_2(tmp_path: Path, make, args: list[str], needle: str) -> None:
    bad = tmp_path / "Image.gz"
    bad.write_bytes(make(gzip.compress(_arm64_image(BOOT_INFO.read_bytes()) * 64, mtime=0)))
    r = run_hcdbg("trace", str(bad), *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "Image.gz" in lines[0] and needle in lines[0], r.stderr
