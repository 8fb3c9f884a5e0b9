// smccc-probe.S - SMCCC discovery, the way an OS does it (reference 1.6):
// PSCI_VERSION, then PSCI_FEATURES(SMCCC_VERSION) to learn whether
// SMCCC_VERSION may be called (PSCI >= 1.0, reference 2.6), SMCCC_VERSION
// itself (DEN0028, SMCCC >= 1.1), SMCCC_ARCH_FEATURES for the architecture
// calls and the Spectre workarounds, and SMCCC_ARCH_SOC_ID for the SoC
// version (0) and revision (1).
//
// It is a probe: every call is made and printed, whatever the earlier
// answers said (a real OS would stop at the first -1).
        .include "common.S"

        .text
        .global main
        .type   main, %function
main:
        str     x30, [sp, #-16]!
        CALL_PRINT "PSCI_VERSION", 0x84000000
        CALL_PRINT "PSCI_FEATURES", 0x8400000A, a1=0x80000000, argp=1   // SMCCC_VERSION
        CALL_PRINT "SMCCC_VERSION", 0x80000000

        // SMCCC_ARCH_FEATURES(w1 = queried function ID)
        CALL_PRINT "SMCCC_ARCH_FEATURES", 0x80000001, a1=0x80000000, argp=1  // SMCCC_VERSION
        CALL_PRINT "SMCCC_ARCH_FEATURES", 0x80000001, a1=0x80000001, argp=1  // SMCCC_ARCH_FEATURES
        CALL_PRINT "SMCCC_ARCH_FEATURES", 0x80000001, a1=0x80000002, argp=1  // SMCCC_ARCH_SOC_ID
        CALL_PRINT "SMCCC_ARCH_FEATURES", 0x80000001, a1=0x80008000, argp=1  // WORKAROUND_1 (Spectre v2)
        CALL_PRINT "SMCCC_ARCH_FEATURES", 0x80000001, a1=0x80007FFF, argp=1  // WORKAROUND_2 (SSBD)
        CALL_PRINT "SMCCC_ARCH_FEATURES", 0x80000001, a1=0x80003FFF, argp=1  // WORKAROUND_3 (Spectre-BHB)

        // SMCCC_ARCH_SOC_ID(w1 = 0: SoC version, 1: SoC revision)
        CALL_PRINT "SMCCC_ARCH_SOC_ID", 0x80000002, a1=0, argp=1
        CALL_PRINT "SMCCC_ARCH_SOC_ID", 0x80000002, a1=1, argp=1
        ldr     x30, [sp], #16
        ret
        .size   main, . - main
