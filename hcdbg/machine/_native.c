/*
 * hcdbg's native call path: Unicorn's UC_HOOK_INTR hook in C (issue 16).
 *
 * The Python trap (fastcalls.py) answers a call it has seen answered by a constant
 * built-in or denied answer in about 2 us, 1 of which is ctypes entering Python. Here the
 * same table lookup runs in C: read x0..x17 and PC (in place in Unicorn's CPU state where
 * cpuregs.py found and proved them, else with uc_reg_read_batch), look x0 up in a table of
 * the answers the session learnt (native.py mirrors them here), check the call's immediate
 * in guest RAM, write the answer (in place, or with uc_reg_write_batch) and append a fixed-size
 * record that Python later drains into the call history (hc_drain). Anything else (another
 * exception, a call not in the table, a PC outside RAM, an SMC with an immediate, a full
 * record buffer, the path switched off) goes to the Python hook, called with the same
 * arguments: it is a ctypes callback, which takes the GIL itself (ctypes "callback
 * functions": a C thread without the GIL may call them). This hook itself runs without
 * the GIL (the binding calls uc_emu_start through a ctypes CDLL function, which releases
 * it) and touches no Python object.
 *
 * libunicorn is not linked: its uc_reg_read_batch/uc_reg_write_batch addresses come from
 * Python (the binding's loaded library), as _sysreg.c gets its callback. Every function
 * but the hook is called from Python through ctypes, on the thread that runs the guest
 * (or before it runs), so nothing here needs a lock.
 *
 * Built by setup.py as an optional extension module; loaded with ctypes (native.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the guest's instruction words are read as host words: little-endian hosts only"
#endif

#define HC_NREGS 19        /* x0..x17 and PC: the layout of a history block */
#define HC_MAX_ANSWER 18   /* an answer writes some of x0..x17 */
#define HC_SLOTS 4096      /* hash slots per conduit (a power of two) */
#define HC_ENTRIES 2048    /* answers per conduit: at most half the slots */
#define HC_VCPUS 8         /* board.MAX_VCPUS */
#define HC_INTNO_HVC 11    /* exceptions.py: QEMU's EXCP_HVC and EXCP_SMC */
#define HC_INTNO_SMC 13

/* uc_err uc_reg_{read,write}_batch(uc_engine *uc, int *regs, void **vals, int count) */
typedef int (*hc_batch_fn)(void *uc, int *regs, void **vals, int count);
/* void (*)(uc_engine *uc, uint32_t intno, void *user_data): a UC_HOOK_INTR callback */
typedef void (*hc_intr_fn)(void *uc, uint32_t intno, void *user);

typedef struct hc_known_s {
    uint64_t x0;
    uint64_t tail; /* fastcalls.tail_word(answer, smc, 0, 0) */
    int count;
    int ids[HC_MAX_ANSWER];
    int at[HC_MAX_ANSWER]; /* where each register is in a call's x0..x17 and PC */
    uint64_t vals[HC_MAX_ANSWER];
} hc_known;

#define HC_BLOCK (8 * HC_NREGS) /* history.REGS.size */

struct hc_native;

typedef struct {
    struct hc_native *m;
    hc_intr_fn python; /* the Python hook (a ctypes thunk) */
    uint64_t index;    /* the vCPU: the Python hook's user data */
    uint64_t *xregs;   /* its x0..x31 and then PC in Unicorn's CPU state, or NULL (cpuregs.py) */
    uint64_t vals[HC_NREGS];
    void *ptrs[HC_NREGS];
    const struct hc_known_s *hit; /* the answer of this vCPU's last call, or NULL */
    uint64_t hit_x0;
    int hit_smc;
} hc_vcpu;

/* The first fields are read by Python (native.py _Header): keep them in this order.
 * The calls answered here wait in the out_ buffers, in the history's own layout: blocks of
 * x0..x17 and PC (a new one only when the registers differ from the last one here), each
 * call's block (numbered from 0 here until hc_drain) and its history word. */
typedef struct hc_native {
    uint64_t records;  /* calls waiting to be drained */
    uint64_t capacity; /* room for this many */
    uint64_t enabled;  /* answer from the table (0: everything to Python) */
    uint64_t answered; /* calls answered here since creation (statistics) */
    uint64_t out_blocks; /* after hc_drain: how many blocks in out_regs are new */
    uint8_t *out_regs;
    uint32_t *out_which;
    uint64_t *out_tails;
    /* the rest is private */
    hc_batch_fn read_batch, write_batch;
    const uint8_t *ram;
    uint64_t ram_base, ram_size;
    int ids[HC_NREGS];
    uint16_t slots[2][HC_SLOTS]; /* entry number + 1; 0: empty */
    uint32_t used[2];
    hc_known known[2][HC_ENTRIES];
    const uint8_t *last; /* the last block in out_regs; NULL: none since the last drain */
    uint64_t nblocks;    /* blocks in out_regs */
    hc_vcpu vcpus[HC_VCPUS];
} hc_native;

static uint32_t hc_hash(uint64_t x0)
{
    x0 ^= x0 >> 29;
    x0 *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x0 >> 40) & (HC_SLOTS - 1);
}

/* Whether a block equals x0..x17 and PC as read (a fixed-size compare the compiler
 * inlines: cheaper here than a call to memcmp). */
static int hc_same(const uint8_t *block, const uint64_t *vals)
{
    uint64_t diff = 0, word;
    for (int i = 0; i < HC_NREGS; i++) {
        memcpy(&word, block + 8 * i, 8);
        diff |= word ^ vals[i];
    }
    return diff == 0;
}

static const hc_known *hc_find(const hc_native *m, int smc, uint64_t x0)
{
    uint32_t i = hc_hash(x0);
    for (;;) {
        uint16_t e = m->slots[smc][i];
        if (e == 0)
            return NULL;
        if (m->known[smc][e - 1].x0 == x0)
            return &m->known[smc][e - 1];
        i = (i + 1) & (HC_SLOTS - 1);
    }
}

hc_native *hc_new(void *read_batch, void *write_batch, const int *ids, uint64_t capacity)
{
    hc_native *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->out_regs = malloc(capacity * HC_BLOCK);
    m->out_which = malloc(capacity * sizeof *m->out_which);
    m->out_tails = malloc(capacity * sizeof *m->out_tails);
    if (!m->out_regs || !m->out_which || !m->out_tails) {
        free(m->out_regs), free(m->out_which), free(m->out_tails), free(m);
        return NULL;
    }
    m->capacity = capacity;
    m->read_batch = (hc_batch_fn)read_batch;
    m->write_batch = (hc_batch_fn)write_batch;
    memcpy(m->ids, ids, sizeof m->ids);
    return m;
}

void hc_free(hc_native *m)
{
    if (m == NULL)
        return;
    free(m->out_regs), free(m->out_which), free(m->out_tails), free(m);
}

void hc_set_ram(hc_native *m, const void *ram, uint64_t base, uint64_t size)
{
    m->ram = ram, m->ram_base = base, m->ram_size = size;
}

/* The user data to register hc_intr with for vCPU `index` (NULL: no such vCPU). */
hc_vcpu *hc_vcpu_of(hc_native *m, uint64_t index, void *python)
{
    if (index >= HC_VCPUS)
        return NULL;
    hc_vcpu *v = &m->vcpus[index];
    v->m = m, v->python = (hc_intr_fn)python, v->index = index;
    for (int i = 0; i < HC_NREGS; i++)
        v->ptrs[i] = &v->vals[i];
    v->xregs = NULL;
    return v;
}

/* Read and write vCPU v's registers in place at `xregs` (its x0; x1..x31 follow, then the
 * PC), as cpuregs.py found and proved them: no batch call into libunicorn. */
void hc_vcpu_direct(hc_vcpu *v, void *xregs)
{
    v->xregs = xregs;
}

/* Forget every answer (a new run: the filter, profile or rules may have changed). */
void hc_clear(hc_native *m)
{
    memset(m->slots, 0, sizeof m->slots);
    m->used[0] = m->used[1] = 0;
    for (int i = 0; i < HC_VCPUS; i++)
        m->vcpus[i].hit = NULL;
}

/* Answer calls with x0 on conduit `smc` by writing registers ids[i] := vals[i]; 0: done,
 * -1: no room, a bad count or a register not in x0..x17: the call then stays with Python.
 * A second answer for the same x0 replaces the first, as in the Python table. */
int hc_learn(hc_native *m, int smc, uint64_t x0, int count, const int *ids, const uint64_t *vals,
             uint64_t tail)
{
    smc = smc != 0;
    if (count < 1 || count > HC_MAX_ANSWER)
        return -1;
    hc_known *k = (hc_known *)hc_find(m, smc, x0);
    if (k == NULL) {
        if (m->used[smc] >= HC_ENTRIES)
            return -1;
        uint32_t i = hc_hash(x0);
        while (m->slots[smc][i] != 0)
            i = (i + 1) & (HC_SLOTS - 1);
        k = &m->known[smc][m->used[smc]];
        m->slots[smc][i] = (uint16_t)(++m->used[smc]);
    }
    int at[HC_MAX_ANSWER];
    for (int i = 0; i < count; i++) {
        at[i] = -1;
        for (int j = 0; j < HC_NREGS - 1; j++) /* x0..x17 only: never the PC */
            if (m->ids[j] == ids[i])
                at[i] = j;
        if (at[i] < 0)
            return -1;
    }
    k->x0 = x0, k->tail = tail, k->count = count;
    for (int i = 0; i < count; i++) {
        k->ids[i] = ids[i];
        k->at[i] = at[i];
        k->vals[i] = vals[i];
    }
    return 0;
}

/* The UC_HOOK_INTR hook (user data: hc_vcpu_of's). Mirrors fastcalls.fast_path. */
void hc_intr(void *uc, uint32_t intno, hc_vcpu *v)
{
    hc_native *m = v->m;
    if ((intno != HC_INTNO_HVC && intno != HC_INTNO_SMC) || !m->enabled || m->records >= m->capacity)
        goto python;
    uint64_t *x = v->xregs;
    if (x != NULL) {
        memcpy(v->vals, x, 8 * (HC_NREGS - 1));
        v->vals[HC_NREGS - 1] = x[32];
    } else if (m->read_batch(uc, m->ids, v->ptrs, HC_NREGS) != 0)
        goto python;
    int smc = intno == HC_INTNO_SMC;
    const hc_known *k = v->hit;
    if (k == NULL || v->hit_x0 != v->vals[0] || v->hit_smc != smc) {
        k = hc_find(m, smc, v->vals[0]);
        if (k == NULL)
            goto python;
        v->hit = k, v->hit_x0 = v->vals[0], v->hit_smc = smc;
    }
    if (v->vals[HC_NREGS - 1] < 4 || m->ram == NULL)
        goto python;
    uint64_t pc = v->vals[HC_NREGS - 1] - 4;
    uint64_t off = pc - m->ram_base;
    if (off >= m->ram_size || m->ram_size - off < 4)
        goto python;
    uint32_t word;
    memcpy(&word, m->ram + off, 4); /* a little-endian host: see the #error above */
    uint64_t imm = (word >> 5) & 0xFFFF;
    if (smc && imm) /* KVM answers these otherwise (DEN0028 2.9) */
        goto python;
    if (x != NULL) { /* a store each: cheaper than comparing first */
        for (int i = 0; i < k->count; i++)
            x[k->at[i]] = k->vals[i];
    } else {
        /* Only the registers whose value changes (in a loop, x1..x3 of an answer are often
         * 0 already): a register written with the value it holds is the same machine. */
        int wids[HC_MAX_ANSWER];
        void *wptrs[HC_MAX_ANSWER];
        int w = 0;
        for (int i = 0; i < k->count; i++)
            if (v->vals[k->at[i]] != k->vals[i]) {
                wids[w] = k->ids[i];
                wptrs[w++] = (void *)&k->vals[i];
            }
        if (w)
            m->write_batch(uc, wids, wptrs, w);
    }
    uint64_t n = m->records;
    if (m->last == NULL || !hc_same(m->last, v->vals)) {
        uint8_t *to = m->out_regs + m->nblocks * HC_BLOCK;
        memcpy(to, v->vals, HC_BLOCK);
        m->last = to;
        m->nblocks++;
    }
    m->out_which[n] = (uint32_t)(m->nblocks - 1);
    m->out_tails[n] = k->tail | imm << 16 | v->index;
    m->records = n + 1;
    m->answered++;
    return;
python:
    v->python(uc, intno, (void *)(uintptr_t)v->index);
}

/* Make the waiting calls ready to append to the history (CallHistory.buffers()): `last`
 * is the history's last block (NULL: none), `blocks` its number of blocks. The first block
 * here is dropped if it equals `last` (a block only when the registers change), and each
 * call's block number becomes the history's. Returns the number of calls; out_blocks says
 * how many blocks are new. The next call answered here starts afresh. */
uint64_t hc_drain(hc_native *m, const uint8_t *last, uint64_t blocks)
{
    uint64_t n = m->records, fresh = m->nblocks;
    if (n && last != NULL && memcmp(last, m->out_regs, HC_BLOCK) == 0) {
        memmove(m->out_regs, m->out_regs + HC_BLOCK, (fresh - 1) * HC_BLOCK);
        fresh--;
        blocks--;
    }
    for (uint64_t i = 0; i < n; i++)
        m->out_which[i] += (uint32_t)blocks;
    m->records = 0;
    m->last = NULL;
    m->nblocks = 0;
    m->out_blocks = fresh;
    return n;
}

/* A slice counted by blocks (blocks.py): Unicorn's own count (emu_start's `count`) is a hook
 * on every instruction; this is a UC_HOOK_BLOCK hook, called once per translated block as it
 * starts, before Unicorn's check for a stop request at that block's start. A block starts
 * while the slice's budget is not spent, and takes its instructions (4 bytes each in A64)
 * off it; at the first block that finds the budget spent the hook asks Unicorn to stop,
 * from this thread, and the stop lands right there: nothing of that block has run (tested
 * in tests/test_block_slices.py). So a slice runs its budget plus the rest of the block
 * it ran out in, and always its first block. */
typedef int (*hc_stop_fn)(void *uc);

typedef struct {
    int64_t left;    /* instructions the slice may still start */
    uint64_t armed;  /* 0: the hook does nothing (blocks.py clears it when the slice ends) */
    hc_stop_fn stop; /* uc_emu_stop */
} hc_budget;

void hc_block(void *uc, uint64_t address, uint32_t size, hc_budget *b)
{
    (void)address;
    if (!b->armed)
        return;
    if (b->left <= 0) { /* asked again at any later block, should one start */
        b->stop(uc);
        return;
    }
    b->left -= (int64_t)(size >> 2);
}

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native",
    "hcdbg's native call path (used through ctypes, see native.py).", -1, NULL,
};

PyMODINIT_FUNC PyInit__native(void)
{
    return PyModule_Create(&module);
}
