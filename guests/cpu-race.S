// cpu-race.S - the PSCI CPU_ON race rule (DEN0022 5.1.4, reference 2.3):
// when several CPUs try to start the same CPU at once, exactly one gets
// SUCCESS and every other one ALREADY_ON (-4). Meant for -smp 4.
//
//  1. The boot CPU (mpidr 0) starts the two other racers, mpidr 1 and 2,
//     with CPU_ON (SMC64 form) at racer_entry, context_id = 0x1000 + mpidr,
//     printing "CPU_ON(0x1) -> ..." and "CPU_ON(0x2) -> ...". Each new racer
//     checks in through its `alive` slot and then waits for the `go` flag.
//  2. Once both have checked in, the boot CPU sets `go` and all three
//     racers run the same routine, `race`: CPU_ON(target mpidr 3,
//     target_entry, context_id = 0x3000 + racer). Each stores its x0 (and
//     whether the call was UNDEFINED) in its own slot and posts it.
//  3. Racers 1 and 2 then call CPU_OFF; CPU 3, once started, checks in
//     through `alive` and calls CPU_OFF too.
//  4. The boot CPU waits for every posted result and, if some racer won,
//     for CPU 3 to check in; then it polls AFFINITY_INFO (silently) until
//     each of CPU 1, 2 and 3 says OFF, prints one line per racer in racer
//     order:
//         RACE cpu 0x0 CPU_ON(0x3) -> 0x...
//         RACE cpu 0x1 CPU_ON(0x3) -> 0x...
//         RACE cpu 0x2 CPU_ON(0x3) -> 0x...
//     and the counts "RACE successes=N already_on=M" (decimal), then powers
//     off. Expected (KVM, hcdbg): successes=1 already_on=2. Which racer wins
//     depends on the scheduler and is not part of the rule.
//
// Only the boot CPU writes to the UART, so the line order is fixed whatever
// the interleaving. Flags are written with `stlr` (after the data they
// publish) + `sev` and read with `ldar`; waiters spin on `wfe`, the
// AFFINITY_INFO polls on `yield` (hints: QEMU may switch vCPUs there; under
// Unicorn both are no-ops and a waiter spins until its slice ends).
//
// QEMU 7.2 (TCG) is not an oracle for this race (reference unicorn-aarch64.md
// "PSCI details that real guests check"): arm_set_cpu_on() tests the target's
// power state and only *queues* the work that powers it on, so two racers
// can both see OFF and both get SUCCESS. Until that work has run AFFINITY_INFO
// says OFF, which is why CPU 3 must check in before the boot CPU believes an
// OFF answer for it (as psci-tour does for every secondary).
//
// A racer that does not exist (fewer than 3 vCPUs: CPU_ON(0x1) or (0x2) not
// SUCCESS) sits the race out and gets no RACE line; with no winner at all
// nobody waits for CPU 3. If a CPU_OFF returns (it must not), that CPU
// posts the answer and the boot CPU prints "CPU_OFF(0x<mpidr>) -> ..."
// instead of waiting for it to go OFF.
        .include "common.S"

        .equ PSCI_CPU_OFF_ID,      0x84000002
        .equ PSCI_CPU_ON64_ID,     0xC4000003
        .equ PSCI_AFF_INFO64_ID,   0xC4000004
        .equ PSCI_ALREADY_ON,      -4          // reference 2.2
        .equ AFF_OFF,              1           // AFFINITY_INFO result (reference 2.4)
        .equ CTX_BASE,             0x1000      // racer context_id = CTX_BASE + mpidr
        .equ CTX_RACE,             0x3000      // target context_id = CTX_RACE + racer
        .equ NRACERS,              3           // mpidr 0, 1, 2
        .equ TARGET,               3           // the CPU they all try to start

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-64]!
        stp     x19, x20, [sp, #16]
        stp     x21, x22, [sp, #32]
        stp     x23, x24, [sp, #48]

        // 1. Start racers 1 and 2. x21 = bit mask of the racers taking part
        // (bit 0: the boot CPU always does).
        mov     x21, #1
        mov     x20, #1
1:      MOVQ    x0, PSCI_CPU_ON64_ID
        mov     x1, x20                     // target_cpu
        adr     x2, racer_entry             // entry_point_address (MMU off: PA)
        add     x3, x20, #CTX_BASE          // context_id
        SMCCC
        mrs     x7, tpidr_el1
        orr     x22, x0, x7                 // zero: SUCCESS, not UNDEFINED
        adr     x4, str_cpu_on
        mov     x5, x20
        mov     x6, #REPORT_ARG
        bl      report                      // CPU_ON(0x<mpidr>) -> ...
        cbnz    x22, 2f
        mov     x9, #1
        lsl     x9, x9, x20
        orr     x21, x21, x9
2:      add     x20, x20, #1
        cmp     x20, #NRACERS
        b.lo    1b

        // Wait until every started racer has checked in (CPU_ON may return
        // before the CPU runs: QEMU, see the header).
        mov     x20, #1
3:      lsr     x9, x21, x20
        tbz     x9, #0, 5f
        adr     x9, alive
        add     x9, x9, x20, lsl #3
        add     x22, x20, #CTX_BASE
4:      ldar    x10, [x9]
        cmp     x10, x22
        b.eq    5f
        wfe
        b       4b
5:      add     x20, x20, #1
        cmp     x20, #NRACERS
        b.lo    3b

        // 2. Go: everyone, the boot CPU included, races for CPU 3.
        mov     x9, #1
        adr     x10, go
        stlr    x9, [x10]
        sev
        mov     x19, #0
        bl      race

        // 4. Wait for every racer's result.
        mov     x20, #0
6:      lsr     x9, x21, x20
        tbz     x9, #0, 8f
        adr     x9, posted
        add     x9, x9, x20, lsl #3
7:      ldar    x10, [x9]
        cbnz    x10, 8f
        wfe
        b       7b
8:      add     x20, x20, #1
        cmp     x20, #NRACERS
        b.lo    6b

        // Count the answers: x23 = SUCCESS, x24 = ALREADY_ON (not UNDEFINED).
        mov     x23, #0
        mov     x24, #0
        mov     x20, #0
9:      lsr     x9, x21, x20
        tbz     x9, #0, 10f
        adr     x9, results
        ldr     x0, [x9, x20, lsl #3]
        adr     x9, undefs
        ldr     x7, [x9, x20, lsl #3]
        cbnz    x7, 10f
        cmp     x0, #0
        cinc    x23, x23, eq
        cmn     x0, #-PSCI_ALREADY_ON       // x0 == -4
        cinc    x24, x24, eq
10:     add     x20, x20, #1
        cmp     x20, #NRACERS
        b.lo    9b

        // Somebody started CPU 3: wait for it to check in before an OFF
        // answer about it can be believed.
        cbz     x23, 12f
        adr     x9, alive
        add     x9, x9, #(TARGET * 8)
11:     ldar    x10, [x9]
        cbnz    x10, 12f
        wfe
        b       11b

        // Wait (silently) until CPUs 1..3 are OFF. A racer that sat out is
        // OFF already; so is CPU 3 when nobody won.
12:     mov     x20, #1
13:     mov     x0, x20
        bl      wait_off
        add     x20, x20, #1
        cmp     x20, #TARGET
        b.ls    13b

        // The race lines, in racer order.
        mov     x20, #0
14:     lsr     x9, x21, x20
        tbz     x9, #0, 15f
        adr     x0, str_race_cpu
        bl      puts                        // "RACE cpu "
        mov     x0, x20
        bl      put_hex
        mov     w0, #' '
        bl      putc
        adr     x9, results
        ldr     x0, [x9, x20, lsl #3]
        adr     x9, undefs
        ldr     x7, [x9, x20, lsl #3]
        adr     x4, str_cpu_on
        mov     x5, #TARGET
        mov     x6, #REPORT_ARG
        bl      report                      // "CPU_ON(0x3) -> ..."
15:     add     x20, x20, #1
        cmp     x20, #NRACERS
        b.lo    14b

        adr     x0, str_successes
        bl      puts
        add     w0, w23, #'0'               // at most 3: one decimal digit
        bl      putc
        adr     x0, str_already_on
        bl      puts
        add     w0, w24, #'0'
        bl      putc
        bl      put_nl

        ldp     x23, x24, [sp, #48]
        ldp     x21, x22, [sp, #32]
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #64
        ret                                 // -> SYSTEM_OFF (common.S)
        .size   main, . - main

// race: x19 = racer index (= its mpidr). Wait for `go`, CPU_ON(TARGET),
// store x0 and the UNDEFINED flag in the racer's slots, post them.
// Every racer runs exactly this code, so none has a head start.
// Clobbers x0-x10.
        .type   race, %function
race:
        adr     x9, go
1:      ldar    x10, [x9]
        cbnz    x10, 2f
        wfe
        b       1b
2:      MOVQ    x0, PSCI_CPU_ON64_ID
        mov     x1, #TARGET                 // target_cpu
        adr     x2, target_entry            // entry_point_address
        add     x3, x19, #CTX_RACE          // context_id: who started it
        SMCCC
        mrs     x7, tpidr_el1
        adr     x9, results
        str     x0, [x9, x19, lsl #3]
        adr     x9, undefs
        str     x7, [x9, x19, lsl #3]
        adr     x9, posted
        add     x9, x9, x19, lsl #3
        mov     x10, #1
        stlr    x10, [x9]                   // after the result it publishes
        sev
        ret
        .size   race, . - race

// wait_off: x0 = mpidr. Poll AFFINITY_INFO(x0, level 0) until it says OFF
// (or is not a plain answer), yielding in between; stop early if that CPU
// posted a failed CPU_OFF, and print "CPU_OFF(0x<mpidr>) -> <its answer>".
// Clobbers x0-x15.
        .type   wait_off, %function
wait_off:
        stp     x29, x30, [sp, #-32]!
        str     x19, [sp, #16]
        mov     x19, x0
1:      adr     x9, off_failed
        add     x9, x9, x19, lsl #3
        ldar    x10, [x9]
        cbnz    x10, 3f
        MOVQ    x0, PSCI_AFF_INFO64_ID
        mov     x1, x19                     // target_affinity
        mov     x2, #0                      // lowest_affinity_level
        mov     x3, #0
        SMCCC
        mrs     x7, tpidr_el1
        cbnz    x7, 2f                      // UNDEFINED: nothing to wait for
        cmp     x0, #AFF_OFF
        b.eq    2f
        cmp     x0, #2                      // ON (0) or ON_PENDING (2): wait
        b.hi    2f                          // an error code: give up
        yield
        b       1b
2:      ldr     x19, [sp, #16]
        ldp     x29, x30, [sp], #32
        ret
3:      adr     x9, off_results
        ldr     x0, [x9, x19, lsl #3]
        adr     x9, off_undefs
        ldr     x7, [x9, x19, lsl #3]
        adr     x4, str_cpu_off
        mov     x5, x19
        mov     x6, #REPORT_ARG
        bl      report
        b       2b
        .size   wait_off, . - wait_off

// ---------------------------------------------------------------------------
// Racers 1 and 2 start here (x0 = context_id = CTX_BASE + mpidr), CPU 3 at
// target_entry (x0 = CTX_RACE + the winning racer). EL1h, MMU off, DAIF
// masked, no stack yet (reference 2.3).
// ---------------------------------------------------------------------------
        .global racer_entry
        .type   racer_entry, %function
racer_entry:
        mov     x20, x0                     // context id
        sub     x19, x0, #CTX_BASE          // mpidr = racer index = stack slot
        and     x19, x19, #(MAX_CPUS - 1)   // keep a bogus context in bounds
        mov     x0, x19
        bl      stack_top_of
        mov     sp, x0
        bl      install_vectors
        adr     x9, alive                   // check in
        add     x9, x9, x19, lsl #3
        stlr    x20, [x9]
        sev
        bl      race
        b       cpu_off_self
        .size   racer_entry, . - racer_entry

        .global target_entry
        .type   target_entry, %function
target_entry:
        mov     x20, x0                     // context id (non-zero)
        mov     x19, #TARGET
        mov     x0, x19
        bl      stack_top_of
        mov     sp, x0
        bl      install_vectors
        adr     x9, alive
        add     x9, x9, #(TARGET * 8)
        stlr    x20, [x9]                   // check in
        sev
        // fall through
// cpu_off_self: x19 = own mpidr. CPU_OFF; should it return, post the answer
// for the boot CPU (wait_off prints it) and park.
cpu_off_self:
        MOVQ    x0, PSCI_CPU_OFF_ID
        mov     x1, #0
        mov     x2, #0
        mov     x3, #0
        SMCCC
        mrs     x7, tpidr_el1
        adr     x9, off_results
        str     x0, [x9, x19, lsl #3]
        adr     x9, off_undefs
        str     x7, [x9, x19, lsl #3]
        adr     x9, off_failed
        add     x9, x9, x19, lsl #3
        mov     x10, #1
        stlr    x10, [x9]
        sev
1:      wfi
        b       1b
        .size   target_entry, . - target_entry

// ---------------------------------------------------------------------------
        .section .rodata
str_cpu_on:       .asciz "CPU_ON"
str_cpu_off:      .asciz "CPU_OFF"
str_race_cpu:     .asciz "RACE cpu "
str_successes:    .asciz "RACE successes="
str_already_on:   .asciz " already_on="

// Per-CPU slots, indexed by mpidr (0..3). Flags: stlr to write, ldar to read.
        .bss
        .balign 8
go:          .quad 0             // 1: race now
alive:       .space 4 * 8        // context id of a started CPU, once it runs
posted:      .space NRACERS * 8  // 1: results[i] / undefs[i] are valid
results:     .space NRACERS * 8  // x0 after the racer's CPU_ON(TARGET)
undefs:      .space NRACERS * 8  // that CPU_ON was UNDEFINED
off_failed:  .space 4 * 8        // 1: this CPU's CPU_OFF returned
off_results: .space 4 * 8        // ... with this x0
off_undefs:  .space 4 * 8        // ... or was UNDEFINED
