/*
 * hcdbg's MRS/MSR filter: Unicorn's UC_HOOK_INSN hook for system register accesses.
 *
 * Why C: Unicorn calls an MRS/MSR hook for every MRS and MSR (op0 2 or 3) the guest
 * executes, and Linux runs tens of millions of them (`current` is SP_EL0, IRQ masking
 * reads DAIF). Through Python each costs 3-5 us; here one compare sends all but the
 * generic timer's registers back to Unicorn. Only those (op0 3, CRn 14: DDI 0487 D11,
 * "Generic Timer registers") reach the Python callback, which models the timers.
 * The counter registers (op1 3, CRm 0: CNTFRQ_EL0, CNTPCT_EL0, CNTVCT_EL0) go to the
 * callback only when `counter` is set (the instruction-counted clock); otherwise Unicorn
 * reads the host clock itself, as the Python model would.
 *
 * Built by setup.py as an optional extension module; loaded with ctypes (sysreg.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* include/unicorn/arm64.h: the hook's view of the accessed register. */
typedef struct {
    uint32_t crn, crm, op0, op1, op2;
    uint64_t val;
} hc_cp_reg;

typedef uint32_t (*hc_sys_cb)(void *uc, int reg, const hc_cp_reg *cp, void *user);

/* The hook's user data: where timer accesses go, and whether the counter is ours. */
typedef struct {
    hc_sys_cb callback;
    void *user;
    uint64_t counter;
    uint64_t passed; /* accesses handed to the callback (statistics) */
} hc_filter;

uint32_t hcdbg_sysreg_filter(void *uc, int reg, const hc_cp_reg *cp, hc_filter *f)
{
    if (cp->op0 != 3 || cp->crn != 14 || cp->op1 == 4)
        return 0; /* not an EL0/EL1 generic timer register: Unicorn runs it */
    if (cp->op1 == 3 && cp->crm == 0 && !f->counter)
        return 0; /* CNTFRQ/CNTPCT/CNTVCT from the host clock */
    f->passed++;
    return f->callback(uc, reg, cp, f->user);
}

/*
 * The SYS hook (op0 1): only the maintenance that must reach every vCPU gets to the
 * callback (coherence.py): the broadcast instruction-cache invalidations, IC IALLUIS
 * (op1 0, CRn 7, CRm 1, op2 0) and IC IVAU (op1 3, CRn 7, CRm 5, op2 1), and the
 * broadcast TLB invalidations (CRn 8, or 9 for the nXS forms; CRm 3 Inner Shareable,
 * 1 Outer Shareable, 2 and 5 their range forms, 0 IPAS2E1IS). DC ZVA, local TLBIs and
 * the rest run in Unicorn at once.
 */
uint32_t hcdbg_sys_filter(void *uc, int reg, const hc_cp_reg *cp, hc_filter *f)
{
    int ic = cp->crn == 7 && ((cp->op1 == 0 && cp->crm == 1 && cp->op2 == 0) ||
                              (cp->op1 == 3 && cp->crm == 5 && cp->op2 == 1));
    int tlbi = (cp->crn == 8 || cp->crn == 9) &&
               (cp->crm == 0 || cp->crm == 1 || cp->crm == 2 || cp->crm == 3 || cp->crm == 5);
    if (!ic && !tlbi)
        return 0;
    f->passed++;
    return f->callback(uc, reg, cp, f->user);
}

/*
 * The EDGE_GENERATED hook (Unicorn calls it when it has translated a new block, before
 * running it): only a block that starts at an address that is not a multiple of 4 reaches
 * the callback, which turns it into a PC alignment fault (pcalign.py). Unicorn 2.1's
 * translator (QEMU 5.0) has no such check and would run whatever the misaligned bytes decode
 * to. Translation is rare, so this costs nothing in a steady run.
 */
typedef struct {
    uint64_t pc;
    uint16_t icount, size;
} hc_tb;

typedef void (*hc_edge_cb)(void *uc, uint64_t pc, void *user);

typedef struct {
    hc_edge_cb callback;
    void *user;
} hc_edge_filter;

void hcdbg_misaligned_filter(void *uc, const hc_tb *cur, const hc_tb *prev, hc_edge_filter *f)
{
    (void)prev;
    if (cur->pc & 3)
        f->callback(uc, cur->pc, f->user);
}

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sysreg",
    "hcdbg's native MRS/MSR filter (used through ctypes, see sysreg.py).", -1, NULL,
};

PyMODINIT_FUNC PyInit__sysreg(void)
{
    return PyModule_Create(&module);
}
