/* Columns for Polars through the Arrow C data interface (arrow.apache.org/docs/format/CDataInterface.html,
 * and its PyCapsule protocol): a numpy buffer and an optional mask become one Arrow array with a
 * validity bitmap, so that a column with nulls takes one step, and no numpy-to-Polars conversion
 * (which imports numpy.ma, 15 ms, on first use) runs. The values are copied into memory the array
 * owns: releasing it frees memory and never needs Python. */
#include "flowlab_native.h"
#include "texts.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define ARROW_FLAG_NULLABLE 2

struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

typedef struct {
    void *validity;
    void *data;
    void *offsets; /* variable-size values (strings): where each starts */
    const void *buffers[3];
} owned_t;

static void free_owned(owned_t *o) {
    if (!o) return;
    free(o->validity);
    free(o->data);
    free(o->offsets);
    free(o);
}

static void release_schema(struct ArrowSchema *s) {
    free((void *)s->format);
    free((void *)s->name);
    s->release = NULL;
}

static void release_array(struct ArrowArray *a) {
    free_owned(a->private_data);
    a->release = NULL;
}

static void free_schema_capsule(PyObject *capsule) {
    struct ArrowSchema *s = PyCapsule_GetPointer(capsule, "arrow_schema");
    if (s && s->release) s->release(s);
    free(s);
}

static void free_array_capsule(PyObject *capsule) {
    struct ArrowArray *a = PyCapsule_GetPointer(capsule, "arrow_array");
    if (a && a->release) a->release(a);
    free(a);
}

static void *aligned(size_t size) {
    void *p = NULL;
    if (posix_memalign(&p, 64, size ? size : 1)) return NULL;
    return p;
}

static char *copy_text(const char *text) {
    size_t n = strlen(text) + 1;
    char *out = malloc(n);
    if (out) memcpy(out, text, n);
    return out;
}

/* Bytes (0 = false) -> bits, least significant first; returns how many were set. Eight bytes at
 * a time: each byte made 0/1, then one multiply gathers the eight low bits into the top byte. */
static int64_t pack_bits(const uint8_t *bytes, Py_ssize_t rows, uint8_t *bits) {
    int64_t set = 0;
    Py_ssize_t i = 0;
#ifdef __SSE2__
    /* sixteen at a time: each byte compared with 0, the sixteen results' top bits gathered */
    const __m128i zero = _mm_setzero_si128();
    for (; i + 16 <= rows; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(bytes + i));
        unsigned m = ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, zero)) & 0xFFFFu;
        bits[i >> 3] = (uint8_t)m;
        bits[(i >> 3) + 1] = (uint8_t)(m >> 8);
        set += __builtin_popcount(m);
    }
#endif
    for (; i + 8 <= rows; i += 8) {
        uint64_t x;
        memcpy(&x, bytes + i, 8);
        x = (x | (x >> 1) | (x >> 2) | (x >> 3) | (x >> 4) | (x >> 5) | (x >> 6) | (x >> 7)) &
            0x0101010101010101ull; /* each byte: 1 if it was not 0 */
        uint8_t b = (uint8_t)((x * 0x0102040810204080ull) >> 56);
        bits[i >> 3] = b;
        set += __builtin_popcount(b);
    }
    if (i < rows) {
        uint8_t b = 0;
        for (Py_ssize_t k = i; k < rows; k++) b |= (uint8_t)((bytes[k] != 0) << (k - i));
        bits[i >> 3] = b;
        set += __builtin_popcount(b);
    }
    return set;
}

/* bytes per value of an Arrow primitive format; 0 = bit-packed boolean; -1 = not handled */
static int width_of(const char *format) {
    switch (format[0]) {
    case 'b': return format[1] ? -1 : 0;
    case 'c': case 'C': return format[1] ? -1 : 1;
    case 's': case 'S': return format[1] ? -1 : 2;
    case 'i': case 'I': case 'f': return format[1] ? -1 : 4;
    case 'l': case 'L': case 'g': return format[1] ? -1 : 8;
    case 't': return strncmp(format, "ts", 2) == 0 ? 8 : -1; /* timestamps: int64 */
    default: return -1;
    }
}

/* (schema capsule, array capsule) of an array of `rows` values (`nulls` of them null) over the
 * first n_buffers of owned->buffers, which it then owns; frees owned when it fails */
static PyObject *exported(const char *name, const char *format, owned_t *owned, int n_buffers,
                          int64_t rows, int64_t nulls) {
    struct ArrowSchema *schema = calloc(1, sizeof *schema);
    struct ArrowArray *array = calloc(1, sizeof *array);
    int ok = schema && array;
    if (ok) {
        schema->format = copy_text(format);
        schema->name = copy_text(name);
        ok = schema->format && schema->name;
        schema->flags = ARROW_FLAG_NULLABLE;
        schema->release = release_schema;
    }
    if (!ok) {
        if (schema && schema->release) schema->release(schema);
        free_owned(owned);
        free(schema);
        free(array);
        return PyErr_NoMemory();
    }
    array->length = rows;
    array->null_count = nulls;
    array->n_buffers = n_buffers;
    array->buffers = owned->buffers;
    array->release = release_array;
    array->private_data = owned;
    PyObject *s = PyCapsule_New(schema, "arrow_schema", free_schema_capsule);
    if (!s) {
        schema->release(schema);
        free(schema);
        array->release(array);
        free(array);
        return NULL;
    }
    PyObject *a = PyCapsule_New(array, "arrow_array", free_array_capsule);
    if (!a) {
        Py_DECREF(s);
        array->release(array);
        free(array);
        return NULL;
    }
    return Py_BuildValue("(NN)", s, a);
}

/* arrow_column(name, values, format, valid, rows) -> (schema capsule, array capsule)
 * The first `rows` values of `values` (a C-contiguous buffer of that format; booleans as one byte
 * each), null where `valid` (one byte per row, or None) is 0. */
PyObject *flowlab_arrow_column(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 5, "arrow_column")) return NULL;
    const char *name = PyUnicode_AsUTF8(args[0]);
    const char *format = PyUnicode_AsUTF8(args[2]);
    Py_ssize_t rows = PyLong_AsSsize_t(args[4]);
    if (!name || !format || (rows < 0 && PyErr_Occurred())) return NULL;
    int width = width_of(format);
    if (width < 0 || rows < 0) {
        PyErr_Format(PyExc_ValueError, "arrow_column: format %s or %zd rows not handled", format, rows);
        return NULL;
    }
    Py_buffer values, valid;
    int has_valid = args[3] != Py_None;
    if (PyObject_GetBuffer(args[1], &values, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (has_valid && PyObject_GetBuffer(args[3], &valid, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&values);
        return NULL;
    }
    Py_ssize_t need = width ? rows * width : rows;
    if (values.len < need || (has_valid && valid.len < rows)) {
        PyBuffer_Release(&values);
        if (has_valid) PyBuffer_Release(&valid);
        PyErr_SetString(PyExc_ValueError, "arrow_column: buffers shorter than the rows");
        return NULL;
    }
    owned_t *owned = calloc(1, sizeof *owned);
    size_t bitmap = (size_t)(rows + 7) / 8;
    int64_t nulls = 0;
    int ok = owned != NULL;
    if (ok) {
        owned->data = aligned(width ? (size_t)need : bitmap);
        ok = owned->data != NULL;
    }
    if (ok) {
        const uint8_t *v = values.buf;
        if (width) {
            memcpy(owned->data, v, (size_t)need);
        } else { /* booleans: one byte each -> bits, least significant first */
            pack_bits(v, rows, owned->data);
        }
        if (has_valid) {
            uint8_t *bits = owned->validity = aligned(bitmap);
            ok = bits != NULL;
            if (ok) {
                nulls = rows - pack_bits(valid.buf, rows, bits);
                if (!nulls) { /* every row valid: no bitmap */
                    free(bits);
                    owned->validity = NULL;
                }
            }
        }
    }
    PyBuffer_Release(&values);
    if (has_valid) PyBuffer_Release(&valid);
    if (!ok) {
        free_owned(owned);
        return PyErr_NoMemory();
    }
    owned->buffers[0] = owned->validity;
    owned->buffers[1] = owned->data;
    return exported(name, format, owned, 2, rows, nulls);
}

/* The buffers of a string array of `rows` texts, `bytes` bytes at most in all: the offsets, the
 * data and, when `validity`, a bitmap (zeroed); NULL when out of memory, nothing left made */
static owned_t *string_buffers(Py_ssize_t rows, size_t bytes, int validity) {
    owned_t *owned = calloc(1, sizeof *owned);
    size_t bitmap = (size_t)(rows + 7) / 8;
    int ok = owned && (owned->offsets = aligned((size_t)(rows + 1) * 4)) &&
             (owned->data = aligned(bytes)) && (!validity || (owned->validity = aligned(bitmap)));
    if (!ok) {
        free_owned(owned);
        return NULL;
    }
    if (validity) memset(owned->validity, 0, bitmap);
    ((int32_t *)owned->offsets)[0] = 0;
    return owned;
}

/* The capsules of the string array of `rows` texts in `owned`, `nulls` of them null (no bitmap
 * when none is) */
static PyObject *exported_strings(const char *name, owned_t *owned, Py_ssize_t rows, int64_t nulls) {
    if (!nulls && owned->validity) {
        free(owned->validity);
        owned->validity = NULL;
    }
    owned->buffers[0] = owned->validity;
    owned->buffers[1] = owned->offsets;
    owned->buffers[2] = owned->data;
    return exported(name, "u", owned, 3, rows, nulls);
}

/* arrow_texts(name, kind, values, valid, rows) -> (schema capsule, array capsule)
 * The canonical texts (native/texts.h) of the first `rows` addresses of `values`: kind 4, IPv4
 * addresses as uint32; kind 48, MACs as uint64 (the low 48 bits); kind 6 (IPv4-mapped ones as
 * hextets) or 66 (IPv4-mapped ones dotted), IPv6 addresses as four uint32 words, the most
 * significant first. An Arrow string array, null where `valid` (one byte a row, or None) is 0. */
PyObject *flowlab_arrow_texts(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 5, "arrow_texts")) return NULL;
    const char *name = PyUnicode_AsUTF8(args[0]);
    long kind = PyLong_AsLong(args[1]);
    Py_ssize_t rows = PyLong_AsSsize_t(args[4]);
    if (!name || PyErr_Occurred()) return NULL;
    int width = kind == 4 ? 4 : kind == 48 ? 8 : kind == 6 || kind == 66 ? 16 : 0;
    int most = kind == 4 ? 16 : kind == 48 ? 18 : 40; /* texts.h writes past a text: its room */
    /* the offsets are int32: at most 39 bytes a text */
    if (!width || rows < 0 || rows > INT32_MAX / 39) {
        PyErr_Format(PyExc_ValueError, "arrow_texts: kind %ld or %zd rows not handled", kind, rows);
        return NULL;
    }
    flowlab_buffers b = {.n = 0};
    const char *values = flowlab_acquire(&b, args[2], rows * width, 0, "values");
    const uint8_t *valid = NULL;
    if (values && args[3] != Py_None && !(valid = flowlab_acquire(&b, args[3], rows, 0, "valid")))
        values = NULL;
    if (!values) {
        flowlab_release(&b);
        return NULL;
    }
    owned_t *owned = string_buffers(rows, (size_t)rows * most, valid != NULL);
    if (!owned) {
        flowlab_release(&b);
        return PyErr_NoMemory();
    }
    int32_t *offsets = owned->offsets, at = 0;
    char *data = owned->data;
    int64_t nulls = valid ? rows - pack_bits(valid, rows, owned->validity) : 0;
    for (Py_ssize_t i = 0; i < rows; i++) {
        if (valid && !valid[i]) {
            offsets[i + 1] = at;
            continue;
        }
        if (kind == 4) {
            uint32_t a;
            memcpy(&a, values + 4 * i, 4);
            at += flowlab_text_ipv4(a, data + at);
        } else if (width == 16) {
            uint32_t words[4];
            memcpy(words, values + 16 * i, 16);
            at += flowlab_text_ipv6(words, kind == 66, data + at);
        } else {
            uint64_t m;
            memcpy(&m, values + 8 * i, 8);
            at += flowlab_text_mac(m, data + at);
        }
        offsets[i + 1] = at;
    }
    flowlab_release(&b);
    return exported_strings(name, owned, rows, nulls);
}


/* arrow_addresses(name, v4, v4_ok, v6, v6_ok, rows, ipv6_kind) -> (schema capsule, array capsule)
 * The canonical text of each row's address: its IPv4 one (uint32) where v4_ok, else its IPv6 one
 * (four uint32 words, the most significant first; v6 may have no rows when no v6_ok is set)
 * where v6_ok, else null. ipv6_kind as arrow_texts's (6 or 66). An Arrow string array. */
PyObject *flowlab_arrow_addresses(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 7, "arrow_addresses")) return NULL;
    const char *name = PyUnicode_AsUTF8(args[0]);
    Py_ssize_t rows = PyLong_AsSsize_t(args[5]);
    long kind = PyLong_AsLong(args[6]);
    if (!name || PyErr_Occurred()) return NULL;
    if (rows < 0 || rows > INT32_MAX / 39 || (kind != 6 && kind != 66)) {
        PyErr_Format(PyExc_ValueError, "arrow_addresses: %zd rows or kind %ld not handled", rows, kind);
        return NULL;
    }
    flowlab_buffers b = {.n = 0};
    const uint32_t *v4 = flowlab_acquire(&b, args[1], rows * 4, 0, "v4");
    const uint8_t *v4_ok = v4 ? flowlab_acquire(&b, args[2], rows, 0, "v4_ok") : NULL;
    const uint32_t *v6 = v4_ok ? flowlab_acquire(&b, args[3], 0, 0, "v6") : NULL;
    int has6 = v6 && b.views[b.n - 1].len >= rows * 16;
    const uint8_t *v6_ok = v6 ? flowlab_acquire(&b, args[4], rows, 0, "v6_ok") : NULL;
    if (!v6_ok) {
        flowlab_release(&b);
        return NULL;
    }
    int64_t n6 = 0;
    for (Py_ssize_t i = 0; has6 && i < rows; i++) n6 += !v4_ok[i] && v6_ok[i];
    owned_t *owned = string_buffers(rows, (size_t)(rows - n6) * 16 + (size_t)n6 * 40, 1);
    if (!owned) {
        flowlab_release(&b);
        return PyErr_NoMemory();
    }
    int32_t *offsets = owned->offsets, at = 0;
    char *data = owned->data;
    uint8_t *bits = owned->validity;
    int64_t nulls = 0;
    for (Py_ssize_t i = 0; i < rows; i++) {
        if (v4_ok[i]) {
            at += flowlab_text_ipv4(v4[i], data + at);
        } else if (has6 && v6_ok[i]) {
            at += flowlab_text_ipv6(v6 + 4 * i, kind == 66, data + at);
        } else {
            nulls++;
            offsets[i + 1] = at;
            continue;
        }
        bits[i >> 3] |= (uint8_t)(1u << (i & 7));
        offsets[i + 1] = at;
    }
    flowlab_release(&b);
    return exported_strings(name, owned, rows, nulls);
}

