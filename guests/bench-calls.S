// bench-calls.S - the call benchmark guest of scripts/bench (`calls`, `record`,
// `qemu`): as many PSCI_VERSION calls as the 64-bit word at `bench_count` says,
// through hvc #0 in a tight loop, then the sum of the answers on the UART and
// SYSTEM_OFF. Not a teaching guest: it prints only its total, so that a
// benchmark measures the calls, not the UART.
//
// `bench_count` is in .data so that a benchmark can change it without a
// rebuild: scripts/bench writes it into guest RAM after loading (Unicorn,
// hcdbg) or into a copy of this ELF (QEMU). The committed value is small, so
// the test suite, which runs every bundled guest, stays fast.
        .include "common.S"

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-16]!
        adr     x9, bench_count
        ldr     x19, [x9]                   // calls left
        mov     x20, #0                     // sum of the answers
        cbz     x19, calls_done
        .global call_loop
call_loop:
        MOVQ    x0, 0x84000000              // PSCI_VERSION (DEN0022 5.1.1)
        hvc     #0
        add     x20, x20, x0
        subs    x19, x19, #1
        b.ne    call_loop
        .global calls_done
calls_done:
        adr     x0, str_sum
        bl      puts
        mov     x0, x20
        bl      put_hex
        mov     w0, #'\n'
        bl      putc
        ldp     x29, x30, [sp], #16
        ret
        .size   main, . - main

str_sum: .asciz "sum of answers "

        .data
        .balign 8
        .global bench_count
bench_count: .quad 1000                     // PSCI_VERSION calls to make
