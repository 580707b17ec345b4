/* flowlab's optional compiled core: what the modules of native/ share. */
#ifndef FLOWLAB_NATIVE_H
#define FLOWLAB_NATIVE_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* sflow.c */
PyObject *flowlab_sflow_decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *flowlab_sflow_columns(PyObject *self, PyObject *unused);
/* pcap.c */
PyObject *flowlab_pcap_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
/* netflow.c */
PyObject *flowlab_netflow_locate(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *flowlab_netflow_classes(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *flowlab_netflow_prewalk(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *flowlab_netflow_uint(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
#endif
