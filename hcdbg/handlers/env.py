"""Env: what a handler reads about the firmware it belongs to, and how it writes answers."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hcdbg.handlers.base import Answer, Call, Effect, Platform
from hcdbg.handlers.config import FirmwareConfig
from hcdbg.handlers.entropy import Entropy
from hcdbg.smccc.ids import FID_SMC64, MASK32, MASK64, PSCI_0_1_CPU_SUSPEND, PSCI_0_1_MIGRATE

#: PSCI 0.1's IDs, 0x95C1BA5E-0x95C1BA61: bit 30 clear, yet they predate SMCCC and KVM reads
#: their arguments as whole registers (kvm_psci_0_1_call does not narrow).
_PSCI_0_1_IDS = range(PSCI_0_1_CPU_SUSPEND, PSCI_0_1_MIGRATE + 1)

_RESULTS_KEPT = 1024  # bound on Env's cache of one-value results (x0 can come from a call)

#: A built-in handler: (env, call, platform, dry_run) -> answer. Pure apart from `env.entropy`,
#: which it may only advance when dry_run is False.
Handler = Callable[["Env", Call, Platform, bool], Answer]


@dataclass(frozen=True)
class Env:
    """The fixed facts of one Firmware, computed once so handlers stay cheap."""

    config: FirmwareConfig
    zero_fill: bool  # write x1..x3 = 0 with every result (KVM's smccc_set_retval)
    narrow: bool  # SMC32 IDs read w1..w3 only (KVM narrows, TF-A truncates; QEMU reads x1..x3)
    psci_word: int  # PSCI_VERSION's answer
    smccc_word: int | None  # SMCCC_VERSION's answer; None = not implemented
    psci_features: Mapping[int, int]  # PSCI_FEATURES answers that are not -1
    arch_features: Mapping[int, int]  # SMCCC_ARCH_FEATURES answers that are not -1
    trng_ids: frozenset[int]  # TRNG_FEATURES answers 0 for these
    entropy: Entropy
    #: One-value results already made, by (x0, why): most calls get one of a few answers.
    #: Answers are values: nobody changes their registers, so they can be shared.
    _results: dict[tuple[int, str], Answer] = field(default_factory=dict, repr=False, compare=False)

    @property
    def profile(self) -> str:
        """The family whose rules apply: "kvm" for both KVM profiles, "qemu" or "tf-a"."""
        return self.config.family

    def result(self, x0: int, why: str, effect: Effect | None = None) -> Answer:
        """A one-value result: x0, plus x1..x3 = 0 where the profile zeroes them."""
        if effect is None:
            answer = self._results.get((x0, why))
            if answer is None:
                answer = self._result(x0, why, None)
                if len(self._results) < _RESULTS_KEPT:
                    self._results[(x0, why)] = answer
            return answer
        return self._result(x0, why, effect)

    def _result(self, x0: int, why: str, effect: Effect | None) -> Answer:
        if self.zero_fill:
            return Answer({0: x0 & MASK64, 1: 0, 2: 0, 3: 0}, effect, why)
        return Answer({0: x0 & MASK64}, effect, why)

    @staticmethod
    def results(x0: int, x1: int, x2: int, x3: int, why: str) -> Answer:
        """A four-value result (UUIDs, entropy, clocks): every profile writes x0..x3."""
        return Answer({0: x0 & MASK64, 1: x1 & MASK64, 2: x2 & MASK64, 3: x3 & MASK64}, None, why)

    def args(self, call: Call) -> tuple[int, int, int]:
        """x1..x3 as this profile reads them: SMC32 IDs see only w1..w3 (DEN0028 §2.6) when
        the profile narrows; QEMU uses the full registers (target/arm/tcg/psci.c)."""
        r = call.regs
        if self.narrow and not call.fid & FID_SMC64 and call.fid not in _PSCI_0_1_IDS:
            return r[1] & MASK32, r[2] & MASK32, r[3] & MASK32
        return r[1], r[2], r[3]
