// smp-check.S - every CPU runs instruction sequences that give a wrong answer
// if any instruction is executed twice, then checks the answers: a guest that
// makes a scheduler's mistakes visible (hcdbg issue 11: a stop requested from
// another thread could leave a vCPU's PC on a load or store that had already
// run, so it ran again on resume).
//
// What each CPU does, `check_count` times (the 64-bit word in .data, so a
// test can change it without a rebuild):
//   ldr  x20, [x20]              chase a ring of 3 cells: the destination is
//   ldr  x21, [x21, x22]         the base register, so a second execution
//   ldp  x23, x24, [x23]         loads through the value the first one loaded
//   ldxr/add/stxr on `counter`   shared by all CPUs: a store-exclusive run a
//                                second time fails and the loop adds twice
// then: each pointer must be at cell (count mod 3) of its ring, and, once
// every CPU is done, `counter` must be count * CPUs.
//
// CPUs: as bench-compute, the firmware's CPUs found by AFFINITY_INFO (DEN0022D.b
// §5.1.5) on mpidr 1, 2, ... (at most 8), started with CPU_ON (§5.1.4),
// context id = index. The boot CPU prints one line per CPU and a verdict:
//     cpu 0x0 PASS            or  cpu 0x2 FAIL ldr-base ldp ...
//     counter PASS            or  counter FAIL 0x... expected 0x...
//     smp-check PASS          or  smp-check FAIL
        .include "common.S"

        .equ PSCI_CPU_OFF_ID,      0x84000002
        .equ PSCI_CPU_ON64_ID,     0xC4000003
        .equ PSCI_AFF_INFO_ID,     0x84000004
        .equ AFF_OFF,              1
        .equ MAX_CHECK_CPUS,       8
        .equ RING_BYTES,           64          // per CPU: 3 cells of 16 bytes
        // result bits per CPU (0 = every check passed)
        .equ BAD_LDR,              1
        .equ BAD_LDR_INDEX,        2
        .equ BAD_LDP,              4

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-48]!
        stp     x19, x20, [sp, #16]
        stp     x21, x22, [sp, #32]

        // x19 = number of CPUs the firmware has (AFFINITY_INFO ON or OFF).
        mov     x19, #1
1:      cmp     x19, #MAX_CHECK_CPUS
        b.hs    2f
        MOVQ    x0, PSCI_AFF_INFO_ID
        mov     x1, x19
        mov     x2, #0
        mov     x3, #0
        SMCCC
        cmp     x0, #AFF_OFF
        b.hi    2f
        add     x19, x19, #1
        b       1b
2:      adr     x9, ncpus
        str     x19, [x9]

        // Start CPUs 1..N-1 at secondary_entry, context id = index. One that
        // does not start is checked by the boot CPU instead.
        mov     x20, #1
3:      cmp     x20, x19
        b.hs    5f
        MOVQ    x0, PSCI_CPU_ON64_ID
        mov     x1, x20
        adr     x2, secondary_entry
        mov     x3, x20
        SMCCC
        mrs     x7, tpidr_el1
        orr     x0, x0, x7
        cbz     x0, 4f
        mov     x0, x20
        bl      check
4:      add     x20, x20, #1
        b       3b

5:      mov     x0, #0
        bl      check
        adr     x9, cpus_done               // wait for every CPU's result
6:      ldar    x10, [x9]
        cmp     x10, x19
        b.hs    7f
        wfe
        b       6b

        // One line per CPU, then the shared counter, then the verdict.
7:      mov     x21, #0                     // any failure seen
        mov     x20, #0
8:      adr     x0, str_cpu
        bl      puts
        mov     x0, x20
        bl      put_hex
        adr     x9, results
        ldr     x22, [x9, x20, lsl #3]
        orr     x21, x21, x22
        cbnz    x22, 9f
        adr     x0, str_pass
        bl      puts
        b       10f
9:      adr     x0, str_fail
        bl      puts
        tbz     x22, #0, 91f
        adr     x0, str_ldr
        bl      puts
91:     tbz     x22, #1, 92f
        adr     x0, str_ldr_index
        bl      puts
92:     tbz     x22, #2, 10f
        adr     x0, str_ldp
        bl      puts
10:     bl      put_nl
        add     x20, x20, #1
        cmp     x20, x19
        b.lo    8b

        adr     x0, str_counter
        bl      puts
        adr     x9, counter
        ldr     x20, [x9]
        adr     x9, check_count
        ldr     x22, [x9]
        mul     x22, x22, x19               // expected: count * CPUs
        cmp     x20, x22
        b.ne    11f
        adr     x0, str_pass
        bl      puts
        b       12f
11:     orr     x21, x21, #8
        adr     x0, str_fail
        bl      puts
        mov     w0, #' '
        bl      putc
        mov     x0, x20
        bl      put_hex
        adr     x0, str_expected
        bl      puts
        mov     x0, x22
        bl      put_hex
12:     bl      put_nl
        adr     x0, str_verdict
        bl      puts
        adr     x0, str_pass
        cbz     x21, 13f
        adr     x0, str_fail
13:     bl      puts
        bl      put_nl
        ldp     x21, x22, [sp, #32]
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #48
        ret
        .size   main, . - main

// check: x0 = CPU index. Runs the sequences, stores this CPU's result bits
// in results[index] and counts itself in cpus_done. Clobbers x0-x15.
        .global check
        .type   check, %function
check:
        stp     x20, x21, [sp, #-48]!
        stp     x22, x23, [sp, #16]
        str     x24, [sp, #32]
        mov     x15, x0
        // Ring of this CPU: cell k at ring + 16k holds the address of cell
        // (k + 1) mod 3 in both of its words.
        adr     x9, rings
        add     x9, x9, x15, lsl #6         // RING_BYTES = 64
        add     x10, x9, #16
        add     x11, x9, #32
        stp     x10, x10, [x9]
        stp     x11, x11, [x10]
        stp     x9, x9, [x11]
        mov     x20, x9                     // the three pointers start at cell 0
        mov     x21, x9
        mov     x23, x9
        mov     x22, #8                     // index register: the second word
        adr     x12, counter
        adr     x9, check_count
        ldr     x13, [x9]
        mov     x14, x13
        cbz     x14, 3f
        .global check_loop
check_loop:
        ldr     x20, [x20]
        ldr     x21, [x21, x22]
        ldp     x23, x24, [x23]
2:      ldxr    x10, [x12]
        add     x10, x10, #1
        stxr    w11, x10, [x12]
        cbnz    w11, 2b
        subs    x14, x14, #1
        b.ne    check_loop
3:      // expected cell: ring + 16 * (count mod 3)
        mov     x9, #3
        udiv    x10, x13, x9
        msub    x10, x10, x9, x13
        adr     x9, rings
        add     x9, x9, x15, lsl #6
        add     x9, x9, x10, lsl #4
        mov     x0, #0
        cmp     x20, x9
        b.eq    4f
        orr     x0, x0, #BAD_LDR
4:      cmp     x21, x9
        b.eq    5f
        orr     x0, x0, #BAD_LDR_INDEX
5:      cmp     x23, x9
        b.eq    6f
        orr     x0, x0, #BAD_LDP
6:      adr     x9, results
        str     x0, [x9, x15, lsl #3]
        adr     x9, cpus_done               // count this CPU, after its result
7:      ldaxr   x10, [x9]
        add     x10, x10, #1
        stlxr   w11, x10, [x9]
        cbnz    w11, 7b
        sev
        ldr     x24, [sp, #32]
        ldp     x22, x23, [sp, #16]
        ldp     x20, x21, [sp], #48
        ret
        .size   check, . - check

// secondary_entry: CPU_ON's entry (EL1h, MMU off), x0 = context id = index.
        .global secondary_entry
        .type   secondary_entry, %function
secondary_entry:
        mov     x19, x0
        bl      stack_top_of
        mov     sp, x0
        bl      install_vectors
        mov     x0, x19
        bl      check
        MOVQ    x0, PSCI_CPU_OFF_ID
        mov     x1, #0
        mov     x2, #0
        mov     x3, #0
        SMCCC
1:      wfi
        b       1b
        .size   secondary_entry, . - secondary_entry

str_cpu:        .asciz "cpu "
str_pass:       .asciz " PASS"
str_fail:       .asciz " FAIL"
str_ldr:        .asciz " ldr-base"
str_ldr_index:  .asciz " ldr-index"
str_ldp:        .asciz " ldp"
str_counter:    .asciz "counter"
str_expected:   .asciz " expected "
str_verdict:    .asciz "smp-check"

        .data
        .balign 8
        .global check_count
check_count: .quad 200000                   // iterations per CPU

        .bss
        .balign 64
rings:       .space MAX_CHECK_CPUS * RING_BYTES
results:     .space MAX_CHECK_CPUS * 8
ncpus:       .quad 0
counter:     .quad 0                        // ldxr/stxr increments of all CPUs
cpus_done:   .quad 0
