/* NetFlow v5 / v9 / IPFIX in C: flowlab/netflow/_prewalk.py's prewalk and _columns.py's records
 * and read_uint, same rules and the same results.
 *
 * netflow_prewalk reads every datagram's header and follows the sets of those of data sets only;
 * netflow_records finds every record of a batch's data sets, whatever their templates (a walk
 * through the variable-length fields' length prefixes), and writes its fields as columns;
 * netflow_uint gathers big-endian integers of 1-8 bytes at given offsets; netflow_fields reads a
 * template record's field specifiers (_walk.py's _fields). Every read is
 * bounds-checked: a set is read only inside itself and the buffer, an offset only inside the
 * buffer.
 */
#include "flowlab_native.h"

#include <string.h>

#define VARIABLE_LENGTH 65535
#define PREFETCH_SETS 8 /* sets ahead of the walk whose first bytes are asked for */

/* big-endian unsigned integers of 2, 4 and `length` (1-8) bytes at p */
static inline int64_t nf_be16(const uint8_t *p) { return ((int64_t)p[0] << 8) | p[1]; }
static inline int64_t nf_be32(const uint8_t *p) {
    return ((int64_t)p[0] << 24) | ((int64_t)p[1] << 16) | ((int64_t)p[2] << 8) | p[3];
}
static inline uint64_t be_uint(const uint8_t *p, int64_t length) {
    switch (length) {
    case 1:
        return p[0];
    case 2:
        return (uint64_t)nf_be16(p);
    case 4:
        return (uint64_t)nf_be32(p);
    default: {
        uint64_t x = 0;
        for (int64_t q = 0; q < length; q++) x = (x << 8) | p[q];
        return x;
    }
    }
}

/* netflow_records(data, starts, ends, set_template, template_fields, lengths, columns, set_index,
 *                 values, offsets, bad) -> records
 *
 * The records of the data sets data[starts[i]:ends[i]], set i of template set_template[i], in
 * set order, then record order. Template t's fields are lengths[template_fields[t] :
 * template_fields[t + 1]] (int64, VARIABLE_LENGTH = 65535 for a variable-length field: a length
 * byte, or 255 and two length bytes), and columns[...] says where each goes: -1 nowhere, c < V
 * the big-endian integer (the field is 1-8 bytes) into row c of values ((V, room) uint64), V + c
 * its offset into row c of offsets ((O, room) int64); a row no field of a record's template
 * fills holds 0 for it. A set holds records while its rest is at least its template's minimum
 * record length; what is left is padding. A record that overruns its set marks the set bad
 * (bad[i] = 1) and ends it; the records before it stay. Writes each record's set into set_index
 * (whose size is the outputs' room: records that would not fit raise ValueError; the caller sizes
 * them from the sets' bytes, which bound the count) and returns how many. A set outside the
 * buffer is bad and holds no record. */
PyObject *flowlab_netflow_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 11, "netflow_records")) return NULL;
    flowlab_buffers b = {.n = 0};
    PyObject *result = NULL;
    int64_t *work = NULL;
    uint8_t *present = NULL;
    const uint8_t *data;
    const int64_t *starts, *ends;
    int64_t size, nsets;
    if (!flowlab_spans(&b, args, &data, &size, &starts, &ends, &nsets)) goto done;
    const int64_t *set_template = flowlab_acquire(&b, args[3], nsets * 8, 0, "set_template");
    const int64_t *template_fields =
        set_template ? flowlab_acquire(&b, args[4], 8, 0, "template_fields") : NULL;
    if (!template_fields) goto done;
    const int64_t nt = b.views[b.n - 1].len / 8 - 1;
    const int64_t *lengths = flowlab_acquire(&b, args[5], 0, 0, "lengths");
    if (!lengths) goto done;
    const int64_t nf = b.views[b.n - 1].len / 8;
    const int64_t *columns = flowlab_acquire(&b, args[6], nf * 8, 0, "columns");
    int64_t *set_out = columns ? flowlab_acquire(&b, args[7], 0, 1, "set_index") : NULL;
    if (!set_out) goto done;
    const int64_t room = b.views[b.n - 1].len / 8;
    uint64_t *val_out = flowlab_acquire(&b, args[8], 0, 1, "values");
    if (!val_out) goto done;
    const int64_t nv = room ? b.views[b.n - 1].len / 8 / room : 0;
    int64_t *off_out = flowlab_acquire(&b, args[9], 0, 1, "offsets");
    if (!off_out) goto done;
    const int64_t no = room ? b.views[b.n - 1].len / 8 / room : 0;
    uint8_t *bad = flowlab_acquire(&b, args[10], nsets, 1, "bad");
    if (!bad) goto done;
    if (template_fields[0] != 0 || template_fields[nt] != nf) {
        PyErr_SetString(PyExc_ValueError, "netflow_records: template_fields must span lengths");
        goto done;
    }
    /* each template as runs of fixed fields between its variable-length ones, whose length
     * prefixes are all a walk must read: field j lies within[j] bytes into run seg[j] of its
     * template, or is the k-th variable field's value (seg[j] = -1 - k); run r of template t is
     * runs[template_fields[t] + t + r] bytes long */
    work = PyMem_Malloc((3 * nf + 3 * nt + 1) * sizeof *work);
    present = PyMem_Calloc((size_t)(nt * (nv + no)) + 1, 1);
    if (!work || !present) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t *seg = work, *within = work + nf, *runs = work + 2 * nf;
    int64_t *minimum = runs + nf + nt, *nvar = minimum + nt;
    int64_t most = 0; /* most variable fields of a template: what bases[] and varoff[] hold */
    for (int64_t t = 0; t < nt; t++) {
        const int64_t f0 = template_fields[t], f1 = template_fields[t + 1];
        if (f1 <= f0 || f1 > nf || f1 - f0 > 65535) {
            PyErr_SetString(PyExc_ValueError, "netflow_records: a template of 1-65535 fields");
            goto done;
        }
        int64_t *r = runs + f0 + t, v = 0, least = 0;
        r[0] = 0;
        for (int64_t j = f0; j < f1; j++) {
            const int64_t c = columns[j];
            if (lengths[j] < 0 || lengths[j] > VARIABLE_LENGTH || c < -1 || c >= nv + no ||
                (c >= 0 && c < nv && (lengths[j] < 1 || lengths[j] > 8))) {
                PyErr_SetString(PyExc_ValueError,
                                "netflow_records: a field length or column out of range");
                goto done;
            }
            if (c >= 0) present[t * (nv + no) + c] = 1;
            if (lengths[j] == VARIABLE_LENGTH) {
                seg[j] = -1 - v;
                within[j] = 0;
                r[++v] = 0;
                least += 1;
            } else {
                seg[j] = v;
                within[j] = r[v];
                r[v] += lengths[j];
                least += lengths[j];
            }
        }
        if (least <= 0) {
            PyErr_SetString(PyExc_ValueError, "netflow_records: a template of zero length");
            goto done;
        }
        minimum[t] = least;
        nvar[t] = v;
        if (v > most) most = v;
    }
    int64_t *varoff = PyMem_Malloc((most + 1) * sizeof *varoff);
    int64_t *bases = PyMem_Malloc((most + 1) * sizeof *bases);
    if (!varoff || !bases) {
        PyMem_Free(varoff);
        PyMem_Free(bases);
        PyErr_NoMemory();
        goto done;
    }
    int64_t count = 0;
    int full = 0, unknown = 0;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t i = 0; i < nsets && !full; i++) {
        int64_t pos = starts[i], end = ends[i];
        /* sets lie far apart in the buffer (a datagram each): ask for a later set's bytes now */
        if (i + PREFETCH_SETS < nsets) {
            const int64_t later = starts[i + PREFETCH_SETS];
            if (later >= 0 && later < size) {
                __builtin_prefetch(data + later);
                if (later + 64 < size) __builtin_prefetch(data + later + 64);
            }
        }
        bad[i] = 0;
        const int64_t t = set_template[i];
        if (t < 0 || t >= nt) {
            unknown = 1;
            break;
        }
        if (pos < 0 || end > size || end < pos) {
            bad[i] = 1;
            continue;
        }
        const int64_t f0 = template_fields[t], f1 = template_fields[t + 1], nvt = nvar[t];
        const int64_t *r = runs + f0 + t;
        const uint8_t *has = present + t * (nv + no);
        while (pos + minimum[t] <= end) {
            if (count >= room) {
                full = 1;
                break;
            }
            int over = 0;
            bases[0] = pos;
            for (int64_t k = 0; k < nvt; k++) {
                int64_t p = bases[k] + r[k]; /* the k-th variable field's length prefix */
                if (p >= end) {
                    over = 1;
                    break;
                }
                int64_t length = data[p++];
                if (length == 255) {
                    if (p + 2 > end) {
                        over = 1;
                        break;
                    }
                    length = nf_be16(data + p);
                    p += 2;
                }
                varoff[k] = p;
                bases[k + 1] = p + length;
            }
            if (!over) pos = bases[nvt] + r[nvt];
            if (over || pos > end) {
                bad[i] = 1;
                break;
            }
            /* the record is inside its set: its fields' bytes are readable */
            for (int64_t c = 0; c < nv + no; c++) {
                if (has[c]) continue;
                if (c < nv) val_out[c * room + count] = 0;
                else off_out[(c - nv) * room + count] = 0;
            }
            for (int64_t j = f0; j < f1; j++) {
                const int64_t c = columns[j];
                if (c < 0) continue;
                const int64_t at = seg[j] >= 0 ? bases[seg[j]] + within[j] : varoff[-1 - seg[j]];
                if (c < nv) val_out[c * room + count] = be_uint(data + at, lengths[j]);
                else off_out[(c - nv) * room + count] = at;
            }
            set_out[count++] = i;
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(varoff);
    PyMem_Free(bases);
    if (unknown) {
        PyErr_SetString(PyExc_ValueError, "netflow_records: a set's template out of range");
        goto done;
    }
    if (full) {
        PyErr_SetString(PyExc_ValueError, "netflow_records: more records than the outputs hold");
        goto done;
    }
    result = PyLong_FromLongLong(count);
done:
    PyMem_Free(work);
    PyMem_Free(present);
    flowlab_release(&b);
    return result;
}

/* netflow_uint(data, offsets, length, out) -> bool
 *
 * Big-endian unsigned integers of `length` (1-8) bytes at each offset (a 1-D int64 buffer, any
 * stride) into out (uint64). Returns False (out is then undefined) if an offset's bytes are not
 * all inside data (the caller then takes the pure path's clipping rule). */
PyObject *flowlab_netflow_uint(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 4, "netflow_uint")) return NULL;
    const long length = PyLong_AsLong(args[2]);
    if (length == -1 && PyErr_Occurred()) return NULL;
    if (length < 1 || length > 8) {
        PyErr_SetString(PyExc_ValueError, "netflow_uint: length must be 1-8");
        return NULL;
    }
    flowlab_buffers b = {.n = 0};
    PyObject *result = NULL;
    const uint8_t *data = flowlab_acquire(&b, args[0], 0, 0, "data");
    if (!data) goto done;
    const int64_t size = b.views[0].len;
    Py_buffer *ov = &b.views[1];
    if (PyObject_GetBuffer(args[1], ov, PyBUF_STRIDES | PyBUF_FORMAT) < 0) goto done;
    b.n++;
    if (ov->ndim != 1 || ov->itemsize != 8 || !ov->format ||
        (strcmp(ov->format, "l") != 0 && strcmp(ov->format, "q") != 0)) {
        PyErr_SetString(PyExc_ValueError, "netflow_uint: offsets must be a 1-D int64 array");
        goto done;
    }
    const int64_t n = ov->shape[0];
    const Py_ssize_t stride = ov->strides[0];
    const char *obase = ov->buf;
    uint64_t *out = flowlab_acquire(&b, args[3], n * 8, 1, "out");
    if (!out) goto done;
    int inside = 1;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t i = 0; i < n; i++) {
        const int64_t at = *(const int64_t *)(obase + i * stride);
        if (at < 0 || at > size - length) {
            inside = 0;
            break;
        }
        out[i] = be_uint(data + at, length);
    }
    Py_END_ALLOW_THREADS
    result = PyBool_FromLong(inside);
done:
    flowlab_release(&b);
    return result;
}

/* flowlab/netflow/records.py */
#define NETFLOW5 5
#define NETFLOW9 9
#define IPFIX 10
#define V5_HEADER 24
#define V9_HEADER 20
#define IPFIX_HEADER 16
#define V5_RECORD 48
#define V5_MAX_COUNT 30
#define SET_HEADER 4
#define FIRST_DATA_SET 256
/* flowlab/netflow/_prewalk.py MAX_SETS (passed to flowlab/netflow/_compiled.py prewalk) */
#define MAX_SETS 32

/* netflow_prewalk(data, offsets, lengths, fast, version, domain, sequence, export_s, export_ns,
 *                 uptime, sampling, set_dg, set_id, set_start, set_end) -> sets
 *
 * Per datagram (of at least 24 bytes inside data; others: all 0): the header's fields by its
 * version, and whether it is taken whole (fast: NetFlow v5 with a plausible count whose records
 * fit, or v9 / IPFIX of at most MAX_SETS data sets that fit the datagram, IPFIX's exactly filling
 * its message). The data sets of the v9 / IPFIX ones taken: datagram, set id, body bounds, in
 * order. The per-datagram outputs are uint8 (fast) and int64; the set outputs int64 with room
 * given by their sizes (a datagram whose sets would not fit raises ValueError). */
PyObject *flowlab_netflow_prewalk(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 15, "netflow_prewalk")) return NULL;
    flowlab_buffers b = {.n = 0};
    PyObject *result = NULL;
    const uint8_t *data;
    const int64_t *off, *len;
    int64_t size, n;
    if (!flowlab_spans(&b, args, &data, &size, &off, &len, &n)) goto done;
    uint8_t *fast = flowlab_acquire(&b, args[3], n, 1, "fast");
    int64_t *cols[7];
    static const char *names[7] = {"version", "domain", "sequence", "export_s",
                                   "export_ns", "uptime", "sampling"};
    if (!fast) goto done;
    for (int k = 0; k < 7; k++) {
        cols[k] = flowlab_acquire(&b, args[4 + k], n * 8, 1, names[k]);
        if (!cols[k]) goto done;
    }
    int64_t *set_dg = flowlab_acquire(&b, args[11], 0, 1, "set_dg");
    if (!set_dg) goto done;
    const int64_t room = b.views[b.n - 1].len / 8;
    int64_t *set_id = flowlab_acquire(&b, args[12], room * 8, 1, "set_id");
    int64_t *set_start = set_id ? flowlab_acquire(&b, args[13], room * 8, 1, "set_start") : NULL;
    int64_t *set_end = set_start ? flowlab_acquire(&b, args[14], room * 8, 1, "set_end") : NULL;
    if (!set_end) goto done;
    int64_t *version = cols[0], *domain = cols[1], *sequence = cols[2], *export_s = cols[3],
            *export_ns = cols[4], *uptime = cols[5], *sampling = cols[6];
    int64_t nsets = 0;
    int full = 0;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t i = 0; i < n && !full; i++) {
        version[i] = domain[i] = sequence[i] = export_s[i] = export_ns[i] = uptime[i] =
            sampling[i] = 0;
        fast[i] = 0;
        const int64_t o = off[i], m = len[i];
        if (o < 0 || m < 24 || o > size - m) continue;
        const uint8_t *d = data + o;
        const int64_t v = nf_be16(d), count = nf_be16(d + 2);
        version[i] = v;
        if (v == NETFLOW5) {
            uptime[i] = nf_be32(d + 4);
            export_s[i] = nf_be32(d + 8);
            export_ns[i] = nf_be32(d + 12);
            sequence[i] = nf_be32(d + 16);
            domain[i] = nf_be16(d + 20);
            sampling[i] = nf_be16(d + 22);
            fast[i] = count >= 1 && count <= V5_MAX_COUNT && V5_HEADER + count * V5_RECORD <= m;
            continue;
        }
        int64_t p, end;
        if (v == NETFLOW9) {
            uptime[i] = nf_be32(d + 4);
            export_s[i] = nf_be32(d + 8);
            sequence[i] = nf_be32(d + 12);
            domain[i] = nf_be32(d + 16);
            p = o + V9_HEADER;
            end = o + m;
        } else if (v == IPFIX) {
            export_s[i] = nf_be32(d + 4);
            sequence[i] = nf_be32(d + 8);
            domain[i] = nf_be32(d + 12);
            if (count < IPFIX_HEADER || count > m) continue;
            p = o + IPFIX_HEADER;
            end = o + count; /* the message length field */
        } else {
            continue;
        }
        const int64_t first = nsets;
        int ok = 1, k = 0;
        while (p + SET_HEADER <= end) {
            if (k == MAX_SETS) { /* more sets than followed */
                ok = 0;
                break;
            }
            const int64_t sid = nf_be16(data + p), slen = nf_be16(data + p + 2);
            if (slen < SET_HEADER || p + slen > end || sid < FIRST_DATA_SET) {
                ok = 0;
                break;
            }
            if (nsets >= room) {
                full = 1;
                break;
            }
            set_dg[nsets] = i;
            set_id[nsets] = sid;
            set_start[nsets] = p + SET_HEADER;
            set_end[nsets] = p + slen;
            nsets++;
            p += slen;
            k++;
        }
        if (ok && v == IPFIX && p != end) ok = 0; /* the sets fill the message exactly */
        if (!ok) nsets = first;
        fast[i] = (uint8_t)ok;
    }
    Py_END_ALLOW_THREADS
    if (full) {
        PyErr_SetString(PyExc_ValueError, "netflow_prewalk: more sets than the outputs hold");
        goto done;
    }
    result = PyLong_FromLongLong(nsets);
done:
    flowlab_release(&b);
    return result;
}

static inline uint64_t nf_mix(uint64_t h, uint64_t w) {
    h ^= w;
    h *= 0xFF51AFD7ED558CCDULL;
    return h ^ (h >> 32);
}

/* netflow_classes(data, offsets, lengths, version, domain, exporter, which, cls, reps) -> classes
 *
 * flowlab/netflow/_known.py's classes: the v9 / IPFIX datagrams `which` (inside data, at least a
 * header long) in classes of equal length, version, domain, exporter and bytes (the header's
 * time, sequence and domain left out). Writes each one's class (-1: not such a datagram) into
 * cls, and per class its first datagram into reps (both int64, one entry per `which`), classes
 * numbered in order of first appearance; returns how many. A hash table of the classes. */
PyObject *flowlab_netflow_classes(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 9, "netflow_classes")) return NULL;
    flowlab_buffers b = {.n = 0};
    PyObject *result = NULL;
    int64_t *table = NULL;
    uint64_t *hashes = NULL;
    const uint8_t *data;
    const int64_t *off, *len;
    int64_t size, n;
    if (!flowlab_spans(&b, args, &data, &size, &off, &len, &n)) goto done;
    const int64_t *version = flowlab_acquire(&b, args[3], n * 8, 0, "version");
    const int64_t *domain = version ? flowlab_acquire(&b, args[4], n * 8, 0, "domain") : NULL;
    const int64_t *exporter = domain ? flowlab_acquire(&b, args[5], n * 8, 0, "exporter") : NULL;
    const int64_t *which = exporter ? flowlab_acquire(&b, args[6], 0, 0, "which") : NULL;
    if (!which) goto done;
    const int64_t nw = b.views[6].len / 8;
    int64_t *cls = flowlab_acquire(&b, args[7], nw * 8, 1, "cls");
    int64_t *reps = cls ? flowlab_acquire(&b, args[8], nw * 8, 1, "reps") : NULL;
    if (!reps) goto done;
    int64_t cap = 16;
    while (cap < 2 * nw) cap <<= 1;
    table = PyMem_Malloc(cap * sizeof *table); /* class id per slot, -1 empty */
    hashes = PyMem_Malloc((nw + 1) * sizeof *hashes); /* each class's hash */
    if (!table || !hashes) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t classes = 0;
    int bad_index = 0;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t s = 0; s < cap; s++) table[s] = -1;
    for (int64_t k = 0; k < nw; k++) {
        const int64_t i = which[k];
        cls[k] = -1;
        if (i < 0 || i >= n) {
            bad_index = 1;
            break;
        }
        const int64_t o = off[i], m = len[i], v = version[i];
        const int64_t head = v == IPFIX ? IPFIX_HEADER : V9_HEADER;
        if ((v != IPFIX && v != NETFLOW9) || o < 0 || m < head || o > size - m) continue;
        /* a multiplicative hash of the key and the bytes compared, 8 bytes a step */
        const uint8_t *d = data + o;
        uint64_t h = nf_mix(nf_mix(nf_mix(nf_mix(0x9E3779B97F4A7C15ULL, (uint64_t)m), (uint64_t)v),
                                   (uint64_t)domain[i]),
                            (uint64_t)exporter[i]);
        h = nf_mix(h, (uint64_t)nf_be32(d));
        int64_t j = head;
        for (; j + 8 <= m; j += 8) {
            uint64_t w;
            memcpy(&w, d + j, 8);
            h = nf_mix(h, w);
        }
        for (; j < m; j++) h = nf_mix(h, d[j]);
        int64_t slot = (int64_t)(h & (uint64_t)(cap - 1)), found = -1;
        while (table[slot] >= 0) {
            const int64_t c = table[slot], r = reps[c];
            const uint8_t *e = data + off[r];
            if (hashes[c] == h && len[r] == m && version[r] == v && domain[r] == domain[i] &&
                exporter[r] == exporter[i] && memcmp(e, d, 4) == 0 &&
                memcmp(e + head, d + head, (size_t)(m - head)) == 0) {
                found = c;
                break;
            }
            slot = (slot + 1) & (cap - 1);
        }
        if (found < 0) {
            found = classes++;
            reps[found] = i;
            hashes[found] = h;
            table[slot] = found;
        }
        cls[k] = found;
    }
    Py_END_ALLOW_THREADS
    if (bad_index) {
        PyErr_SetString(PyExc_IndexError, "netflow_classes: a datagram index out of range");
        goto done;
    }
    result = PyLong_FromLongLong(classes);
done:
    PyMem_Free(table);
    PyMem_Free(hashes);
    flowlab_release(&b);
    return result;
}

/* netflow_fields(data, start, end, ipfix, count) -> (fields, end) | reason
 *
 * flowlab/netflow/_walk.py's _fields: `count` template field specifiers from data[start], none
 * read past `end` (which must lie inside data): a tuple of (element id, enterprise number,
 * length) and where they end; IPFIX's specifiers with the high bit carry an enterprise number,
 * NetFlow v9's may not have a variable length. On the first specifier that fails, the reason
 * (a str), as the pure path's Malformed gives it. */
PyObject *flowlab_netflow_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 5, "netflow_fields")) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    PyObject *fields = NULL, *result = NULL;
    const Py_ssize_t start = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]);
    const int ipfix = PyObject_IsTrue(args[3]);
    const Py_ssize_t count = PyLong_AsSsize_t(args[4]);
    if (PyErr_Occurred() || ipfix < 0) goto done;
    if (start < 0 || end < start || end > view.len || count < 0 || count > 65535) {
        PyErr_SetString(PyExc_ValueError, "netflow_fields: start, end or count out of range");
        goto done;
    }
    const uint8_t *d = view.buf;
    const char *reason = NULL;
    Py_ssize_t p = start;
    if (!(fields = PyTuple_New(count))) goto done;
    for (Py_ssize_t k = 0; k < count; k++) {
        if (p + 4 > end) {
            reason = "template_overrun";
            break;
        }
        uint32_t eid = (uint32_t)nf_be16(d + p), length = (uint32_t)nf_be16(d + p + 2);
        uint32_t pen = 0;
        p += 4;
        if (ipfix && (eid & 0x8000)) {
            if (p + 4 > end) {
                reason = "template_overrun";
                break;
            }
            pen = (uint32_t)nf_be32(d + p);
            eid &= 0x7FFF;
            p += 4;
        } else if (!ipfix && length == VARIABLE_LENGTH) {
            reason = "template_malformed"; /* v9 has no variable-length fields */
            break;
        }
        PyObject *item = Py_BuildValue("(kkk)", (unsigned long)eid, (unsigned long)pen, (unsigned long)length);
        if (!item) goto done;
        PyTuple_SET_ITEM(fields, k, item);
    }
    result = reason ? PyUnicode_FromString(reason) : Py_BuildValue("(On)", fields, p);
done:
    Py_XDECREF(fields);
    PyBuffer_Release(&view);
    return result;
}
