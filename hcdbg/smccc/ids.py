"""Function IDs and return codes of SMCCC, PSCI, TRNG, PV time and KVM's vendor-hyp service.

Pure data (no logic beyond tiny helpers). Sources: Arm DEN0028 (SMCCC) §2, DEN0022 (PSCI)
§5, DEN0098 (TRNG) §2, DEN0057 (PV time), Linux include/linux/arm-smccc.h and
include/uapi/linux/psci.h, TF-A include/services/arm_arch_svc.h and trng_svc.h.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Literal

#: The instruction a call came through.
Conduit = Literal["hvc", "smc"]

HVC = "hvc"
SMC = "smc"
CONDUITS = (HVC, SMC)

MASK32 = 0xFFFF_FFFF
MASK64 = 0xFFFF_FFFF_FFFF_FFFF

#: Bits of a function ID (W0), DEN0028 §2.5 table 2-1; decode.decode() reads them all.
FID_FAST = 1 << 31  # fast (atomic) call; clear = yielding call
FID_SMC64 = 1 << 30  # SMC64/HVC64 calling convention
FID_SVE_HINT = 1 << 16  # SMCCC 1.3: a fast call's "no SVE state above 128 bits" hint
FID_OEN_SHIFT, FID_OEN_MASK = 24, 0x3F  # bits 29:24: owning entity number
FID_MBZ_SHIFT, FID_MBZ_MASK = 16, 0xFF  # bits 23:16: must be zero in a fast call (bit 16 aside)
FID_NUMBER_MASK = 0xFFFF  # bits 15:0: function number


def u64(value: int) -> int:
    """A signed return code as the 64-bit register value a guest reads (-1 -> 0xFFFF...FFFF)."""
    return value & MASK64


def s64(value: int) -> int:
    """A 64-bit register value read back as a signed number."""
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


def s32(value: int) -> int:
    """The low 32 bits of a register read as a signed number (SMC32 results)."""
    value &= MASK32
    return value - (1 << 32) if value >> 31 else value


class Oen(IntEnum):
    """Owning entity numbers, DEN0028 §2.5 table 2-1 (reference §1.2)."""

    ARCH = 0
    CPU = 1
    SIP = 2
    OEM = 3
    STD_SECURE = 4
    STD_HYP = 5
    VENDOR_HYP = 6
    VENDOR_EL3 = 7


# --- Arm architecture calls (DEN0028 §7; reference §1.6) -------------------------------
SMCCC_VERSION = 0x8000_0000
SMCCC_ARCH_FEATURES = 0x8000_0001
SMCCC_ARCH_SOC_ID = 0x8000_0002
SMCCC_ARCH_SOC_ID_64 = 0xC000_0002
SMCCC_ARCH_WORKAROUND_1 = 0x8000_8000
SMCCC_ARCH_WORKAROUND_2 = 0x8000_7FFF
SMCCC_ARCH_WORKAROUND_3 = 0x8000_3FFF
SMCCC_ARCH_FEATURE_AVAILABILITY_64 = 0xC000_0003  # SMC64 only (TF-A arm_arch_svc_setup.c)
SMCCC_ARCH_WORKAROUND_4 = 0x8000_0004  # CVE-2024-7881 (TF-A arm_arch_svc.h)

# --- PSCI (DEN0022 §5.1; reference §2.1). *_64 are the SMC64 IDs. ----------------------
PSCI_VERSION = 0x8400_0000
PSCI_CPU_SUSPEND = 0x8400_0001
PSCI_CPU_SUSPEND_64 = 0xC400_0001
PSCI_CPU_OFF = 0x8400_0002
PSCI_CPU_ON = 0x8400_0003
PSCI_CPU_ON_64 = 0xC400_0003
PSCI_AFFINITY_INFO = 0x8400_0004
PSCI_AFFINITY_INFO_64 = 0xC400_0004
PSCI_MIGRATE = 0x8400_0005
PSCI_MIGRATE_64 = 0xC400_0005
PSCI_MIGRATE_INFO_TYPE = 0x8400_0006
PSCI_MIGRATE_INFO_UP_CPU = 0x8400_0007
PSCI_MIGRATE_INFO_UP_CPU_64 = 0xC400_0007
PSCI_SYSTEM_OFF = 0x8400_0008
PSCI_SYSTEM_RESET = 0x8400_0009
PSCI_FEATURES = 0x8400_000A
PSCI_CPU_FREEZE = 0x8400_000B
PSCI_CPU_DEFAULT_SUSPEND = 0x8400_000C
PSCI_CPU_DEFAULT_SUSPEND_64 = 0xC400_000C
PSCI_NODE_HW_STATE = 0x8400_000D
PSCI_NODE_HW_STATE_64 = 0xC400_000D
PSCI_SYSTEM_SUSPEND = 0x8400_000E
PSCI_SYSTEM_SUSPEND_64 = 0xC400_000E
PSCI_SET_SUSPEND_MODE = 0x8400_000F
PSCI_STAT_RESIDENCY = 0x8400_0010
PSCI_STAT_RESIDENCY_64 = 0xC400_0010
PSCI_STAT_COUNT = 0x8400_0011
PSCI_STAT_COUNT_64 = 0xC400_0011
PSCI_SYSTEM_RESET2 = 0x8400_0012
PSCI_SYSTEM_RESET2_64 = 0xC400_0012
PSCI_MEM_PROTECT = 0x8400_0013
PSCI_MEM_PROTECT_CHECK_RANGE = 0x8400_0014
PSCI_MEM_PROTECT_CHECK_RANGE_64 = 0xC400_0014
PSCI_SYSTEM_OFF2 = 0x8400_0015
PSCI_SYSTEM_OFF2_64 = 0xC400_0015
PSCI_CLEAN_INV_MEMREGION_64 = 0xC400_0016
PSCI_CLEAN_INV_MEMREGION_ATTRIBUTES = 0x8400_0017

# PSCI 0.1 had implementation-defined IDs; these are the ones KVM and QEMU use (reference §2.1).
# They predate SMCCC: their OEN (21) and bits 23:16 mean nothing.
PSCI_0_1_CPU_SUSPEND = 0x95C1_BA5E
PSCI_0_1_CPU_OFF = 0x95C1_BA5F
PSCI_0_1_CPU_ON = 0x95C1_BA60
PSCI_0_1_MIGRATE = 0x95C1_BA61

# --- TRNG (DEN0098 §2; reference §3.1) ---------------------------------------------------
TRNG_VERSION = 0x8400_0050
TRNG_FEATURES = 0x8400_0051
TRNG_GET_UUID = 0x8400_0052
TRNG_RND32 = 0x8400_0053
TRNG_RND64 = 0xC400_0053

# --- Standard hypervisor service: PV time (DEN0057; reference §1.2) ---------------------
PV_TIME_FEATURES = 0xC500_0020
PV_TIME_ST = 0xC500_0021

# --- KVM vendor hypervisor service (Linux arm-smccc.h; reference §4.5) -------------------
VENDOR_HYP_KVM_FEATURES = 0x8600_0000
VENDOR_HYP_KVM_PTP = 0x8600_0001
VENDOR_HYP_CALL_UID = 0x8600_FF01
# pKVM's calls for protected guests (Linux 6.12 include/linux/arm-smccc.h ARM_SMCCC_KVM_FUNC_*).
VENDOR_HYP_KVM_HYP_MEMINFO = 0xC600_0002
VENDOR_HYP_KVM_MEM_SHARE = 0xC600_0003
VENDOR_HYP_KVM_MEM_UNSHARE = 0xC600_0004
VENDOR_HYP_KVM_MMIO_GUARD = 0xC600_0007


class SmcccRet(IntEnum):
    """Arm architecture service return codes, DEN0028 §7 (reference §1.5)."""

    SUCCESS = 0
    NOT_SUPPORTED = -1
    NOT_REQUIRED = -2
    INVALID_PARAMETER = -3


class PsciRet(IntEnum):
    """PSCI return codes, DEN0022 §5.2.2 table 6 (reference §2.2)."""

    SUCCESS = 0
    NOT_SUPPORTED = -1
    INVALID_PARAMETERS = -2
    DENIED = -3
    ALREADY_ON = -4
    ON_PENDING = -5
    INTERNAL_FAILURE = -6
    NOT_PRESENT = -7
    DISABLED = -8
    INVALID_ADDRESS = -9
    TIMEOUT = -10
    RATE_LIMITED = -11
    BUSY = -12


class TrngRet(IntEnum):
    """TRNG return codes, DEN0098 §2.1 (reference §3.1)."""

    SUCCESS = 0
    NOT_SUPPORTED = -1
    INVALID_PARAMETERS = -2  # DEN0098 and Linux kvm/trng.c spell it INVALID_PARAMETER
    NO_ENTROPY = -3
    NOT_IMPLEMENTED = -4  # TF-A only (trng_svc.h TRNG_E_NOT_IMPLEMENTED): no platform UUID


class AffinityState(IntEnum):
    """AFFINITY_INFO results, DEN0022D.b §5.7 (Linux psci.h PSCI_0_2_AFFINITY_LEVEL_*)."""

    ON = 0
    OFF = 1
    ON_PENDING = 2
