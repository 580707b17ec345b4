/* pcap record boundaries in C: flowlab/capture/pcap.py's record loop, same rules.
 *
 * A classic pcap file is a global header and records of (ts_sec, ts_frac, incl_len, orig_len)
 * followed by incl_len bytes. Only the boundaries need a loop; the caller reads the header
 * fields of every record at once. */
#include "flowlab_native.h"

#define PCAP_RECORD_HEADER 16

static inline uint32_t u32_at(const uint8_t *p, int little) {
    return little ? ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0]
                  : ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* pcap_records(chunk, pos, little_endian, max_record, starts) -> (count, pos)
 * Walks the whole records of chunk from pos, stopping before the first one that is incomplete
 * or whose captured length exceeds max_record; writes their start offsets into starts (an int64
 * buffer, or None to only count) and returns how many and where the walk stopped. */
PyObject *flowlab_pcap_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "pcap_records takes 5 arguments");
        return NULL;
    }
    long long pos = PyLong_AsLongLong(args[1]);
    int little = PyObject_IsTrue(args[2]);
    long long max_record = PyLong_AsLongLong(args[3]);
    if (PyErr_Occurred() || little < 0) return NULL;
    Py_buffer chunk, out;
    if (PyObject_GetBuffer(args[0], &chunk, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    int64_t *starts = NULL;
    Py_ssize_t room = 0;
    if (args[4] != Py_None) {
        if (PyObject_GetBuffer(args[4], &out, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
            PyBuffer_Release(&chunk);
            return NULL;
        }
        starts = out.buf;
        room = out.len / 8;
    }
    const uint8_t *p = chunk.buf;
    long long size = chunk.len, count = 0;
    if (pos < 0) pos = size;
    Py_BEGIN_ALLOW_THREADS
    while (pos + 12 <= size) {
        long long incl = u32_at(p + pos + 8, little);
        if (incl > max_record || pos + PCAP_RECORD_HEADER + incl > size) break;
        if (starts) {
            if (count >= room) break;
            starts[count] = pos;
        }
        count++;
        pos += PCAP_RECORD_HEADER + incl;
    }
    Py_END_ALLOW_THREADS
    if (starts) PyBuffer_Release(&out);
    PyBuffer_Release(&chunk);
    return Py_BuildValue("(LL)", count, pos);
}
