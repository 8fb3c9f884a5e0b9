// echo.S - reads one line from the PL011 (UARTFR.RXFE says when a byte is
// waiting; PL011 TRM 3.3.3) and prints it back, or says there was none.
// The console input comes from the user or a script: `hcdbg trace echo
// --input 'hello\n'`. Under QEMU (stdin is /dev/null in scripts/run-qemu)
// nothing arrives, and the guest gives up after a bounded wait.
//     echo: hello           (with input)
//     echo: no input        (without)
        .include "common.S"

        .equ UARTFR_RXFE, 4
        .equ WAIT_POLLS, 2000000            // bounded wait for the first byte
        .equ LINE_MAX, 64

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-16]!
        movz    x19, #(UART_BASE >> 16), lsl #16
        adrp    x20, line
        add     x20, x20, :lo12:line
        mov     x21, #0                     // bytes in line
        MOVQ    x22, WAIT_POLLS
1:      ldr     w9, [x19, #UARTFR]
        tbz     w9, #UARTFR_RXFE, 2f        // a byte is waiting
        cbnz    x21, 3f                     // the line ended with the input
        subs    x22, x22, #1
        b.ne    1b
        adr     x0, str_none
        bl      puts
        b       9f
2:      ldr     w9, [x19, #UARTDR]
        and     w9, w9, #0xff
        cmp     w9, #'\n'
        b.eq    3f
        cmp     w9, #'\r'
        b.eq    3f
        cmp     x21, #(LINE_MAX - 1)
        b.hs    1b                          // too long: drop the rest
        strb    w9, [x20, x21]
        add     x21, x21, #1
        b       1b
3:      strb    wzr, [x20, x21]
        adr     x0, str_echo
        bl      puts
        mov     x0, x20
        bl      puts
        mov     w0, #'\n'
        bl      putc
9:      ldp     x29, x30, [sp], #16
        ret
        .size   main, . - main

str_echo: .asciz "echo: "
str_none: .asciz "echo: no input\n"

        .bss
line:   .space  LINE_MAX
