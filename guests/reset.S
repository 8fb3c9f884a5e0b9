// reset.S - PSCI SYSTEM_RESET (DEN0022 §5.1.10): the machine restarts the guest
// from its image. A counter in .data counts boots; since a reset restores RAM
// from the image, every boot prints 1.
//     boot 1
//     SYSTEM_RESET
// ...and again, until the debugger stops it (`hcdbg trace reset --no-reboot`
// or QEMU's -no-reboot ends the run at the first reset instead).
        .include "common.S"

        .equ PSCI_SYSTEM_RESET_ID, 0x84000009

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-16]!
        adrp    x19, boots
        add     x19, x19, :lo12:boots
        ldr     x20, [x19]
        add     x20, x20, #1
        str     x20, [x19]
        adr     x0, str_boot
        bl      puts
        mov     x0, x20
        bl      put_hex
        mov     w0, #'\n'
        bl      putc
        adr     x0, str_reset
        bl      puts
        MOVQ    x0, PSCI_SYSTEM_RESET_ID
        hvc     #0
        // SYSTEM_RESET does not return; if a debugger answers it anyway, say so.
        adr     x0, str_returned
        bl      puts
        ldp     x29, x30, [sp], #16
        ret
        .size   main, . - main

str_boot:     .asciz "boot "
str_reset:    .asciz "SYSTEM_RESET\n"
str_returned: .asciz "SYSTEM_RESET returned\n"

        .data
        .balign 8
boots:  .quad   0
