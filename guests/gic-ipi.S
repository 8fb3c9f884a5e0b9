// gic-ipi.S - software-generated interrupts (SGIs) between 4 CPUs through
// the GICv2 of QEMU's `virt` (IHI 0048B), meant for -smp 4.
//
// Setup: CPU 0 prints what GICD_TYPER says (§4.3.2), enables the distributor
// (GICD_CTLR, §4.3.1), then each CPU, itself, because these registers are
// banked per CPU: enables SGIs 0-15 (GICD_ISENABLER0, §4.3.5), sets their
// priority to 0x80 (GICD_IPRIORITYR, §4.3.11), GICC_PMR = 0xF0 (§4.4.2),
// GICC_CTLR = 1 (§4.4.1), VBAR_EL1 = irq_vectors, unmasks IRQs and prints
// "cpuN: ready, PMR 0xf0". CPU 0 starts CPUs 1..3 with PSCI CPU_ON (DEN0022
// §5.1.4) one at a time and waits for each to be ready; the secondaries then
// sleep in a WFI loop and do all their work in the IRQ handler.
//
// The IRQ handler (every CPU) reads GICC_IAR (§4.4.4: interrupt ID in [9:0],
// the source CPU of an SGI in [12:10]) and GICC_RPR (§4.4.6, the priority of
// the interrupt just acknowledged), prints
//     cpuN: SGI <id> from cpu<source> (RPR 0x<priority>)
// writes the IAR value back to GICC_EOIR (§4.4.5), and for three SGIs sends
// one itself through GICD_SGIR (§4.3.15):
//     SGI 7  -> SGI 8 to the CPU it came from (target list = 1 << source)
//     SGI 10 -> SGI 11 with TargetListFilter 1 (every CPU but itself)
//     SGI 12 -> SGI 13 with TargetListFilter 2 (itself only) and a target
//               list (0b1101) that leaves itself out: the list must be ignored
//
// Deterministic output under QEMU TCG (a host thread per vCPU): CPU 0 runs
// one step at a time. A step is a list of slots, each "CPU c acknowledges
// IAR value v"; CPU 0 publishes the list (cur_slots, nslots, turn = 0) and
// writes GICD_SGIR. A CPU whose handler acknowledged an SGI waits until the
// slot at `turn` names it, prints, checks its IAR value against the slot's,
// EOIs, sends its own SGI if any and advances `turn` (dsb sy + stlr, so its
// UART output is complete first). CPU 0 waits for turn == nslots. Within a
// step CPUs therefore print in slot order, whatever order QEMU delivers in.
// Every wait gives up after WAIT_SECONDS of the virtual counter without
// progress (`turn` not advancing), so a missing interrupt ends the run with
// FAIL instead of a hang, while a run that is only slow (an overloaded host
// can leave a vCPU thread unscheduled for seconds) still passes.
//
// Then, on CPU 0 alone:
//  - priority (§3.3, "Interrupt prioritization": a lower value is a higher
//    priority; the CPU interface signals the highest-priority pending
//    interrupt): with PSTATE.I set, SGI 5 gets priority 0xA0 and SGI 6 0x40
//    (CPU 0's own bytes: SGI/PPI priorities are banked), SGI 5 is sent to
//    self first, then SGI 6. GICC_HPPIR must name SGI 6 and GICC_RPR must
//    still be idle (0xff, §4.4.6). After unmasking, SGI 6 is acknowledged
//    first (RPR 0x40), then SGI 5 (RPR 0xa0). SGI 5 then sent to CPU 1
//    shows RPR 0x80: CPU 1's copy of the byte was not changed.
//  - priority mask (§3.3.2, "only an interrupt with a higher priority than the
//    priority mask is signalled"): with PMR = 0xC0, SGI 14 at priority 0xC0
//    (not higher than the mask) stays pending (GICD_ISPENDR0 bit 14,
//    §4.3.7) and is not taken for 10 ms with IRQs unmasked; it is taken as
//    soon as PMR is set back to 0xF0.
//  - GICC_IAR with nothing pending reads the spurious ID 1023 (§3.2.5, §4.4.4).
//
// QEMU 7.2 quirk: its GICC_HPPIR leaves out the source CPU of an SGI (0x3
// where GICC_IAR says 0x403 for SGI 3 from CPU 1; §4.4.8 defines the CPUID
// field for both), so the guest reads HPPIR only for SGIs from CPU 0, where the
// two readings agree.
// The last line is PASS, or FAIL and the names of the checks that failed;
// main returns and common.S powers off with PSCI SYSTEM_OFF.
//
// Expected UART output (QEMU 7.2, -smp 4):
//     gic: 4 CPUs, 288 interrupt IDs
//     cpu0: ready, PMR 0xf0          cpu1..cpu3 likewise
//     cpu1: SGI 1 from cpu0 (RPR 0x80)
//     ...                            see tests/test_gic_guests.py
//     cpu0: IAR 0x3ff with nothing pending
//     PASS
//     SYSTEM_OFF
        .include "common.S"
        .include "gic.inc"

        .equ PSCI_CPU_ON64_ID,  0xC4000003
        .equ NCPUS,             4
        .equ WAIT_SECONDS,      5
        .equ DEFAULT_PRIO,      0x80
        .equ PMR_OPEN,          0xF0
        .equ SGI_REPLY_REQ,     7          // SGI 7: answer the source with SGI 8
        .equ SGI_REPLY,         8
        .equ SGI_OTHERS_REQ,    10         // SGI 10: send SGI 11 to all others
        .equ SGI_OTHERS,        11
        .equ SGI_SELF_REQ,      12         // SGI 12: send SGI 13 to self
        .equ SGI_SELF,          13
        .equ SGI_LOW,           5          // priority test
        .equ SGI_HIGH,          6
        .equ PRIO_LOW,          0xA0
        .equ PRIO_HIGH,         0x40
        .equ SGI_MASKED,        14         // priority mask test
        .equ PMR_CLOSED,        0xC0

        // `fails` bits, named in the verdict line
        .equ FAIL_CPU_ON,       1          // a secondary did not start
        .equ FAIL_TIMEOUT,      2          // a step's interrupts did not all arrive
        .equ FAIL_IAR,          4          // an acknowledged INTID/source was not the expected one
        .equ FAIL_UNEXPECTED,   8          // an interrupt no step expected
        .equ FAIL_PRIORITY,     16         // HPPIR/RPR before unmasking
        .equ FAIL_PMR,          32         // the masked SGI was taken or not pending
        .equ FAIL_SPURIOUS,     64         // IAR with nothing pending was not 1023

// SLOT cpu, sgi, source: one expected acknowledge (cpu index, IAR value).
        .macro SLOT cpu:req, sgi:req, src:req
        .word   \cpu, (\sgi) | ((\src) << IAR_CPUID_SHIFT)
        .endm
// STEP sgir, n: a GICD_SGIR value CPU 0 writes, then n SLOTs.
        .macro STEP sgir:req, n:req
        .word   \sgir, \n
        .endm
        .macro STEP_TO cpu:req, sgi:req, n:req  // filter 0, the list = one CPU
        STEP    SGIR_FILTER_LIST | (1 << (\cpu + SGIR_TARGETS_SHIFT)) | (\sgi), \n
        .endm

        .text
        .global main
        .type   main, %function
main:
        stp     x29, x30, [sp, #-64]!
        stp     x19, x20, [sp, #16]
        stp     x21, x22, [sp, #32]
        stp     x23, x24, [sp, #48]
        bl      install_irq_vectors
        MOVQ    x19, GICD_BASE
        MOVQ    x20, GICC_BASE

        // "gic: <CPUNumber + 1> CPUs, <32 * (ITLinesNumber + 1)> interrupt IDs"
        ldr     w21, [x19, #GICD_TYPER]
        adr     x0, str_gic
        bl      puts
        ubfx    x0, x21, #5, #3
        add     x0, x0, #1
        bl      put_dec
        adr     x0, str_cpus
        bl      puts
        and     x0, x21, #0x1f
        add     x0, x0, #1
        lsl     x0, x0, #5
        bl      put_dec
        adr     x0, str_ids
        bl      puts

        mov     w0, #1
        str     w0, [x19, #GICD_CTLR]
        bl      gic_cpu_init

        // Start CPUs 1..3, one at a time: each prints its ready line while
        // this CPU waits (context id = CPU index).
        mov     x21, #1
1:      MOVQ    x0, PSCI_CPU_ON64_ID
        mov     x1, x21
        adr     x2, secondary_entry
        mov     x3, x21
        SMCCC
        mrs     x7, tpidr_el1
        orr     x0, x0, x7
        cbnz    x0, 3f
        bl      wait_deadline
        mov     x22, x0
        adr     x23, ready
2:      ldar    x9, [x23]
        cmp     x9, x21
        b.eq    4f
        mov     x0, x22
        bl      past
        b.lo    2b
3:      mov     x0, #FAIL_CPU_ON
        bl      add_fail
        b       verdict
4:      add     x21, x21, #1
        cmp     x21, #NCPUS
        b.lo    1b

        adr     x0, steps
        bl      run_steps
        cbnz    x0, verdict

        // Priority order (§3.3): both SGIs pending while PSTATE.I is set.
        msr     daifset, #2
        mov     w0, #PRIO_LOW
        strb    w0, [x19, #GICD_IPRIORITYR + SGI_LOW]
        mov     w0, #PRIO_HIGH
        strb    w0, [x19, #GICD_IPRIORITYR + SGI_HIGH]
        mov     x1, #2
        adr     x2, prio_slots
        bl      arm_slots
        dsb     sy
        MOVQ    w0, SGIR_FILTER_SELF | SGI_LOW
        str     w0, [x19, #GICD_SGIR]
        MOVQ    w0, SGIR_FILTER_SELF | SGI_HIGH
        str     w0, [x19, #GICD_SGIR]
        dsb     sy
        ldr     w21, [x20, #GICC_HPPIR]
        ldr     w22, [x20, #GICC_RPR]
        adr     x0, str_prio_masked         // priorities as read back
        bl      puts
        ldrb    w0, [x19, #GICD_IPRIORITYR + SGI_LOW]
        bl      put_hex
        adr     x0, str_prio_then
        bl      puts
        ldrb    w0, [x19, #GICD_IPRIORITYR + SGI_HIGH]
        bl      put_hex
        adr     x0, str_prio_hppir
        bl      puts
        mov     x0, x21
        bl      put_hex
        adr     x0, str_rpr_comma
        bl      puts
        mov     x0, x22
        bl      put_hex
        bl      put_nl
        cmp     w21, #SGI_HIGH              // source CPU 0: bits [12:10] are 0
        mov     w9, #0xff                   // idle priority
        ccmp    w22, w9, #0, eq
        b.eq    5f
        mov     x0, #FAIL_PRIORITY
        bl      add_fail
5:      msr     daifclr, #2
        bl      wait_slots
        cbnz    x0, verdict
        adr     x0, banked_steps            // CPU 1's SGI 5 is still 0x80
        bl      run_steps
        cbnz    x0, verdict

        // Priority mask (§3.3.2): SGI 14 at the mask's own priority waits.
        mov     w0, #PMR_CLOSED
        str     w0, [x20, #GICC_PMR]
        mov     w0, #PMR_CLOSED
        strb    w0, [x19, #GICD_IPRIORITYR + SGI_MASKED]
        mov     x1, #0                      // no slot: taking it now is a failure
        mov     x2, #0
        bl      arm_slots
        adr     x9, taken
        ldr     x23, [x9]                   // CPU 0's count of acknowledged IDs
        dsb     sy
        MOVQ    w0, SGIR_FILTER_SELF | SGI_MASKED
        str     w0, [x19, #GICD_SGIR]
        dsb     sy
        mrs     x0, cntfrq_el0              // 10 ms with IRQs unmasked
        mov     x9, #100
        udiv    x0, x0, x9
        bl      deadline_after
        mov     x24, x0
6:      mov     x0, x24
        bl      past
        b.lo    6b
        msr     daifset, #2
        ldr     w21, [x20, #GICC_PMR]
        ldr     w22, [x19, #GICD_ISPENDR]
        adr     x9, taken
        ldr     x9, [x9]
        sub     x23, x9, x23                // taken meanwhile
        adr     x0, str_pmr
        bl      puts
        mov     x0, x21
        bl      put_hex
        adr     x0, str_pmr_sgi
        bl      puts
        ldrb    w0, [x19, #GICD_IPRIORITYR + SGI_MASKED]
        bl      put_hex
        adr     x0, str_pmr_close
        bl      puts
        adr     x0, str_pending
        tbnz    w22, #SGI_MASKED, 7f
        adr     x0, str_not_pending
7:      bl      puts
        adr     x0, str_not_taken
        cbz     x23, 8f
        adr     x0, str_taken
8:      bl      puts
        ubfx    w22, w22, #SGI_MASKED, #1
        cmp     w22, #1
        ccmp    x23, #0, #0, eq
        b.eq    9f
        mov     x0, #FAIL_PMR
        bl      add_fail
9:      mov     x1, #1
        adr     x2, pmr_slots
        bl      arm_slots
        mov     w0, #PMR_OPEN
        str     w0, [x20, #GICC_PMR]
        msr     daifclr, #2
        bl      wait_slots
        cbnz    x0, verdict

        // Nothing pending: IAR reads the spurious ID (§3.2.5).
        msr     daifset, #2
        ldr     w21, [x20, #GICC_IAR]
        adr     x0, str_iar
        bl      puts
        mov     x0, x21
        bl      put_hex
        adr     x0, str_nothing
        bl      puts
        and     w9, w21, #IAR_ID_MASK
        cmp     w9, #INTID_SPURIOUS
        b.eq    verdict
        str     w21, [x20, #GICC_EOIR]      // it acknowledged something: finish it
        mov     x0, #FAIL_SPURIOUS
        bl      add_fail

verdict:
        bl      put_verdict
        ldp     x23, x24, [sp, #48]
        ldp     x21, x22, [sp, #32]
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #64
        ret                                 // _start calls SYSTEM_OFF
        .size   main, . - main

// gic_cpu_init: this CPU's banked GIC state and its CPU interface, then
// "cpuN: ready, PMR 0x<PMR read back>" and PSTATE.I cleared.
        .type   gic_cpu_init, %function
gic_cpu_init:
        stp     x29, x30, [sp, #-32]!
        str     x19, [sp, #16]
        MOVQ    x9, GICD_BASE
        MOVQ    x10, GICC_BASE
        mov     w11, #0xffff                // SGIs 0-15
        str     w11, [x9, #GICD_ISENABLER]
        MOVQ    w11, DEFAULT_PRIO * 0x01010101
        str     w11, [x9, #GICD_IPRIORITYR]
        str     w11, [x9, #GICD_IPRIORITYR + 4]
        str     w11, [x9, #GICD_IPRIORITYR + 8]
        str     w11, [x9, #GICD_IPRIORITYR + 12]
        mov     w11, #PMR_OPEN
        str     w11, [x10, #GICC_PMR]
        mov     w11, #1
        str     w11, [x10, #GICC_CTLR]
        ldr     w19, [x10, #GICC_PMR]
        bl      put_self
        adr     x0, str_ready
        bl      puts
        mov     x0, x19
        bl      put_hex
        bl      put_nl
        msr     daifclr, #2
        ldr     x19, [sp, #16]
        ldp     x29, x30, [sp], #32
        ret
        .size   gic_cpu_init, . - gic_cpu_init

// secondary_entry: CPU_ON's entry (EL1h, MMU off), x0 = context id = index.
        .global secondary_entry
        .type   secondary_entry, %function
secondary_entry:
        mov     x19, x0
        bl      stack_top_of
        mov     sp, x0
        bl      install_irq_vectors
        bl      gic_cpu_init
        dsb     sy                          // ready line out before saying so
        adr     x9, ready
        stlr    x19, [x9]
        sev
1:      wfi                                 // everything else is in irq_handler
        b       1b
        .size   secondary_entry, . - secondary_entry

// run_steps: x0 = STEP table ending with a zero word pair. Each step is
// written to GICD_SGIR by this CPU and waited for. -> x0 = 0, or 1 after
// a timeout (already reported).
        .type   run_steps, %function
run_steps:
        stp     x29, x30, [sp, #-32]!
        str     x19, [sp, #16]
        mov     x19, x0
1:      ldp     w3, w1, [x19], #8           // sgir, n
        cbz     w1, 2f
        mov     x2, x19
        add     x19, x19, x1, lsl #3
        str     w3, [sp, #24]
        bl      arm_slots
        ldr     w3, [sp, #24]
        dsb     sy                          // slots visible before the SGI
        MOVQ    x9, GICD_BASE
        str     w3, [x9, #GICD_SGIR]
        bl      wait_slots
        cbz     x0, 1b
2:      ldr     x19, [sp, #16]
        ldp     x29, x30, [sp], #32
        ret
        .size   run_steps, . - run_steps

// arm_slots: x1 = number of slots, x2 = slot list: publish a step. Leaf.
        .type   arm_slots, %function
arm_slots:
        adr     x9, nslots
        str     xzr, [x9]                   // no handler matches while we edit
        adr     x10, cur_slots
        str     x2, [x10]
        adr     x10, turn
        str     xzr, [x10]
        stlr    x1, [x9]
        ret
        .size   arm_slots, . - arm_slots

// wait_slots: wait (interrupts as they are) until every slot of the step has
// been printed. -> x0 = 0, or 1 after WAIT_SECONDS without progress: then the
// slot not reached is reported ("timeout: cpuN expected SGI id from cpuS") and
// FAIL_TIMEOUT set.
        .type   wait_slots, %function
wait_slots:
        stp     x29, x30, [sp, #-32]!
        stp     x19, x20, [sp, #16]
        mov     x20, #-1                    // the turn the deadline was set for
1:      adr     x9, turn
        ldar    x10, [x9]
        adr     x9, nslots
        ldr     x11, [x9]
        cmp     x10, x11
        b.hs    2f
        cmp     x10, x20
        b.eq    5f
        mov     x20, x10                    // progress: a new deadline
        bl      wait_deadline
        mov     x19, x0
        b       1b
5:      mov     x0, x19
        bl      past
        b.hs    3f
        yield
        b       1b
2:      mov     x0, #0
        b       4f
3:      adr     x9, cur_slots
        ldr     x9, [x9]
        add     x19, x9, x10, lsl #3
        adr     x0, str_timeout
        bl      puts
        ldr     w0, [x19]
        bl      put_cpu
        adr     x0, str_expected
        bl      puts
        ldr     w0, [x19, #4]
        bl      put_sgi_from
        bl      put_nl
        mov     x0, #FAIL_TIMEOUT
        bl      add_fail
        mov     x0, #1
4:      ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #32
        ret
        .size   wait_slots, . - wait_slots

// wait_deadline: -> x0 = the counter value WAIT_SECONDS from now.
// Clobbers x0, x9.
        .type   wait_deadline, %function
wait_deadline:
        mrs     x0, cntfrq_el0
        mov     x9, #WAIT_SECONDS
        mul     x0, x0, x9
        b       deadline_after              // tail call (leaf)
        .size   wait_deadline, . - wait_deadline

// irq_handler: called by irq_entry (gic.inc) on any CPU; see the header.
        .global irq_handler
        .type   irq_handler, %function
irq_handler:
        stp     x29, x30, [sp, #-64]!
        stp     x19, x20, [sp, #16]
        stp     x21, x22, [sp, #32]
        stp     x23, x24, [sp, #48]
        mrs     x19, mpidr_el1
        and     x19, x19, #0xff             // virt numbers its CPUs 0..n-1 in Aff0
        MOVQ    x23, GICC_BASE
        ldr     w20, [x23, #GICC_IAR]
        and     w21, w20, #IAR_ID_MASK
        cmp     w21, #INTID_SPURIOUS        // nothing (left) to take: no EOI (§4.4.5)
        b.eq    9f
        ldr     w22, [x23, #GICC_RPR]
        adr     x9, taken
        ldr     x10, [x9, x19, lsl #3]
        add     x10, x10, #1
        str     x10, [x9, x19, lsl #3]

        mov     x21, #-1                    // wait for the slot naming this CPU;
1:      adr     x9, turn                    //   the deadline restarts on progress
        ldar    x10, [x9]
        cmp     x10, x21
        b.eq    10f
        mov     x21, x10
        bl      wait_deadline
        mov     x24, x0
        b       1b
10:     adr     x9, nslots
        ldr     x11, [x9]
        cmp     x10, x11
        b.hs    2f
        adr     x9, cur_slots
        ldr     x12, [x9]
        add     x13, x12, x10, lsl #3
        ldr     w13, [x13]                  // the slot's CPU
        cmp     x13, x19
        b.eq    3f
2:      mov     x0, x24
        bl      past
        b.lo    1b
        mov     x0, #FAIL_UNEXPECTED        // no step expects it here: EOI only
        bl      add_fail
        str     w20, [x23, #GICC_EOIR]
        b       9f

3:      add     x24, x12, x10, lsl #3       // our slot
        and     w21, w20, #IAR_ID_MASK
        bl      put_self
        mov     x0, x20
        bl      put_sgi_from
        adr     x0, str_rpr_open
        bl      puts
        mov     x0, x22
        bl      put_hex
        adr     x0, str_close_nl
        bl      puts
        ldr     w9, [x24, #4]
        cmp     w9, w20
        b.eq    4f
        mov     x0, #FAIL_IAR
        bl      add_fail
4:      str     w20, [x23, #GICC_EOIR]

        MOVQ    x9, GICD_BASE               // the SGIs that make this CPU send one
        cmp     w21, #SGI_REPLY_REQ
        b.ne    5f
        ubfx    w10, w20, #IAR_CPUID_SHIFT, #3
        mov     w11, #(1 << SGIR_TARGETS_SHIFT)
        lsl     w11, w11, w10               // target list = the source CPU
        orr     w11, w11, #SGI_REPLY
        b       7f
5:      cmp     w21, #SGI_OTHERS_REQ
        b.ne    6f
        MOVQ    w11, SGIR_FILTER_OTHERS | SGI_OTHERS
        b       7f
6:      cmp     w21, #SGI_SELF_REQ
        b.ne    8f
        MOVQ    w11, SGIR_FILTER_SELF | (0b1101 << SGIR_TARGETS_SHIFT) | SGI_SELF
7:      str     w11, [x9, #GICD_SGIR]
8:      dsb     sy                          // UART output and the SGI done, then pass
        adr     x9, turn
        ldr     x10, [x9]
        add     x10, x10, #1
        stlr    x10, [x9]
        sev
9:      ldp     x23, x24, [sp, #48]
        ldp     x21, x22, [sp, #32]
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #64
        ret
        .size   irq_handler, . - irq_handler

// put_self: "cpuN: " for this CPU. Clobbers x0-x3, x9, x10.
        .type   put_self, %function
put_self:
        stp     x29, x30, [sp, #-16]!
        mrs     x0, mpidr_el1
        and     x0, x0, #0xff
        bl      put_cpu
        adr     x0, str_colon
        bl      puts
        ldp     x29, x30, [sp], #16
        ret
        .size   put_self, . - put_self

// put_cpu: x0 = index -> "cpuN". Clobbers x0-x3, x9, x10.
        .type   put_cpu, %function
put_cpu:
        stp     x29, x30, [sp, #-32]!
        str     x0, [sp, #16]
        adr     x0, str_cpu
        bl      puts
        ldr     x0, [sp, #16]
        bl      put_dec
        ldp     x29, x30, [sp], #32
        ret
        .size   put_cpu, . - put_cpu

// put_sgi_from: x0 = IAR value -> "SGI <id> from cpu<source>".
// Clobbers x0-x3, x9, x10.
        .type   put_sgi_from, %function
put_sgi_from:
        stp     x29, x30, [sp, #-32]!
        str     x0, [sp, #16]
        adr     x0, str_sgi
        bl      puts
        ldr     x0, [sp, #16]
        and     x0, x0, #IAR_ID_MASK
        bl      put_dec
        adr     x0, str_from
        bl      puts
        ldr     x0, [sp, #16]
        ubfx    x0, x0, #IAR_CPUID_SHIFT, #3
        bl      put_cpu
        ldp     x29, x30, [sp], #32
        ret
        .size   put_sgi_from, . - put_sgi_from

// ---------------------------------------------------------------------------
        .section .rodata
        .balign 4
// The steps CPU 0 drives through GICD_SGIR, in order (§4.3.15).
steps:
        STEP_TO 1, 1, 1  // filter 0: one CPU each
        SLOT 1, 1, 0
        STEP_TO 2, 2, 1
        SLOT 2, 2, 0
        STEP_TO 3, 3, 1
        SLOT 3, 3, 0
        STEP SGIR_FILTER_LIST | (0b1010 << SGIR_TARGETS_SHIFT) | 4, 2  // two CPUs at once
        SLOT 1, 4, 0
        SLOT 3, 4, 0
        STEP_TO 2, SGI_REPLY_REQ, 2  // CPU 2 answers its source
        SLOT 2, SGI_REPLY_REQ, 0
        SLOT 0, SGI_REPLY, 2
        STEP SGIR_FILTER_OTHERS | 9, 3      // filter 1 from CPU 0
        SLOT 1, 9, 0
        SLOT 2, 9, 0
        SLOT 3, 9, 0
        STEP_TO 3, SGI_OTHERS_REQ, 4  // filter 1 from CPU 3
        SLOT 3, SGI_OTHERS_REQ, 0
        SLOT 0, SGI_OTHERS, 3
        SLOT 1, SGI_OTHERS, 3
        SLOT 2, SGI_OTHERS, 3
        STEP_TO 1, SGI_SELF_REQ, 2  // filter 2 from CPU 1
        SLOT 1, SGI_SELF_REQ, 0
        SLOT 1, SGI_SELF, 1
        .word 0, 0
prio_slots:                                 // higher priority (lower value) first
        SLOT 0, SGI_HIGH, 0
        SLOT 0, SGI_LOW, 0
banked_steps:
        STEP_TO 1, SGI_LOW, 1
        SLOT 1, SGI_LOW, 0
        .word 0, 0
pmr_slots:
        SLOT 0, SGI_MASKED, 0

str_gic:        .asciz "gic: "
str_cpus:       .asciz " CPUs, "
str_ids:        .asciz " interrupt IDs\n"
str_cpu:        .asciz "cpu"
str_colon:      .asciz ": "
str_ready:      .asciz "ready, PMR "
str_sgi:        .asciz "SGI "
str_from:       .asciz " from "
str_rpr_open:   .asciz " (RPR "
str_close_nl:   .asciz ")\n"
str_prio_masked: .asciz "cpu0: IRQs masked, SGI 5 (priority "
str_prio_then:  .asciz ") then SGI 6 (priority "
str_prio_hppir: .asciz ") pending: HPPIR "
str_rpr_comma:  .asciz ", RPR "
str_pmr:        .asciz "cpu0: PMR "
str_pmr_sgi:    .asciz ", SGI 14 (priority "
str_pmr_close:  .asciz ") "
str_pending:    .asciz "pending, "
str_not_pending: .asciz "not pending, "
str_taken:      .asciz "taken\n"
str_not_taken:  .asciz "not taken\n"
str_iar:        .asciz "cpu0: IAR "
str_nothing:    .asciz " with nothing pending\n"
str_timeout:    .asciz "timeout: "
str_expected:   .asciz " expected "
fail_names:                                 // bit 0 first, FAIL_NAME_LEN apart
        FAIL_NAME " cpu-on"
        FAIL_NAME " timeout"
        FAIL_NAME " iar"
        FAIL_NAME " unexpected"
        FAIL_NAME " priority"
        FAIL_NAME " pmr"
        FAIL_NAME " spurious"

        .bss
        .balign 8
ready:      .quad 0         // index of the last secondary that finished its setup
cur_slots:  .quad 0         // the step being run: its slot list,
nslots:     .quad 0         //   its length,
turn:       .quad 0         //   and the index of the slot whose CPU prints next
fails:      .quad 0         // FAIL_* bits
taken:      .space 8 * NCPUS    // per CPU: interrupts acknowledged (not spurious)
