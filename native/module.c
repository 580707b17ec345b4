/* flowlab._native: the optional compiled core (module definition). */
#include "flowlab_native.h"

static PyMethodDef methods[] = {
    {"sflow_scan", (PyCFunction)(void (*)(void))flowlab_sflow_scan, METH_FASTCALL,
     "Check a batch of sFlow datagrams and count the rows of the accepted ones."},
    {"sflow_fill", (PyCFunction)(void (*)(void))flowlab_sflow_fill, METH_FASTCALL,
     "Fill the flow and counter columns of the accepted sFlow datagrams."},
    {"sflow_columns", flowlab_sflow_columns, METH_NOARGS,
     "The flow columns sflow_fill writes: (name, bytes per row), in order."},
    {"pcap_records", (PyCFunction)(void (*)(void))flowlab_pcap_records, METH_FASTCALL,
     "Start offsets of the whole pcap records of a chunk, and where the walk stopped."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "flowlab._native",
    "flowlab's optional compiled core: the same results as the pure numpy path, faster.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
