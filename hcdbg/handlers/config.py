"""FirmwareConfig: which implementation the built-in handlers imitate, and its knobs."""
from __future__ import annotations

from dataclasses import dataclass

from hcdbg.errors import UsageError
from hcdbg.smccc.ids import CONDUITS

KVM = "kvm"  # Linux KVM 5.18-6.12 (Debian 12's 6.1 among them)
KVM_6_13 = "kvm-6.13"  # Linux KVM 6.13 and later (mainline): PSCI 1.3, SYSTEM_OFF2
QEMU = "qemu"  # QEMU 7.2 TCG
TFA = "tf-a"  # Trusted Firmware-A without a Trusted OS dispatcher
PROFILES = (KVM, KVM_6_13, QEMU, TFA)
#: What each profile models, for --profile help, `info firmware` and the README.
MODELS = {
    KVM: "Linux KVM 5.18-6.12 (Debian 12's 6.1 among them)",
    KVM_6_13: "Linux KVM 6.13 and later (mainline)",
    QEMU: "QEMU 7.2 TCG",
    TFA: "TF-A without a Trusted OS",
}
#: The family whose rules a profile follows: both KVM profiles answer as KVM.
FAMILY = {KVM: KVM, KVM_6_13: KVM, QEMU: QEMU, TFA: TFA}

#: PSCI versions each profile can offer, the default (what a fresh VM gets) last.
#: KVM: kvm_arm_set_fw_reg accepts 0.1 (a vCPU without KVM_ARM_VCPU_PSCI_0_2), 0.2, 1.0,
#: 1.1, and from 6.13 1.2 and 1.3; its default is KVM_ARM_PSCI_LATEST, 1.1 (Linux 5.18,
#: commit 512865d83fd9) then 1.3 (6.13) (include/kvm/arm_psci.h). QEMU 7.2's psci.c always
#: answers QEMU_PSCI_VERSION_1_1; TF-A's PSCI_MINOR_VER is 1 (include/lib/psci/psci.h).
PROFILE_PSCI_VERSIONS: dict[str, tuple[tuple[int, int], ...]] = {
    KVM: ((0, 1), (0, 2), (1, 0), (1, 1)),
    KVM_6_13: ((0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (1, 3)),
    QEMU: ((1, 1),),
    TFA: ((1, 1),),
}
#: Every PSCI version some profile offers.
PSCI_VERSIONS = tuple(sorted({v for vs in PROFILE_PSCI_VERSIONS.values() for v in vs}))


def default_psci(profile: str) -> tuple[int, int]:
    """The PSCI version `profile` offers a fresh VM."""
    return PROFILE_PSCI_VERSIONS[profile][-1]


def version_list(versions: tuple[tuple[int, int], ...]) -> str:
    """"0.1, 0.2, 1.0 or 1.1"."""
    texts = [_version_text(v) for v in versions]
    return texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"
#: SMCCC versions that may be configured (DEN0028 §7 SMCCC_VERSION; reference §1.6).
SMCCC_VERSIONS = ((1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5))
#: What SMCCC_VERSION answers by default: KVM 1.1, TF-A 1.5, QEMU TCG does not implement it
#: (reference §1.6, §6 row 2).
DEFAULT_SMCCC: dict[str, tuple[int, int] | None] = {KVM: (1, 1), KVM_6_13: (1, 1), TFA: (1, 5),
                                                   QEMU: None}
#: Values SMCCC_ARCH_FEATURES may give for a workaround (DEN0028 §7; reference §1.6):
#: 0 call it, 1 not needed on this PE, -1 not implemented, -2 NOT_REQUIRED anywhere.
WORKAROUND_VALUES = (-2, -1, 0, 1)


def _version_text(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


@dataclass(frozen=True)
class FirmwareConfig:
    """How the built-in handlers answer. Every default is what KVM gives a fresh VM."""

    profile: str = KVM  # one of PROFILES: whose answers to give
    psci_version: tuple[int, int] | None = None  # None: the profile's default (default_psci)
    smccc_version: tuple[int, int] | None = None  # None: the profile's (kvm 1.1, tf-a 1.5, qemu none)
    conduit: str = "hvc"  # the conduit the device tree advertises for PSCI
    seed: int | None = None  # TRNG: None = os.urandom; int = a replayable stream
    # KVM's PV time service (DEN0057): on in a fresh VM (KVM_REG_ARM_STD_HYP_BMAP bit 0 is set by
    # default, reference §4.5); only PV_TIME_ST needs the VMM to give a stolen-time IPA.
    pv_time: bool = True
    pv_time_base: int | None = None  # IPA of vCPU 0's 64-byte stolen-time record (vCPU n: +64*n)
    system_suspend: bool = False  # KVM_CAP_ARM_SYSTEM_SUSPEND enabled
    workarounds: tuple[int, int, int] = (1, -2, 1)  # ARCH_FEATURES(WA1, WA2, WA3)
    soc_id: tuple[int, int] | None = None  # (SoC version, SoC revision); None: no SOC_ID
    check_entry: bool = True  # kvm: refuse unaligned CPU_ON/SYSTEM_SUSPEND entry points

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise UsageError(f"profile: must be one of {', '.join(PROFILES)}, not {self.profile!r}")
        if self.psci_version is None:
            object.__setattr__(self, "psci_version", default_psci(self.profile))
        if self.psci_version not in PROFILE_PSCI_VERSIONS[self.profile]:
            allowed = version_list(PROFILE_PSCI_VERSIONS[self.profile])
            raise UsageError(f"PSCI version: the {self.profile} profile ({MODELS[self.profile]}) "
                             f"offers {allowed}")
        if self.smccc_version is not None and self.smccc_version not in SMCCC_VERSIONS:
            allowed = ", ".join(_version_text(v) for v in SMCCC_VERSIONS)
            raise UsageError(f"SMCCC version: must be {allowed}")
        if self.conduit not in CONDUITS:
            raise UsageError(f"conduit: must be hvc or smc, not {self.conduit!r}")
        if len(self.workarounds) != 3 or any(w not in WORKAROUND_VALUES for w in self.workarounds):
            raise UsageError("workarounds: three values from -2, -1, 0, 1 (WA1, WA2, WA3)")
        if self.soc_id is not None and (len(self.soc_id) != 2 or any(
                not 0 <= v <= 0x7FFF_FFFF for v in self.soc_id)):
            # DEN0028 §7 SMCCC_ARCH_SOC_ID: both results have bit 31 clear.
            raise UsageError("soc_id: (version, revision), each 0..0x7fffffff")
        if self.pv_time_base is not None and (self.pv_time_base < 0 or self.pv_time_base % 64):
            raise UsageError("pv_time_base: a 64-byte aligned guest physical address")

    @property
    def family(self) -> str:
        """Whose rules the handlers follow: "kvm" for both KVM profiles, else the profile."""
        return FAMILY[self.profile]

    @property
    def psci(self) -> tuple[int, int]:
        """The PSCI version offered (psci_version, the profile's default filled in)."""
        assert self.psci_version is not None  # filled in by __post_init__
        return self.psci_version

    @property
    def psci_0_1_ids(self) -> bool:
        """Whether PSCI 0.1's IDs are answered: QEMU always (psci.c), KVM only for a PSCI 0.1
        VM (kvm_psci_0_1_call; a newer VM gets NOT_SUPPORTED for them)."""
        return self.profile == QEMU or self.psci == (0, 1)

    @property
    def smccc(self) -> tuple[int, int] | None:
        """The SMCCC version SMCCC_VERSION reports, or None when it is not implemented.

        A 1.0 callee has no SMCCC_VERSION (the call arrived in SMCCC 1.1): callers read its -1
        as "1.0" (DEN0028 §7 SMCCC_VERSION), so (1, 0) also gives None."""
        version = self.smccc_version if self.smccc_version is not None else DEFAULT_SMCCC[self.profile]
        return version if version is not None and version >= (1, 1) else None
