// hello.S - the smallest guest: one line over the PL011, then PSCI
// SYSTEM_OFF (common.S prints "SYSTEM_OFF" and makes the call when main
// returns).
//
// Expected QEMU transcript:
//     Hello from hello
//     SYSTEM_OFF
        .include "common.S"

        .text
        .global main
        .type   main, %function
main:
        str     x30, [sp, #-16]!
        adr     x0, greeting
        bl      puts
        ldr     x30, [sp], #16
        ret
        .size   main, . - main

        STRING  greeting, "Hello from hello\n"
