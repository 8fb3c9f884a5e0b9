// exceptions.S - SVC, BRK and an undefined instruction, each taken by the
// guest's own EL1 vector table, which records ESR_EL1 and ELR_EL1; the guest
// then prints them. Under hcdbg this shows the debugger delivering
// exceptions as the architecture does (Arm ARM D1.10); under QEMU it is the
// reference. Expected (ESR: EC<<26 | IL | ISS, Arm ARM D17.2.37):
//     SVC esr=0x56000042 elr=<after the svc>
//     BRK esr=0xf2000007 elr=<the brk>
//     UDF esr=0x02000000 elr=<the udf>
        .include "common.S"

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
        bl      install_vectors             // common.S's vectors again
        adr     x20, names
        mov     x21, #0
1:      mov     x0, x20
        add     x20, x20, #4
        bl      puts
        adr     x0, str_esr
        bl      puts
        ldr     x0, [x19, x21, lsl #3]
        bl      put_hex
        adr     x0, str_elr
        bl      puts
        add     x9, x21, #1
        ldr     x0, [x19, x9, lsl #3]
        bl      put_hex
        mov     w0, #'\n'
        bl      putc
        add     x21, x21, #2
        cmp     x21, #6
        b.lo    1b
        ldp     x29, x30, [sp], #16
        ret
        .size   main, . - main

// The vector table: only "current EL with SP_ELx, synchronous" (+0x200) is
// expected; every other slot branches to common.S's reporting handler.
        .balign 2048
my_vectors:
        .rept 4
        b       vectors
        .balign 0x80
        .endr
        // +0x200: record ESR and ELR in records[n], n counted in x19's slot 6
        mrs     x9, esr_el1
        mrs     x10, elr_el1
        ldr     x11, [x19, #48]
        str     x9, [x19, x11, lsl #3]
        add     x11, x11, #1
        str     x10, [x19, x11, lsl #3]
        add     x11, x11, #1
        str     x11, [x19, #48]
        // SVC's preferred return is the next instruction already; BRK and an
        // undefined instruction return to themselves, so step over them.
        lsr     x9, x9, #26
        cmp     x9, #0x15
        b.eq    2f
        add     x10, x10, #4
        msr     elr_el1, x10
2:      eret
        .balign 0x80
        .rept 11
        b       vectors
        .balign 0x80
        .endr

names:  .asciz  "SVC"
        .asciz  "BRK"
        .asciz  "UDF"
str_esr: .asciz " esr="
str_elr: .asciz " elr="

        .bss
        .balign 8
records: .space 7 * 8
