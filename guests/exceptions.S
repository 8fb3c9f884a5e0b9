// exceptions.S - SVC, BRK, an undefined instruction, a data abort (a load
// from an address the guest's own page tables leave unmapped) and external
// aborts (a load, a store and an instruction fetch from physical addresses
// with nothing behind them), each taken by the guest's own EL1 vector table,
// which records ESR_EL1, ELR_EL1 and FAR_EL1; the guest then prints them.
// Under hcdbg this shows the debugger delivering exceptions as the
// architecture does (Arm ARM D1.10); under QEMU it is the reference.
// Expected (ESR: EC<<26 | IL | ISS, Arm ARM D17.2.37):
//     SVC esr=0x56000042 elr=<after the svc>
//     BRK esr=0xf2000007 elr=<the brk>
//     UDF esr=0x02000000 elr=<the udf>
//     DABT esr=0x96000005 elr=<the ldr> far=0x80000010
//   (EC 0x25 data abort same EL, IL, DFSC 0b000101 translation fault level 1)
//     LOAD esr=0x96000010 elr=<the ldr> far=0x9001000
//     STORE esr=0x96000050 elr=<the str> far=0x9001000
//     FETCH esr=0x86000010 elr=0x9001000 far=0x9001000
//     VA LOAD esr=0x96000010 elr=<the ldr> far=0xc9001000
//     VA FETCH esr=0x86000010 elr=0xc9001000 far=0xc9001000
//     PCALIGN esr=0x8a000000 elr=<the udf + 2> far=<the udf + 2>
//   (DFSC/IFSC 0b010000 synchronous external abort, not on a table walk;
//   WnR, bit 6, for the store; EC 0x21 instruction abort same EL. 0x9001000,
//   between the PL011 and the RTC, is a hole in virt's memory map. The VA
//   lines run with the MMU on: VA 0xc000_0000 maps PA 0, so FAR is the
//   virtual address, not the physical 0x9001000. PCALIGN: a branch to an
//   address that is not a multiple of 4 is a PC alignment fault, EC 0x22,
//   taken at the target before anything is fetched, FAR = ELR = the target.)
        .include "common.S"

        .equ HOLE, 0x09001000               // nothing behind it on virt
        .equ NRECORDS, 10                   // exceptions taken, 3 words each
        .equ NAME_LEN, 10                   // stride of `names`
        .equ COUNT, 3 * 8 * NRECORDS        // offset of n in `records`

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-16]!
        adr     x9, my_vectors
        msr     vbar_el1, x9
        isb
        adrp    x19, records
        add     x19, x19, :lo12:records
        .global do_svc
do_svc: svc     #0x42
        .global do_brk
do_brk: brk     #0x7
        .global do_udf
do_udf: udf     #0
        MOVQ    x1, HOLE
        .global do_load
do_load: ldr    x0, [x1]
        .global do_store
do_store: str   x0, [x1]
        .global do_fetch
do_fetch: blr   x1                          // the handler returns to x30
        bl      mmu_on
        MOVQ    x1, 0x80000010              // L1 entry 2: left invalid
        .global do_dabt
do_dabt: ldr    x0, [x1]
        MOVQ    x1, (0xc0000000 + HOLE)     // L1 entry 3: PA 0 onwards
        .global do_va_load
do_va_load: ldr x0, [x1]
        .global do_va_fetch
do_va_fetch: blr x1
        bl      mmu_off
        adr     x1, do_udf + 2              // misaligned: the fault comes before the fetch
        .global do_pcalign
do_pcalign: blr x1
        bl      install_vectors             // common.S's vectors again
        adr     x20, names
        mov     x21, #0
1:      mov     x0, x20
        add     x20, x20, #NAME_LEN
        bl      puts
        adr     x0, str_esr
        bl      puts
        ldr     x22, [x19, x21, lsl #3]
        mov     x0, x22
        bl      put_hex
        adr     x0, str_elr
        bl      puts
        add     x9, x21, #1
        ldr     x0, [x19, x9, lsl #3]
        bl      put_hex
        lsr     x22, x22, #26               // EC 0x20/0x21/0x24/0x25: an abort,
        bic     x22, x22, #1                // FAR is meaningful
        bic     x22, x22, #4
        bic     x22, x22, #2                // and 0x22, PC alignment
        cmp     x22, #0x20
        b.ne    2f
        adr     x0, str_far
        bl      puts
        add     x9, x21, #2
        ldr     x0, [x19, x9, lsl #3]
        bl      put_hex
2:      mov     w0, #'\n'
        bl      putc
        add     x21, x21, #3
        cmp     x21, #(3 * NRECORDS)
        b.lo    1b
        ldp     x29, x30, [sp], #16
        ret
        .size   main, . - main

// mmu_on: identity-map 0x4000_0000-0x7FFF_FFFF as one 1 GiB block (Normal
// memory, level 1, 4 KiB granule, T0SZ = 25: a 39-bit space starting at
// level 1; Arm ARM D8.2), map 0xC000_0000-0xFFFF_FFFF to physical 0 as
// Device memory, and turn the MMU on with caches still off. Nothing else is
// mapped: nothing prints until mmu_off.
        .type   mmu_on, %function
mmu_on:
        adrp    x9, l1_table
        add     x9, x9, :lo12:l1_table
        MOVQ    x10, (0x40000000 | (1 << 10) | (3 << 8) | 1)   // AF, inner shareable, block
        str     x10, [x9, #8]
        MOVQ    x10, ((1 << 10) | (1 << 2) | 1)    // AF, AttrIndx 1, block
        str     x10, [x9, #24]
        mov     x10, #0xff                  // MAIR attr0: Normal write-back,
                                            // attr1 (0): Device-nGnRnE
        msr     mair_el1, x10
        MOVQ    x10, (25 | (1 << 8) | (1 << 10) | (3 << 12))   // T0SZ, IRGN0/ORGN0 WB, SH0 inner
        msr     tcr_el1, x10
        msr     ttbr0_el1, x9
        isb
        mrs     x10, sctlr_el1
        orr     x10, x10, #1                // M
        msr     sctlr_el1, x10
        isb
        ret
        .size   mmu_on, . - mmu_on

        .type   mmu_off, %function
mmu_off:
        mrs     x10, sctlr_el1
        bic     x10, x10, #1
        msr     sctlr_el1, x10
        isb
        ret
        .size   mmu_off, . - mmu_off

// The vector table: only "current EL with SP_ELx, synchronous" (+0x200) is
// expected; every other slot branches to common.S's reporting handler.
        .balign 2048
my_vectors:
        .rept 4
        b       vectors
        .balign 0x80
        .endr
        // +0x200: record ESR, ELR, FAR in records[n..n+2], n kept at COUNT
        mrs     x9, esr_el1
        mrs     x10, elr_el1
        mrs     x12, far_el1
        ldr     x11, [x19, #COUNT]
        str     x9, [x19, x11, lsl #3]
        add     x11, x11, #1
        str     x10, [x19, x11, lsl #3]
        add     x11, x11, #1
        str     x12, [x19, x11, lsl #3]
        add     x11, x11, #1
        str     x11, [x19, #COUNT]
        // SVC's preferred return is the next instruction already; BRK, an
        // undefined instruction and a data abort return to themselves: step
        // over; an instruction abort or a PC alignment fault (at a blr's
        // target) returns to the link.
        lsr     x9, x9, #26
        cmp     x9, #0x15
        b.eq    2f
        add     x10, x10, #4
        sub     x11, x9, #0x21              // EC 0x21 or 0x22
        cmp     x11, #1
        csel    x10, x30, x10, ls
        msr     elr_el1, x10
2:      eret
        .balign 0x80
        .rept 11
        b       vectors
        .balign 0x80
        .endr

        .macro NAME text:req
0:      .asciz  "\text"
        .fill   NAME_LEN - (. - 0b), 1, 0
        .endm
names:  NAME    "SVC"
        NAME    "BRK"
        NAME    "UDF"
        NAME    "LOAD"
        NAME    "STORE"
        NAME    "FETCH"
        NAME    "DABT"
        NAME    "VA LOAD"
        NAME    "VA FETCH"
        NAME    "PCALIGN"
str_esr: .asciz " esr="
str_elr: .asciz " elr="
str_far: .asciz " far="

        .bss
        .balign 8
records: .space COUNT + 8
        .balign 4096
l1_table: .space 4096
