/* factorize in C: distinct values and per-row codes, in value order (flowlab.decoding.addresses
 * factorize's contract), by one hash-table pass instead of a sort. */
#include "flowlab_native.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t key;
    int64_t code;
} pair_t;

static int by_key(const void *a, const void *b) {
    uint64_t x = ((const pair_t *)a)->key, y = ((const pair_t *)b)->key;
    return (x > y) - (x < y);
}

static inline size_t slot_of(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

/* Codes in first-seen order; returns the number of distinct keys, -1 when out of memory */
static int64_t first_seen(const uint64_t *keys, Py_ssize_t n, int64_t *codes, uint64_t *uniques) {
    size_t cap = 1024, mask = cap - 1;
    int64_t count = 0;
    int64_t *table = malloc(cap * sizeof *table); /* code + 1 of the key in each slot, 0 = empty */
    if (!table) return -1;
    memset(table, 0, cap * sizeof *table);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t key = keys[i];
        size_t s = slot_of(key, mask);
        while (table[s] && uniques[table[s] - 1] != key) s = (s + 1) & mask;
        if (!table[s]) {
            uniques[count] = key;
            table[s] = ++count;
            if ((size_t)count * 2 > cap) { /* grow: rehash the distinct keys */
                size_t bigger = cap * 2;
                int64_t *grown = malloc(bigger * sizeof *grown);
                if (!grown) {
                    free(table);
                    return -1;
                }
                memset(grown, 0, bigger * sizeof *grown);
                cap = bigger;
                mask = cap - 1;
                for (int64_t c = 0; c < count; c++) {
                    size_t t = slot_of(uniques[c], mask);
                    while (grown[t]) t = (t + 1) & mask;
                    grown[t] = c + 1;
                }
                free(table);
                table = grown;
            }
            codes[i] = count - 1;
        } else {
            codes[i] = table[s] - 1;
        }
    }
    free(table);
    return count;
}

/* factorize_u64(keys, codes, uniques) -> count
 * keys: uint64 buffer of n values; codes: int64 buffer of n (written); uniques: uint64 buffer of
 * n (its first count entries written, ascending). uniques[codes[i]] == keys[i]. */
PyObject *flowlab_factorize_u64(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 3, "factorize_u64")) return NULL;
    Py_buffer k, c, u;
    if (PyObject_GetBuffer(args[0], &k, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (PyObject_GetBuffer(args[1], &c, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&k);
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &u, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&k);
        PyBuffer_Release(&c);
        return NULL;
    }
    Py_ssize_t n = k.len / 8;
    int64_t count = -2;
    if (c.len >= n * 8 && u.len >= n * 8) {
        const uint64_t *keys = k.buf;
        int64_t *codes = c.buf;
        uint64_t *uniques = u.buf;
        Py_BEGIN_ALLOW_THREADS
        count = first_seen(keys, n, codes, uniques);
        if (count > 1) { /* value order: sort the distinct keys, then renumber the codes */
            pair_t *pairs = malloc((size_t)count * sizeof *pairs);
            int64_t *rank = malloc((size_t)count * sizeof *rank);
            if (pairs && rank) {
                for (int64_t i = 0; i < count; i++) pairs[i] = (pair_t){uniques[i], i};
                qsort(pairs, (size_t)count, sizeof *pairs, by_key);
                for (int64_t i = 0; i < count; i++) {
                    uniques[i] = pairs[i].key;
                    rank[pairs[i].code] = i;
                }
                for (Py_ssize_t i = 0; i < n; i++) codes[i] = rank[codes[i]];
            } else {
                count = -1;
            }
            free(pairs);
            free(rank);
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&k);
    PyBuffer_Release(&c);
    PyBuffer_Release(&u);
    if (count == -1) return PyErr_NoMemory();
    if (count == -2) {
        PyErr_SetString(PyExc_ValueError, "factorize_u64: codes and uniques need room for every key");
        return NULL;
    }
    return PyLong_FromLongLong(count);
}
