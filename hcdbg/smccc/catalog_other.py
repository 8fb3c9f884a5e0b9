"""Catalog data: Arm architecture calls, TRNG, PV time, KVM's vendor-hyp calls, service queries.

IDs from Linux include/linux/arm-smccc.h and TF-A include/services/arm_arch_svc.h and
trng_svc.h. The Arm architecture calls are all in DEN0028 §7; sub-sections are not cited
because they were not re-read. TRNG calls are DEN0098 §2, PV time DEN0057A, the KVM
vendor-hyp calls are Linux's (Documentation/virt/kvm/arm/hypercalls.rst; no Arm spec).
KVM notes follow Linux arch/arm64/kvm/hypercalls.c and trng.c, QEMU notes QEMU 7.2.
"""
from __future__ import annotations

from hcdbg.smccc.function import Arg, Function

_QEMU_UNKNOWN = "-1 (QEMU answers every non-PSCI ID on its conduit with NOT_SUPPORTED)"
_KVM_DENIED = "-1, x1..x3 = 0 (not on KVM's allow-list)"
#: What KVM does with a workaround call (arch/arm64/kvm/hyp/*/hyp-entry.S el1_hvc_guest and
#: hypercalls.c): the HVC fast path answers before any filter; an SMC is not allowed.
_KVM_WORKAROUND = ("HVC: x0 = 0 (x1 = 0, the fast path's scratch register), whatever the "
                   "mitigation state; SMC: -1, x1..x3 = 0 (not on KVM's allow-list)")

_FEATURES_ARG = Arg("function_id", "the function ID asked about")


def _arch(fid: int, name: str, since: str, args: tuple[Arg, ...], result: str,
          returns: tuple[str, ...], summary: str, kvm: str = "") -> Function:
    return Function(fid, name, "smccc-arch", args, result, returns, since, "DEN0028 §7",
                    summary, kvm, _QEMU_UNKNOWN)


ARCH_FUNCTIONS: list[Function] = [
    _arch(0x8000_0000, "SMCCC_VERSION", "SMCCC 1.1", (),
          "x0 = version, major in [30:16], minor in [15:0] (1.1 = 0x10001); a callee "
          "without it answers -1, which means SMCCC 1.0", ("NOT_SUPPORTED",),
          "Asks which SMC Calling Convention the callee follows; tells the caller whether "
          "SMCCC_ARCH_FEATURES exists and which registers it may rely on.",
          kvm="0x10001 (SMCCC 1.1); TF-A answers 0x10005"),
    _arch(0x8000_0001, "SMCCC_ARCH_FEATURES", "SMCCC 1.1", (_FEATURES_ARG,),
          "x0 >= 0: implemented (WORKAROUND_1/3: 0 call it, 1 not needed on this PE)",
          ("NOT_SUPPORTED", "NOT_REQUIRED"),
          "Asks whether an Arm architecture call (or any SMCCC function) is implemented; "
          "how guests discover the Spectre workarounds. (TF-A compares all of x1.)",
          kvm="WA_1/WA_3: 0 mitigated, 1 unaffected, -1 vulnerable; WA_2: -2 not required, "
              "-1 otherwise; PV_TIME_FEATURES: 0 if enabled; anything else (SOC_ID too): -1; "
              "only w1 is compared"),
    _arch(0x8000_0002, "SMCCC_ARCH_SOC_ID", "SMCCC 1.2",
          (Arg("soc_id_type", "0 SoC version, 1 SoC revision (2 SoC name: SMC64 only)"),),
          "version: JEP-106 bank [30:24] and id [23:16], implementation-defined [15:0]; "
          "revision: [30:0]", ("NOT_SUPPORTED", "INVALID_PARAMETER"),
          "Identifies the SoC (JEP-106 manufacturer code plus SoC version/revision).",
          kvm=_KVM_DENIED),
    _arch(0xC000_0002, "SMCCC_ARCH_SOC_ID", "SMCCC 1.2 (name: newer spec)",
          (Arg("soc_id_type", "0 SoC version, 1 SoC revision, 2 SoC name"),),
          "as the SMC32 call; for type 2 the SoC name as a string in x1..x17",
          ("NOT_SUPPORTED", "INVALID_PARAMETER"),
          "SMC64 form of SMCCC_ARCH_SOC_ID, needed for the SoC name.", kvm=_KVM_DENIED),
    # SMC64 only: TF-A (arm_arch_svc_setup.c) answers only 0xC0000003, "return is 64 bit".
    _arch(0xC000_0003, "SMCCC_ARCH_FEATURE_AVAILABILITY", "SMCCC 1.5",
          (Arg("register", "which EL3 control register: its MRS/MSR encoding (TF-A: "
               "0x1E1100 SCR_EL3, 0x1E1140 CPTR_EL3, 0x1E1320 MDCR_EL3, 0x1EA500 MPAM3_EL3)"),),
          "x0 = 0 (SUCCESS), x1 = bitmask of the features that register enables for the "
          "caller's world; an unknown register: x0 = -4 (TF-A's SMC_INVALID_PARAM, not an "
          "SMCCC code), x1 = 0", ("SUCCESS", "NOT_SUPPORTED"),
          "Reports which architectural features EL3 has enabled for lower ELs.",
          kvm=_KVM_DENIED),
    _arch(0x8000_8000, "SMCCC_ARCH_WORKAROUND_1", "SMCCC 1.1", (), "no result defined", (),
          "Spectre variant 2 (CVE-2017-5715): invalidates the branch predictor in firmware.",
          kvm=_KVM_WORKAROUND),
    _arch(0x8000_7FFF, "SMCCC_ARCH_WORKAROUND_2", "SMCCC 1.1",
          (Arg("enable", "1 enable, 0 disable the SSBD mitigation"),), "no result defined", (),
          "Spectre variant 4 (CVE-2018-3639): turns Speculative Store Bypass Disable on/off.",
          kvm=_KVM_WORKAROUND),
    _arch(0x8000_3FFF, "SMCCC_ARCH_WORKAROUND_3", "SMCCC 1.1 (2022 update)", (),
          "no result defined", (),
          "Spectre-BHB: clears the branch history; also covers WORKAROUND_1.",
          kvm=_KVM_WORKAROUND),
    _arch(0x8000_0004, "SMCCC_ARCH_WORKAROUND_4", "TF-A v2.13 (SMCCC revision not checked)", (), "no result defined", (),
          "CVE-2024-7881 (prefetcher leaking privileged data): TF-A applies the fix at cold "
          "boot, so the call does nothing; ARCH_FEATURES(WORKAROUND_4) is 0 on an affected "
          "PE, -1 otherwise (TF-A arm_arch_svc_setup.c).", kvm=_KVM_DENIED),
]


def _trng(fid: int, name: str, args: tuple[Arg, ...], result: str, returns: tuple[str, ...],
          summary: str, kvm: str) -> Function:
    # TF-A answers every TRNG call with its own -4 when the platform has no TRNG UUID
    # (services/std_svc/trng/trng_main.c TRNG_E_NOT_IMPLEMENTED); DEN0098 has no -4.
    return Function(fid, name, "trng", args, result, (*returns, "NOT_IMPLEMENTED"), "TRNG 1.0",
                    "DEN0098 §2", summary + " (NOT_IMPLEMENTED, -4, is TF-A's own: its platform "
                    "has no TRNG)", kvm, _QEMU_UNKNOWN)


TRNG_FUNCTIONS: list[Function] = [
    _trng(0x8400_0050, "TRNG_VERSION", (), "x0 = 0x10000 (v1.0: major [30:16], minor [15:0])",
          ("NOT_SUPPORTED",), "Asks whether the TRNG interface exists and its version.",
          "0x10000"),
    _trng(0x8400_0051, "TRNG_FEATURES", (_FEATURES_ARG,),
          "x0 = 0 if implemented", ("SUCCESS", "NOT_SUPPORTED"),
          "Asks whether a TRNG function is implemented (TF-A compares w1).",
          "0 for the five TRNG IDs, else -1; all 64 bits of x1 are compared"),
    _trng(0x8400_0052, "TRNG_GET_UUID", (),
          "x0..x3 = UUID of the entropy source, as little-endian 32-bit words",
          ("NOT_SUPPORTED",), "Identifies the back-end entropy source.",
          "0x00E0210D, 0xEB118443, 0x44527080, 0x4C5A4E55 (0d21e000-4384-11eb-8070-5244554e5a4c)"),
    _trng(0x8400_0053, "TRNG_RND32", (Arg("bits", "N, the number of bits wanted: 1..96"),),
          "x0 = 0; entropy right-aligned: its lowest 32 bits in w3, the next 32 in w2, the "
          "highest 32 in w1",
          ("SUCCESS", "INVALID_PARAMETERS", "NO_ENTROPY"),
          "Returns up to 96 bits of conditioned entropy.",
          "N > 96 -> -2 with x1..x3 = 0; N = 0 succeeds with no bits"),
    _trng(0xC400_0053, "TRNG_RND64", (Arg("bits", "N, the number of bits wanted: 1..192"),),
          "x0 = 0; entropy right-aligned in x3 (bits 63:0), x2 (127:64), x1 (191:128)",
          ("SUCCESS", "INVALID_PARAMETERS", "NO_ENTROPY"),
          "Returns up to 192 bits of conditioned entropy; Linux's arm64 hwrng driver uses it.",
          "N > 192 -> -2 with x1..x3 = 0; N = 0 succeeds with no bits"),
]

PV_TIME_FUNCTIONS: list[Function] = [
    Function(0xC500_0020, "PV_TIME_FEATURES", "pv-time", (_FEATURES_ARG,),
             "x0 = 0 if the PV time function is implemented", ("SUCCESS", "NOT_SUPPORTED"),
             "PV time 1.0", "DEN0057A", "Asks whether stolen-time reporting is available.",
             "PV time features (0 if enabled, else -1)", _QEMU_UNKNOWN),
    Function(0xC500_0021, "PV_TIME_ST", "pv-time", (),
             "x0 = IPA of this vCPU's stolen-time structure", ("NOT_SUPPORTED",),
             "PV time 1.0", "DEN0057A",
             "Asks where the hypervisor publishes how long this vCPU was not running.",
             "the stolen-time IPA, or -1", _QEMU_UNKNOWN),
]

_KVM_DOC = "Linux KVM hypercalls (no Arm spec)"

VENDOR_HYP_FUNCTIONS: list[Function] = [
    Function(0x8600_FF01, "VENDOR_HYP_CALL_UID", "vendor-hyp", (),
             "x0..x3 = the hypervisor's UID as four 32-bit words", (),
             "SMCCC 1.0", "DEN0028 general service queries; KVM's UID in Linux",
             "Identifies the hypervisor; guests check it before using KVM's vendor calls.",
             "x0..x3 = 0xB66FB428, 0xE911C52E, 0x564BCAA9, 0x743A004D "
             "(28b46fb6-2ec5-11e9-a9ca-4b564d003a74)", _QEMU_UNKNOWN),
    Function(0x8600_0000, "VENDOR_HYP_KVM_FEATURES", "vendor-hyp", (),
             "x0 = bitmap of implemented KVM vendor calls (bit 0 this call, bit 1 PTP; under "
             "pKVM also 2 HYP_MEMINFO, 3 MEM_SHARE, 4 MEM_UNSHARE, 7 MMIO_GUARD)", (),
             "KVM (Linux 5.12 [R])", _KVM_DOC, "Lists which KVM-specific hypercalls exist.",
             "vendor_hyp_bmap, 0x3 by default", _QEMU_UNKNOWN),
    Function(0x8600_0001, "VENDOR_HYP_KVM_PTP", "vendor-hyp",
             (Arg("counter", "0 virtual counter, 1 physical counter"),),
             "x0/x1 = wall-clock time high/low 32 bits, x2/x3 = counter high/low 32 bits",
             ("NOT_SUPPORTED",), "KVM (Linux 5.12 [R])", _KVM_DOC,
             "Reads host wall-clock time and a counter at the same instant, for PTP in guests.",
             "as described; an unknown counter -> -1", _QEMU_UNKNOWN),
    *(Function(fid, name, "vendor-hyp", args, result, ("SUCCESS", "NOT_SUPPORTED", "INVALID_PARAMETER"),
               "pKVM (in Linux 6.12's arm-smccc.h)", _KVM_DOC, summary,
               "pKVM protected guests only; a normal KVM guest gets -1, x1..x3 = 0", _QEMU_UNKNOWN)
      for fid, name, args, result, summary in (
          (0xC600_0002, "VENDOR_HYP_KVM_HYP_MEMINFO", (),
           "x0 = the memory protection granule in bytes (or -1)",
           "Asks pKVM the granule MEM_SHARE/MEM_UNSHARE work in."),
          (0xC600_0003, "VENDOR_HYP_KVM_MEM_SHARE", (Arg("ipa", "first byte of one granule"),),
           "x0 = SUCCESS", "Shares one granule of a protected guest's memory with the host."),
          (0xC600_0004, "VENDOR_HYP_KVM_MEM_UNSHARE", (Arg("ipa", "first byte of one granule"),),
           "x0 = SUCCESS", "Takes back a granule shared with MEM_SHARE."),
          (0xC600_0007, "VENDOR_HYP_KVM_MMIO_GUARD", (Arg("ipa", "an MMIO page"),),
           "x0 = SUCCESS",
           "Tells pKVM a page is MMIO, so the host may emulate accesses to it."))),
]

#: The owners whose fast-call ranges carry the general service queries (fn 0xFF00 call
#: count, 0xFF01 call UID, 0xFF03 revision; TF-A include/services/std_svc.h): (OEN, service, name prefix).
_QUERY_OWNERS = (
    (1, "cpu", "CPU_SVC"),
    (2, "sip", "SIP_SVC"),
    (3, "oem", "OEM_SVC"),
    (4, "std-secure", "STD_SVC"),
    (5, "std-hyp", "STD_HYP_SVC"),
    (6, "vendor-hyp", "VENDOR_HYP"),
    (7, "vendor-el3", "VENDOR_EL3_SVC"),
)


def _queries() -> list[Function]:
    out = []
    spec = "DEN0028 general service queries [R: section]"
    for oen, service, prefix in _QUERY_OWNERS:
        base = 0x8000_0000 | oen << 24
        kvm = _KVM_DENIED
        out.append(Function(base | 0xFF00, f"{prefix}_CALL_COUNT", service, (),
                            "x0 = number of calls the service implements", (), "SMCCC 1.0",
                            spec, "Deprecated: how many calls this service has.", kvm,
                            _QEMU_UNKNOWN))
        if oen != 6:  # KVM's vendor-hyp UID is listed above, with its answer
            out.append(Function(base | 0xFF01, f"{prefix}_CALL_UID", service, (),
                                "x0..x3 = the service's UID as four 32-bit words", (),
                                "SMCCC 1.0", spec, "Identifies who implements this service.",
                                kvm, _QEMU_UNKNOWN))
        out.append(Function(base | 0xFF03, f"{prefix}_REVISION", service, (),
                            "x0 = major, x1 = minor revision of the service [R]", (),
                            "SMCCC 1.0", spec, "Asks the revision of this service.", kvm,
                            _QEMU_UNKNOWN))
    return out


QUERY_FUNCTIONS: list[Function] = _queries()
