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
    return v->buf;
}
