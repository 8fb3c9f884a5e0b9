"""PSCI (Arm DEN0022) handlers: vCPU power, suspend, system off/reset/suspend, discovery.

Profiles differ: `kvm` is Linux arch/arm64/kvm/psci.c, `qemu` is QEMU 7.2's target/arm/psci.c
and arm-powerctl.c, `tf-a` is TF-A's lib/psci without a Trusted OS. Section numbers are those
of DEN0022D.b's function descriptions: 5.4 CPU_SUSPEND, 5.5 CPU_OFF (TF-A docs), 5.6 CPU_ON
and 5.19 SYSTEM_SUSPEND (Linux Documentation/virt/kvm/api.rst); the others follow the
prototype order (5.3 PSCI_VERSION ... 5.16 PSCI_FEATURES) and were not re-checked.
"""
from __future__ import annotations

from hcdbg.handlers.base import (Answer, Call, CpuOff, CpuOn, CpuSuspend, Platform, PowerState,
                                 SystemOff, SystemReset, SystemSuspend)
from hcdbg.handlers.config import KVM, QEMU, TFA
from hcdbg.handlers.env import Env
from hcdbg.smccc.ids import (FID_SMC64, MASK32, PSCI_SYSTEM_OFF2, PSCI_SYSTEM_OFF2_64,
                             AffinityState, PsciRet, u64)

#: The MPIDR affinity fields a target may name: Aff3 [39:32], Aff2..Aff0 [23:0]
#: (DEN0022 §5.6 CPU_ON; Linux MPIDR_HWID_BITMASK).
MPIDR_AFFINITY = 0xFF_00FF_FFFF
#: KVM's AFFINITY_INFO masks per lowest_affinity_level 0..3 (kvm/psci.c psci_affinity_mask).
AFFINITY_LEVEL_MASKS = (0xFF_00FF_FFFF, 0xFF_00FF_FF00, 0xFF_00FF_0000, 0xFF_0000_0000)
#: CPU_SUSPEND power_state, original format (DEN0022 §5.4.2; Linux psci.h PSCI_0_2_POWER_STATE_*).
POWER_DOWN = 1 << 16  # StateType: 0 standby, 1 power-down
TFA_POWER_STATE_MBZ = 0xFCFE_0000  # TF-A's must-be-zero bits of the original format
QEMU_POWER_STATE_REJECT = 0xFFFE_0000  # QEMU: any power level or StateType above bit 16
#: SYSTEM_RESET2 reset_type bit 31: vendor-defined; arch type 0 = SYSTEM_WARM_RESET (§5.13).
RESET2_VENDOR = 0x8000_0000
#: SYSTEM_OFF2 type HIBERNATE_OFF = BIT(0); DEN0022F.b also requires accepting 0 for it.
HIBERNATE_OFF = 1

#: PSCI_FEATURES answers other than 0 for implemented functions (DEN0022 §5.16):
#: CPU_SUSPEND reports 0 (original power_state format, no OS-initiated mode) in all three;
#: SYSTEM_OFF2 reports its supported off types, bit 0 = HIBERNATE_OFF (KVM returns 1).
FEATURE_FLAGS = {PSCI_SYSTEM_OFF2: HIBERNATE_OFF, PSCI_SYSTEM_OFF2_64: HIBERNATE_OFF}

_ON, _OFF, _PENDING = PowerState.ON, PowerState.OFF, PowerState.ON_PENDING
_STANDBY = CpuSuspend()
_INTERNAL_FAILURE = u64(PsciRet.INTERNAL_FAILURE)


def _find(platform: Platform, target: int) -> int | None:
    """The index of the vCPU whose MPIDR affinity is exactly `target`."""
    for index, mpidr in enumerate(platform.mpidrs()):
        if mpidr & MPIDR_AFFINITY == target:
            return index
    return None


def _kvm_preloaded(call: Call) -> dict[int, int]:
    """KVM's registers after SYSTEM_RESET2: only x0 := INTERNAL_FAILURE, "in case userspace
    resumes" (kvm/psci.c vcpu_set_reg(vcpu, 0, ...)); an SMC32 ID first narrowed x1..x3 in place."""
    if call.fid & FID_SMC64:
        return {0: _INTERNAL_FAILURE}
    r = call.regs
    return {0: _INTERNAL_FAILURE, 1: r[1] & MASK32, 2: r[2] & MASK32, 3: r[3] & MASK32}


def version(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """PSCI_VERSION (DEN0022 §5.3): major<<16 | minor of the configured version (the qemu and
    tf-a profiles offer only 1.1, as QEMU 7.2 and TF-A answer)."""
    return env.result(env.psci_word, "PSCI_VERSION: the configured PSCI version")


def features(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """PSCI_FEATURES (DEN0022 §5.16; PSCI 1.0+): -1 unless the queried function is implemented.

    The answers come from the same table that dispatches calls, so they agree with what a
    call would get. kvm: VERSION, CPU_SUSPEND/OFF/ON, AFFINITY_INFO, MIGRATE_INFO_TYPE,
    SYSTEM_OFF/RESET, PSCI_FEATURES, SMCCC_VERSION, + SYSTEM_SUSPEND if enabled, + RESET2
    from 1.1, + SYSTEM_OFF2 (-> 1) from 1.3 (kvm/psci.c). qemu: psci.c's set incl. the 0.1 IDs,
    not SMCCC_VERSION. The argument is w1 (KVM's u32) except in qemu, which compares all of x1."""
    queried = env.args(call)[0]
    value = env.psci_features.get(queried)
    if value is None:
        return env.result(PsciRet.NOT_SUPPORTED, "PSCI_FEATURES: the queried function is not implemented")
    return env.result(value, "PSCI_FEATURES: the queried function is implemented")


def cpu_suspend(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """CPU_SUSPEND (DEN0022 §5.4).

    kvm: every suspend, power-down included, is a WFI that returns SUCCESS with registers
    kept (arch/arm64/kvm/psci.c, citing the PSCI 0.2 spec, DEN0022A); power_state is not checked.
    qemu: power_state & 0xFFFE0000 -> INVALID_PARAMETERS, else WFI and SUCCESS (no power-down).
    tf-a: MBZ bits 0xFCFE0000 -> INVALID_PARAMETERS; standby returns SUCCESS; power-down
    (StateType bit 16) does not return: the vCPU resumes at entry_point with x0 = context_id,
    after INVALID_ADDRESS for an entry point that is not 4-byte aligned."""
    power_state, entry, context_id = env.args(call)
    if env.profile == KVM:
        return env.result(PsciRet.SUCCESS, "CPU_SUSPEND: KVM treats every suspend as WFI -> SUCCESS",
                          _STANDBY)
    if env.profile == QEMU:
        if power_state & QEMU_POWER_STATE_REJECT:
            return env.result(PsciRet.INVALID_PARAMETERS,
                              "CPU_SUSPEND: QEMU rejects power_state bits 31:17 -> INVALID_PARAMETERS")
        return env.result(PsciRet.SUCCESS, "CPU_SUSPEND: QEMU goes into WFI -> SUCCESS", _STANDBY)
    if power_state & TFA_POWER_STATE_MBZ:
        return env.result(PsciRet.INVALID_PARAMETERS,
                          "CPU_SUSPEND: power_state has must-be-zero bits set -> INVALID_PARAMETERS")
    if not power_state & POWER_DOWN:
        return env.result(PsciRet.SUCCESS, "CPU_SUSPEND: standby state -> SUCCESS after wake-up",
                          _STANDBY)
    if entry & 3:
        return env.result(PsciRet.INVALID_ADDRESS,
                          "CPU_SUSPEND: power-down entry point is not 4-byte aligned -> INVALID_ADDRESS")
    return Answer({}, CpuSuspend(entry, context_id),
                  "CPU_SUSPEND: power-down state; resumes at entry_point with x0 = context_id")


def cpu_off(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """CPU_OFF (DEN0022 §5.5): the caller powers down and does not return.

    kvm writes x0..x3 = 0 anyway (the vCPU is reset before it runs again); qemu and tf-a
    write nothing."""
    why = "CPU_OFF: the calling vCPU powers down"
    if env.zero_fill:
        return env.result(PsciRet.SUCCESS, why, CpuOff())
    return Answer({}, CpuOff(), why)


def cpu_on(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """CPU_ON (DEN0022 §5.6): start the vCPU named by its MPIDR at entry_point.

    Checks, in each implementation's order:
    kvm: bits outside 0xFF00FFFFFF or no such vCPU -> INVALID_PARAMETERS; target not OFF ->
    ALREADY_ON (KVM starts vCPUs synchronously, so never ON_PENDING; a PSCI 0.1 VM gets
    INVALID_PARAMETERS, kvm_psci_vcpu_on); then, an hcdbg check real KVM lacks
    (config.check_entry): entry not 4-byte aligned -> INVALID_ADDRESS.
    qemu: entry not 4-byte aligned -> INVALID_PARAMETERS first (arm-powerctl.c); no vCPU with
    exactly that MPIDR -> INVALID_PARAMETERS; not off -> ALREADY_ON (QEMU 7.2 never sets
    PSCI_ON_PENDING, so never answers ON_PENDING).
    tf-a: bad target -> INVALID_PARAMETERS; bad entry -> INVALID_ADDRESS; ON -> ALREADY_ON;
    ON_PENDING -> ON_PENDING. An SMC32 ID uses w1..w3 (kvm, tf-a)."""
    target, entry, context_id = env.args(call)
    profile = env.profile
    if profile == QEMU and entry & 3:
        return env.result(PsciRet.INVALID_PARAMETERS,
                          "CPU_ON: QEMU refuses an entry point that is not 4-byte aligned")
    if target & ~MPIDR_AFFINITY:
        return env.result(PsciRet.INVALID_PARAMETERS,
                          "CPU_ON: target has bits outside the MPIDR affinity fields")
    index = _find(platform, target)
    if index is None:
        return env.result(PsciRet.INVALID_PARAMETERS, "CPU_ON: no vCPU has that MPIDR")
    if profile == TFA and entry & 3:
        return env.result(PsciRet.INVALID_ADDRESS,
                          "CPU_ON: entry point is not 4-byte aligned -> INVALID_ADDRESS")
    state = platform.power_state(index)
    if state is not _OFF:
        if profile == KVM and env.config.psci == (0, 1):
            return env.result(PsciRet.INVALID_PARAMETERS,
                              "CPU_ON: the target vCPU is on (PSCI 0.1 has no ALREADY_ON)")
        if state is _ON or profile != TFA:
            return env.result(PsciRet.ALREADY_ON, "CPU_ON: the target vCPU is already on")
        return env.result(PsciRet.ON_PENDING, "CPU_ON: the target vCPU is already powering on")
    if profile == KVM and env.config.check_entry and entry & 3:
        return env.result(PsciRet.INVALID_ADDRESS,
                          "CPU_ON: entry point is not 4-byte aligned -> INVALID_ADDRESS "
                          "(an hcdbg check; KVM would start the vCPU there)")
    return env.result(PsciRet.SUCCESS, "CPU_ON: the target vCPU was off and starts at entry_point "
                      "with x0 = context_id", CpuOn(index, entry, context_id))


def affinity_info(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """AFFINITY_INFO (DEN0022 §5.7).

    kvm: lowest_affinity_level 0..3 masks the MPIDR; ON if any matching vCPU is not off
    (a pending one counts as on), OFF if all are off, INVALID_PARAMETERS if none matches,
    the target has bits outside the affinity fields, or the level is above 3.
    qemu: level 0 reports the vCPU's state, ON or OFF (QEMU 7.2 never has a CPU ON_PENDING,
    so a vCPU hcdbg is starting reads ON), INVALID_PARAMETERS for an unknown MPIDR; any other
    level answers ON without looking.
    tf-a: only level 0; a higher level -> INVALID_PARAMETERS."""
    target, level, _ = env.args(call)
    profile = env.profile
    if profile == QEMU and level != 0:
        return env.result(AffinityState.ON, "AFFINITY_INFO: QEMU says ON for every level above 0")
    if profile != KVM:
        if level != 0:
            return env.result(PsciRet.INVALID_PARAMETERS,
                              "AFFINITY_INFO: TF-A supports lowest_affinity_level 0 only")
        index = _find(platform, target)
        if index is None:
            return env.result(PsciRet.INVALID_PARAMETERS, "AFFINITY_INFO: no vCPU has that MPIDR")
        state = platform.power_state(index)
        if profile == QEMU and state is _PENDING:
            state = _ON
        return env.result(state.value, "AFFINITY_INFO: the vCPU's power state")
    if target & ~MPIDR_AFFINITY or level > 3:
        return env.result(PsciRet.INVALID_PARAMETERS,
                          "AFFINITY_INFO: target bits outside the affinity fields, or level > 3")
    mask = AFFINITY_LEVEL_MASKS[level]
    target &= mask
    matched = False
    for index, mpidr in enumerate(platform.mpidrs()):
        if mpidr & mask == target:
            matched = True
            if platform.power_state(index) is not _OFF:
                return env.result(AffinityState.ON, "AFFINITY_INFO: a vCPU in the node is on")
    if not matched:
        return env.result(PsciRet.INVALID_PARAMETERS, "AFFINITY_INFO: no vCPU in that node")
    return env.result(AffinityState.OFF, "AFFINITY_INFO: every vCPU in the node is off")


def migrate(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """MIGRATE (DEN0022 §5.8): NOT_SUPPORTED everywhere here; there is no Trusted OS to move."""
    return env.result(PsciRet.NOT_SUPPORTED, "MIGRATE: no Trusted OS to migrate")


def migrate_info_type(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """MIGRATE_INFO_TYPE (DEN0022 §5.9): 2, Trusted OS absent or MP (kvm, qemu; tf-a without a
    Trusted OS dispatcher does not implement it)."""
    return env.result(2, "MIGRATE_INFO_TYPE: no Trusted OS that needs migration")


def migrate_info_up_cpu(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """MIGRATE_INFO_UP_CPU (DEN0022 §5.10): NOT_SUPPORTED, as KVM answers (kvm/psci.c)."""
    return env.result(PsciRet.NOT_SUPPORTED, "MIGRATE_INFO_UP_CPU: no uniprocessor Trusted OS")


def system_off(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """SYSTEM_OFF (DEN0022 §5.11): the machine powers off.

    kvm pre-loads x0 = INTERNAL_FAILURE (x1..x3 = 0) in case userspace resumes (kvm/psci.c);
    qemu and tf-a write nothing."""
    why = "SYSTEM_OFF: the machine powers off"
    if env.zero_fill:
        return env.result(PsciRet.INTERNAL_FAILURE, why, SystemOff())
    return Answer({}, SystemOff(), why)


def system_reset(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """SYSTEM_RESET (DEN0022 §5.12): the machine restarts; registers as for SYSTEM_OFF."""
    why = "SYSTEM_RESET: the machine restarts"
    if env.zero_fill:
        return env.result(PsciRet.INTERNAL_FAILURE, why, SystemReset())
    return Answer({}, SystemReset(), why)


def system_reset2(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """SYSTEM_RESET2 (DEN0022 §5.13; PSCI 1.1+; kvm and tf-a only).

    reset_type (w1) 0 = SYSTEM_WARM_RESET or bit 31 set (vendor) -> the machine restarts;
    architectural types 1..0x7FFFFFFF -> INVALID_PARAMETERS. kvm writes only x0 := -6 and
    leaves the cookie for userspace; tf-a writes nothing."""
    reset_type = env.args(call)[0] & MASK32
    if reset_type and not reset_type & RESET2_VENDOR:
        return env.result(PsciRet.INVALID_PARAMETERS,
                          "SYSTEM_RESET2: reserved architectural reset type -> INVALID_PARAMETERS")
    why = "SYSTEM_RESET2: warm or vendor reset; the machine restarts"
    regs = _kvm_preloaded(call) if env.zero_fill else {}
    return Answer(regs, SystemReset("PSCI_SYSTEM_RESET2"), why)


def system_off2(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """SYSTEM_OFF2 (DEN0022F, PSCI 1.3; the kvm-6.13 profile, Linux 6.13 KVM).

    type HIBERNATE_OFF (1, BIT(0) in Linux's psci.h) or 0, which DEN0022F.b requires callees
    to accept for it, with cookie 0 -> the machine powers off; anything else ->
    INVALID_PARAMETERS. KVM then writes x0 = -6 and x1..x3 = 0, unlike SYSTEM_RESET2 (its
    case breaks out to smccc_set_retval(vcpu, val, 0, 0, 0))."""
    off_type, cookie, _ = env.args(call)
    if off_type & MASK32 not in (0, HIBERNATE_OFF) or cookie:
        return env.result(PsciRet.INVALID_PARAMETERS,
                          "SYSTEM_OFF2: type is not HIBERNATE_OFF or cookie is not 0")
    why = "SYSTEM_OFF2: HIBERNATE_OFF; the machine powers off"
    if env.zero_fill:
        return env.result(PsciRet.INTERNAL_FAILURE, why, SystemOff("PSCI_SYSTEM_OFF2"))
    return Answer({}, SystemOff("PSCI_SYSTEM_OFF2"), why)


def system_suspend(env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """SYSTEM_SUSPEND (DEN0022D.b §5.19; PSCI 1.0+; kvm only with system_suspend, and tf-a).

    Any other vCPU not off -> DENIED; entry point not 4-byte aligned -> INVALID_ADDRESS;
    otherwise the caller resumes at entry_point with x0 = context_id. In KVM these checks are
    the VMM's job (KVM exits with the registers untouched, an SMC32 ID narrowed first)."""
    entry, context_id, _ = env.args(call)
    for index in range(len(platform.mpidrs())):
        if index != call.vcpu and platform.power_state(index) is not _OFF:
            return env.result(PsciRet.DENIED, "SYSTEM_SUSPEND: another vCPU is still on -> DENIED")
    if entry & 3 and (env.profile != KVM or env.config.check_entry):
        return env.result(PsciRet.INVALID_ADDRESS,
                          "SYSTEM_SUSPEND: entry point is not 4-byte aligned -> INVALID_ADDRESS")
    regs: dict[int, int] = {}
    if env.zero_fill and not call.fid & FID_SMC64:
        r = call.regs
        regs = {1: r[1] & MASK32, 2: r[2] & MASK32, 3: r[3] & MASK32}
    return Answer(regs, SystemSuspend(entry, context_id),
                  "SYSTEM_SUSPEND: the caller is the last vCPU on; resumes at entry_point")
