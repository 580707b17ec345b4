/* flowlab's optional compiled core: shared declarations. */
#ifndef FLOWLAB_NATIVE_H
#define FLOWLAB_NATIVE_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#endif
