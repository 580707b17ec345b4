/* flowlab._native: the optional compiled core (module definition). */
#include "flowlab_native.h"

static PyMethodDef methods[] = {
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "flowlab._native",
    "flowlab's optional compiled core: the same results as the pure numpy path, faster.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
