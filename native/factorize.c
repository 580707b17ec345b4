/* factorize in C: distinct values and per-row codes, in value order (flowlab.decoding.addresses
 * factorize's contract), by one hash-table pass, then a radix sort of the distinct values only.
 *
 * Its working memory is the caller's (a buffer of factorize_scratch(n) bytes, kept from call to
 * call by flowlab._pool): a flood of spoofed sources has as many distinct keys as rows, and
 * memory fresh at each call cost more in page faults than the work itself. */
#include "flowlab_native.h"

#include <string.h>

typedef struct {
    uint64_t key;
    int64_t code;
} pair_t;

static inline size_t slot_of(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

/* slots of the largest hash table for n keys: a power of two, at least 2n (load <= 1/2) */
static size_t slots_for(Py_ssize_t n) {
    size_t cap = 1024;
    while (cap < 2 * (size_t)n) cap *= 2;
    return cap;
}

/* Codes in first-seen order into table (room for slots_for(n) int32 slots; it starts small and
 * grows, fourfold, while the distinct keys are few); returns the number of distinct keys */
static int64_t first_seen(const uint64_t *keys, Py_ssize_t n, int64_t *codes, uint64_t *uniques,
                          int32_t *table) {
    size_t most = slots_for(n), cap = 1024, mask = cap - 1;
    int64_t count = 0;
    memset(table, 0, cap * sizeof *table); /* code + 1 of the key in each slot, 0 = empty */
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t key = keys[i];
        size_t s = slot_of(key, mask);
        while (table[s] && uniques[table[s] - 1] != key) s = (s + 1) & mask;
        if (table[s]) {
            codes[i] = table[s] - 1;
            continue;
        }
        uniques[count] = key;
        table[s] = (int32_t)++count;
        codes[i] = count - 1;
        if ((size_t)count * 2 > cap && cap < most) { /* grow: rehash the distinct keys */
            cap = cap * 4 < most ? cap * 4 : most;
            mask = cap - 1;
            memset(table, 0, cap * sizeof *table);
            for (int64_t c = 0; c < count; c++) {
                size_t t = slot_of(uniques[c], mask);
                while (table[t]) t = (t + 1) & mask;
                table[t] = (int32_t)(c + 1);
            }
        }
    }
    return count;
}

/* The pairs in ascending key order (distinct keys), by a least-significant-digit radix sort on
 * bytes that skips the bytes every key shares (an IPv4 address's upper four). Returns the
 * sorted array: `a` or `tmp`. */
static pair_t *sorted_pairs(pair_t *a, pair_t *tmp, int64_t count) {
    int64_t hist[8][256];
    memset(hist, 0, sizeof hist);
    for (int64_t i = 0; i < count; i++) {
        uint64_t k = a[i].key;
        for (int d = 0; d < 8; d++) hist[d][(k >> (8 * d)) & 0xFF]++;
    }
    for (int d = 0; d < 8; d++) {
        int64_t *h = hist[d], at = 0;
        if (h[(a[0].key >> (8 * d)) & 0xFF] == count) continue; /* every key has this byte */
        for (int b = 0; b < 256; b++) {
            int64_t c = h[b];
            h[b] = at;
            at += c;
        }
        for (int64_t i = 0; i < count; i++) tmp[h[(a[i].key >> (8 * d)) & 0xFF]++] = a[i];
        pair_t *swap = a;
        a = tmp;
        tmp = swap;
    }
    return a;
}

/* bytes of working memory for n keys: the hash table (later the ranks), then the pairs sorted */
static Py_ssize_t scratch_for(Py_ssize_t n) {
    return (Py_ssize_t)(slots_for(n) * sizeof(int32_t)) + 2 * n * (Py_ssize_t)sizeof(pair_t);
}

/* factorize_scratch(n) -> bytes of working memory factorize_u64 needs for n keys */
PyObject *flowlab_factorize_scratch(PyObject *self, PyObject *arg) {
    (void)self;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n < 0 && PyErr_Occurred()) return NULL;
    if (n < 0 || n > INT32_MAX / 2) {
        PyErr_Format(PyExc_ValueError, "factorize_scratch: %zd keys not handled", n);
        return NULL;
    }
    return PyLong_FromSsize_t(scratch_for(n));
}

/* factorize_u64(keys, codes, uniques, scratch) -> count
 * keys: uint64 buffer of n values; codes: int64 buffer of n (written); uniques: uint64 buffer of
 * n (its first count entries written, ascending); scratch: factorize_scratch(n) bytes, 8-aligned.
 * uniques[codes[i]] == keys[i]. */
PyObject *flowlab_factorize_u64(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 4, "factorize_u64")) return NULL;
    flowlab_buffers b = {.n = 0};
    const uint64_t *keys = flowlab_acquire(&b, args[0], 0, 0, "keys");
    Py_ssize_t n = keys ? b.views[0].len / 8 : 0;
    int64_t *codes = keys ? flowlab_acquire(&b, args[1], n * 8, 1, "codes") : NULL;
    uint64_t *uniques = codes ? flowlab_acquire(&b, args[2], n * 8, 1, "uniques") : NULL;
    if (uniques && n > INT32_MAX / 2) {
        PyErr_Format(PyExc_ValueError, "factorize_u64: %zd keys not handled", n);
        uniques = NULL;
    }
    uint8_t *scratch = uniques ? flowlab_acquire(&b, args[3], scratch_for(n), 1, "scratch") : NULL;
    if (scratch && ((uintptr_t)scratch & 7)) {
        PyErr_SetString(PyExc_ValueError, "factorize_u64: scratch must be 8-byte aligned");
        scratch = NULL;
    }
    if (!scratch) {
        flowlab_release(&b);
        return NULL;
    }
    int64_t count;
    Py_BEGIN_ALLOW_THREADS
    int32_t *table = (int32_t *)scratch;
    count = first_seen(keys, n, codes, uniques, table);
    if (count > 1) { /* value order: sort the distinct keys, then renumber the codes */
        pair_t *pairs = (pair_t *)(scratch + slots_for(n) * sizeof(int32_t));
        for (int64_t i = 0; i < count; i++) pairs[i] = (pair_t){uniques[i], i};
        const pair_t *order = sorted_pairs(pairs, pairs + count, count);
        int32_t *rank = table; /* the table is done with: 2n slots, room for the ranks */
        for (int64_t i = 0; i < count; i++) {
            uniques[i] = order[i].key;
            rank[order[i].code] = (int32_t)i;
        }
        for (Py_ssize_t i = 0; i < n; i++) codes[i] = rank[codes[i]];
    }
    Py_END_ALLOW_THREADS
    flowlab_release(&b);
    return PyLong_FromLongLong(count);
}
