/* flowlab's optional compiled core: what the modules of native/ share. */
#ifndef FLOWLAB_NATIVE_H
#define FLOWLAB_NATIVE_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* buffers.c: the Python buffers a call holds (acquired checked, released together) */
#define FLOWLAB_MAX_BUFFERS 96
typedef struct {
    Py_buffer views[FLOWLAB_MAX_BUFFERS];
    int n;
} flowlab_buffers;
void flowlab_release(flowlab_buffers *b);
void *flowlab_acquire(flowlab_buffers *b, PyObject *obj, Py_ssize_t need, int writable,
                      const char *what);
int flowlab_nargs(Py_ssize_t nargs, Py_ssize_t want, const char *name);
int flowlab_spans(flowlab_buffers *b, PyObject *const *args, const uint8_t **data, int64_t *size,
                  const int64_t **first, const int64_t **second, int64_t *n);

/* sflow.c */
PyObject *flowlab_sflow_decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *flowlab_sflow_columns(PyObject *self, PyObject *unused);
PyObject *flowlab_sflow_spec(PyObject *self, PyObject *unused);
/* arrow.c */
PyObject *flowlab_arrow_column(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *flowlab_arrow_texts(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *flowlab_arrow_addresses(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
/* factorize.c */
PyObject *flowlab_factorize_u64(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *flowlab_factorize_scratch(PyObject *self, PyObject *arg);
/* linktypes.c */
PyObject *flowlab_linktypes_locate(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
/* pcap.c */
PyObject *flowlab_pcap_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
/* services.c */
PyObject *flowlab_services_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
/* netflow.c */
PyObject *flowlab_netflow_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *flowlab_netflow_classes(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *flowlab_netflow_prewalk(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *flowlab_netflow_uint(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *flowlab_netflow_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
#endif
