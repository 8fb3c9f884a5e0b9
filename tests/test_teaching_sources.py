"""What hcdbg teaches (explain, the catalog, the profiles' answers) against the sources (issue 19).

Every expected value is read from a primary source named next to it: Linux (include/uapi/
linux/psci.h, include/linux/arm-smccc.h, include/kvm/arm_psci.h, arch/arm64/kvm/), TF-A
(lib/psci, services/), QEMU 7.2 (target/arm/psci.c, arm-powerctl.c). None comes from hcdbg.
"""
from __future__ import annotations

import re

import pytest

from handlers_support import ON, PENDING, Board, call, u64
from hcdbg.cli.main import main
from hcdbg.errors import UsageError
from hcdbg.handlers import psci as psci_handlers
from hcdbg.handlers.base import CpuOn, SystemOff
from hcdbg.handlers.config import PROFILE_PSCI_VERSIONS, FirmwareConfig
from hcdbg.handlers.registry import Firmware
from hcdbg.smccc.catalog import SERVICES, all_functions, find, lookup
from hcdbg.smccc.decode import decode_call
from hcdbg.smccc.explain import explain, explain_id
from hcdbg.smccc.retcodes import AmbiguousCode, code_value, retcode_name
from hcdbg.values import register_value

NOT_SUPPORTED, INVALID_PARAMETERS, INTERNAL_FAILURE = u64(-1), u64(-2), u64(-6)
ALREADY_ON = u64(-4)
ENTRY, CTX = 0x4008_0100, 0xC0FFEE


def fw(**config) -> Firmware:
    return Firmware(FirmwareConfig(**config))


def text(subject) -> str:
    return "\n".join(explain(subject))


# --- 1. SYSTEM_OFF2's HIBERNATE_OFF is 1 ------------------------------------------------------

def test_system_off2_hibernate_off_is_bit_0() -> None:
    # Linux include/uapi/linux/psci.h: PSCI_1_3_OFF_TYPE_HIBERNATE_OFF = BIT(0) = 1; KVM psci.c
    # rejects "arg && arg != PSCI_1_3_OFF_TYPE_HIBERNATE_OFF" (0 is DEN0022F.b's alias).
    hibernate_off = 1 << 0
    for fn in find("PSCI_SYSTEM_OFF2"):
        assert fn.args[0].meaning.startswith(f"{hibernate_off} = HIBERNATE_OFF"), fn.args[0]
    assert "0 = HIBERNATE_OFF" not in text("PSCI_SYSTEM_OFF2")
    answer = fw(profile="kvm-6.13").answer(call(0xC400_0015, hibernate_off), Board())
    assert answer.effect == SystemOff("PSCI_SYSTEM_OFF2")


# --- 2. an SMC32 call describes no bit above 31 --------------------------------------------------

_BIT_RANGES = re.compile(r"\[(\d+):(\d+)\]|\bbits? (\d+)(?::(\d+))?|\((\d+):(\d+)\)")
_HEX = re.compile(r"0x[0-9a-fA-F_]+")


def _bits_above_31(line: str) -> list[str]:
    found = [m.group(0) for m in _BIT_RANGES.finditer(line)
             if max(int(g) for g in m.groups() if g is not None) > 31]
    found += [h for h in _HEX.findall(line) if int(h, 16) > 0xFFFF_FFFF]
    return found


@pytest.mark.parametrize("fn", [f for f in all_functions() if f.narrow_args],
                         ids=lambda f: f"{f.fid:#010x}")
def test_smc32_forms_describe_no_bit_above_31(fn) -> None:
    # DEN0028 §2.6: an SMC32/HVC32 call passes W registers; KVM narrows x1..x3
    # (kvm/psci.c kvm_psci_narrow_to_32bit), TF-A casts them to uint32_t (psci_smc_handler).
    bad = {line: hits for line in explain_id(fn.fid) if (hits := _bits_above_31(line))}
    assert bad == {}


def test_smc32_cpu_on_cannot_name_aff3() -> None:
    # Aff3 is MPIDR bits [39:32] (Linux MPIDR_HWID_BITMASK 0xff00ffffff): out of w1's reach.
    (smc32,) = [line for line in explain_id(0x8400_0003) if "target_cpu" in line]
    assert "[39:32]" not in smc32 and "cannot name a CPU whose Aff3" in smc32
    (smc64,) = [line for line in explain_id(0xC400_0003) if "target_cpu" in line]
    assert "Aff3 [39:32]" in smc64


# --- 3. which KVM a profile models; the PSCI versions it offers -----------------------------------

def test_kvm_profiles_offer_the_psci_versions_kvm_offers() -> None:
    # include/kvm/arm_psci.h before 6.13: KVM_ARM_PSCI_0_1 .. KVM_ARM_PSCI_1_1, LATEST = 1_1;
    # 6.13 (D. Woodhouse, "KVM: arm64: Add support for PSCI v1.2 and v1.3"): + 1_2, 1_3, LATEST
    # = 1_3; hypercalls.c kvm_arm_set_fw_reg accepts each (0.1 for a vCPU without PSCI_0_2).
    assert PROFILE_PSCI_VERSIONS["kvm"] == ((0, 1), (0, 2), (1, 0), (1, 1))
    assert PROFILE_PSCI_VERSIONS["kvm-6.13"] == ((0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (1, 3))
    assert FirmwareConfig().psci_version == (1, 1)
    assert FirmwareConfig(profile="kvm-6.13").psci_version == (1, 3)
    # kvm_psci_1_x_call: PSCI_VERSION -> PSCI_VERSION(1, minor) = 1 << 16 | minor
    assert fw(profile="kvm-6.13").answer(call(0x8400_0000), Board()).regs[0] == 1 << 16 | 3
    assert fw(profile="kvm-6.13", psci_version=(1, 2)).answer(call(0x8400_0000), Board()).regs[0] == 0x1_0002


def test_a_psci_0_1_kvm_vm() -> None:
    # kvm/psci.c kvm_psci_0_1_call: KVM_PSCI_FN_CPU_OFF and KVM_PSCI_FN_CPU_ON only, else
    # NOT_SUPPORTED; a 0.1 VM has no PSCI_VERSION (kvm_psci_call dispatches by version).
    kvm01 = fw(psci_version=(0, 1))
    assert kvm01.answer(call(0x8400_0000), Board()).regs[0] == NOT_SUPPORTED
    assert kvm01.answer(call(0x95C1_BA5E), Board()).regs[0] == NOT_SUPPORTED  # CPU_SUSPEND
    answer = kvm01.answer(call(0x95C1_BA60, 0x2, ENTRY, CTX), Board())
    assert answer.regs == {0: 0, 1: 0, 2: 0, 3: 0} and answer.effect == CpuOn(2, ENTRY, CTX)
    # kvm_psci_vcpu_on: a running target is PSCI_RET_INVALID_PARAMS under 0.1, not ALREADY_ON
    assert kvm01.answer(call(0x95C1_BA60, 0x0, ENTRY), Board()).regs[0] == INVALID_PARAMETERS
    # ... and a PSCI 0.2+ VM answers the 0.1 IDs NOT_SUPPORTED (kvm_psci_0_2_call default)
    assert fw().answer(call(0x95C1_BA60, 0x2, ENTRY), Board()).regs[0] == NOT_SUPPORTED


def test_info_firmware_names_the_kvm_it_models() -> None:
    assert "Linux KVM 5.18-6.12" in fw().describe_profile()[0]
    lines = fw(profile="kvm-6.13").describe_profile()
    assert "Linux KVM 6.13 and later" in lines[0] and "PSCI 1.3 (0x10003)" in lines[1]


def test_cli_psci_version_follows_the_profile() -> None:
    from hcdbg.cli.options import Options
    from pathlib import Path
    head = Options(profile="kvm-6.13").header(Path("x.elf"), 1)
    assert head["firmware"]["psci_version"] == "1.3"
    assert Options().header(Path("x.elf"), 1)["firmware"]["psci_version"] == "1.1"


# --- 4. the tf-a profile: no Trusted OS, PSCI 1.1, a real TRNG UUID -------------------------------

def test_tfa_without_a_trusted_os_has_no_migrate_info_type() -> None:
    # TF-A lib/psci/psci_common.c: MIGRATE_INFO_TYPE enters psci_caps only in
    # psci_register_spd_pm_hook; psci_smc_handler answers SMC_UNK (-1) for a fid not in
    # psci_caps, and psci_features PSCI_E_NOT_SUPPORTED (-1).
    tfa = fw(profile="tf-a")
    assert tfa.answer(call(0x8400_0006), Board()).regs == {0: NOT_SUPPORTED}
    assert tfa.answer(call(0x8400_000A, 0x8400_0006), Board()).regs == {0: NOT_SUPPORTED}


def test_tfa_is_psci_1_1_without_system_off2() -> None:
    # TF-A include/lib/psci/psci.h: PSCI_MAJOR_VER (1 << 16), PSCI_MINOR_VER 0x1; no OFF2 there.
    assert fw(profile="tf-a").answer(call(0x8400_0000), Board()).regs == {0: 0x1_0001}
    with pytest.raises(UsageError):
        FirmwareConfig(profile="tf-a", psci_version=(1, 3))
    assert fw(profile="tf-a").answer(call(0xC400_0015), Board()).regs == {0: NOT_SUPPORTED}


# --- 5. return-code names resolve in the called service's table --------------------------------

def test_invalid_parameter_resolves_per_service() -> None:
    # Linux arch/arm64/kvm/trng.c TRNG_INVALID_PARAMETER = -2; include/linux/arm-smccc.h
    # SMCCC_RET_INVALID_PARAMETER = -3; PSCI has INVALID_PARAMETERS (-2) and DENIED (-3).
    assert code_value("INVALID_PARAMETER", "trng") == -2
    assert code_value("INVALID_PARAMETER", "smccc-arch") == -3
    assert code_value("TRNG_INVALID_PARAMETER") == -2
    with pytest.raises(AmbiguousCode, match=r"SMCCC -3, TRNG -2"):
        code_value("INVALID_PARAMETER", "psci")
    with pytest.raises(UsageError, match=r"INVALID_PARAMETER means SMCCC -3, TRNG -2"):
        register_value("INVALID_PARAMETER", "psci")


# --- 6. SYSTEM_OFF2's registers under KVM: see test_handlers_psci.test_system_off2 ----------------

def test_system_off2_smc32_zeroes_x1_to_x3() -> None:
    # Linux 6.13 kvm/psci.c: kvm_psci_narrow_to_32bit, then smccc_set_retval(vcpu, val, 0, 0, 0)
    answer = fw(profile="kvm-6.13").answer(call(0x8400_0015, 0xFFFF_FFFF_0000_0001, 0, 5), Board())
    assert answer.regs == {0: INTERNAL_FAILURE, 1: 0, 2: 0, 3: 0}


# --- 7. SMCCC_ARCH_FEATURE_AVAILABILITY ---------------------------------------------------------

def test_feature_availability_is_smc64_with_x1_the_register() -> None:
    # TF-A services/arm_arch_svc/arm_arch_svc_setup.c: only SMCCC_ARCH_FEATURE_AVAILABILITY |
    # (SMC_64 << FUNCID_CC_SHIFT) = 0xC0000003 is handled ("return is 64 bit"); x1 = the
    # register (SCR_EL3_OPCODE ...); SMC_RET2(SUCCESS, bitmask); default SMC_RET2(-4, 0).
    assert lookup(0x8000_0003) is None
    fn = lookup(0xC000_0003)
    assert fn is not None and [a.name for a in fn.args] == ["register"]
    assert "x1 = bitmask" in fn.result and "x0 = -4" in fn.result and "x1 = 0" in fn.result


# --- 8. PSCI 0.1 CPU_ON passes a context ID ------------------------------------------------------

def test_psci_0_1_cpu_on_has_a_context_id() -> None:
    # KVM psci.c kvm_psci_vcpu_on: "We always update r0" = smccc_get_arg3; QEMU 7.2 psci.c
    # QEMU_PSCI_0_1_FN_CPU_ON: context_id = param[3].
    fn = lookup(0x95C1_BA60)
    assert fn is not None and [a.name for a in fn.args][2] == "context_id"
    answer = fw(profile="qemu").answer(call(0x95C1_BA60, 0x2, ENTRY, 0x1_0000_0007), Board())
    assert answer.effect == CpuOn(2, ENTRY, 0x1_0000_0007)


# --- 9. which profiles compare all of x1 -------------------------------------------------------

def test_x1_upper_half_in_feature_queries() -> None:
    high = 1 << 32
    # Linux kvm/trng.c: switch (smccc_get_arg1(vcpu)), an unsigned long: all 64 bits
    assert fw().answer(call(0x8400_0051, high | 0x8400_0050), Board()).regs[0] == NOT_SUPPORTED
    # TF-A trng_main.c: is_trng_fid((uint32_t)x1): w1
    assert fw(profile="tf-a").answer(call(0x8400_0051, high | 0x8400_0050), Board()).regs[0] == 0
    # TF-A arm_arch_svc_setup.c smccc_arch_features(u_register_t arg1): switch on all of x1
    assert fw(profile="tf-a").answer(call(0x8000_0001, high | 0x8000_0000), Board()).regs[0] == NOT_SUPPORTED
    # ... smccc_arch_id(u_register_t arg1): x1 = 1 << 32 is no SoC ID type -> SMC_ARCH_CALL_INVAL_PARAM
    soc = fw(profile="tf-a", soc_id=(0x1234, 5))
    assert soc.answer(call(0x8000_0002, high), Board()).regs[0] == u64(-3)
    # KVM hypercalls.c: u32 feature = smccc_get_arg1(vcpu): w1
    assert fw().answer(call(0x8000_0001, high | 0x8000_8000), Board()).regs[0] == 1


# --- 10. the SVE hint -------------------------------------------------------------------------------

def test_sve_hint_calls_decode_as_their_function() -> None:
    # DEN0028 (SMCCC 1.3) bit 16 of a fast call is the SVE hint; TF-A common/runtime_svc.c
    # sync_handler: smc_fid &= ~MASK(FUNCID_SVE_HINT) before dispatch, whatever SMCCC version.
    decoded = decode_call(0x8401_0000)
    assert decoded.name == "PSCI_VERSION" and decoded.service == "psci"
    assert any("SVE hint" in note for note in decoded.notes)
    assert explain_id(0x8401_0000)[0] == "0x84010000: PSCI_VERSION (SMC32), service psci"
    tfa = fw(profile="tf-a", smccc_version=(1, 2))
    assert tfa.answer(call(0x8401_0000), Board()).regs == {0: 0x1_0001}


# --- 11. QEMU 7.2: no ON_PENDING, always PSCI 1.1 -------------------------------------------------

def test_qemu_profile_never_pending_always_1_1() -> None:
    # QEMU 7.2 arm-powerctl.c never assigns PSCI_ON_PENDING; psci.c PSCI_VERSION ->
    # QEMU_PSCI_VERSION_1_1 unconditionally.
    qemu = fw(profile="qemu")
    board = Board(states=[ON, PENDING, ON, ON])
    assert qemu.answer(call(0xC400_0003, 0x1, ENTRY), board).regs == {0: ALREADY_ON}
    assert qemu.answer(call(0xC400_0004, 0x1, 0), board).regs == {0: 0}
    with pytest.raises(UsageError):
        FirmwareConfig(profile="qemu", psci_version=(1, 0))
    notes = " ".join(qemu.describe_profile())
    assert "ON_PENDING reported" not in notes and "never ON_PENDING" in notes
    assert "-5" not in (lookup(0xC400_0003).qemu or "").split("never")[0]


# --- 12. the missing functions and codes ------------------------------------------------------------

@pytest.mark.parametrize(("fid", "name"), [
    (0x8000_0004, "SMCCC_ARCH_WORKAROUND_4"),  # TF-A include/services/arm_arch_svc.h
    (0xC600_0002, "VENDOR_HYP_KVM_HYP_MEMINFO"),  # Linux 6.12 arm-smccc.h ARM_SMCCC_KVM_FUNC_HYP_MEMINFO 2
    (0xC600_0003, "VENDOR_HYP_KVM_MEM_SHARE"),  # ... ARM_SMCCC_KVM_FUNC_MEM_SHARE 3, SMC64
    (0xC600_0004, "VENDOR_HYP_KVM_MEM_UNSHARE"),  # ... ARM_SMCCC_KVM_FUNC_MEM_UNSHARE 4
    (0xC600_0007, "VENDOR_HYP_KVM_MMIO_GUARD"),  # ... ARM_SMCCC_KVM_FUNC_MMIO_GUARD 7
])
def test_missing_functions_are_in_the_catalog(fid: int, name: str) -> None:
    fn = lookup(fid)
    assert fn is not None and fn.name == name


def test_tfa_trng_not_implemented_code() -> None:
    # TF-A include/services/trng_svc.h: TRNG_E_NOT_IMPLEMENTED (-4)
    assert retcode_name("trng", u64(-4)) == "NOT_IMPLEMENTED"
    assert "NOT_IMPLEMENTED = -4" in text("TRNG_RND64")


# --- 13. what KVM answers the workarounds ---------------------------------------------------------

@pytest.mark.parametrize("name", ["SMCCC_ARCH_WORKAROUND_1", "SMCCC_ARCH_WORKAROUND_2",
                                  "SMCCC_ARCH_WORKAROUND_3"])
def test_workarounds_explain_kvms_answer(name: str) -> None:
    # Linux arch/arm64/kvm/hyp/hyp-entry.S el1_hvc_guest: the HVC fast path returns x0 = 0;
    # hypercalls.c: an SMC of these IDs is not allowed -> SMCCC_RET_NOT_SUPPORTED, x1..x3 = 0.
    kvm = [line for line in text(name).splitlines() if line.startswith("KVM answers:")]
    assert kvm and "HVC: x0 = 0" in kvm[0] and "SMC: -1" in kvm[0]


# --- 14. small errors -----------------------------------------------------------------------------

def test_psci_version_major_is_bits_31_16() -> None:
    # Linux psci.h: PSCI_VERSION_MAJOR_MASK = ~PSCI_VERSION_MINOR_MASK, MINOR_MASK = 0xffff
    major_mask = ~0xFFFF & 0xFFFF_FFFF
    assert major_mask == 0xFFFF_0000  # bits [31:16]
    assert "major in bits [31:16]" in lookup(0x8400_0000).result


def test_den0022_sections() -> None:
    # Linux Documentation/virt/kvm/api.rst: 'ARM DEN0022D.b 5.19 "SYSTEM_SUSPEND"'
    assert "§5.19" in (psci_handlers.system_suspend.__doc__ or "")
    assert "§5.21" not in (psci_handlers.__doc__ or "") + (psci_handlers.system_suspend.__doc__ or "")
    # Linux kvm/psci.c: "PSCI v0.2 specification (ARM DEN 0022A)": DEN0022A is not PSCI 0.1's
    for fn in find("PSCI_0_1_CPU_ON"):
        assert "DEN0022A" not in fn.spec


# --- 15. hcdbg explain from the shell -------------------------------------------------------------

def test_cli_explain(capsys) -> None:
    assert main(["explain", "PSCI_CPU_ON"]) == 0
    out = capsys.readouterr().out
    assert "0x84000003: PSCI_CPU_ON (SMC32)" in out and "0xc4000003: PSCI_CPU_ON (SMC64)" in out
    assert main(["explain", "0x84000000"]) == 0 and "PSCI_VERSION" in capsys.readouterr().out
    assert main(["explain", "trng"]) == 0 and "TRNG_RND64" in capsys.readouterr().out
    assert main(["explain", "CPU_OM"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "CPU_OM" in err


# --- citations: the Arm documents, not a file users do not have --------------------------------------

def test_explain_cites_no_reference_file() -> None:
    subjects = [fn.fid for fn in all_functions()] + list(SERVICES) + [0x8200_0010]
    for subject in subjects:
        for line in explain(subject):
            assert "reference" not in line.lower() and "../shared" not in line, (subject, line)
    for conduit in ("hvc", "smc"):
        for note in decode_call(0x8400_0000, imm=1, conduit=conduit).notes:
            assert "reference" not in note.lower(), note
