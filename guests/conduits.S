// conduits.S - the same call through different conduits and encodings.
//
//  * PSCI_VERSION through HVC #0, SMC #0 and HVC #1. SMCCC (DEN0028 2.9)
//    reserves non-zero immediates; KVM ignores the HVC immediate but
//    answers SMC #imm != 0 with -1 (reference 1.4). With no EL3 (QEMU
//    without firmware, hcdbg by default) SMC at EL1 is UNDEFINED: the
//    exception handler in common.S steps over it and the line reads
//    "-> UNDEFINED".
//  * AFFINITY_INFO(0, level 0) in its SMC32 (0x84000004) and SMC64
//    (0xC4000004) forms: same answer, ON for the boot CPU (reference 2.4).
//  * Function IDs nobody implements: SiP (OEN 2) and vendor-specific
//    hypervisor (OEN 6) SMC64 IDs -> -1 sign-extended (DEN0028B onward,
//    reference 1.5), and the vendor-hypervisor Call UID (0x8600FF01) whose
//    x0..x3 name the hypervisor (KVM's UID, reference 4.5).
        .include "common.S"

        .text
        .global main
        .type   main, %function
main:
        str     x30, [sp, #-16]!
        CALL_PRINT "PSCI_VERSION hvc#0", 0x84000000
        CALL_PRINT "PSCI_VERSION smc#0", 0x84000000, conduit=smc
        CALL_PRINT "PSCI_VERSION hvc#1", 0x84000000, imm=1
        CALL_PRINT "AFFINITY_INFO32", 0x84000004, a1=0, a2=0, argp=1
        CALL_PRINT "AFFINITY_INFO64", 0xC4000004, a1=0, a2=0, argp=1
        CALL_PRINT "UNKNOWN(0xc2001234)", 0xC2001234
        CALL_PRINT "UNKNOWN(0xc6001234)", 0xC6001234
        CALL_PRINT "VENDOR_HYP_CALL_UID", 0x8600FF01, all=1
        ldr     x30, [sp], #16
        ret
        .size   main, . - main
