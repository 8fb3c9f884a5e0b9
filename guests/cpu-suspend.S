// cpu-suspend.S - PSCI CPU_SUSPEND (DEN0022D.b §5.4) on CPU 1, woken by an
// SGI from CPU 0 through the GICv2 of QEMU's `virt` (IHI 0048B); -smp 2 or
// more (CPUs 2.. stay off).
//
// power_state, original format (§5.4.2.1): StateID [15:0], StateType [16]
// (0 standby, 1 power-down), PowerLevel [25:24]. Two requests, both for the
// core alone (PowerLevel 0, StateID 0):
//  1. power-down (0x10000) with entry point `resume` and context ID 0xC0FFEE.
//     A power-down state does not return: the CPU wakes at the entry point
//     with x0 = the context ID, at the caller's EL (EL1h here), MMU and caches
//     off, DAIF masked (§5.4, §6.4.3); SP, VBAR_EL1 and every other register
//     are to be set up again. But PSCI lets the implementation put the CPU in
//     a shallower state than the one asked for, and then the call returns
//     SUCCESS in place as from a standby state (§5.4). QEMU 7.2 (its TCG PSCI
//     runs WFI and returns 0 for every suspend) and KVM do so; hcdbg resumes
//     at the entry point with `--profile tf-a`, as TF-A does.
//  2. standby (0x0): returns SUCCESS in place once an interrupt wakes it.
// Either way the CPU waits for a wake-up event (§5.4.1), here an interrupt
// pending for it, whatever PSTATE's masks say, as WFI does. So CPU 1 keeps
// IRQs masked throughout: the SGI wakes it, is not taken, and GICC_HPPIR
// (§4.4.8) still names it when CPU 1 looks.
//
// CPU 0 enables the distributor (GICD_CTLR, §4.3.1) and starts CPU 1 with
// CPU_ON (DEN0022D.b §5.6). CPU 1 enables SGI 1 for itself (GICD_ISENABLER0,
// §4.3.5, banked), priority 0x80 (GICD_IPRIORITYR, §4.3.11), GICC_PMR = 0xF0
// and GICC_CTLR = 1 (§4.4.1: without it nothing is signalled and nothing
// wakes the CPU). Then, for each request in turn:
//   CPU 1 prints the request and calls CPU_SUSPEND;
//   CPU 0 spins SPIN_COUNT iterations (4 million instructions: a CPU that
//     wakes before the interrupt does so well before CPU 0 sends it), prints
//     that it sends, sets `sent` and writes GICD_SGIR (§4.3.15: SGI 1 to
//     CPU 1), then waits for CPU 1's report;
//   CPU 1, woken, reads GICC_HPPIR and `sent` first thing and prints how it
//     came back (resumed at `resume` and x0, or CPU_SUSPEND's return value),
//     then what was pending (the SGI, or 1023: nothing, §3.2.5) and whether
//     CPU 0 had sent yet, then acknowledges the SGI (GICC_IAR, §4.4.4; after
//     an early wake it first waits for it) and EOIs it (GICC_EOIR, §4.4.5).
// Who prints is handed over with flags (`phase` by CPU 0, `armed` and
// `reported` by CPU 1), so the output is the same under QEMU's one host
// thread per vCPU (should CPU 0's SGI come before CPU 1 is in the suspend,
// it is pending there and CPU 1 does not wait: the same lines). CPU 1 ends with CPU_OFF (§5.5); CPU 0 prints a summary
// (PASS, or FAIL and the names of the checks that failed) and powers off.
// A CPU that wakes without the SGI is the bug this guest is for: hcdbg's
// scheduler once ran a vCPU waiting in WFI or CPU_SUSPEND in its round-robin
// turn (tests/test_cpu_suspend.py puts that scheduler back and sees FAIL).
//
// This guest assumes the GIC's CPU interface keeps its state over the
// power-down (it does under QEMU and hcdbg); an OS saves and restores it.
//
// Expected UART output (QEMU 7.2, and hcdbg --profile qemu or kvm):
//     CPU_ON(0x1) -> 0x0000000000000000
//     cpu 1: up, SGI 1 enabled, IRQs masked
//     cpu 1: CPU_SUSPEND(0x10000) power-down, entry resume, context 0xc0ffee
//     cpu 0: 2000000 iterations later, sending SGI 1
//     cpu 1: CPU_SUSPEND returned 0x0 (power-down taken as standby)
//     cpu 1: woke with GICC_HPPIR 1 (SGI 1 pending), cpu 0 had sent it
//     cpu 1: acknowledged SGI 1 from cpu 0
//     cpu 1: CPU_SUSPEND(0x0) standby
//     cpu 0: 2000000 iterations later, sending SGI 1
//     cpu 1: CPU_SUSPEND returned 0x0
//     cpu 1: woke with GICC_HPPIR 1 (SGI 1 pending), cpu 0 had sent it
//     cpu 1: acknowledged SGI 1 from cpu 0
//     cpu-suspend (power-down returned as standby): PASS
//     SYSTEM_OFF
// With hcdbg --profile tf-a the fifth line reads
//     cpu 1: resumed at entry, x0 0xc0ffee
// and the summary "(power-down resumed at entry)". A CPU that woke early says
//     cpu 1: woke with GICC_HPPIR 1023 (nothing pending), cpu 0 had not sent it
// and the summary ends in FAIL early.
        .include "common.S"
        .include "gic.inc"

        .equ PSCI_CPU_SUSPEND64_ID, 0xC4000001
        .equ PSCI_CPU_OFF_ID,   0x84000002
        .equ PSCI_CPU_ON64_ID,  0xC4000003
        .equ STATE_POWER_DOWN,  1 << 16    // StateType 1; StateID, PowerLevel 0
        .equ STATE_STANDBY,     0
        .equ CONTEXT_ID,        0xC0FFEE
        .equ WAKE_SGI,          1
        .equ SGI_PRIO,          0x80
        .equ PMR_OPEN,          0xF0
        .equ SPIN_COUNT,        2000000    // iterations of a 2-instruction loop
        .equ WAIT_SECONDS,      10
        .equ PHASE_POWER_DOWN,  1          // `phase`: the request CPU 1 makes
        .equ PHASE_STANDBY,     2
        .equ PHASES,            2

        // `fails` bits, named in the summary line
        .equ FAIL_CPU_ON,       1          // CPU 1 did not start
        .equ FAIL_TIMEOUT,      2          // CPU 1 did not suspend or report
        .equ FAIL_EARLY,        4          // woke with no SGI pending, or before it was sent
        .equ FAIL_RETURN,       8          // CPU_SUSPEND returned other than SUCCESS
        .equ FAIL_CONTEXT,      16         // resumed with x0 != the context ID, or
                                           //   a standby request resumed at the entry
        .equ FAIL_IAR,          32         // acknowledged something else than SGI 1 from CPU 0

// AT_WAKE: first thing after CPU_SUSPEND, before any output can delay it:
// w20 = GICC_HPPIR (what was pending), x21 = `sent` (what CPU 0 had sent),
// x22 = x0 (the return value, or at `resume` the context ID). Clobbers x9.
        .macro AT_WAKE
        MOVQ    x9, GICC_BASE
        ldr     w20, [x9, #GICC_HPPIR]
        adr     x9, sent
        ldar    x21, [x9]
        mov     x22, x0
        .endm

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-32]!
        stp     x19, x20, [sp, #16]
        MOVQ    x9, GICD_BASE
        mov     w10, #1
        str     w10, [x9, #GICD_CTLR]

        MOVQ    x0, PSCI_CPU_ON64_ID
        mov     x1, #1
        adr     x2, secondary_entry
        mov     x3, #1
        SMCCC
        mov     x19, x0
        adr     x4, str_cpu_on
        mov     x5, #1
        mov     x6, #REPORT_ARG
        mrs     x7, tpidr_el1
        orr     x20, x7, x19
        bl      report                      // "CPU_ON(0x1) -> 0x..."
        cbz     x20, 1f
        mov     x0, #FAIL_CPU_ON
        bl      add_fail
        b       verdict

1:      mov     x19, #PHASE_POWER_DOWN
2:      adr     x9, phase
        stlr    x19, [x9]                   // CPU 1 may print and suspend
        adr     x0, armed
        mov     x1, x19
        bl      wait_for
        cbnz    x0, timeout
        MOVQ    x9, SPIN_COUNT
3:      subs    x9, x9, #1
        b.ne    3b
        adr     x0, str_cpu0
        bl      puts
        MOVQ    x0, SPIN_COUNT
        bl      put_dec
        adr     x0, str_sending
        bl      puts
        adr     x9, sent
        stlr    x19, [x9]
        dsb     sy                          // `sent` is seen before the SGI can be
        MOVQ    x9, GICD_BASE
        MOVQ    w10, SGIR_FILTER_LIST | (1 << (1 + SGIR_TARGETS_SHIFT)) | WAKE_SGI
        str     w10, [x9, #GICD_SGIR]
        adr     x0, reported
        mov     x1, x19
        bl      wait_for
        cbnz    x0, timeout
        add     x19, x19, #1
        cmp     x19, #PHASES
        b.ls    2b
        b       verdict

timeout:
        adr     x0, str_timeout
        bl      puts
        mov     x0, #FAIL_TIMEOUT
        bl      add_fail

// "cpu-suspend (power-down <how it came back>): PASS", or FAIL and the names
verdict:
        adr     x0, str_summary
        bl      puts
        adr     x9, resumed
        ldr     x9, [x9]
        adr     x0, str_pd_returned
        cbz     x9, 4f
        adr     x0, str_pd_resumed
4:      bl      puts
        bl      put_verdict
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #32
        ret                                 // _start calls SYSTEM_OFF
        .size   main, . - main

// wait_for: x0 = flag, x1 = value: wait until the flag reads x1 or more.
// -> x0 = 0, or 1 after WAIT_SECONDS of the counter. Clobbers x0-x3, x9-x12.
        .type   wait_for, %function
wait_for:
        stp     x29, x30, [sp, #-16]!
        mov     x11, x0
        mov     x12, x1
        mrs     x0, cntfrq_el0
        mov     x9, #WAIT_SECONDS
        mul     x0, x0, x9
        bl      deadline_after
        mov     x2, x0
1:      ldar    x9, [x11]
        cmp     x9, x12
        b.hs    2f
        mov     x0, x2
        bl      past
        b.hs    3f
        yield
        b       1b
2:      mov     x0, #0
        ldp     x29, x30, [sp], #16
        ret
3:      mov     x0, #1
        ldp     x29, x30, [sp], #16
        ret
        .size   wait_for, . - wait_for

// secondary_entry: CPU_ON's entry (EL1h, MMU off, DAIF masked), x0 = 1.
// x19 = the phase; the calls below keep x19-x28 (SMCCC: preserved over the
// call), but a power-down state loses them all: `resume` reloads the phase.
        .global secondary_entry
        .type   secondary_entry, %function
secondary_entry:
        bl      stack_top_of
        mov     sp, x0
        bl      install_vectors
        msr     daifset, #0xf               // the SGI is to wake this CPU, not to be taken
        MOVQ    x9, GICD_BASE
        MOVQ    x10, GICC_BASE
        mov     w11, #SGI_PRIO
        strb    w11, [x9, #GICD_IPRIORITYR + WAKE_SGI]
        mov     w11, #(1 << WAKE_SGI)
        str     w11, [x9, #GICD_ISENABLER]
        mov     w11, #PMR_OPEN
        str     w11, [x10, #GICC_PMR]
        mov     w11, #1
        str     w11, [x10, #GICC_CTLR]
        mov     x19, #PHASE_POWER_DOWN
        adr     x0, phase                   // CPU 0's CPU_ON line first
        mov     x1, x19
        bl      wait_phase
        adr     x0, str_up
        bl      puts

suspend:                                    // x19 = the phase, come
        adr     x0, str_cpu1
        bl      puts
        cmp     x19, #PHASE_POWER_DOWN
        adr     x0, str_req_power_down
        adr     x9, str_req_standby
        csel    x0, x0, x9, eq
        bl      puts
        dsb     sy                          // the line is out before CPU 0 goes on
        adr     x9, armed
        stlr    x19, [x9]
        MOVQ    x0, PSCI_CPU_SUSPEND64_ID
        cmp     x19, #PHASE_POWER_DOWN
        mov     x1, #STATE_POWER_DOWN
        mov     x9, #STATE_STANDBY
        csel    x1, x1, x9, eq
        adr     x2, resume
        MOVQ    x3, CONTEXT_ID
        SMCCC
        AT_WAKE                             // returned in place
        adr     x0, str_returned
        bl      puts
        mov     x0, x22
        bl      put_hex
        cmp     x19, #PHASE_POWER_DOWN
        adr     x0, str_as_standby
        adr     x9, str_nl
        csel    x0, x0, x9, eq
        bl      puts
        cbz     x22, woke
        mov     x0, #FAIL_RETURN
        bl      add_fail
        b       woke

// resume: the entry point of the power-down state (see the header): x0 =
// the context ID, nothing else kept.
resume:
        AT_WAKE
        mov     x0, #1
        bl      stack_top_of
        mov     sp, x0
        bl      install_vectors
        adr     x9, phase
        ldr     x19, [x9]
        adr     x9, resumed
        str     x19, [x9]
        adr     x0, str_cpu1
        bl      puts
        adr     x0, str_resumed
        bl      puts
        mov     x0, x22
        bl      put_hex
        bl      put_nl
        MOVQ    x9, CONTEXT_ID
        cmp     x22, x9
        ccmp    x19, #PHASE_POWER_DOWN, #0, eq
        b.eq    woke
        mov     x0, #FAIL_CONTEXT
        bl      add_fail

// woke: w20, x21 as AT_WAKE read them; x19 = the phase.
woke:
        adr     x0, str_woke
        bl      puts
        and     x0, x20, #IAR_ID_MASK
        bl      put_dec
        and     w9, w20, #IAR_ID_MASK
        adr     x0, str_sgi_pending
        cmp     w9, #WAKE_SGI
        b.eq    1f
        adr     x0, str_other_pending
        cmp     w9, #INTID_SPURIOUS
        b.ne    1f
        adr     x0, str_nothing_pending
1:      bl      puts
        adr     x0, str_had_sent
        cmp     x21, x19
        b.hs    2f
        adr     x0, str_had_not_sent
2:      bl      puts
        and     w9, w20, #IAR_ID_MASK
        cmp     w9, #WAKE_SGI
        ccmp    x21, x19, #0, eq            // woken by this phase's SGI
        b.hs    4f
        mov     x0, #FAIL_EARLY
        bl      add_fail
        MOVQ    x23, GICC_BASE              // early: wait for the SGI, which CPU 0
3:      ldr     w9, [x23, #GICC_HPPIR]      //   sends once `armed` says so; WFI ends
        and     w9, w9, #IAR_ID_MASK        //   when it is pending, IRQs masked or not
        cmp     w9, #WAKE_SGI
        b.eq    4f
        wfi
        b       3b
4:      MOVQ    x23, GICC_BASE
        ldr     w20, [x23, #GICC_IAR]
        and     w9, w20, #IAR_ID_MASK
        cmp     w9, #INTID_SPURIOUS         // nothing to take: no EOI (§4.4.5)
        b.eq    5f
        str     w20, [x23, #GICC_EOIR]
5:      cmp     w20, #WAKE_SGI              // source CPU 0: IAR [12:10] = 0
        b.eq    6f
        mov     x0, #FAIL_IAR
        bl      add_fail
6:      adr     x0, str_cpu1
        bl      puts
        adr     x0, str_acked
        bl      puts
        and     x0, x20, #IAR_ID_MASK
        bl      put_dec
        adr     x0, str_from
        bl      puts
        ubfx    x0, x20, #IAR_CPUID_SHIFT, #3
        bl      put_dec
        bl      put_nl
        dsb     sy                          // the lines are out before CPU 0 goes on
        adr     x9, reported
        stlr    x19, [x9]
        add     x19, x19, #1
        cmp     x19, #PHASES
        b.hi    7f
        adr     x0, phase
        mov     x1, x19
        bl      wait_phase
        b       suspend
7:      MOVQ    x0, PSCI_CPU_OFF_ID         // does not return
        mov     x1, #0
        mov     x2, #0
        mov     x3, #0
        SMCCC
8:      wfi
        b       8b
        .size   secondary_entry, . - secondary_entry

// wait_phase: x0 = flag, x1 = value: wait until the flag reads x1 or more.
// No deadline: if CPU 0 gives up it powers the system off. Leaf.
        .type   wait_phase, %function
wait_phase:
1:      ldar    x9, [x0]
        cmp     x9, x1
        b.hs    2f
        yield
        b       1b
2:      ret
        .size   wait_phase, . - wait_phase

// irq_handler: named by gic.inc's irq_entry, never called: this guest keeps
// IRQs masked and VBAR_EL1 at common.S's `vectors`.
        .global irq_handler
        .type   irq_handler, %function
irq_handler:
        ret
        .size   irq_handler, . - irq_handler

        .section .rodata
str_cpu_on:     .asciz "CPU_ON"
str_cpu0:       .asciz "cpu 0: "
str_cpu1:       .asciz "cpu 1: "
str_up:         .asciz "cpu 1: up, SGI 1 enabled, IRQs masked\n"
str_req_power_down: .asciz "CPU_SUSPEND(0x10000) power-down, entry resume, context 0xc0ffee\n"
str_req_standby: .asciz "CPU_SUSPEND(0x0) standby\n"
str_sending:    .asciz " iterations later, sending SGI 1\n"
str_returned:   .asciz "cpu 1: CPU_SUSPEND returned "
str_as_standby: .asciz " (power-down taken as standby)\n"
str_resumed:    .asciz "resumed at entry, x0 "
str_woke:       .asciz "cpu 1: woke with GICC_HPPIR "
str_sgi_pending: .asciz " (SGI 1 pending)"
str_nothing_pending: .asciz " (nothing pending)"
str_other_pending: .asciz " (not SGI 1)"
str_had_sent:   .asciz ", cpu 0 had sent it\n"
str_had_not_sent: .asciz ", cpu 0 had not sent it\n"
str_acked:      .asciz "acknowledged SGI "
str_from:       .asciz " from cpu "
str_timeout:    .asciz "cpu 0: timeout waiting for cpu 1\n"
str_summary:    .asciz "cpu-suspend (power-down "
str_pd_resumed: .asciz "resumed at entry): "
str_pd_returned: .asciz "returned as standby): "
str_nl:         .asciz "\n"
fail_names:                                 // bit 0 first, FAIL_NAME_LEN apart
        FAIL_NAME " cpu-on"
        FAIL_NAME " timeout"
        FAIL_NAME " early"
        FAIL_NAME " return"
        FAIL_NAME " context"
        FAIL_NAME " iar"

        .bss
        .balign 8
phase:      .quad 0         // CPU 0: the request CPU 1 is to make next (PHASE_*)
armed:      .quad 0         // CPU 1: the phase whose CPU_SUSPEND it is making
sent:       .quad 0         // CPU 0: the phase whose SGI it has sent
reported:   .quad 0         // CPU 1: the phase it has reported
resumed:    .quad 0         // CPU 1: the power-down request resumed at `resume`
fails:      .quad 0         // FAIL_* bits
