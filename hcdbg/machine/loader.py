"""Guest images: ELF files (segments, entry, symbols) and raw/arm64 `Image` files."""
from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from hcdbg.errors import LoadError
from hcdbg.machine.board import DEFAULT_LOAD_OFFSET, RAM_BASE

# arm64 Linux boot protocol (Documentation/arch/arm64/booting.rst): header fields.
_IMAGE_MAGIC = b"ARM\x64"
_IMAGE_MAGIC_OFFSET = 0x38
_BOOTLOADER_MAX = 0x1000  # QEMU keeps its boot stub below this; a text_offset under it moves up 2 MiB
_TWO_MIB = 2 << 20


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
    kind: str  # "elf", "image" (arm64 Linux Image) or "raw"
    segments: list[Segment]
    entry: int
    symbols: Symbols
    is_linux: bool = False

    @property
    def low(self) -> int:
        return min(s.address for s in self.segments)

    @property
    def high(self) -> int:
        return max(s.address + s.memsize for s in self.segments)


def load(path: Path, *, load_addr: int | None = None, entry: int | None = None) -> Image:
    """Read an ELF, an arm64 `Image` or (with `load_addr`) a raw binary. Raises LoadError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LoadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LoadError(f"{path}: is a directory, not a guest image") from None
    except OSError as exc:
        raise LoadError(f"{path}: cannot read: {exc.strerror}") from None
    if not data:
        raise LoadError(f"{path}: empty file")
    if data[:4] == b"\x7fELF":
        image = _load_elf(path, data)
        if entry is not None:
            image.entry = entry
        return image
    if len(data) >= 0x40 and data[_IMAGE_MAGIC_OFFSET:_IMAGE_MAGIC_OFFSET + 4] == _IMAGE_MAGIC:
        return _load_linux_image(path, data, load_addr, entry)
    if load_addr is None:
        raise LoadError(f"{path}: not an ELF file or arm64 Image; for a raw binary give --load ADDR")
    return Image(path, "raw", [Segment(load_addr, data, len(data))],
                 load_addr if entry is None else entry, Symbols())


def _load_elf(path: Path, data: bytes) -> Image:
    import io

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
    except (struct.error, ValueError, IndexError) as exc:
        raise LoadError(f"{path}: malformed or truncated ELF ({exc})") from None


def _symbols(elf: ELFFile) -> Symbols:
    """Function and data symbols of .symtab; an ELF whose section headers pyelftools cannot
    follow (U-Boot's uboot.elf has a .hash pointing at no symbol table) just has none."""
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
