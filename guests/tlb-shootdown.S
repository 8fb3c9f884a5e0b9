// tlb-shootdown.S - one CPU remaps a virtual address that another CPU has
// already used; both must then reach the new page. This is how a kernel
// changes a live mapping (munmap, copy-on-write, vunmap): break-before-make,
// i.e. write an invalid entry, DSB, invalidate the TLB entry on every PE of
// the Inner Shareable domain (TLBI VAAE1IS), DSB, write the new entry, DSB,
// ISB (Arm ARM D8.13 "TLB maintenance", D8.14 "Break-before-make").
//
// Under hcdbg each vCPU is a separate Unicorn instance with its own TLB, so
// CPU 1 would keep the old translation unless the TLBI ...IS reaches its TLB
// too.
//
// Both CPUs map VA 0x8000_0000 as a 2 MiB block through one shared set of
// tables: at first to PA 0x4040_0000 (which holds 0xa), then, after CPU 0's
// remap, to PA 0x4060_0000 (which holds 0xb). RAM and the PL011 stay
// identity-mapped, so the guest prints with its MMU on.
//
// Prints, then powers off:
//     cpu 0x0 before 0xa after 0xb
//     cpu 0x1 before 0xa after 0xb
//     tlb-shootdown PASS         (or FAIL)
        .include "common.S"
        .include "pairs.inc"

        .equ PSCI_CPU_OFF_ID,      0x84000002
        .equ PSCI_CPU_ON64_ID,     0xC4000003
        .equ VA_T,                 0x80000000   // the remapped address (L1 entry 2)
        .equ PA_A,                 0x40400000   // 2 MiB blocks above the image
        .equ PA_B,                 0x40600000
        .equ MARK_A,               0xa
        .equ MARK_B,               0xb
        // Descriptors (4 KiB granule, Arm ARM D8.3): AF, SH inner, AttrIndx.
        .equ BLOCK_NORMAL,         (1 << 10) | (3 << 8) | 1
        .equ BLOCK_DEVICE,         (1 << 10) | (1 << 2) | 1
        .equ TABLE,                3

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-32]!
        stp     x19, x20, [sp, #16]
        bl      build_tables
        bl      mmu_on
        MOVQ    x9, PA_A                    // identity-mapped: VA = PA
        mov     x10, #MARK_A
        str     x10, [x9]
        MOVQ    x9, PA_B
        mov     x10, #MARK_B
        str     x10, [x9]
        dsb     ish

        MOVQ    x0, PSCI_CPU_ON64_ID
        mov     x1, #1
        adr     x2, secondary_entry
        mov     x3, #1
        SMCCC
        adr     x9, ready                   // CPU 1 has read through VA_T once
1:      ldar    x10, [x9]
        cbz     x10, 1b

        MOVQ    x11, VA_T
        ldr     x0, [x11]
        adr     x9, before
        str     x0, [x9]                    // before[0]

        // Break-before-make: VA_T -> PA_B.
        adrp    x9, l2_table
        add     x9, x9, :lo12:l2_table
        str     xzr, [x9]
        dsb     ishst
        lsr     x10, x11, #12
        tlbi    vaae1is, x10                // every PE, every ASID
        dsb     ish
        MOVQ    x10, (PA_B | BLOCK_NORMAL)
        str     x10, [x9]
        dsb     ishst
        isb

        ldr     x0, [x11]
        adr     x9, after
        str     x0, [x9]                    // after[0]
        adr     x9, go
        mov     x10, #1
        stlr    x10, [x9]
        adr     x9, done                    // CPU 1 has read through VA_T again
2:      ldar    x10, [x9]
        cbz     x10, 2b

        adr     x0, before                  // print both CPUs' values
        adr     x1, after
        mov     x2, #MARK_A
        mov     x3, #MARK_B
        adr     x4, str_verdict
        bl      print_pairs
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #32
        ret
        .size   main, . - main

// build_tables: L1 entry 0 = PA 0 (Device, the PL011), entry 1 = PA
// 0x4000_0000 (Normal, the image and its stacks), entry 2 -> l2_table,
// whose entry 0 maps VA_T to PA_A. Leaf; clobbers x9, x10.
        .type   build_tables, %function
build_tables:
        adrp    x9, l1_table
        add     x9, x9, :lo12:l1_table
        mov     x10, #BLOCK_DEVICE
        str     x10, [x9]
        MOVQ    x10, (0x40000000 | BLOCK_NORMAL)
        str     x10, [x9, #8]
        adrp    x10, l2_table
        add     x10, x10, :lo12:l2_table
        orr     x10, x10, #TABLE
        str     x10, [x9, #16]
        adrp    x9, l2_table
        add     x9, x9, :lo12:l2_table
        MOVQ    x10, (PA_A | BLOCK_NORMAL)
        str     x10, [x9]
        dsb     ish
        ret
        .size   build_tables, . - build_tables

// mmu_on: this CPU walks the shared tables (4 KiB granule, T0SZ = 25: a
// 39-bit space starting at level 1; Arm ARM D8.2); MAIR attr0 Normal
// write-back, attr1 Device-nGnRnE. Leaf; clobbers x9, x10.
        .type   mmu_on, %function
mmu_on:
        mov     x10, #0xff
        msr     mair_el1, x10
        MOVQ    x10, (25 | (1 << 8) | (1 << 10) | (3 << 12))   // T0SZ, IRGN0/ORGN0 WB, SH0 inner
        msr     tcr_el1, x10
        adrp    x9, l1_table
        add     x9, x9, :lo12:l1_table
        msr     ttbr0_el1, x9
        isb
        tlbi    vmalle1                     // nothing cached from before (local)
        dsb     nsh
        isb
        mrs     x10, sctlr_el1
        orr     x10, x10, #1                // M
        msr     sctlr_el1, x10
        isb
        ret
        .size   mmu_on, . - mmu_on

// secondary_entry: CPU 1 turns its MMU on, reads through VA_T (its TLB now
// holds the old translation), reports, waits for the remap, reads again,
// reports, and turns itself off.
        .global secondary_entry
        .type   secondary_entry, %function
secondary_entry:
        mov     x19, x0
        bl      stack_top_of
        mov     sp, x0
        bl      install_vectors
        bl      mmu_on
        MOVQ    x11, VA_T
        ldr     x0, [x11]
        adr     x9, before
        str     x0, [x9, #8]                // before[1]
        adr     x9, ready
        mov     x10, #1
        stlr    x10, [x9]
        adr     x9, go
1:      ldar    x10, [x9]
        cbz     x10, 1b
        ldr     x0, [x11]
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

str_verdict:    .asciz "tlb-shootdown"

        .bss
        .balign 4096
l1_table:       .space 4096
l2_table:       .space 4096
        .balign 8
before:         .quad 0, 0
after:          .quad 0, 0
ready:          .quad 0
go:             .quad 0
done:           .quad 0
