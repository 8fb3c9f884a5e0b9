"""The one table of built-in handlers (function ID -> handler) and the Firmware that answers."""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

from hcdbg.handlers import arch, psci, pv_time, trng, vendor_hyp
from hcdbg.handlers.base import Answer, Call, Platform, Undefined
from hcdbg.handlers.config import KVM, KVM_6_13, MODELS, PROFILES, QEMU, TFA, FirmwareConfig
from hcdbg.handlers.entropy import Entropy
from hcdbg.handlers.env import Env, Handler
from hcdbg.smccc import catalog, ids
from hcdbg.smccc.ids import FID_FAST, FID_SMC64, FID_SVE_HINT, MASK32, MASK64, SMC

__all__ = ["TABLE", "Entry", "Firmware", "FirmwareConfig", "Provided"]

_PSCI = catalog.SERVICES["psci"].name
_ALL = frozenset(PROFILES)
# Entry.profiles name families (FirmwareConfig.family): "kvm" covers both KVM profiles.
_KVM_TFA = frozenset({KVM, TFA})
_KVM = frozenset({KVM})
_QEMU = frozenset({QEMU})
_KVM_QEMU = frozenset({KVM, QEMU})

#: Why an entry can be switched off by the configuration (Entry.needs).
_NEEDS = {
    "smccc": "the firmware has no SMCCC_VERSION (SMCCC 1.0)",
    "soc_id": "no SoC ID is configured (soc_id)",
    "system_suspend": "SYSTEM_SUSPEND is not enabled (system_suspend)",
    "pv_time": "PV time is not enabled (pv_time)",
    "psci_0_1_ids": "KVM answers PSCI 0.1 IDs only in a PSCI 0.1 VM",
}


@dataclass(frozen=True)
class Entry:
    """One row: a function ID, its handler, and when this firmware provides it. Its name
    and service are the catalog's (every row's ID is in the catalog)."""

    fid: int
    handler: Handler
    profiles: frozenset[str] = _ALL
    psci_since: tuple[int, int] | None = None  # first PSCI version that has it
    needs: tuple[str, ...] = ()  # FirmwareConfig attributes/properties that must be truthy
    advertised: bool = True  # whether the service's FEATURES call reports it implemented

    @property
    def function(self) -> catalog.Function:
        fn = catalog.lookup(self.fid)
        assert fn is not None, f"{self.fid:#010x} is not in the catalog"
        return fn

    @property
    def name(self) -> str:
        """The catalog's name of this function ID (PSCI_CPU_ON_64)."""
        return catalog.width_name(self.function)

    @property
    def service(self) -> str:
        """The catalog's short name of its service (psci, smccc-arch, pv-time, ...)."""
        return self.function.service

    def missing(self, config: FirmwareConfig) -> str | None:
        """Why `config` does not provide this function, or None if it does."""
        if config.family not in self.profiles:
            return f"{self.name}: the {config.profile} profile does not implement it"
        if self.psci_since is not None and config.psci < self.psci_since:
            since, have = self.psci_since, config.psci
            return f"{self.name}: new in PSCI {since[0]}.{since[1]}; this firmware is PSCI {have[0]}.{have[1]}"
        for need in self.needs:
            if not getattr(config, need):
                return f"{self.name}: {_NEEDS[need]}"
        return None


def _psci(fid: int, handler: Handler, since: tuple[int, int] = (0, 2),
          profiles: frozenset[str] = _ALL, needs: tuple[str, ...] = (), advertised: bool = True) -> Entry:
    return Entry(fid, handler, profiles, since, needs, advertised)


_SMCCC = ("smccc",)

#: Every function hcdbg can answer itself; rows say which profile/version/config provides it.
TABLE: tuple[Entry, ...] = (
    # Arm architecture calls, DEN0028 §7 (reference §1.6)
    Entry(ids.SMCCC_VERSION, arch.smccc_version, needs=_SMCCC),
    Entry(ids.SMCCC_ARCH_FEATURES, arch.arch_features, needs=_SMCCC),
    Entry(ids.SMCCC_ARCH_SOC_ID, arch.soc_id, needs=("smccc", "soc_id")),
    Entry(ids.SMCCC_ARCH_WORKAROUND_1, arch.workaround_1, needs=_SMCCC),
    Entry(ids.SMCCC_ARCH_WORKAROUND_2, arch.workaround_2, needs=_SMCCC),
    Entry(ids.SMCCC_ARCH_WORKAROUND_3, arch.workaround_3, needs=_SMCCC),
    # PSCI, DEN0022 §5 (reference §2, §4.5, §5.2)
    _psci(ids.PSCI_VERSION, psci.version),
    _psci(ids.PSCI_CPU_SUSPEND, psci.cpu_suspend),
    _psci(ids.PSCI_CPU_SUSPEND_64, psci.cpu_suspend),
    _psci(ids.PSCI_CPU_OFF, psci.cpu_off),
    _psci(ids.PSCI_CPU_ON, psci.cpu_on),
    _psci(ids.PSCI_CPU_ON_64, psci.cpu_on),
    _psci(ids.PSCI_AFFINITY_INFO, psci.affinity_info),
    _psci(ids.PSCI_AFFINITY_INFO_64, psci.affinity_info),
    _psci(ids.PSCI_MIGRATE, psci.migrate, advertised=False),
    _psci(ids.PSCI_MIGRATE_64, psci.migrate, advertised=False),
    # TF-A registers MIGRATE_INFO_TYPE only with a Trusted OS dispatcher (psci_common.c
    # psci_register_spd_pm_hook): without one, the call and PSCI_FEATURES of it are -1.
    _psci(ids.PSCI_MIGRATE_INFO_TYPE, psci.migrate_info_type, profiles=_KVM_QEMU),
    _psci(ids.PSCI_MIGRATE_INFO_UP_CPU, psci.migrate_info_up_cpu, advertised=False),
    _psci(ids.PSCI_MIGRATE_INFO_UP_CPU_64, psci.migrate_info_up_cpu,
          advertised=False),
    _psci(ids.PSCI_SYSTEM_OFF, psci.system_off),
    _psci(ids.PSCI_SYSTEM_RESET, psci.system_reset),
    _psci(ids.PSCI_FEATURES, psci.features, since=(1, 0)),
    _psci(ids.PSCI_SYSTEM_SUSPEND, psci.system_suspend, (1, 0), _KVM_TFA,
          ("system_suspend",)),
    _psci(ids.PSCI_SYSTEM_SUSPEND_64, psci.system_suspend, (1, 0), _KVM_TFA,
          ("system_suspend",)),
    _psci(ids.PSCI_SYSTEM_RESET2, psci.system_reset2, (1, 1), _KVM_TFA),
    _psci(ids.PSCI_SYSTEM_RESET2_64, psci.system_reset2, (1, 1), _KVM_TFA),
    # PSCI 1.3 (Linux 6.13 KVM); TF-A has no SYSTEM_OFF2 (its PSCI_MINOR_VER is 1)
    _psci(ids.PSCI_SYSTEM_OFF2, psci.system_off2, (1, 3), _KVM),
    _psci(ids.PSCI_SYSTEM_OFF2_64, psci.system_off2, (1, 3), _KVM),
    # PSCI 0.1's implementation-defined IDs: QEMU TCG always accepts them (psci.c); KVM
    # handles CPU_OFF and CPU_ON in a PSCI 0.1 VM only (kvm_psci_0_1_call), -1 otherwise
    _psci(ids.PSCI_0_1_CPU_SUSPEND, psci.cpu_suspend, profiles=_QEMU),
    _psci(ids.PSCI_0_1_CPU_OFF, psci.cpu_off, (0, 1), _KVM_QEMU, ("psci_0_1_ids",)),
    _psci(ids.PSCI_0_1_CPU_ON, psci.cpu_on, (0, 1), _KVM_QEMU, ("psci_0_1_ids",)),
    _psci(ids.PSCI_0_1_MIGRATE, psci.migrate, profiles=_QEMU, advertised=False),
    # TRNG 1.0, DEN0098 (reference §3)
    Entry(ids.TRNG_VERSION, trng.version, _KVM_TFA),
    Entry(ids.TRNG_FEATURES, trng.features, _KVM_TFA),
    Entry(ids.TRNG_GET_UUID, trng.get_uuid, _KVM_TFA),
    Entry(ids.TRNG_RND32, trng.rnd32, _KVM_TFA),
    Entry(ids.TRNG_RND64, trng.rnd64, _KVM_TFA),
    # KVM's vendor hypervisor service (reference §4.5)
    Entry(ids.VENDOR_HYP_CALL_UID, vendor_hyp.call_uid, _KVM),
    Entry(ids.VENDOR_HYP_KVM_FEATURES, vendor_hyp.kvm_features, _KVM),
    Entry(ids.VENDOR_HYP_KVM_PTP, vendor_hyp.ptp, _KVM),
    # PV time, DEN0057 (reference §1.2, §4.5)
    Entry(ids.PV_TIME_FEATURES, pv_time.features, _KVM, needs=("pv_time",)),
    Entry(ids.PV_TIME_ST, pv_time.stolen_time, _KVM, needs=("pv_time",)),
)

#: PSCI's IDs: fast, OEN 4, function 0x00-0x1F, SMC32 or SMC64 (DEN0022 §5.1).
_PSCI_RANGE_MASK, _PSCI_RANGE = MASK32 & ~FID_SMC64 & ~0x1F, ids.PSCI_VERSION

_WHY_UNKNOWN = "unknown function ID -> NOT_SUPPORTED (-1), DEN0028 §7"
_WHY_PSCI_UNKNOWN = "PSCI function this firmware does not implement -> NOT_SUPPORTED (-1)"
_WHY_DENY = "denied -> NOT_SUPPORTED (-1), as an unimplemented function"
_WHY_SMC_IMM = ("SMC with a non-zero immediate is reserved (DEN0028 §2.9): KVM writes x0 = -1 "
                "and does no SMCCC handling")
_WHY_QEMU_X0 = "QEMU compares all 64 bits of x0: upper half not zero -> NOT_SUPPORTED (-1)"


#: Handlers whose answer is the same for every call (the configuration decides it).
_CONSTANT = frozenset({
    arch.smccc_version, psci.version, psci.migrate, psci.migrate_info_type,
    psci.migrate_info_up_cpu, trng.version, trng.get_uuid, vendor_hyp.call_uid,
})


def _absent(why: str, env: Env, call: Call, platform: Platform, dry_run: bool) -> Answer:
    """A known function this configuration does not provide."""
    return env.result(-1, why)


@dataclass(frozen=True)
class Provided:
    """A function this firmware answers itself (for listings and completion)."""

    fid: int
    name: str
    service: str


_TITLES = {
    KVM: f"kvm: {MODELS[KVM]}: in-kernel answers (arch/arm64/kvm/hypercalls.c, psci.c, trng.c)",
    KVM_6_13: f"kvm-6.13: {MODELS[KVM_6_13]}: as kvm, plus PSCI 1.2/1.3 and SYSTEM_OFF2",
    QEMU: f"qemu: {MODELS[QEMU]}: its PSCI emulation (target/arm/psci.c), no other service",
    TFA: f"tf-a: {MODELS[TFA]} at EL3 (lib/psci, services/std_svc/trng)",
}
_NOTES = {
    KVM: (
        "registers: every answer writes x0..x3, unused results 0 (SYSTEM_RESET2: x0 only; "
        "SYSTEM_SUSPEND: none; workaround fast path: x0, x1)",
        "conduits: HVC and SMC; SMC #imm != 0 -> x0 = -1 only; the HVC immediate is not checked",
        "CPU_SUSPEND: every suspend is a WFI returning SUCCESS; CPU_ON never answers ON_PENDING",
        "AFFINITY_INFO: levels 0..3, ON if any matching vCPU is on",
        "SYSTEM_OFF/RESET (and OFF2, kvm-6.13) pre-load x0 = INTERNAL_FAILURE (-6) in case the "
        "guest is resumed",
        "PSCI 0.1 VM (--psci-version 0.1): only the 0.1 IDs CPU_OFF and CPU_ON; a running "
        "CPU_ON target -> INVALID_PARAMETERS",
        "TRNG 1.0: N = 0 succeeds with no bits; errors zero x1..x3",
        "vendor hyp: KVM UID; KVM_FEATURES bit 1 and PTP only with a platform clock",
    ),
    QEMU: (
        "registers: only x0 is written; x1..x3 keep the caller's values",
        "SMCCC_VERSION, ARCH_FEATURES, TRNG, vendor hyp and unknown IDs -> -1 (all 64 bits of x0 compared)",
        "CPU_SUSPEND: power_state bits 31:17 -> INVALID_PARAMETERS, else WFI (no power-down)",
        "CPU_ON: unaligned entry -> INVALID_PARAMETERS; never ON_PENDING (arm-powerctl.c)",
        "PSCI_VERSION: always 1.1",
        "AFFINITY_INFO: level 0 reports the vCPU's state; every other level says ON",
        "PSCI 0.1 IDs 0x95c1ba5e-0x95c1ba61 accepted; no SYSTEM_RESET2, SYSTEM_OFF2 or SYSTEM_SUSPEND",
    ),
    TFA: (
        "registers: PSCI answers and errors write x0 only; UUIDs and entropy write x0..x3",
        "function IDs: bit 16 (the SMCCC 1.3 SVE hint) is cleared before dispatch",
        "PSCI 1.1; no Trusted OS: MIGRATE, MIGRATE_INFO_TYPE and MIGRATE_INFO_UP_CPU -> -1",
        "CPU_SUSPEND: standby returns SUCCESS; power-down resumes at entry_point",
        "AFFINITY_INFO: lowest_affinity_level above 0 -> INVALID_PARAMETERS",
        "TRNG 1.0: N = 0 -> INVALID_PARAMETERS; the UUID of TF-A's Juno/TC back end "
        "(23523c58-7448-4083-9d16-e3fab9f173bc: TF-A's qemu platform has no TRNG)",
    ),
}


class Firmware:
    """The built-in handlers of one profile and configuration.

    `answer` is the emulator's hot path: a dict lookup and one handler call, no formatting.
    Only the TRNG stream is state; `dry_run=True` leaves it where it was."""

    def __init__(self, config: FirmwareConfig = FirmwareConfig()) -> None:
        self.config = config
        provided = tuple(e for e in TABLE if e.missing(config) is None)
        fids = {e.fid for e in provided}
        psci_features = {e.fid: psci.FEATURE_FLAGS.get(e.fid, 0)
                         for e in provided if e.service == _PSCI and e.advertised}
        if ids.SMCCC_VERSION in fids:
            psci_features[ids.SMCCC_VERSION] = 0  # the SMCCC discovery path (DEN0028 §7)
        smccc = config.smccc
        major, minor = config.psci
        self._env = Env(
            config=config,
            zero_fill=config.family == KVM,
            narrow=config.profile != QEMU,
            psci_word=major << 16 | minor,
            smccc_word=smccc[0] << 16 | smccc[1] if smccc is not None else None,
            psci_features=psci_features,
            arch_features=arch.feature_table(config),
            trng_ids=trng.TRNG_IDS if ids.TRNG_VERSION in fids else frozenset(),
            entropy=Entropy(config.seed),
        )
        dispatch: dict[int, Handler] = {e.fid: e.handler for e in provided}
        for entry in TABLE:
            if entry.fid not in dispatch:
                dispatch[entry.fid] = partial(_absent, entry.missing(config) or entry.name)
        self._dispatch = dispatch
        self._provided = tuple(Provided(e.fid, e.name, e.service) for e in provided)
        self._kvm = config.family == KVM
        self._qemu = config.profile == QEMU
        # QEMU and TF-A see only their own instruction; the other one is UNDEFINED (ref §5.1).
        self._only_conduit = None if self._kvm else config.conduit
        # TF-A clears bit 16 of every function ID before dispatch (common/runtime_svc.c).
        self._sve_hint = config.profile == TFA
        self._why_undefined = (f"{config.profile}: only {config.conduit.upper()} is a firmware call; "
                               "this instruction is UNDEFINED")

    def answer(self, call: Call, platform: Platform, *, dry_run: bool = False) -> Answer:
        """What this firmware answers `call`; with dry_run, without advancing any state."""
        if self._only_conduit is not None and call.conduit != self._only_conduit:
            return Answer({}, Undefined(), self._why_undefined)
        if self._kvm and call.imm and call.conduit == SMC:
            return Answer({0: MASK64}, None, _WHY_SMC_IMM)
        fid = call.fid
        if self._sve_hint and fid & FID_FAST:  # SMCCC 1.3 SVE hint (ref §1.1)
            fid &= ~FID_SVE_HINT
        if self._qemu and call.regs[0] >> 32:
            return self._env.result(-1, _WHY_QEMU_X0)
        handler = self._dispatch.get(fid)
        if handler is None:
            why = _WHY_PSCI_UNKNOWN if fid & _PSCI_RANGE_MASK == _PSCI_RANGE else _WHY_UNKNOWN
            return self._env.result(-1, why)
        return handler(self._env, call, platform, dry_run)

    def constant(self, fid: int) -> bool:
        """Whether this firmware's answer to `fid` (x0 = fid, upper half zero) depends on
        nothing but its configuration: not on the arguments, the machine or any state, and
        changes nothing. The session may then give the first answer again without asking
        (machine/fastcalls.py)."""
        if self._sve_hint and fid & FID_FAST:
            fid &= ~FID_SVE_HINT
        handler = self._dispatch.get(fid)
        return handler is None or isinstance(handler, partial) or handler in _CONSTANT

    def deny(self, call: Call) -> Answer:
        """NOT_SUPPORTED as this profile writes it: kvm x0 = -1 and x1..x3 = 0 (what KVM's
        SMCCC filter DENY does, reference §1.5, §4.4 row 7); qemu and tf-a x0 = -1 only."""
        return self._env.result(-1, _WHY_DENY)

    @property
    def entropy_used(self) -> int:
        """Bytes of TRNG entropy handed out so far (dry runs excluded)."""
        return self._env.entropy.consumed

    def seed_entropy(self, seed: int) -> None:
        """TRNG answers from now on come from the replayable stream of `seed` (a recording
        started at the prompt keeps it in its header, as --record does)."""
        self.config = replace(self.config, seed=seed)
        self._env.entropy.reseed(seed)

    def save_state(self) -> object:
        """The state answers advance (the TRNG stream), for a checkpoint; PSCI keeps none of
        its own (power states are the machine's)."""
        return self._env.entropy.save_state()

    def restore_state(self, state: object) -> None:
        """Back to a `save_state()`."""
        self._env.entropy.restore_state(state)  # type: ignore[arg-type]

    def features(self) -> tuple[Provided, ...]:
        """The functions this firmware answers itself, in table order."""
        return self._provided

    def describe_profile(self) -> tuple[str, ...]:
        """Lines saying what this profile and configuration answer differently."""
        c = self.config
        env = self._env
        lines = [_TITLES[c.profile]]
        smccc = (f"SMCCC {c.smccc[0]}.{c.smccc[1]} ({env.smccc_word:#x})" if c.smccc is not None
                 else "SMCCC_VERSION not implemented (-1, read as SMCCC 1.0)")
        lines.append(f"PSCI {c.psci[0]}.{c.psci[1]} ({env.psci_word:#x}); {smccc}")
        if self._only_conduit is not None:
            lines.append(f"conduit: {c.conduit.upper()} only; the other instruction is UNDEFINED")
        lines.extend(_NOTES[c.family])
        if c.smccc is not None:
            wa = ", ".join(f"WA{n} {v:+d}" for n, v in enumerate(c.workarounds, 1))
            lines.append(f"ARCH_FEATURES: {wa}" + (", SOC_ID 0" if c.soc_id is not None else ""))
        if c.family == KVM and c.check_entry:
            lines.append("hcdbg check: CPU_ON/SYSTEM_SUSPEND entry not 4-byte aligned -> INVALID_ADDRESS "
                         "(KVM itself does not check; check_entry=False)")
        if c.profile != QEMU:
            lines.append("SYSTEM_SUSPEND: " + ("offered (DENIED while another vCPU is on)"
                                               if c.system_suspend else "not offered"))
        if c.family == KVM:
            lines.append("PV time: " + ("off" if not c.pv_time else
                                        "on, stolen-time records at " + (
                                            f"{c.pv_time_base:#x} + 64 * vCPU" if c.pv_time_base is not None
                                            else "none (FEATURES/ST answer -1)")))
        if c.profile != QEMU:
            lines.append("TRNG entropy: " + ("os.urandom" if c.seed is None else
                                             f"replayable stream from seed {c.seed}"))
        return tuple(lines)
