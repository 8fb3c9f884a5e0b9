"""Guest images (ELF, arm64 `Image`, raw, gzip-compressed, -bios firmware) and where the boot
puts them, the initrd and the device tree."""
from __future__ import annotations

import bisect
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hcdbg.errors import LoadError
from hcdbg.files import read_file
from hcdbg.machine.board import DEFAULT_LOAD_OFFSET, DEFAULT_RAM_SIZE, FLASH_BANK_SIZE, FLASH_BASE, RAM_BASE
from hcdbg.machine.fdt import build_dtb, fixup_dtb

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

# arm64 Linux boot protocol (Documentation/arch/arm64/booting.rst): header fields.
_IMAGE_MAGIC = b"ARM\x64"
_IMAGE_MAGIC_OFFSET = 0x38
_BOOTLOADER_MAX = 0x1000  # QEMU keeps its boot stub below this; a text_offset under it moves up 2 MiB
_TWO_MIB = 2 << 20
_PAGE = 0x1000
# QEMU hw/arm/boot.c arm_setup_direct_kernel_boot: the initrd goes half way into RAM, but no
# further than 128 MiB (and above the image).
_INITRD_MAX_OFFSET = 128 << 20
# RFC 1952 2.3.1: ID1 ID2 and CM = 8 (deflate), the only method there is.
_GZIP_MAGIC = b"\x1f\x8b\x08"


@dataclass(frozen=True)
class Segment:
    """Bytes to place at a physical address; `memsize` beyond the data is zero (.bss)."""

    address: int
    data: bytes
    memsize: int


@dataclass
class Symbols:
    """Name <-> address lookups for disassembly, `break SYMBOL` and `info symbol`."""

    by_name: dict[str, int] = field(default_factory=dict)
    _addrs: list[int] = field(default_factory=list)
    _names: list[str] = field(default_factory=list)

    def add(self, name: str, address: int) -> None:
        """Record one symbol."""
        self.by_name.setdefault(name, address)
        i = bisect.bisect_right(self._addrs, address)
        self._addrs.insert(i, address)
        self._names.insert(i, name)

    def lookup(self, name: str) -> int | None:
        """The address of `name`, or None."""
        return self.by_name.get(name)

    def describe(self, address: int) -> str | None:
        """`name` or `name+0x10` for the nearest symbol at or below `address` (within 64 KiB)."""
        i = bisect.bisect_right(self._addrs, address) - 1
        if i < 0 or address - self._addrs[i] > 0x10000:
            return None
        off = address - self._addrs[i]
        return self._names[i] if off == 0 else f"{self._names[i]}+{off:#x}"

    def __len__(self) -> int:
        return len(self.by_name)


@dataclass
class Image:
    """A loaded guest: what to place in memory and where to start."""

    path: Path
    kind: str  # "elf", "image" (arm64 Linux Image), "raw" or "bios"
    segments: list[Segment]
    entry: int
    symbols: Symbols
    #: Booted as QEMU boots a kernel (hw/arm/boot.c `is_linux`): the device tree goes above
    #: the image and initrd, never under them. Any arm64 Image or raw binary is; an ELF is not.
    is_linux: bool = False

    @property
    def low(self) -> int:
        return min(s.address for s in self.segments)

    @property
    def high(self) -> int:
        return max(s.address + s.memsize for s in self.segments)


#: The most of a guest file hcdbg reads whatever the RAM size: an ELF carries symbols and
#: debug information besides what it loads (a Linux vmlinux with them is several hundred MiB).
GUEST_FILE_MAX = 1 << 30


def load(path: Path, *, load_addr: int | None = None, entry: int | None = None,
         ram_size: int = DEFAULT_RAM_SIZE) -> Image:
    """Read a guest as QEMU 7.2's `-kernel FILE` does (hw/arm/boot.c: arm_load_elf, then
    load_aarch64_image): an ELF by its program headers; anything else, gunzipped first if it
    is gzip data (no bigger than `ram_size`), is an arm64 `Image` placed per its header or a
    raw binary at RAM + 0x80000, booted as a kernel. `load_addr` puts an Image or raw binary
    elsewhere. Raises LoadError."""
    data = read_file(path, "", max(ram_size, GUEST_FILE_MAX))
    if data[:4] == b"\x7fELF":
        image = _load_elf(path, data)
        if entry is not None:
            image.entry = entry
        return image
    if data[:3] == _GZIP_MAGIC:  # QEMU unpacks before looking for a header, so not an ELF
        data = _gunzip(path, data, ram_size)
    if len(data) >= 0x40 and data[_IMAGE_MAGIC_OFFSET:_IMAGE_MAGIC_OFFSET + 4] == _IMAGE_MAGIC:
        return _load_linux_image(path, data, load_addr, entry)
    address = RAM_BASE + DEFAULT_LOAD_OFFSET if load_addr is None else load_addr
    return Image(path, "raw", [Segment(address, data, len(data))],
                 address if entry is None else entry, Symbols(), is_linux=True)


def _gunzip(path: Path, data: bytes, limit: int) -> bytes:
    """A gzip file's contents (e.g. a distribution's `Image.gz`), refusing more than `limit`
    bytes: what does not fit in RAM cannot boot (QEMU stops at 256 MiB,
    LOAD_IMAGE_MAX_GUNZIP_BYTES). A corrupt file is an error here; QEMU loads it raw."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16+: expect a gzip header
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise LoadError(f"{path}: gzip data is corrupt ({exc})") from None
    if len(out) > limit:
        raise LoadError(f"{path}: decompresses to more than the {limit >> 20} MiB of RAM; give more --mem")
    if not inflater.eof:
        raise LoadError(f"{path}: gzip data is truncated")
    if not out:
        raise LoadError(f"{path}: empty once decompressed")
    return out


def load_firmware(path: Path) -> Image:
    """QEMU's `-bios FILE`: the file's bytes, whatever they are, at the start of the first
    flash bank, and the CPU starts at 0 (hw/arm/virt.c virt_firmware_init loads it into
    pflash0 with load_image_mr, which refuses a file larger than the bank)."""
    data = read_file(path, "--bios ", FLASH_BANK_SIZE,
                     f"the {FLASH_BANK_SIZE >> 20} MiB flash bank at 0 (QEMU's -bios slot)")
    return Image(path, "bios", [Segment(FLASH_BASE, data, len(data))], FLASH_BASE, Symbols())


def _load_elf(path: Path, data: bytes) -> Image:
    # pyelftools is imported here, not at the top: its import costs more than the rest of
    # hcdbg's start-up, and a kernel Image or firmware never needs it.
    import io

    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        if elf["e_machine"] != "EM_AARCH64":
            raise LoadError(f"{path}: ELF for {elf['e_machine']}, not AArch64 (EM_AARCH64)")
        if elf.elfclass != 64 or not elf.little_endian:
            raise LoadError(f"{path}: not a 64-bit little-endian ELF")
        segments = []
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            if seg["p_filesz"] > seg["p_memsz"]:  # System V gABI: "may not be larger"
                raise LoadError(f"{path}: segment at {seg['p_paddr']:#x} has more bytes in the file "
                                f"({seg['p_filesz']:#x}) than in memory ({seg['p_memsz']:#x})")
            if seg["p_offset"] + seg["p_filesz"] > len(data):
                raise LoadError(f"{path}: truncated: segment at {seg['p_paddr']:#x} needs bytes "
                                f"{seg['p_offset']:#x}-{seg['p_offset'] + seg['p_filesz']:#x}, the file "
                                f"has {len(data):#x}")
            body = seg.data()
            if len(body) != seg["p_filesz"]:
                raise LoadError(f"{path}: truncated: segment at {seg['p_paddr']:#x} "
                                f"needs {seg['p_filesz']} bytes, file has {len(body)}")
            segments.append(Segment(seg["p_paddr"], body, seg["p_memsz"]))
        if not segments:
            raise LoadError(f"{path}: ELF has no loadable segments")
        return Image(path, "elf", segments, elf["e_entry"], _symbols(elf))
    except ELFError as exc:
        raise LoadError(f"{path}: malformed or truncated ELF: {exc}") from None
    except (struct.error, ValueError, IndexError, OverflowError) as exc:
        raise LoadError(f"{path}: malformed or truncated ELF ({exc})") from None


def _symbols(elf: ELFFile) -> Symbols:
    """Function and data symbols of .symtab; an ELF whose section headers pyelftools cannot
    follow (U-Boot's uboot.elf has a .hash pointing at no symbol table) just has none."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.sections import SymbolTableSection

    symbols = Symbols()
    try:
        symtab = elf.get_section_by_name(".symtab")
        if isinstance(symtab, SymbolTableSection):
            for sym in symtab.iter_symbols():
                if sym.name and sym["st_info"]["type"] in ("STT_FUNC", "STT_NOTYPE", "STT_OBJECT") \
                        and sym["st_shndx"] != "SHN_UNDEF" and not sym.name.startswith("$"):
                    symbols.add(sym.name, sym["st_value"])
    except ELFError:
        return Symbols()
    return symbols


def _load_linux_image(path: Path, data: bytes, load_addr: int | None, entry: int | None) -> Image:
    """arm64 `Image`: honour text_offset and image_size as QEMU's load_aarch64_image does."""
    text_offset, image_size = struct.unpack_from("<QQ", data, 8)
    if load_addr is None:
        offset = DEFAULT_LOAD_OFFSET if image_size == 0 else text_offset
        if offset < _BOOTLOADER_MAX:
            offset += _TWO_MIB
        load_addr = RAM_BASE + offset
    memsize = max(len(data), image_size)
    return Image(path, "image", [Segment(load_addr, data, memsize)],
                 load_addr if entry is None else entry, Symbols(), is_linux=True)


def _align_up(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)


@dataclass(frozen=True)
class BootBlobs:
    """What the boot puts in RAM besides the image: the initrd (if any), then the device
    tree, whose address the first vCPU gets in x0."""

    dtb_address: int
    segments: tuple[Segment, ...]


def boot_blobs(image: Image, *, ram_size: int, mpidrs: tuple[int, ...], conduit: str,
               bootargs: str = "", initrd: bytes | None = None, dtb: bytes | None = None,
               idle_states: bool = False) -> BootBlobs:
    """Place the initrd and the device tree (built, or the user's `dtb` with QEMU's fixups)
    where QEMU 7.2's `virt` places them. Raises LoadError when they do not fit.

    Measured with QEMU 7.2 (a -initrd of 3 MB; x0 read at the boot stub through the gdbstub):
    with the Debian 6.1 Image, 128 MiB puts the initrd at 0x4400_0000 and the DTB at
    0x4440_0000, 512 MiB at 0x4800_0000 / 0x4840_0000; 64 MiB puts the DTB just above the
    image at 0x4240_0000. A raw binary (guests/raw/boot-info.bin, 440 bytes, at 0x4008_0000)
    boots the same way: x0 = 0x4400_0000 (128 MiB) or 0x4800_0000 (512 MiB), with a -initrd
    of 3 MB at those addresses x0 = 0x4440_0000 / 0x4840_0000, 64 MiB 0x4200_0000; -append
    moves nothing. Firmware in flash (-bios) gets the DTB at the bottom of RAM, as does an
    ELF with room below it (arm_setup_firmware_boot, the ELF branch of
    arm_setup_direct_kernel_boot). QEMU loads an initrd for a kernel only; hcdbg places it
    the same way for any guest in RAM, for guests that read /chosen."""
    ram_end = RAM_BASE + ram_size
    in_flash = image.high <= RAM_BASE
    start = _align_up(max(RAM_BASE + min(ram_size // 2, _INITRD_MAX_OFFSET), image.high), _PAGE)
    segments: list[Segment] = []
    span = None
    if initrd is not None:
        if in_flash:  # QEMU: "-initrd only allowed with -kernel option"
            raise LoadError("--initrd needs a kernel: firmware in flash (--bios) gets no initrd "
                            "(QEMU refuses -initrd without -kernel)")
        if start + len(initrd) > ram_end:
            raise LoadError(f"--initrd: {len(initrd)} bytes do not fit in RAM above the image "
                            f"({start:#x}-{ram_end:#x}); give more --mem")
        segments.append(Segment(start, initrd, len(initrd)))
        span = (start, start + len(initrd))
    if dtb is None:
        tree = build_dtb(ram_size=ram_size, mpidrs=mpidrs, conduit=conduit, bootargs=bootargs, initrd=span,
                         idle_states=idle_states)
    else:
        tree = fixup_dtb(dtb, ram_size=ram_size, bootargs=bootargs, initrd=span)
    if in_flash or (not image.is_linux and image.low - RAM_BASE >= len(tree)):
        address = RAM_BASE
    else:
        address = _align_up(span[1] if span else start, _TWO_MIB)
    if address + len(tree) > ram_end:
        raise LoadError(f"no room for the {len(tree)}-byte device tree at {address:#x} above the "
                        f"image{' and initrd' if span else ''}: give more --mem")
    segments.append(Segment(address, tree, len(tree)))
    return BootBlobs(address, tuple(segments))
