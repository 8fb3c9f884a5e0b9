// timer.S - the EL1 generic timers (DDI 0487 D11) through the GICv2 of
// QEMU's `virt` (IHI 0048B); one CPU.
//
// Setup: GICD_CTLR = 1, PPIs 27 (virtual timer) and 30 (EL1 physical timer)
// enabled in GICD_ISENABLER0 (§4.3.5) at priority 0x80 (GICD_IPRIORITYR
// bytes, §4.3.11; PPI registers are banked per CPU), GICC_PMR = 0xF0,
// GICC_CTLR = 1, VBAR_EL1 = irq_vectors. Prints CNTFRQ_EL0 (a constant of the
// board: 62.5 MHz on QEMU 7.2's virt). A tick is 1 ms = CNTFRQ / 1000.
//
// Then, each time printing what it does before it arms the timer (PSTATE.I
// stays set except while waiting, so a handler never prints in the middle of
// a line of main):
//  1. two virtual timer ticks programmed with CNTV_CVAL_EL0 = count + tick,
//     CNTV_CTL_EL0 = ENABLE (IMASK clear);
//  2. one programmed with CNTV_TVAL_EL0 = tick: TVAL writes set
//     CVAL = count + SignExtend(TVAL) (D11.2.4), checked against the counter
//     read before and after the write;
//  3. one EL1 physical timer tick (CNTP_CVAL_EL0 / CNTP_CTL_EL0, PPI 30);
//  4. the virtual timer with IMASK set: the counter is polled past CVAL with
//     IRQs unmasked; CNTV_CTL_EL0 must then read ENABLE|IMASK|ISTATUS
//     (ISTATUS is the condition, IMASK only stops the interrupt), no
//     interrupt may be taken for another tick, and PPI 27 must not be
//     pending in GICD_ISPENDR0 (§4.3.7);
//  5. IMASK cleared with the condition still met: the interrupt arrives.
// Each wait is WFI with PSTATE.I set (an interrupt that is pending wakes WFI
// even when masked), then a brief unmask to take it: no lost wake-up.
//
// QEMU 7.2 quirk (step 4): ISTATUS is updated by a host timer callback, which
// may run after the guest has already read count >= CVAL; a CTL read right
// then can still say ISTATUS 0 (about half of the runs tried). The guest polls
// CTL for up to 1 s instead of reading it once; an exact model (ISTATUS
// computed on every read) passes at the first read.
//
// The IRQ handler acknowledges (GICC_IAR), reads the timer's counter, CVAL and
// CTL, masks the timer (CTL = ENABLE|IMASK) so its level-sensitive output drops
// before the EOI, prints
//     IRQ <id>: count >= deadline, ISTATUS 1
// (no raw counter values: they differ from run to run) and EOIs.
//
// The last line is PASS, or FAIL and the names of the checks that failed;
// main returns and common.S powers off with PSCI SYSTEM_OFF. A wait that
// sees no interrupt for 2 s of the counter gives up with FAIL.
//
// Expected UART output (QEMU 7.2):
//     timer: CNTFRQ_EL0 0x3b9aca0
//     vtimer: tick 1, CVAL = count + 1 ms
//     IRQ 27: count >= deadline, ISTATUS 1
//     ...                        see tests/test_gic_guests.py
//     PASS
//     SYSTEM_OFF
        .include "common.S"
        .include "gic.inc"

        .equ TIMER_PRIO,        0x80
        .equ PMR_OPEN,          0xF0

        // `fails` bits, named in the verdict line
        .equ FAIL_TIMEOUT,      1          // an expected interrupt did not come
        .equ FAIL_EARLY,        2          // taken before the deadline
        .equ FAIL_ISTATUS,      4          // ISTATUS clear in the handler
        .equ FAIL_ID,           8          // wrong or unexpected interrupt ID
        .equ FAIL_TVAL,         16         // CVAL after a TVAL write
        .equ FAIL_IMASK,        32         // step 4

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-80]!
        stp     x19, x20, [sp, #16]
        stp     x21, x22, [sp, #32]
        stp     x23, x24, [sp, #48]
        str     x25, [sp, #64]
        msr     daifset, #2
        bl      install_irq_vectors
        MOVQ    x19, GICD_BASE
        MOVQ    x20, GICC_BASE
        mov     w0, #1
        str     w0, [x19, #GICD_CTLR]
        mov     w0, #TIMER_PRIO
        strb    w0, [x19, #GICD_IPRIORITYR + PPI_VTIMER]
        strb    w0, [x19, #GICD_IPRIORITYR + PPI_PTIMER]
        MOVQ    w0, (1 << PPI_VTIMER) | (1 << PPI_PTIMER)
        str     w0, [x19, #GICD_ISENABLER]
        mov     w0, #PMR_OPEN
        str     w0, [x20, #GICC_PMR]
        mov     w0, #1
        str     w0, [x20, #GICC_CTLR]

        mrs     x21, cntfrq_el0
        adr     x0, str_cntfrq
        bl      puts
        mov     x0, x21
        bl      put_hex
        bl      put_nl
        mov     x9, #1000
        udiv    x21, x21, x9                // x21 = ticks per ms

        // 1. Two virtual ticks through CVAL.
        mov     x22, #1
1:      adr     x0, str_vtick
        bl      puts
        mov     x0, x22
        bl      put_dec
        adr     x0, str_cval_plus
        bl      puts
        mov     x0, x21
        bl      deadline_after
        bl      set_deadline
        msr     cntv_cval_el0, x0
        mov     x0, #CTL_ENABLE
        msr     cntv_ctl_el0, x0
        bl      wait_irqs
        add     x22, x22, #1
        cmp     x22, #3
        b.lo    1b

        // 2. The third through TVAL: CVAL = count at the write + TVAL.
        adr     x0, str_vtick
        bl      puts
        mov     x0, x22
        bl      put_dec
        adr     x0, str_tval
        bl      puts
        isb
        mrs     x23, cntvct_el0
        msr     cntv_tval_el0, x21
        isb
        mrs     x24, cntvct_el0
        mrs     x0, cntv_cval_el0
        bl      set_deadline
        sub     x9, x0, x21                 // the count the write used
        cmp     x9, x23
        ccmp    x24, x9, #0, hs             // x23 <= x9 <= x24
        b.hs    2f
        mov     x0, #FAIL_TVAL
        bl      add_fail
2:      mov     x0, #CTL_ENABLE
        msr     cntv_ctl_el0, x0
        bl      wait_irqs

        // 3. One physical tick.
        adr     x0, str_ptick
        bl      puts
        isb
        mrs     x0, cntpct_el0
        add     x0, x0, x21
        bl      set_deadline
        msr     cntp_cval_el0, x0
        mov     x0, #CTL_ENABLE
        msr     cntp_ctl_el0, x0
        bl      wait_irqs

        // 4. IMASK set: the condition becomes true, the interrupt stays quiet.
        msr     cntv_ctl_el0, xzr
        msr     cntp_ctl_el0, xzr
        adr     x0, str_masked
        bl      puts
        mov     x0, x21
        bl      deadline_after
        mov     x22, x0
        msr     cntv_cval_el0, x0
        mov     x0, #CTL_ENABLE | CTL_IMASK
        msr     cntv_ctl_el0, x0
        adr     x9, irqs
        ldr     x25, [x9]                   // interrupts so far
        msr     daifclr, #2                 // IRQs unmasked from here
3:      mov     x0, x22
        bl      past
        b.lo    3b
        mrs     x0, cntfrq_el0              // ISTATUS, within 1 s (QEMU updates
        bl      deadline_after              //   it from a host timer that may
        mov     x23, x0                     //   run a little after the count)
4:      mrs     x24, cntv_ctl_el0
        tbnz    x24, #2, 5f                 // CTL_ISTATUS
        mov     x0, x23
        bl      past
        b.lo    4b
5:      mov     x0, x21                     // one more tick for a wrong interrupt
        bl      deadline_after
        mov     x23, x0
6:      mov     x0, x23
        bl      past
        b.lo    6b
        msr     daifset, #2
        mrs     x24, cntv_ctl_el0
        adr     x9, irqs
        ldr     x23, [x9]
        sub     x23, x23, x25               // taken while masked by IMASK
        ldr     w25, [x19, #GICD_ISPENDR]   // (x22 keeps CVAL for step 5)
        adr     x0, str_ctl
        bl      puts
        mov     x0, x24
        bl      put_hex
        adr     x0, str_no_irq
        cbz     x23, 7f
        adr     x0, str_irq_taken
7:      bl      puts
        adr     x0, str_not_pending
        tbz     w25, #PPI_VTIMER, 8f
        adr     x0, str_pending
8:      bl      puts
        cmp     x24, #CTL_ENABLE | CTL_IMASK | CTL_ISTATUS
        ccmp    x23, #0, #0, eq
        b.ne    9f
        tbz     w25, #PPI_VTIMER, 10f
9:      mov     x0, #FAIL_IMASK
        bl      add_fail

        // 5. IMASK cleared while the condition holds: the interrupt comes.
10:     adr     x0, str_unmasked
        bl      puts
        mov     x0, x22                     // the CVAL of step 4, already passed
        bl      set_deadline
        mov     x0, #CTL_ENABLE
        msr     cntv_ctl_el0, x0
        bl      wait_irqs

        msr     cntv_ctl_el0, xzr
        msr     cntp_ctl_el0, xzr
verdict:
        bl      put_verdict
        ldr     x25, [sp, #64]
        ldp     x23, x24, [sp, #48]
        ldp     x21, x22, [sp, #32]
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #80
        ret                                 // _start calls SYSTEM_OFF
        .size   main, . - main

// set_deadline: x0 = the count the next timer interrupt must not come
// before; kept for the handler. Leaf; keeps x0.
        .type   set_deadline, %function
set_deadline:
        adr     x9, deadline
        str     x0, [x9]
        ret
        .size   set_deadline, . - set_deadline

// wait_irqs: wait for one more timer interrupt than `irqs` counts now.
// Called and returns with PSTATE.I set (so none can slip in between arming
// the timer and this count). After 2 s of the counter without it:
// FAIL_TIMEOUT, and the run goes on (its later lines tell what else happened).
        .type   wait_irqs, %function
wait_irqs:
        stp     x29, x30, [sp, #-32]!
        stp     x19, x20, [sp, #16]
        adr     x9, irqs
        ldr     x19, [x9]
        add     x19, x19, #1
        mrs     x0, cntfrq_el0
        lsl     x0, x0, #1
        bl      deadline_after
        mov     x20, x0
1:      adr     x9, irqs
        ldr     x9, [x9]
        cmp     x9, x19
        b.hs    3f
        mov     x0, x20
        bl      past
        b.hs    2f
        wfi                                 // wakes on a pending IRQ, masked or not
        msr     daifclr, #2                 // take it
        isb
        msr     daifset, #2
        b       1b
2:      adr     x0, str_timeout
        bl      puts
        mov     x0, #FAIL_TIMEOUT
        bl      add_fail
3:      ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #32
        ret
        .size   wait_irqs, . - wait_irqs

// irq_handler: called by irq_entry (gic.inc); see the header.
        .global irq_handler
        .type   irq_handler, %function
irq_handler:
        stp     x29, x30, [sp, #-48]!
        stp     x19, x20, [sp, #16]
        stp     x21, x22, [sp, #32]
        MOVQ    x19, GICC_BASE
        ldr     w20, [x19, #GICC_IAR]
        and     w9, w20, #IAR_ID_MASK
        cmp     w9, #INTID_SPURIOUS         // nothing to take: no EOI (§4.4.5)
        b.eq    9f
        mov     x0, #CTL_ENABLE | CTL_IMASK
        cmp     w9, #PPI_VTIMER
        b.ne    1f
        mrs     x21, cntvct_el0             // exception entry synchronizes: no ISB
        mrs     x22, cntv_ctl_el0
        msr     cntv_ctl_el0, x0            // the output drops before the EOI
        b       3f
1:      cmp     w9, #PPI_PTIMER
        b.ne    2f
        mrs     x21, cntpct_el0
        mrs     x22, cntp_ctl_el0
        msr     cntp_ctl_el0, x0
        b       3f
2:      adr     x0, str_irq                 // not a timer: "IRQ <id>: unexpected"
        bl      puts
        and     x0, x20, #IAR_ID_MASK
        bl      put_dec
        adr     x0, str_unexpected
        bl      puts
        mov     x0, #FAIL_ID
        bl      add_fail
        b       8f
3:      isb
        adr     x0, str_irq
        bl      puts
        and     x0, x20, #IAR_ID_MASK
        bl      put_dec
        adr     x9, deadline
        ldr     x9, [x9]
        adr     x0, str_after
        cmp     x21, x9
        b.hs    4f
        mov     x0, #FAIL_EARLY
        bl      add_fail
        adr     x0, str_before
4:      bl      puts
        adr     x0, str_istatus1
        tbnz    x22, #2, 5f                 // CTL_ISTATUS
        mov     x0, #FAIL_ISTATUS
        bl      add_fail
        adr     x0, str_istatus0
5:      bl      puts
        adr     x9, irqs
        ldr     x10, [x9]
        add     x10, x10, #1
        str     x10, [x9]
8:      str     w20, [x19, #GICC_EOIR]
9:      ldp     x21, x22, [sp, #32]
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #48
        ret
        .size   irq_handler, . - irq_handler

        .section .rodata
str_cntfrq:     .asciz "timer: CNTFRQ_EL0 "
str_vtick:      .asciz "vtimer: tick "
str_cval_plus:  .asciz ", CVAL = count + 1 ms\n"
str_tval:       .asciz ", TVAL = 1 ms\n"
str_ptick:      .asciz "ptimer: tick, CVAL = count + 1 ms\n"
str_masked:     .asciz "vtimer: IMASK set, CVAL = count + 1 ms, IRQs unmasked\n"
str_ctl:        .asciz "vtimer: past the deadline: CTL "
str_no_irq:     .asciz ", no IRQ, "
str_irq_taken:  .asciz ", IRQ taken, "
str_pending:    .asciz "PPI 27 pending\n"
str_not_pending: .asciz "PPI 27 not pending\n"
str_unmasked:   .asciz "vtimer: IMASK cleared\n"
str_irq:        .asciz "IRQ "
str_after:      .asciz ": count >= deadline"
str_before:     .asciz ": count < deadline"
str_istatus1:   .asciz ", ISTATUS 1\n"
str_istatus0:   .asciz ", ISTATUS 0\n"
str_unexpected: .asciz ": unexpected\n"
str_timeout:    .asciz "timeout: no interrupt\n"
fail_names:                                 // bit 0 first, FAIL_NAME_LEN apart
        FAIL_NAME " timeout"
        FAIL_NAME " early"
        FAIL_NAME " istatus"
        FAIL_NAME " id"
        FAIL_NAME " tval"
        FAIL_NAME " imask"

        .bss
        .balign 8
deadline:   .quad 0         // count before which the next timer IRQ is early
irqs:       .quad 0         // timer interrupts handled
fails:      .quad 0         // FAIL_* bits
