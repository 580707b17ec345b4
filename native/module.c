/* flowlab._native: the optional compiled core (module definition). */
#include "flowlab_native.h"

static PyMethodDef methods[] = {
    {"sflow_decode", (PyCFunction)(void (*)(void))flowlab_sflow_decode, METH_FASTCALL,
     "Check a batch of sFlow datagrams and write the rows of the accepted ones."},
    {"sflow_spec", flowlab_sflow_spec, METH_NOARGS,
     "The sFlow numbers native/sflow.c names (for the test against flowlab.sflow._spec)."},
    {"sflow_columns", flowlab_sflow_columns, METH_NOARGS,
     "The flow columns sflow_decode writes: ((name, bytes per row), ...), the bare ones, those of them that may be null, the packet fields."},
    {"arrow_column", (PyCFunction)(void (*)(void))flowlab_arrow_column, METH_FASTCALL,
     "A column as Arrow C data interface capsules (values copied, nulls as a validity bitmap)."},
    {"arrow_texts", (PyCFunction)(void (*)(void))flowlab_arrow_texts, METH_FASTCALL,
     "Addresses (IPv4 as uint32, MACs as uint64) as an Arrow string column of their canonical texts."},
    {"arrow_addresses", (PyCFunction)(void (*)(void))flowlab_arrow_addresses, METH_FASTCALL,
     "Each row's IPv4 or IPv6 address as an Arrow string column of canonical texts, null where none."},
    {"factorize_u64", (PyCFunction)(void (*)(void))flowlab_factorize_u64, METH_FASTCALL,
     "Distinct uint64 keys in ascending order and each key's code into them."},
    {"factorize_scratch", flowlab_factorize_scratch, METH_O,
     "Bytes of working memory factorize_u64 needs for n keys."},
    {"linktypes_locate", (PyCFunction)(void (*)(void))flowlab_linktypes_locate, METH_FASTCALL,
     "The UDP payload to the given ports in each captured packet (capture/_linktypes.locate)."},
    {"pcap_records", (PyCFunction)(void (*)(void))flowlab_pcap_records, METH_FASTCALL,
     "The whole pcap records of a chunk (start, captured length, ms), and where the walk stopped."},
    {"services_rows", (PyCFunction)(void (*)(void))flowlab_services_rows, METH_FASTCALL,
     "The rows of a plain protocol,port,name service table (flowlab.services._packed)."},
    {"netflow_records", (PyCFunction)(void (*)(void))flowlab_netflow_records, METH_FASTCALL,
     "Every record of NetFlow v9/IPFIX data sets of several templates: its set, its fields as columns."},
    {"netflow_classes", (PyCFunction)(void (*)(void))flowlab_netflow_classes, METH_FASTCALL,
     "NetFlow v9/IPFIX datagrams in classes alike byte for byte (header times left out)."},
    {"netflow_prewalk", (PyCFunction)(void (*)(void))flowlab_netflow_prewalk, METH_FASTCALL,
     "Headers of NetFlow/IPFIX datagrams, and the data sets of those of data sets only."},
    {"netflow_fields", (PyCFunction)(void (*)(void))flowlab_netflow_fields, METH_FASTCALL,
     "The field specifiers of one NetFlow v9/IPFIX template record (netflow/_walk._fields)."},
    {"netflow_uint", (PyCFunction)(void (*)(void))flowlab_netflow_uint, METH_FASTCALL,
     "Big-endian unsigned integers of 1-8 bytes at given offsets of a buffer."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "flowlab._native",
    "flowlab's optional compiled core: the same results as the pure numpy path, faster.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
