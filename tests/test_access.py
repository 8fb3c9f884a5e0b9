"""machine/access.py: the virtual address an A64 load/store accesses, which FAR_EL1 holds
when that access aborts with the MMU on. Words from GNU as (binutils 2.40,
-march=armv8.5-a+memtag+rcpc); expected addresses from each instruction's pseudocode in
the Arm ARM (DDI 0487, C6.2)."""
from __future__ import annotations

import pytest

from hcdbg.machine.access import access_base, virtual_address

X1, X2, SP, PC = 0x1000_0000, (1 << 64) - 2, 0x4000_8000, 0x4008_0000
M64 = (1 << 64) - 1


def reg(n: int, sp: bool) -> int:
    return {1: X1, 2: X2}.get(n, SP if sp and n == 31 else 0)


@pytest.mark.parametrize("word, text, address", [
    (0xF9400020, "ldr x0, [x1]", X1),
    (0xF97FFC20, "ldr x0, [x1, #32760]", X1 + 32760),
    (0x3DFFFC20, "ldr q0, [x1, #65520]", X1 + 65520),
    (0x397FFC20, "ldrb w0, [x1, #4095]", X1 + 4095),
    (0xF8500020, "ldur x0, [x1, #-256]", X1 - 256),
    (0xF85F8420, "ldr x0, [x1], #-8", X1),  # post-index: the base itself
    (0xF85F0C20, "ldr x0, [x1, #-16]!", X1 - 16),
    (0xB84FF820, "ldtr w0, [x1, #255]", X1 + 255),
    (0xF8627820, "ldr x0, [x1, x2, lsl #3]", X1 - 16),
    (0xB862D820, "ldr w0, [x1, w2, sxtw #2]", X1 - 8),
    (0x3CE27820, "ldr q0, [x1, x2, lsl #4]", X1 - 32),
    (0x38624820, "ldrb w0, [x1, w2, uxtw]", X1 + 0xFFFF_FFFE),
    (0xA96007E0, "ldp x0, x1, [sp, #-512]", SP - 512),
    (0xADDF8420, "ldp q0, q1, [x1, #1008]!", X1 + 1008),
    (0x28B80420, "stp w0, w1, [x1], #-64", X1),
    (0x697F0420, "ldpsw x0, x1, [x1, #-8]", X1 - 8),
    (0x6C408420, "ldnp d0, d1, [x1, #8]", X1 + 8),
    (0x693F8420, "stgp x0, x1, [x1, #-16]", X1 - 16),
    (0xC85F7C20, "ldxr x0, [x1]", X1),
    (0x88DFFC20, "ldar w0, [x1]", X1),
    (0x4CDF0020, "ld4 {v0.16b-v3.16b}, [x1], #64", X1),
    (0xF8200022, "ldadd x0, x2, [x1]", X1),
    (0xD95FD020, "ldapur x0, [x1, #-3]", X1 - 3),
    (0xF90007E0, "str x0, [sp, #8]", SP + 8),
    (0x58000800, "ldr x0, .+0x100", PC + 0x100),
    (0x58FFF800, "ldr x0, .-0x100", PC - 0x100),
])
def test_access_base(word: int, text: str, address: int) -> None:
    assert access_base(word, reg, PC) == address & M64, text


@pytest.mark.parametrize("word, text", [
    (0xF8200420, "ldraa x0, [x1]"),  # pointer authentication: not decoded
    (0xD9200820, "stg x0, [x1]"),  # memory tagging: not decoded
    (0xD4000002, "hvc #0"),  # not a load or store
    (0x8B020020, "add x0, x1, x2"),
])
def test_what_is_not_decoded_says_so(word: int, text: str) -> None:
    assert access_base(word, reg, PC) is None, text


def test_virtual_address_keeps_the_page_offset() -> None:
    # VA 0xc9001000 maps PA 0x09001000 (guests/exceptions.S): the base is the fault.
    assert virtual_address(0x0900_1000, 0xC900_1000) == 0xC900_1000
    # An ldp whose second register's page faults: base 0xffc in the page before.
    assert virtual_address(0x0900_1000, 0xC900_0FFC) == 0xC900_1000
    assert virtual_address(0x0900_1004, 0xC900_0FFC) == 0xC900_1004
