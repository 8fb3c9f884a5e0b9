// code-patch.S - one CPU rewrites an instruction that another CPU has already
// executed; both must then run the new instruction. This is how a kernel
// patches its own text (alternatives, jump labels): write, clean the D-cache
// to the point of unification (DC CVAU), DSB, invalidate the I-cache by
// address (IC IVAU, broadcast to the Inner Shareable domain), DSB, ISB; a CPU
// that runs the code afterwards executes an ISB first (Arm ARM B2.2.5,
// "Concurrent modification and execution of instructions", and the
// cache maintenance sequence of "Ordering and completion of data and
// instruction cache instructions").
//
// Under hcdbg each vCPU is a separate Unicorn instance with its own cache of
// translated code, so CPU 1 would keep running the old instruction unless
// the IC IVAU reaches its cache too.
//
// Prints, then powers off:
//     cpu 0x0 before 0x1 after 0x2
//     cpu 0x1 before 0x1 after 0x2
//     code-patch PASS            (or FAIL)
        .include "common.S"
        .include "pairs.inc"

        .equ PSCI_CPU_OFF_ID,      0x84000002
        .equ PSCI_CPU_ON64_ID,     0xC4000003
        .equ MOVZ_X0,              0xd2800000  // movz x0, #imm16 = this | imm16 << 5

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-32]!
        stp     x19, x20, [sp, #16]
        MOVQ    x0, PSCI_CPU_ON64_ID
        mov     x1, #1
        adr     x2, secondary_entry
        mov     x3, #1
        SMCCC
        adr     x9, ready                   // CPU 1 has run `patched` once
1:      ldar    x10, [x9]
        cbz     x10, 1b

        bl      patched
        adr     x9, before
        str     x0, [x9]                    // before[0]

        // Rewrite `patched`'s first instruction: movz x0, #1 -> movz x0, #2.
        adr     x9, patched
        MOVQ    x10, (MOVZ_X0 | (2 << 5))
        str     w10, [x9]
        dc      cvau, x9
        dsb     ish
        ic      ivau, x9
        dsb     ish
        isb

        bl      patched
        adr     x9, after
        str     x0, [x9]                    // after[0]
        adr     x9, go
        mov     x10, #1
        stlr    x10, [x9]
        adr     x9, done                    // CPU 1 has run it again
2:      ldar    x10, [x9]
        cbz     x10, 2b

        adr     x0, before                  // print both CPUs' values
        adr     x1, after
        mov     x2, #1
        mov     x3, #2
        adr     x4, str_verdict
        bl      print_pairs
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #32
        ret
        .size   main, . - main

// patched: returns 1 until CPU 0 rewrites its first instruction to return 2.
        .global patched
        .type   patched, %function
        .balign 16
patched:
        movz    x0, #1
        ret
        .size   patched, . - patched

// secondary_entry: CPU 1 runs `patched`, reports, waits for the patch, runs
// it again after an ISB, reports, and turns itself off.
        .global secondary_entry
        .type   secondary_entry, %function
secondary_entry:
        mov     x19, x0
        bl      stack_top_of
        mov     sp, x0
        bl      install_vectors
        bl      patched
        adr     x9, before
        str     x0, [x9, #8]                // before[1]
        adr     x9, ready
        mov     x10, #1
        stlr    x10, [x9]
        adr     x9, go
1:      ldar    x10, [x9]
        cbz     x10, 1b
        isb                                 // context synchronization before the new code
        bl      patched
        adr     x9, after
        str     x0, [x9, #8]                // after[1]
        adr     x9, done
        mov     x10, #1
        stlr    x10, [x9]
        MOVQ    x0, PSCI_CPU_OFF_ID
        mov     x1, #0
        mov     x2, #0
        mov     x3, #0
        SMCCC
2:      wfi
        b       2b
        .size   secondary_entry, . - secondary_entry

str_verdict:    .asciz "code-patch"

        .bss
        .balign 8
before:         .quad 0, 0
after:          .quad 0, 0
ready:          .quad 0
go:             .quad 0
done:           .quad 0
