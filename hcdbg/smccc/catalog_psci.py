"""Catalog data: every PSCI function (0.2 to 1.3, both widths) and KVM/QEMU's PSCI 0.1 IDs.

IDs and "since" follow Linux include/uapi/linux/psci.h and TF-A include/lib/psci/psci.h.
Section numbers are those of DEN0022D.b §5.1.x (the function prototypes); CPU_ON §5.1.4
was corroborated (TF-A docs), the rest are recalled from the spec's layout, not re-read.
The PSCI 1.3 additions are cited to DEN0022F without a section. Return-code lists follow
DEN0022 as recalled (marked [R] where unsure). KVM notes follow Linux arch/arm64/kvm/psci.c
(6.13, PSCI 1.3); QEMU notes QEMU 7.2's target/arm/psci.c and arm-powerctl.c.
"""
from __future__ import annotations

from hcdbg.smccc.function import Arg, Function

_DOC = "DEN0022D.b"
_DOC13 = "DEN0022F (PSCI 1.3)"
_QEMU_UNKNOWN = "-1 (not emulated: QEMU answers every unlisted ID with NOT_SUPPORTED)"

_TARGET = Arg("target_cpu", "MPIDR affinity of the target: Aff3 [39:32], Aff2 [23:16], "
              "Aff1 [15:8], Aff0 [7:0]; every other bit zero (DEN0022D.b §5.1.4)")
#: An SMC32 call passes w1, so it cannot name a CPU with a non-zero Aff3: KVM narrows x1
#: (psci.c kvm_psci_narrow_to_32bit), TF-A casts it to uint32_t (psci_smc_handler).
_TARGET32 = Arg("target_cpu", "MPIDR affinity of the target: Aff2 [23:16], Aff1 [15:8], "
                "Aff0 [7:0], every other bit zero; an SMC32 call cannot name a CPU whose Aff3 "
                "is not 0 (use the SMC64 form)")
_ENTRY = Arg("entry_point_address", "where the CPU starts (physical address, MMU off)")
_CONTEXT = Arg("context_id", "handed back in x0 when the CPU starts at the entry point")
_POWER_STATE = Arg("power_state", "power state to enter: StateID, StateType (bit 16, or 30 "
                   "in the extended format) and PowerLevel (DEN0022D.b §5.4.2)")


def _psci(
    name: str,
    number: int,
    widths: str,
    since: str,
    section: str,
    args: tuple[Arg, ...],
    result: str,
    returns: tuple[str, ...],
    summary: str,
    kvm: str = "",
    qemu: str = _QEMU_UNKNOWN,
) -> list[Function]:
    """The entries of one PSCI function: `widths` is "32", "64" or "32+64"."""
    spec = section if section.startswith("DEN") else f"{_DOC} §{section}"
    out = []
    for width in widths.split("+"):
        base = 0xC400_0000 if width == "64" else 0x8400_0000
        narrow = tuple(_TARGET32 if a is _TARGET else a for a in args) if width == "32" else args
        out.append(Function(base | number, name, "psci", narrow, result, returns, since,
                            spec, summary, kvm, qemu))
    return out


PSCI_FUNCTIONS: list[Function] = [
    *_psci("PSCI_VERSION", 0x00, "32", "PSCI 0.2", "5.1.1", (),
           # Linux psci.h: PSCI_VERSION_MAJOR_MASK = ~PSCI_VERSION_MINOR_MASK, bits 31:16.
           "x0 = version, major in bits [31:16], minor in [15:0] (1.1 = 0x10001)", (),
           "Asks which PSCI version the firmware implements; the first call a PSCI client makes.",
           kvm="KVM_ARM_PSCI_LATEST unless the VMM chose one: 0x10003 (PSCI 1.3) from Linux "
               "6.13, 0x10001 (1.1) before (5.18-6.12); the VMM may choose 0.1 (no "
               "PSCI_VERSION), 0.2, 1.0, 1.1, and from 6.13 1.2 or 1.3",
           qemu="0x10001 (PSCI 1.1), always"),
    *_psci("PSCI_CPU_SUSPEND", 0x01, "32+64", "PSCI 0.2", "5.1.2",
           (_POWER_STATE, _ENTRY, _CONTEXT),
           "standby: x0 = SUCCESS; power-down: no return, the CPU wakes at entry_point_address "
           "with x0 = context_id",
           ("SUCCESS", "INVALID_PARAMETERS", "INVALID_ADDRESS", "DENIED"),
           "Suspends the calling CPU (and possibly its cluster) into a low-power state.",
           kvm="WFI, then x0 = 0",
           qemu="-2 if power_state & 0xFFFE0000, else x0 = 0 and WFI"),
    *_psci("PSCI_CPU_OFF", 0x02, "32", "PSCI 0.2", "5.1.3", (),
           "does not return on success", ("DENIED",),
           "Powers the calling CPU off; it comes back only through CPU_ON.",
           kvm="vCPU stopped", qemu="powers the CPU off, does not return"),
    *_psci("PSCI_CPU_ON", 0x03, "32+64", "PSCI 0.2", "5.1.4", (_TARGET, _ENTRY, _CONTEXT),
           "x0 = SUCCESS; the target starts at entry_point_address with x0 = context_id, at "
           "the highest non-secure EL, MMU off, DAIF masked",
           ("SUCCESS", "INVALID_PARAMETERS", "INVALID_ADDRESS", "ALREADY_ON", "ON_PENDING",
            "INTERNAL_FAILURE"),
           "Powers up another CPU and starts it at an entry point.",
           kvm="0; -2 for a target with bits outside the affinity fields or no such vCPU; "
               "-4 ALREADY_ON (PSCI 0.1: -2); never ON_PENDING",
           qemu="status of arm_set_cpu_on: 0, -2, -4; never -5 (arm-powerctl.c never sets "
                "ON_PENDING); starts at EL2 if the CPU has it"),
    *_psci("PSCI_AFFINITY_INFO", 0x04, "32+64", "PSCI 0.2", "5.1.5",
           (Arg("target_affinity", "MPIDR affinity of the node asked about"),
            Arg("lowest_affinity_level", "0..3: affinity levels below it are ignored")),
           "x0 = 0 ON, 1 OFF, 2 ON_PENDING", ("INVALID_PARAMETERS", "DISABLED"),
           "Asks whether a CPU (or any CPU of a cluster) is on, off or being turned on.",
           kvm="levels 0..3: 0 / 1, -2 if no vCPU matches",
           qemu="level 0: 0 / 1 (never 2), or -2 for an unknown MPIDR; levels >= 1: always 0 (ON)"),
    *_psci("PSCI_MIGRATE", 0x05, "32+64", "PSCI 0.2", "5.1.6", (_TARGET,),
           "x0 = SUCCESS",
           ("SUCCESS", "NOT_SUPPORTED", "INVALID_PARAMETERS", "DENIED", "INTERNAL_FAILURE",
            "NOT_PRESENT"),
           "Asks a uniprocessor Trusted OS to move to another CPU. [R: return list]",
           kvm="-1", qemu="-1"),
    *_psci("PSCI_MIGRATE_INFO_TYPE", 0x06, "32", "PSCI 0.2", "5.1.7", (),
           "x0 = 0 uniprocessor TOS, migratable; 1 uniprocessor TOS, not migratable; "
           "2 no TOS or it needs no migration", ("NOT_SUPPORTED",),
           "Asks whether a Trusted OS is present and whether it can migrate. (TF-A without a "
           "Trusted OS dispatcher does not implement it: -1, psci_common.c)",
           kvm="2", qemu="2"),
    *_psci("PSCI_MIGRATE_INFO_UP_CPU", 0x07, "32+64", "PSCI 0.2", "5.1.8", (),
           "x0 = MPIDR of the CPU the uniprocessor Trusted OS runs on", (),
           "Asks which CPU a uniprocessor Trusted OS lives on.", kvm="-1"),
    *_psci("PSCI_SYSTEM_OFF", 0x08, "32", "PSCI 0.2", "5.1.9", (), "never returns", (),
           "Shuts the whole system down.",
           kvm="KVM_EXIT_SYSTEM_EVENT SHUTDOWN, x0 preloaded with -6",
           qemu="shutdown request, then the CPU powers off"),
    *_psci("PSCI_SYSTEM_RESET", 0x09, "32", "PSCI 0.2", "5.1.10", (), "never returns", (),
           "Resets the whole system (a cold reset).",
           kvm="KVM_EXIT_SYSTEM_EVENT RESET, x0 preloaded with -6",
           qemu="reset request, then the CPU powers off"),
    *_psci("PSCI_FEATURES", 0x0A, "32", "PSCI 1.0", "5.1.14",
           (Arg("psci_func_id", "the function ID asked about (PSCI, or SMCCC_VERSION)"),),
           "x0 >= 0: implemented, with feature flags (CPU_SUSPEND: bit 1 extended power_state, "
           "bit 0 OS-initiated mode; SYSTEM_OFF2: supported types)", ("NOT_SUPPORTED",),
           "Asks whether a function is implemented, and with which options.",
           kvm="0 for VERSION, CPU_SUSPEND, CPU_OFF, CPU_ON, AFFINITY_INFO, MIGRATE_INFO_TYPE, "
               "SYSTEM_OFF, SYSTEM_RESET, PSCI_FEATURES, SMCCC_VERSION; SYSTEM_RESET2 if >= 1.1; "
               "SYSTEM_OFF2 -> 1 if >= 1.3; SYSTEM_SUSPEND if enabled; else -1",
           qemu="0 for VERSION, MIGRATE_INFO_TYPE, AFFINITY_INFO, SYSTEM_RESET, SYSTEM_OFF, "
                "CPU_ON, CPU_OFF, CPU_SUSPEND, PSCI_FEATURES; -1 otherwise (even SMCCC_VERSION)"),
    *_psci("PSCI_CPU_FREEZE", 0x0B, "32", "PSCI 1.0", "5.1.15", (),
           "returns only on failure", ("NOT_SUPPORTED", "DENIED"),
           "Puts the calling CPU into an implementation-defined low-power state that only "
           "CPU_ON can leave. [R: return list]", kvm="-1"),
    *_psci("PSCI_CPU_DEFAULT_SUSPEND", 0x0C, "32+64", "PSCI 1.0", "5.1.16", (_ENTRY, _CONTEXT),
           "as CPU_SUSPEND", ("SUCCESS", "INVALID_ADDRESS"),
           "CPU_SUSPEND into a firmware-chosen default state. [R: return list]"),
    *_psci("PSCI_NODE_HW_STATE", 0x0D, "32+64", "PSCI 1.0", "5.1.17",
           (_TARGET, Arg("power_level", "affinity level of the node asked about")),
           "x0 = 0 HW_ON, 1 HW_OFF, 2 HW_STANDBY", ("NOT_SUPPORTED", "INVALID_PARAMETERS"),
           "Asks the hardware power state of a node (for debugging firmware).", kvm="-1"),
    *_psci("PSCI_SYSTEM_SUSPEND", 0x0E, "32+64", "PSCI 1.0", "5.1.18", (_ENTRY, _CONTEXT),
           "no return on success: the caller resumes at entry_point_address with "
           "x0 = context_id", ("DENIED", "INVALID_ADDRESS", "NOT_SUPPORTED"),
           "Suspends the whole system to RAM; only the last running CPU may call it.",
           kvm="only with KVM_CAP_ARM_SYSTEM_SUSPEND: KVM_EXIT_SYSTEM_EVENT SUSPEND, "
               "registers untouched"),
    *_psci("PSCI_SET_SUSPEND_MODE", 0x0F, "32", "PSCI 1.0", "5.1.19",
           (Arg("mode", "0 platform-coordinated, 1 OS-initiated"),), "x0 = SUCCESS",
           ("SUCCESS", "NOT_SUPPORTED", "INVALID_PARAMETERS", "DENIED"),
           "Switches CPU_SUSPEND between platform-coordinated and OS-initiated mode. "
           "[R: return list]", kvm="-1"),
    *_psci("PSCI_STAT_RESIDENCY", 0x10, "32+64", "PSCI 1.0", "5.1.20",
           (_TARGET, Arg("power_state", "the state asked about, as for CPU_SUSPEND")),
           "x0 = time spent in that state, in microseconds", (),
           "Power-state residency statistics.", kvm="-1"),
    *_psci("PSCI_STAT_COUNT", 0x11, "32+64", "PSCI 1.0", "5.1.21",
           (_TARGET, Arg("power_state", "the state asked about, as for CPU_SUSPEND")),
           "x0 = number of times that state was entered", (),
           "Power-state usage statistics.", kvm="-1"),
    *_psci("PSCI_SYSTEM_RESET2", 0x12, "32+64", "PSCI 1.1", "5.1.11",
           (Arg("reset_type", "bit 31: 0 architectural (0 = SYSTEM_WARM_RESET), 1 vendor"),
            Arg("cookie", "passed to the reset, vendor-defined")),
           "never returns on success", ("NOT_SUPPORTED", "INVALID_PARAMETERS"),
           "Resets the system with a chosen reset type (warm reset, or a vendor one).",
           kvm="PSCI >= 1.1: arch types 1..0x7FFFFFFF -> -2; else KVM_EXIT_SYSTEM_EVENT RESET "
               "flagged PSCI_RESET2, x1/x2 kept for userspace"),
    *_psci("PSCI_MEM_PROTECT", 0x13, "32", "PSCI 1.1", "5.1.12",
           (Arg("enable", "1 to enable memory protection across resets, 0 to disable"),),
           "x0 = previous state (0 or 1)", ("NOT_SUPPORTED",),
           "Asks firmware to scrub memory on reset so secrets do not survive it.", kvm="-1"),
    *_psci("PSCI_MEM_PROTECT_CHECK_RANGE", 0x14, "32+64", "PSCI 1.1", "5.1.13",
           (Arg("base", "start of the range"), Arg("length", "length in bytes")),
           "x0 = SUCCESS if the range is protected", ("SUCCESS", "DENIED", "NOT_SUPPORTED"),
           "Checks that a range is covered by MEM_PROTECT. (fn 0x14: a 2022 Linux patch "
           "briefly used 0x13)", kvm="-1"),
    *_psci("PSCI_SYSTEM_OFF2", 0x15, "32+64", "PSCI 1.3", _DOC13,
           # Linux psci.h PSCI_1_3_OFF_TYPE_HIBERNATE_OFF = BIT(0); KVM psci.c accepts 0 too,
           # as DEN0022F.b requires ("arg && arg != PSCI_1_3_OFF_TYPE_HIBERNATE_OFF" -> -2).
           (Arg("type", "1 = HIBERNATE_OFF (bit 0; DEN0022F.b also accepts 0 for it); other "
                "values INVALID_PARAMETERS"),
            Arg("cookie", "must be 0")),
           "never returns", ("NOT_SUPPORTED", "INVALID_PARAMETERS"),
           "Powers the system off in a specific way; HIBERNATE_OFF tells firmware the OS "
           "saved its state to disk.",
           kvm="PSCI >= 1.3 (Linux 6.13): KVM_EXIT_SYSTEM_EVENT SHUTDOWN flagged PSCI_OFF2, "
               "x0 = -6 (INTERNAL_FAILURE, in case the VMM resumes), x1..x3 = 0"),
    *_psci("PSCI_CLEAN_INV_MEMREGION", 0x16, "64", "PSCI 1.3", _DOC13,
           (Arg("base", "start of the region [R]"), Arg("size", "size in bytes [R]"),
            Arg("flags", "bit 0 DRY_RUN")),
           "x0 = SUCCESS [R]",
           ("SUCCESS", "NOT_SUPPORTED", "INVALID_PARAMETERS", "DENIED", "TIMEOUT",
            "RATE_LIMITED", "BUSY"),
           "Cleans and invalidates a memory region in all caches of the system (e.g. after "
           "memory was hot-plugged). [R: argument layout and return list]"),
    *_psci("PSCI_CLEAN_INV_MEMREGION_ATTRIBUTES", 0x17, "32", "PSCI 1.3", _DOC13,
           (Arg("attribute", "0 op type, 1 CPU rendezvous, 2 latency, 3 rate limit, "
                "4 timeout"),),
           "x0 = the attribute's value [R]", ("NOT_SUPPORTED", "INVALID_PARAMETERS"),
           "Asks the properties of CLEAN_INV_MEMREGION on this platform."),
]

_V01 = "PSCI 0.1 (KVM/QEMU IDs)"
# DEN0022A is PSCI 0.2 (Linux kvm/psci.c: "PSCI v0.2 specification (ARM DEN 0022A)");
# PSCI 0.1's IDs were implementation-defined (Linux include/uapi/linux/psci.h).
_SPEC01 = "none: PSCI 0.1 IDs are implementation-defined (these are KVM's and QEMU's)"
_RET01 = ("SUCCESS", "NOT_SUPPORTED", "INVALID_PARAMETERS", "DENIED")


def _v01(name: str, fid: int, args: tuple[Arg, ...], result: str, summary: str,
         kvm: str) -> Function:
    return Function(fid, name, "psci", args, result, _RET01, _V01, _SPEC01, summary, kvm,
                    "handled like the 0.2 function", smccc=False)


PSCI_0_1_FUNCTIONS: list[Function] = [
    _v01("PSCI_0_1_CPU_SUSPEND", 0x95C1_BA5E, (_POWER_STATE, _ENTRY), "as CPU_SUSPEND",
         "PSCI 0.1 CPU_SUSPEND (no context_id).", "-1"),
    _v01("PSCI_0_1_CPU_OFF", 0x95C1_BA5F, (_POWER_STATE,), "does not return on success",
         "PSCI 0.1 CPU_OFF (takes a power_state).", "the vCPU stops (a PSCI 0.1 VM only)"),
    # KVM psci.c kvm_psci_vcpu_on "always update r0" from x3; QEMU psci.c context_id = param[3].
    _v01("PSCI_0_1_CPU_ON", 0x95C1_BA60, (_TARGET, _ENTRY, _CONTEXT), "x0 = SUCCESS",
         "PSCI 0.1 CPU_ON; the target starts with x0 = x3, as with the 0.2 call.",
         "a PSCI 0.1 VM only: 0; INVALID_PARAMETERS (not ALREADY_ON) for a running target"),
    _v01("PSCI_0_1_MIGRATE", 0x95C1_BA61, (_TARGET,), "x0 = SUCCESS",
         "PSCI 0.1 MIGRATE.", "-1"),
]
