/* The Python buffers a call of the compiled core holds, acquired checked and released together. */
#include "flowlab_native.h"

void flowlab_release(flowlab_buffers *b) {
    for (int i = 0; i < b->n; i++) PyBuffer_Release(&b->views[i]);
    b->n = 0;
}

/* A C-contiguous buffer of at least `need` bytes (writable if asked); NULL with an exception */
void *flowlab_acquire(flowlab_buffers *b, PyObject *obj, Py_ssize_t need, int writable,
                      const char *what) {
    if (b->n >= FLOWLAB_MAX_BUFFERS) {
        PyErr_SetString(PyExc_RuntimeError, "flowlab._native: too many buffers");
        return NULL;
    }
    Py_buffer *v = &b->views[b->n];
    if (PyObject_GetBuffer(obj, v, (writable ? PyBUF_WRITABLE : 0) | PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    b->n++;
    if (v->len < need) {
        PyErr_Format(PyExc_ValueError, "flowlab._native: %s holds %zd bytes, %zd needed", what,
                     v->len, need);
        return NULL;
    }
    /* NULL means an error: an empty buffer may hold no pointer, and then gets one that is not read */
    static const uint64_t nothing = 0;
    return v->buf ? v->buf : (void *)&nothing;
}

/* `nargs` is `want`, else TypeError */
int flowlab_nargs(Py_ssize_t nargs, Py_ssize_t want, const char *name) {
    if (nargs == want) return 1;
    PyErr_Format(PyExc_TypeError, "%s takes %zd arguments", name, want);
    return 0;
}

/* The byte buffer args[0] and two int64 arrays of one length args[1], args[2] (a batch's
 * offsets and lengths, or a template's set starts and ends); 0 with an exception if not. */
int flowlab_spans(flowlab_buffers *b, PyObject *const *args, const uint8_t **data, int64_t *size,
                  const int64_t **first, const int64_t **second, int64_t *n) {
    *data = flowlab_acquire(b, args[0], 0, 0, "data");
    if (!*data) return 0;
    *size = b->views[b->n - 1].len;
    *first = flowlab_acquire(b, args[1], 0, 0, "offsets");
    if (!*first) return 0;
    *n = b->views[b->n - 1].len / 8;
    *second = flowlab_acquire(b, args[2], *n * 8, 0, "lengths");
    return *second != NULL;
}
