// common.S - shared start-up, UART output, exception vectors and the
// "call and print" machinery of the hcdbg teaching guests.
//
// Every guest does `.include "common.S"` first and then defines `main`
// (called by _start on the boot CPU with a stack and VBAR_EL1 set up; when
// it returns the guest powers off through PSCI SYSTEM_OFF).
//
// The machine is QEMU's `virt` board (and hcdbg's copy of it): RAM at
// 0x4000_0000, the image linked at 0x4008_0000 (guest.ld), a PL011 UART at
// 0x0900_0000. The guest runs at EL1 with the MMU off, so every data access
// is Device-nGnRnE: all loads and stores below are naturally aligned.
// Nothing is taken from the DTB or from x0 at entry.
//
// Register conventions of the routines here (AAPCS64-like): x0-x15 are
// scratch, x19-x28 are preserved, the stack stays 16-byte aligned.
//
// An SMCCC call line is printed as one of (the format hcdbg and the tests
// compare against):
//     NAME -> 0x%016x
//     NAME(0x%x) -> 0x%016x                 argument in minimal hex digits
//     NAME -> 0x%016x 0x%016x 0x%016x 0x%016x   x0..x3
//     NAME -> UNDEFINED                     the HVC/SMC took an UNDEF exception

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------
        .equ UART_BASE,      0x09000000    // PL011 on virt
        .equ UARTDR,         0x00          // data register (write = transmit)
        .equ UARTFR,         0x18          // flag register
        .equ UARTFR_TXFF,    5             // bit 5: transmit FIFO full

        .equ MAX_CPUS,       16            // stack slots; power of two
        .equ STACK_SIZE,     0x1000        // per CPU

        .equ PSCI_SYSTEM_OFF_ID, 0x84000008   // DEN0022 (PSCI), reference 2.1

        // flags of `report` (x6)
        .equ REPORT_ARG,     1             // print "(0x<x5>)" after the name
        .equ REPORT_ALL,     2             // print x0..x3, not just x0

// ---------------------------------------------------------------------------
// Macros
// ---------------------------------------------------------------------------

// MOVQ reg, imm: load a 64-bit constant with movz/movk (no literal pool, so
// the disassembly in the debugger shows the function ID itself).
        .macro MOVQ reg:req, imm:req
        movz    \reg, #((\imm) & 0xffff)
        .if ((\imm) >> 16) & 0xffff
        movk    \reg, #(((\imm) >> 16) & 0xffff), lsl #16
        .endif
        .if ((\imm) >> 32) & 0xffff
        movk    \reg, #(((\imm) >> 32) & 0xffff), lsl #32
        .endif
        .if ((\imm) >> 48) & 0xffff
        movk    \reg, #(((\imm) >> 48) & 0xffff), lsl #48
        .endif
        .endm

// STRING label, "text": a NUL-terminated string in .rodata.
        .macro STRING label:req, text:req
        .pushsection .rodata
\label: .asciz "\text"
        .popsection
        .endm

// SMCCC conduit=hvc, imm=0: issue the call whose function ID is in w0 and
// arguments in x1..x3 (set by the caller).
//
// TPIDR_EL1 is this guest's per-CPU "the last call was UNDEFINED" flag: it is
// cleared here and set by the synchronous exception handler when the
// HVC/SMC itself took an undefined-instruction exception (e.g. SMC at EL1
// when no EL3 exists, which is the case under QEMU without firmware). A
// system register is used because it is naturally per-CPU and needs no
// memory or free general-purpose register.
        .macro SMCCC conduit=hvc, imm=0
        msr     tpidr_el1, xzr
        \conduit #\imm
        .endm

// CALL_PRINT "NAME", fid, a1=0, a2=0, a3=0, conduit=hvc, imm=0, argp=0, all=0
// Make one SMCCC call with immediate arguments and print its line.
// x1..x3 are always set (unused ones to 0) so every call is reproducible.
//   argp=1: the line reads NAME(0x<a1>) -> ...
//   all=1:  print x0..x3 after the call (calls with several results).
        .macro CALL_PRINT name:req, fid:req, a1=0, a2=0, a3=0, conduit=hvc, imm=0, argp=0, all=0
        .pushsection .rodata
.Lcall_name\@: .asciz "\name"
        .popsection
        MOVQ    x0, \fid
        MOVQ    x1, \a1
        MOVQ    x2, \a2
        MOVQ    x3, \a3
        SMCCC   \conduit, \imm
        adr     x4, .Lcall_name\@
        MOVQ    x5, \a1
        mov     x6, #((\argp) * REPORT_ARG + (\all) * REPORT_ALL)
        mrs     x7, tpidr_el1
        bl      report
        .endm

// ---------------------------------------------------------------------------
// Entry (the first bytes of the image: guest.ld puts .text.boot first)
// ---------------------------------------------------------------------------
        .section .text.boot, "ax"
        .global _start
        .type   _start, %function
_start:
        // Zero .bss ourselves: QEMU's and hcdbg's ELF loaders do it already,
        // but then the image also works when loaded as a raw binary.
        adrp    x0, __bss_start
        add     x0, x0, :lo12:__bss_start
        adrp    x1, __bss_end
        add     x1, x1, :lo12:__bss_end
1:      cmp     x0, x1
        b.hs    2f
        stp     xzr, xzr, [x0], #16
        b       1b
2:
        // The boot CPU uses stack slot 0; secondaries (psci-tour) use others.
        mov     x0, #0
        bl      stack_top_of        // leaf routine: no stack needed yet
        mov     sp, x0
        bl      install_vectors
        bl      main
        b       system_off
        .size   _start, . - _start

        .text

// stack_top_of: x0 = slot index -> x0 = initial SP of that slot (the index
// is reduced modulo MAX_CPUS so a bogus value cannot escape the stacks).
// Leaf; clobbers x0, x9, x10.
        .type   stack_top_of, %function
stack_top_of:
        and     x0, x0, #(MAX_CPUS - 1)
        add     x0, x0, #1
        mov     x10, #STACK_SIZE
        adrp    x9, stacks
        add     x9, x9, :lo12:stacks
        madd    x0, x0, x10, x9             // stacks + (index + 1) * STACK_SIZE
        ret
        .size   stack_top_of, . - stack_top_of

// install_vectors: VBAR_EL1 is per CPU, so every CPU calls this once.
// Leaf; clobbers x9.
        .global install_vectors
        .type   install_vectors, %function
install_vectors:
        adr     x9, vectors
        msr     vbar_el1, x9
        isb
        ret
        .size   install_vectors, . - install_vectors

// ---------------------------------------------------------------------------
// UART output
// ---------------------------------------------------------------------------

// putc: w0 = byte. Clobbers x9, x10 only (callers keep state in x1..x8).
// Waits while UARTFR.TXFF says the transmit FIFO is full, then writes UARTDR
// as a 32-bit register (PL011 TRM: UARTFR, UARTDR).
        .global putc
        .type   putc, %function
putc:
        movz    x9, #(UART_BASE >> 16), lsl #16
1:      ldr     w10, [x9, #UARTFR]
        tbnz    w10, #UARTFR_TXFF, 1b
        str     w0, [x9, #UARTDR]
        ret
        .size   putc, . - putc

// puts: x0 = NUL-terminated string. Clobbers x0, x1, x9, x10.
        .global puts
        .type   puts, %function
puts:
        str     x30, [sp, #-16]!
        mov     x1, x0
1:      ldrb    w0, [x1], #1
        cbz     w0, 2f
        bl      putc
        b       1b
2:      ldr     x30, [sp], #16
        ret
        .size   puts, . - puts

// put_nl: print "\n". Clobbers x0, x9, x10.
        .type   put_nl, %function
put_nl:
        mov     w0, #'\n'
        b       putc
        .size   put_nl, . - put_nl

// put_hex64: x0 = value -> "0x" and exactly 16 lowercase hex digits.
// put_hex:   x0 = value -> "0x" and the minimal number of digits ("0x0").
// Both clobber x0-x3, x9, x10.
        .global put_hex64
        .type   put_hex64, %function
put_hex64:
        mov     x1, x0
        mov     x2, #60                     // shift of the first nibble
        b       put_nibbles
        .size   put_hex64, . - put_hex64

        .global put_hex
        .type   put_hex, %function
put_hex:
        mov     x1, x0
        orr     x2, x0, #1                  // so that 0 still prints one digit
        clz     x2, x2
        mov     x3, #63
        sub     x2, x3, x2                  // index of the top set bit
        bic     x2, x2, #3                  // shift of its nibble
        // fall through
put_nibbles:                                // x1 = value, x2 = first shift
        str     x30, [sp, #-16]!
        mov     w0, #'0'
        bl      putc
        mov     w0, #'x'
        bl      putc
1:      lsr     x3, x1, x2
        and     x3, x3, #0xf
        cmp     x3, #10
        add     x0, x3, #'0'
        add     x3, x3, #('a' - 10)
        csel    x0, x3, x0, hs
        bl      putc
        subs    x2, x2, #4
        b.ge    1b
        ldr     x30, [sp], #16
        ret
        .size   put_hex, . - put_hex

// ---------------------------------------------------------------------------
// report: print one call line.
//   x0..x3 = the registers after the call, x4 = name (string),
//   x5 = argument (printed when x6 has REPORT_ARG), x6 = REPORT_* flags,
//   x7 = non-zero if the call was UNDEFINED (TPIDR_EL1 read after the call).
// Clobbers x0-x15; x19-x28 preserved.
// ---------------------------------------------------------------------------
        .global report
        .type   report, %function
report:
        stp     x29, x30, [sp, #-80]!
        stp     x19, x20, [sp, #16]
        stp     x21, x22, [sp, #32]
        stp     x23, x24, [sp, #48]
        stp     x25, x26, [sp, #64]
        mov     x19, x0
        mov     x20, x1
        mov     x21, x2
        mov     x22, x3
        mov     x24, x5
        mov     x25, x6
        mov     x26, x7
        mov     x0, x4
        bl      puts                        // NAME
        tbz     x25, #0, 1f                 // REPORT_ARG
        mov     w0, #'('
        bl      putc
        mov     x0, x24
        bl      put_hex
        mov     w0, #')'
        bl      putc
1:      adr     x0, str_arrow
        bl      puts                        // " -> "
        cbz     x26, 2f
        adr     x0, str_undefined           // the call never reached a callee
        bl      puts
        b       3f
2:      mov     x0, x19
        bl      put_hex64
        tbz     x25, #1, 3f                 // REPORT_ALL
        mov     w0, #' '
        bl      putc
        mov     x0, x20
        bl      put_hex64
        mov     w0, #' '
        bl      putc
        mov     x0, x21
        bl      put_hex64
        mov     w0, #' '
        bl      putc
        mov     x0, x22
        bl      put_hex64
3:      bl      put_nl
        ldp     x19, x20, [sp, #16]
        ldp     x21, x22, [sp, #32]
        ldp     x23, x24, [sp, #48]
        ldp     x25, x26, [sp, #64]
        ldp     x29, x30, [sp], #80
        ret
        .size   report, . - report

// ---------------------------------------------------------------------------
// system_off: print "SYSTEM_OFF" and call PSCI SYSTEM_OFF (DEN0022, reference 2.8)
// through HVC #0. It does not return; should the hypervisor return anyway,
// park on WFI (which hcdbg treats as a yield point).
// ---------------------------------------------------------------------------
        .global system_off
        .type   system_off, %function
system_off:
        adr     x0, str_system_off
        bl      puts
        MOVQ    x0, PSCI_SYSTEM_OFF_ID
        mov     x1, #0
        mov     x2, #0
        mov     x3, #0
        SMCCC   hvc, 0
1:      wfi
        b       1b
        .size   system_off, . - system_off

// ---------------------------------------------------------------------------
// Exception vectors (Arm ARM, "Exception vectors", VBAR_EL1): 16 entries of 0x80 bytes, table
// aligned to 2 KiB. Groups: current EL with SP_EL0, current EL with SP_ELx,
// lower EL AArch64, lower EL AArch32; in each: sync, IRQ, FIQ, SError.
// Each entry makes a 256-byte frame on the current stack, saves x0/x1 and
// passes its index (0..15) to exc_common in x0.
// ---------------------------------------------------------------------------
        .equ EXC_FRAME, 256

        // Own section so the 2 KiB alignment pads only once, after the code.
        .section .text.vectors, "ax"
        .balign 2048
        .global vectors
        .type   vectors, %function
vectors:
        .irp    idx, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
        .balign 0x80
        sub     sp, sp, #EXC_FRAME
        stp     x0, x1, [sp]
        mov     x0, #\idx
        b       exc_common
        .endr
        .size   vectors, 16 * 0x80

// exc_common: x0 = vector index, x0/x1 of the interrupted code in the frame.
//
// The one expected exception: an HVC or SMC that is UNDEFINED at EL1 (an SMC
// with no EL3, an HVC with no EL2 or with HCR_EL2.HCD set). It arrives as a
// synchronous exception with ESR_EL1.EC == 0 ("unknown reason", Arm ARM
// ESR_EL1) and ELR_EL1 pointing at the instruction itself. We step over it
// (ELR += 4) and set TPIDR_EL1 = 1 so the caller prints "UNDEFINED".
//
// Anything else is a bug in the guest or a surprise from the hypervisor:
// print ESR/ELR/FAR and power off.
        .type   exc_common, %function
exc_common:
        stp     x2, x3, [sp, #16]
        stp     x4, x5, [sp, #32]
        stp     x6, x7, [sp, #48]
        stp     x8, x9, [sp, #64]
        stp     x10, x11, [sp, #80]
        stp     x12, x13, [sp, #96]
        stp     x14, x15, [sp, #112]
        stp     x16, x17, [sp, #128]
        stp     x18, x19, [sp, #144]
        stp     x20, x21, [sp, #160]
        stp     x22, x23, [sp, #176]
        stp     x24, x25, [sp, #192]
        stp     x26, x27, [sp, #208]
        stp     x28, x29, [sp, #224]
        str     x30, [sp, #240]

        tst     x0, #3                      // synchronous entries are 0, 4, 8, 12
        b.ne    exc_unexpected
        mrs     x1, esr_el1
        ubfx    x2, x1, #26, #6             // ESR_ELx.EC
        cbnz    x2, exc_unexpected
        mrs     x3, elr_el1
        ldr     w4, [x3]                    // the faulting instruction
        and     w5, w4, #0xffe0001f         // drop imm16 (bits 20:5)
        movz    w6, #0x0002
        movk    w6, #0xd400, lsl #16        // HVC #imm = 0xd4000002 | imm16 << 5
        cmp     w5, w6
        b.eq    1f
        add     w6, w6, #1                  // SMC #imm = 0xd4000003 | imm16 << 5
        cmp     w5, w6
        b.ne    exc_unexpected
1:      add     x3, x3, #4                  // resume after the HVC/SMC
        msr     elr_el1, x3
        mov     x9, #1
        msr     tpidr_el1, x9               // "the call was UNDEFINED"

        ldp     x2, x3, [sp, #16]
        ldp     x4, x5, [sp, #32]
        ldp     x6, x7, [sp, #48]
        ldp     x8, x9, [sp, #64]
        ldp     x10, x11, [sp, #80]
        ldp     x12, x13, [sp, #96]
        ldp     x14, x15, [sp, #112]
        ldp     x16, x17, [sp, #128]
        ldp     x18, x19, [sp, #144]
        ldp     x20, x21, [sp, #160]
        ldp     x22, x23, [sp, #176]
        ldp     x24, x25, [sp, #192]
        ldp     x26, x27, [sp, #208]
        ldp     x28, x29, [sp, #224]
        ldr     x30, [sp, #240]
        ldp     x0, x1, [sp]
        add     sp, sp, #EXC_FRAME
        eret
        .size   exc_common, . - exc_common

        .type   exc_unexpected, %function
exc_unexpected:
        mrs     x19, esr_el1                // read all three before printing
        mrs     x20, elr_el1
        mrs     x21, far_el1
        adr     x0, str_exc_esr
        bl      puts
        mov     x0, x19
        bl      put_hex64
        adr     x0, str_exc_elr
        bl      puts
        mov     x0, x20
        bl      put_hex64
        adr     x0, str_exc_far
        bl      puts
        mov     x0, x21
        bl      put_hex64
        bl      put_nl
        b       system_off
        .size   exc_unexpected, . - exc_unexpected

// ---------------------------------------------------------------------------
// Strings and stacks
// ---------------------------------------------------------------------------
        .section .rodata
str_arrow:      .asciz " -> "
str_undefined:  .asciz "UNDEFINED"
str_system_off: .asciz "SYSTEM_OFF\n"
str_exc_esr:    .asciz "EXCEPTION esr="
str_exc_elr:    .asciz " elr="
str_exc_far:    .asciz " far="

        .bss
        .balign 16
        .global stacks
        .type   stacks, %object
stacks: .space  MAX_CPUS * STACK_SIZE       // slot i is [stacks + i*SIZE, + SIZE)
        .size   stacks, MAX_CPUS * STACK_SIZE

        .text
