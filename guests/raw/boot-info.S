// boot-info.S - a raw guest: no ELF header, no arm64 Image header, so QEMU's
// `-kernel boot-info.bin` loads it at RAM + 0x80000 and boots it the way it
// boots a Linux kernel (hw/arm/boot.c load_aarch64_image: a file without the
// "ARM\x64" magic gets the default offset). It prints what that boot gave it
// and powers off:
//     boot-info x0 0x<16 hex digits>              the device tree's address
//     boot-info image 0x<start>-0x<end>           where the image was put
//     boot-info x1-x3 0x<x1|x2|x3>                booting.rst: all zero
//     boot-info fdt magic 0x<first word at x0>    0x...edfe0dd0 (d00dfeed, big-endian)
//     boot-info fdt above image | fdt BELOW image
// The last line is the check some kernels and loaders make: the device tree
// must not sit under the image (hcdbg's --load used to put it at the bottom of RAM).
//
// scripts/build-guests links it with ../guest.ld and writes boot-info.bin
// with objcopy -O binary. It is position-independent (adr only) and uses no
// stack or RAM, so it runs wherever it is loaded (hcdbg --load ADDR too).
        .equ UART_BASE,      0x09000000    // PL011 on virt
        .equ UARTFR,         0x18
        .equ UARTFR_TXFF,    5
        .equ PSCI_SYSTEM_OFF_ID, 0x84000008   // DEN0022, 5.1

        .section .text.boot, "ax"
        .global _start
        .type   _start, %function
_start:
        mov     x19, x0                     // arm64 booting.rst: x0 = DTB address
        orr     x22, x1, x2
        orr     x22, x22, x3                // x1..x3 are reserved, zero
        adr     x20, _start
        adr     x21, image_end

        adr     x0, s_x0
        mov     x1, x19
        bl      put_line
        adr     x0, s_image
        mov     x1, x20
        bl      put_label_hex
        mov     w0, #'-'
        bl      putc
        mov     x0, x21
        bl      put_hex64
        bl      put_nl
        adr     x0, s_regs
        mov     x1, x22
        bl      put_line
        ldr     w23, [x19]
        adr     x0, s_magic
        mov     x1, x23
        bl      put_line
        adr     x0, s_above
        cmp     x19, x21
        b.hs    1f
        adr     x0, s_below
1:      bl      puts
        bl      put_nl

        movz    w0, #(PSCI_SYSTEM_OFF_ID & 0xffff)
        movk    w0, #(PSCI_SYSTEM_OFF_ID >> 16), lsl #16
        mov     x1, #0
        mov     x2, #0
        mov     x3, #0
        hvc     #0
2:      wfi
        b       2b
        .size   _start, . - _start

// No stack: each routine keeps its return address in its own register
// (put_line x26, put_label_hex x25, put_hex64 x24, puts x27; putc is a leaf).

// put_line: x0 = label, x1 = value -> "label0x<16 digits>\n". Clobbers x0-x3, x9-x11.
put_line:
        mov     x26, x30
        bl      put_label_hex
        mov     x30, x26
        b       put_nl

// put_label_hex: x0 = label, x1 = value -> "label0x<16 digits>".
put_label_hex:
        mov     x25, x30
        mov     x11, x1
        bl      puts
        mov     x0, x11
        mov     x30, x25
        b       put_hex64

// put_hex64: x0 = value -> "0x" and 16 lowercase hex digits. Clobbers x0-x3, x9, x10.
put_hex64:
        mov     x24, x30
        mov     x1, x0
        mov     w0, #'0'
        bl      putc
        mov     w0, #'x'
        bl      putc
        mov     x2, #60
3:      lsr     x3, x1, x2
        and     x3, x3, #0xf
        cmp     x3, #10
        add     x0, x3, #'0'
        add     x3, x3, #('a' - 10)
        csel    x0, x0, x3, lo
        bl      putc
        subs    x2, x2, #4
        b.ge    3b
        mov     x30, x24
        ret

// puts: x0 = NUL-terminated string. Clobbers x0, x1, x9, x10.
puts:
        mov     x27, x30
        mov     x1, x0
4:      ldrb    w0, [x1], #1
        cbz     w0, 5f
        bl      putc
        b       4b
5:      mov     x30, x27
        ret

put_nl:
        mov     w0, #'\n'
        // fall through
// putc: w0 = byte, written to UARTDR once UARTFR.TXFF is clear (PL011 TRM). Clobbers x9, x10.
putc:
        movz    x9, #(UART_BASE >> 16), lsl #16
6:      ldr     w10, [x9, #UARTFR]
        tbnz    w10, #UARTFR_TXFF, 6b
        str     w0, [x9]
        ret

s_x0:    .asciz "boot-info x0 "
s_image: .asciz "boot-info image "
s_regs:  .asciz "boot-info x1-x3 "
s_magic: .asciz "boot-info fdt magic "
s_above: .asciz "boot-info fdt above image"
s_below: .asciz "boot-info fdt BELOW image"
        .balign 8
image_end:                                  // the file ends here: QEMU's image size
