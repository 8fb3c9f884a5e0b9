// bench-compute.S - the compute benchmark guest of scripts/bench (`compute`,
// `smp4`): integer work with no firmware calls, split evenly over the CPUs,
// then one line on the UART and SYSTEM_OFF.
//
// The work: checksum = sum over k in [0, bench_count) of mix(k) modulo 2^64,
// where mix(k) is
//     x = k * 0x9e3779b97f4a7c15;  x ^= x >> 29;
//     x = x * 0xbf58476d1ce4e5b9;  x ^= x >> 32
// (eight instructions a step with the loop). Addition commutes, so the
// checksum does not depend on how the range is split: any CPU count prints
// the same line, "cpus 0x<N> checksum 0x<sum>".
//
// CPUs: the 64-bit word at `bench_cpus`; 0 (the committed value) means every
// CPU the firmware has, found by AFFINITY_INFO (reference 2.4) on mpidr 1, 2,
// ... until an answer other than ON/OFF (INVALID_PARAMETERS: no such CPU; at
// most 8, the CPUs of one Aff0 cluster on virt). CPU i of N does the part
// [count * i / N, count * (i + 1) / N); the boot CPU starts the others with
// CPU_ON (reference 2.3), does part 0, and waits until every part has been
// added in. A CPU_ON that fails leaves its part to the boot CPU, so the
// checksum is right whatever the firmware says.
//
// `bench_count` and `bench_cpus` are in .data so that a benchmark changes them
// without a rebuild: scripts/bench writes them into guest RAM after loading
// (Unicorn, hcdbg) or into a copy of this ELF (QEMU). The committed count is
// small so that the test suite, which runs every bundled guest, stays fast.
//
// Sharing: each part's sum is added to `total` and `parts_done` is counted up
// with load/store-exclusive loops (release on the count, after the sum), and
// followed by `sev`; the boot CPU waits on `ldar` + `wfe`. QEMU's TCG treats
// WFE as a yield; hcdbg's round-robin scheduler gives each CPU its slice.
        .include "common.S"

        .equ PSCI_CPU_OFF_ID,      0x84000002
        .equ PSCI_CPU_ON64_ID,     0xC4000003
        .equ PSCI_AFF_INFO_ID,     0x84000004
        .equ AFF_OFF,              1           // AFFINITY_INFO: 0 ON, 1 OFF (reference 2.4)
        .equ MAX_BENCH_CPUS,       8           // mpidr = CPU index (Aff0 only)

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-32]!
        stp     x19, x20, [sp, #16]

        // x19 = number of CPUs: bench_cpus, or the firmware's CPUs if it is 0.
        adr     x9, bench_cpus
        ldr     x19, [x9]
        cbnz    x19, 2f
        mov     x19, #1
1:      cmp     x19, #MAX_BENCH_CPUS
        b.hs    2f
        MOVQ    x0, PSCI_AFF_INFO_ID
        mov     x1, x19                     // target_affinity = mpidr = index
        mov     x2, #0                      // lowest_affinity_level 0
        mov     x3, #0
        SMCCC
        cmp     x0, #AFF_OFF                // ON (0) or OFF (1): the CPU exists
        b.hi    2f
        add     x19, x19, #1
        b       1b
2:      cmp     x19, #MAX_BENCH_CPUS        // a patched count above the limit
        mov     x9, #MAX_BENCH_CPUS
        csel    x19, x9, x19, hi
        adr     x9, ncpus
        str     x19, [x9]

        // Start CPUs 1..N-1 at secondary_entry, context_id = their index.
        mov     x20, #1
3:      cmp     x20, x19
        b.hs    5f
        MOVQ    x0, PSCI_CPU_ON64_ID
        mov     x1, x20                     // target_cpu (mpidr)
        adr     x2, secondary_entry         // entry_point_address (MMU off: PA)
        mov     x3, x20                     // context_id
        SMCCC
        mrs     x7, tpidr_el1
        orr     x0, x0, x7                  // zero: SUCCESS and not UNDEFINED
        cbz     x0, 4f
        mov     x0, x20                     // that CPU did not start: do its part
        bl      work
4:      add     x20, x20, #1
        b       3b

5:      mov     x0, #0
        bl      work

        adr     x9, parts_done              // wait until every part is in
6:      ldar    x10, [x9]
        cmp     x10, x19
        b.hs    7f
        wfe
        b       6b

7:      adr     x0, str_cpus
        bl      puts
        mov     x0, x19
        bl      put_hex
        adr     x0, str_checksum
        bl      puts
        adr     x9, total
        ldr     x0, [x9]
        bl      put_hex
        bl      put_nl
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #32
        ret
        .size   main, . - main

// work: x0 = part index i; adds part i of N = ncpus to `total` and counts it
// in `parts_done`. Clobbers x0-x15.
        .global work
        .type   work, %function
work:
        adr     x9, bench_count
        ldr     x10, [x9]                   // count
        adr     x9, ncpus
        ldr     x11, [x9]                   // N
        mul     x12, x10, x0
        udiv    x12, x12, x11               // start = count * i / N
        add     x13, x0, #1
        mul     x13, x10, x13
        udiv    x13, x13, x11               // end = count * (i + 1) / N
        mov     x14, #0                     // this part's sum
        MOVQ    x1, 0x9e3779b97f4a7c15
        MOVQ    x2, 0xbf58476d1ce4e5b9
        cmp     x12, x13
        b.hs    2f
        .global work_loop
work_loop:
        mul     x3, x12, x1
        eor     x3, x3, x3, lsr #29
        mul     x3, x3, x2
        eor     x3, x3, x3, lsr #32
        add     x14, x14, x3
        add     x12, x12, #1
        cmp     x12, x13
        b.ne    work_loop
2:      adr     x9, total                   // total += sum
3:      ldxr    x10, [x9]
        add     x10, x10, x14
        stxr    w11, x10, [x9]
        cbnz    w11, 3b
        adr     x9, parts_done              // parts_done += 1, after the sum
4:      ldaxr   x10, [x9]
        add     x10, x10, #1
        stlxr   w11, x10, [x9]
        cbnz    w11, 4b
        sev
        ret
        .size   work, . - work

// secondary_entry: CPU_ON's entry point (EL1h, MMU off), x0 = context id =
// this CPU's index, which is also its part and its stack slot.
        .global secondary_entry
        .type   secondary_entry, %function
secondary_entry:
        mov     x19, x0
        bl      stack_top_of                // leaf: usable before we have a stack
        mov     sp, x0
        bl      install_vectors             // VBAR_EL1 is per CPU
        mov     x0, x19
        bl      work
        MOVQ    x0, PSCI_CPU_OFF_ID
        mov     x1, #0
        mov     x2, #0
        mov     x3, #0
        SMCCC
1:      wfi                                 // CPU_OFF returned (it must not): park
        b       1b
        .size   secondary_entry, . - secondary_entry

str_cpus:     .asciz "cpus "
str_checksum: .asciz " checksum "

        .data
        .balign 8
        .global bench_count
bench_count: .quad 100000                   // k runs over [0, bench_count)
        .global bench_cpus
bench_cpus:  .quad 0                        // CPUs to use; 0: all the firmware has

        .bss
        .balign 8
ncpus:       .quad 0                        // N, set by the boot CPU before CPU_ON
total:       .quad 0                        // sum of the parts added so far
parts_done:  .quad 0                        // parts added so far
