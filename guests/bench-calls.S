// bench-calls.S - the benchmark guest of scripts/bench: 100000 PSCI_VERSION
// calls through hvc #0 in a tight loop, then a 200-million-instruction loop (from
// the symbol calls_done, where a benchmark can split the two phases)
// with no calls, then SYSTEM_OFF. Not a teaching guest: it prints only its
// totals so that a benchmark measures calls and execution, not the UART.
        .include "common.S"

        .equ CALLS, 100000
        .equ SPINS, 100000000               // two instructions each

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-16]!
        MOVQ    x19, CALLS
        mov     x20, #0                     // sum of the answers
        .global call_loop
call_loop:
        MOVQ    x0, 0x84000000              // PSCI_VERSION
        hvc     #0
        add     x20, x20, x0
        subs    x19, x19, #1
        b.ne    call_loop
        .global calls_done
calls_done:
        MOVQ    x19, SPINS
        .global spin_loop
spin_loop:
        subs    x19, x19, #1
        b.ne    spin_loop
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
