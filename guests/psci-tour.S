// psci-tour.S - a tour of PSCI (Arm DEN0022) on several CPUs; the default
// guest, meant for -smp 4.
//
//  1. PSCI_VERSION.
//  2. PSCI_FEATURES for every function ID of PSCI 0.2 .. 1.3, both
//     SMC32 and SMC64 forms, and for SMCCC_VERSION (reference 2.1, 2.6).
//  3. MIGRATE_INFO_TYPE (reference 2.5).
//  4. For mpidr = 1, 2, 3, ...: CPU_ON (SMC64 form, reference 2.3) with
//     entry = secondary_entry and context_id = 0x1000 + mpidr, until the
//     first answer that is not SUCCESS (INVALID_PARAMETERS: no such CPU).
//     After each SUCCESS the boot CPU polls AFFINITY_INFO (reference 2.4)
//     silently while it says ON_PENDING and prints the first other answer
//     (ON), then lets the new CPU print two lines and call CPU_OFF, then
//     polls AFFINITY_INFO silently while it says ON and prints the answer
//     (OFF).
//
// Determinism under QEMU TCG (one host thread per vCPU): only one CPU
// writes to the UART at a time. The boot CPU hands the UART over with
// `go_flag` and gets it back with `done_flag`; both hold the context id of
// the CPU concerned, so a value from an earlier round can never match. Each
// hand-over is `dsb sy` (UART writes complete) + `stlr` + `sev`; each waiter
// spins on `ldar` + `wfe` (and the AFFINITY_INFO polls on `yield`): hints
// QEMU may switch vCPUs on; under Unicorn they are no-ops and a waiter spins
// until its time slice ends.
//
// QEMU 7.2 (TCG) quirk: CPU_ON returns SUCCESS before the target vCPU
// thread has run the work that powers it on, and until then AFFINITY_INFO
// says OFF (1), not ON_PENDING (QEMU's arm_set_cpu_on() only queues that
// work; it never sets the ON_PENDING state). So the new CPU checks in through
// `alive_flag` first thing, and the boot CPU also keeps polling while the
// answer is OFF and the CPU had not checked in *before* that poll (reading
// the flag first makes "checked in, yet OFF" a real answer, not a race).
// Under KVM and hcdbg CPU_ON completes synchronously and the first poll
// already says ON.
//
// If a secondary's CPU_OFF returns (it must not: DENIED is the only
// failure), the secondary stores the answer for the boot CPU, which prints
// "CPU_OFF -> ..." and goes on with the next CPU.
        .include "common.S"

        .equ PSCI_FEATURES_ID,     0x8400000A
        .equ PSCI_CPU_OFF_ID,      0x84000002
        .equ PSCI_CPU_ON64_ID,     0xC4000003
        .equ PSCI_AFF_INFO64_ID,   0xC4000004
        .equ AFF_ON,               0          // AFFINITY_INFO results (reference 2.4)
        .equ AFF_OFF,              1
        .equ AFF_ON_PENDING,       2
        .equ CTX_BASE,             0x1000     // context_id = CTX_BASE + mpidr
        .equ MPIDR_AFF_MASK,       0xff00ffffff   // Aff3, Aff2, Aff1, Aff0

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-64]!
        stp     x19, x20, [sp, #16]
        stp     x21, x22, [sp, #32]
        str     x23, [sp, #48]

        CALL_PRINT "PSCI_VERSION", 0x84000000

        // PSCI_FEATURES(fid) for every fid in the table below.
        adr     x19, psci_fids
        adr     x20, psci_fids_end
1:      ldr     w21, [x19], #4
        MOVQ    x0, PSCI_FEATURES_ID
        mov     x1, x21
        mov     x2, #0
        mov     x3, #0
        SMCCC
        adr     x4, str_psci_features
        mov     x5, x21
        mov     x6, #REPORT_ARG
        mrs     x7, tpidr_el1
        bl      report
        cmp     x19, x20
        b.lo    1b

        CALL_PRINT "MIGRATE_INFO_TYPE", 0x84000006

        // x20 = mpidr of the CPU to start, x21 = its context id.
        mov     x20, #1
cpu_loop:
        cmp     x20, #MAX_CPUS              // never beyond our stack slots
        b.hs    tour_done
        add     x21, x20, #CTX_BASE

        MOVQ    x0, PSCI_CPU_ON64_ID
        mov     x1, x20                     // target_cpu
        adr     x2, secondary_entry         // entry_point_address (MMU off: PA)
        mov     x3, x21                     // context_id
        SMCCC
        mrs     x7, tpidr_el1
        mov     x22, x0
        orr     x22, x22, x7                // non-zero: not SUCCESS, or UNDEFINED
        bl      report_cpu_on
        cbnz    x22, tour_done              // INVALID_PARAMETERS: no such CPU

        // CPU_ON may return before the CPU runs: wait out ON_PENDING (and
        // QEMU's transient OFF, see the header).
2:      adr     x9, alive_flag
        ldar    x23, [x9]                   // snapshot *before* asking
        mov     x0, x20
        bl      affinity_info
        cbnz    x7, 3f
        cmp     x0, #AFF_ON_PENDING
        b.eq    7f
        cmp     x0, #AFF_OFF
        b.ne    3f
        cmp     x23, x21
        b.eq    3f                          // had checked in, yet OFF: report it
7:      yield
        b       2b
3:      mov     x22, x0
        orr     x22, x22, x7                // non-zero: not ON (or UNDEFINED)
        bl      report_affinity
        cbnz    x22, cpu_next               // not running: nobody to wait for

        // Hand the UART to the new CPU ...
        dsb     sy
        adr     x9, go_flag
        stlr    x21, [x9]
        sev
        // ... and wait until it has printed its lines.
        adr     x9, done_flag
4:      ldar    x10, [x9]
        cmp     x10, x21
        b.eq    5f
        wfe
        b       4b

        // Poll silently while it is still ON (it is on its way to CPU_OFF).
5:      adr     x9, off_failed
        ldar    x10, [x9]
        cmp     x10, x21
        b.eq    cpu_off_failed
        mov     x0, x20
        bl      affinity_info
        cbnz    x7, 6f
        cmp     x0, #AFF_ON
        b.ne    6f
        yield
        b       5b
6:      bl      report_affinity             // expected: OFF (1)
        b       cpu_next

cpu_off_failed:                             // print the secondary's answer
        adr     x9, off_result
        ldr     x0, [x9]
        adr     x9, off_undef
        ldr     x7, [x9]
        adr     x4, str_cpu_off
        mov     x6, #0
        bl      report

cpu_next:
        add     x20, x20, #1
        b       cpu_loop

tour_done:
        ldr     x23, [sp, #48]
        ldp     x21, x22, [sp, #32]
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #64
        ret
        .size   main, . - main

// affinity_info: x0 = target mpidr -> x0 = AFFINITY_INFO(target, level 0),
// x7 = UNDEFINED flag. Silent.
        .type   affinity_info, %function
affinity_info:
        mov     x1, x0                      // target_affinity
        MOVQ    x0, PSCI_AFF_INFO64_ID
        mov     x2, #0                      // lowest_affinity_level
        mov     x3, #0
        SMCCC
        mrs     x7, tpidr_el1
        ret
        .size   affinity_info, . - affinity_info

// report_cpu_on / report_affinity: x0 = answer, x7 = UNDEFINED flag,
// x20 = mpidr; print "CPU_ON(0x<mpidr>) -> ..." / "AFFINITY_INFO(...)".
        .type   report_cpu_on, %function
report_cpu_on:
        adr     x4, str_cpu_on
        b       1f
report_affinity:
        adr     x4, str_affinity_info
1:      mov     x5, x20
        mov     x6, #REPORT_ARG
        b       report                      // tail call
        .size   report_cpu_on, . - report_cpu_on

// ---------------------------------------------------------------------------
// Secondary CPUs start here (CPU_ON semantics, reference 2.3): EL1 (no EL2 on QEMU's default
// virt), MMU off, x0 = context_id. Stack slot = context_id - CTX_BASE, i.e.
// the mpidr the boot CPU started.
// ---------------------------------------------------------------------------
        .global secondary_entry
        .type   secondary_entry, %function
secondary_entry:
        mov     x19, x0                     // context id
        sub     x0, x19, #CTX_BASE
        bl      stack_top_of                // leaf: usable before we have a stack
        mov     sp, x0
        bl      install_vectors             // VBAR_EL1 is per CPU

        adr     x9, alive_flag              // check in (see the header)
        stlr    x19, [x9]
        sev

        adr     x9, go_flag                 // wait for our turn at the UART
1:      ldar    x10, [x9]
        cmp     x10, x19
        b.eq    2f
        wfe
        b       1b

2:      mrs     x20, mpidr_el1              // bit 31 is RES1, U/MT are not Aff
        MOVQ    x9, MPIDR_AFF_MASK
        and     x20, x20, x9
        adr     x0, str_cpu
        bl      puts
        mov     x0, x20
        bl      put_hex
        adr     x0, str_up_context
        bl      puts
        mov     x0, x19
        bl      put_hex
        bl      put_nl
        adr     x0, str_cpu_off_line
        bl      puts

        dsb     sy                          // give the UART back
        adr     x9, done_flag
        stlr    x19, [x9]
        sev

        MOVQ    x0, PSCI_CPU_OFF_ID
        mov     x1, #0
        mov     x2, #0
        mov     x3, #0
        SMCCC
        // CPU_OFF returned, so it failed: leave the answer to the boot CPU.
        mrs     x7, tpidr_el1
        adr     x9, off_result
        str     x0, [x9]
        adr     x9, off_undef
        str     x7, [x9]
        adr     x9, off_failed
        stlr    x19, [x9]
        sev
3:      wfi
        b       3b
        .size   secondary_entry, . - secondary_entry

// ---------------------------------------------------------------------------
        .section .rodata
        .balign 4
// Every PSCI 0.2 .. 1.3 function ID, SMC32 then SMC64 form (reference 2.1),
// then SMCCC_VERSION, which PSCI_FEATURES also answers (reference 2.6).
psci_fids:
        .word   0x84000000                  // PSCI_VERSION
        .word   0x84000001, 0xC4000001      // CPU_SUSPEND
        .word   0x84000002                  // CPU_OFF
        .word   0x84000003, 0xC4000003      // CPU_ON
        .word   0x84000004, 0xC4000004      // AFFINITY_INFO
        .word   0x84000005, 0xC4000005      // MIGRATE
        .word   0x84000006                  // MIGRATE_INFO_TYPE
        .word   0x84000007, 0xC4000007      // MIGRATE_INFO_UP_CPU
        .word   0x84000008                  // SYSTEM_OFF
        .word   0x84000009                  // SYSTEM_RESET
        .word   0x8400000A                  // PSCI_FEATURES (1.0)
        .word   0x8400000B                  // CPU_FREEZE (1.0)
        .word   0x8400000C, 0xC400000C      // CPU_DEFAULT_SUSPEND (1.0)
        .word   0x8400000D, 0xC400000D      // NODE_HW_STATE (1.0)
        .word   0x8400000E, 0xC400000E      // SYSTEM_SUSPEND (1.0)
        .word   0x8400000F                  // PSCI_SET_SUSPEND_MODE (1.0)
        .word   0x84000010, 0xC4000010      // PSCI_STAT_RESIDENCY (1.0)
        .word   0x84000011, 0xC4000011      // PSCI_STAT_COUNT (1.0)
        .word   0x84000012, 0xC4000012      // SYSTEM_RESET2 (1.1)
        .word   0x84000013                  // MEM_PROTECT (1.1)
        .word   0x84000014, 0xC4000014      // MEM_PROTECT_CHECK_RANGE (1.1)
        .word   0x84000015, 0xC4000015      // SYSTEM_OFF2 (1.3)
        .word   0xC4000016                  // CLEAN_INV_MEMREGION (1.3)
        .word   0x84000017                  // CLEAN_INV_MEMREGION_ATTRIBUTES (1.3)
        .word   0x80000000                  // SMCCC_VERSION
psci_fids_end:

str_psci_features:  .asciz "PSCI_FEATURES"
str_cpu_on:         .asciz "CPU_ON"
str_affinity_info:  .asciz "AFFINITY_INFO"
str_cpu_off:        .asciz "CPU_OFF"
str_cpu_off_line:   .asciz "CPU_OFF\n"
str_cpu:            .asciz "cpu "
str_up_context:     .asciz " up, context "

// Hand-over flags (see the header). Written with stlr, read with ldar.
        .bss
        .balign 8
alive_flag: .quad 0     // context id of the CPU that last started running
go_flag:    .quad 0     // context id of the CPU that may print now
done_flag:  .quad 0     // context id of the CPU that has finished printing
off_failed: .quad 0     // context id of a CPU whose CPU_OFF returned
off_result: .quad 0     // ... and the x0 it got
off_undef:  .quad 0     // ... and whether the call was UNDEFINED
