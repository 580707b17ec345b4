/* pcap records in C: flowlab/capture/pcap.py's record loop, same rules.
 *
 * A classic pcap file is a global header and records of (ts_sec, ts_frac, incl_len, orig_len)
 * followed by incl_len bytes. One pass finds each whole record and reads its header: where it
 * starts, its captured length and its time in milliseconds. */
#include "flowlab_native.h"

#define PCAP_RECORD_HEADER 16
#define PREFETCH_AHEAD 4096 /* bytes of the chunk asked for ahead of the walk */

static inline uint32_t u32_at(const uint8_t *p, int little) {
    return little ? ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0]
                  : ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* pcap_records(chunk, pos, little_endian, max_record, units, starts, caplen, ms) -> (count, pos)
 * Walks the whole records of chunk from pos, stopping before the first one that is incomplete,
 * whose captured length exceeds max_record, or that finds starts (an int64 buffer) full; writes
 * each one's start offset, captured length and time (ts_sec * 1000 + ts_frac * 1000 // units,
 * units the fractions per second) into the int64 buffers starts, caplen and ms (as long as
 * starts), and returns how many and where the walk stopped. */
PyObject *flowlab_pcap_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 8, "pcap_records")) return NULL;
    long long pos = PyLong_AsLongLong(args[1]);
    int little = PyObject_IsTrue(args[2]);
    long long max_record = PyLong_AsLongLong(args[3]);
    long long units = PyLong_AsLongLong(args[4]);
    if (PyErr_Occurred() || little < 0) return NULL;
    if (units <= 0) {
        PyErr_SetString(PyExc_ValueError, "pcap_records: units must be positive");
        return NULL;
    }
    flowlab_buffers b = {.n = 0};
    const uint8_t *p = flowlab_acquire(&b, args[0], 0, 0, "chunk");
    int64_t *starts = p ? flowlab_acquire(&b, args[5], 0, 1, "starts") : NULL;
    long long room = starts ? b.views[1].len / 8 : 0;
    int64_t *caplen = starts ? flowlab_acquire(&b, args[6], room * 8, 1, "caplen") : NULL;
    int64_t *ms = caplen ? flowlab_acquire(&b, args[7], room * 8, 1, "ms") : NULL;
    if (!ms) {
        flowlab_release(&b);
        return NULL;
    }
    long long size = b.views[0].len, count = 0;
    if (pos < 0) pos = size;
    Py_BEGIN_ALLOW_THREADS
    /* each record's header is found only by reading the one before: a chain of loads that waits
     * for memory at every record unless the bytes ahead are already on their way to the cache */
    long long ahead = pos;
    while (pos + 12 <= size && count < room) {
        for (; ahead < pos + PREFETCH_AHEAD && ahead < size; ahead += 64)
            __builtin_prefetch(p + ahead);
        long long incl = u32_at(p + pos + 8, little);
        if (incl > max_record || pos + PCAP_RECORD_HEADER + incl > size) break;
        starts[count] = pos;
        caplen[count] = incl;
        ms[count] = (int64_t)u32_at(p + pos, little) * 1000 +
                    (int64_t)u32_at(p + pos + 4, little) * 1000 / units;
        count++;
        pos += PCAP_RECORD_HEADER + incl;
    }
    Py_END_ALLOW_THREADS
    flowlab_release(&b);
    return Py_BuildValue("(LL)", count, pos);
}
