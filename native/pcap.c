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
 * Walks the whole records of chunk from pos, stopping before the first one that is incomplete,
 * whose captured length exceeds max_record, or that finds starts (an int64 buffer) full; writes
 * their start offsets into starts and returns how many and where the walk stopped. */
PyObject *flowlab_pcap_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 5, "pcap_records")) return NULL;
    long long pos = PyLong_AsLongLong(args[1]);
    int little = PyObject_IsTrue(args[2]);
    long long max_record = PyLong_AsLongLong(args[3]);
    if (PyErr_Occurred() || little < 0) return NULL;
    flowlab_buffers b = {.n = 0};
    const uint8_t *p = flowlab_acquire(&b, args[0], 0, 0, "chunk");
    int64_t *starts = p ? flowlab_acquire(&b, args[4], 0, 1, "starts") : NULL;
    if (!starts) {
        flowlab_release(&b);
        return NULL;
    }
    long long size = b.views[0].len, room = b.views[1].len / 8, count = 0;
    if (pos < 0) pos = size;
    Py_BEGIN_ALLOW_THREADS
    while (pos + 12 <= size && count < room) {
        long long incl = u32_at(p + pos + 8, little);
        if (incl > max_record || pos + PCAP_RECORD_HEADER + incl > size) break;
        starts[count++] = pos;
        pos += PCAP_RECORD_HEADER + incl;
    }
    Py_END_ALLOW_THREADS
    flowlab_release(&b);
    return Py_BuildValue("(LL)", count, pos);
}
