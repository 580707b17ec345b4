/* UDP payloads in captured packets, in C: flowlab/capture/_linktypes.py's locate, same rules and
 * the same outputs (the tests compare both on every field of every packet).
 *
 * Per packet: link layer (Ethernet with up to two 802.1Q/802.1ad tags, Linux cooked v1/v2, raw
 * IP, BSD null/loop) -> IPv4 or IPv6 (hop-by-hop, routing, destination options) -> UDP to one of
 * the ports. The first failing check names the packet's skip reason. Reads past a packet's
 * captured bytes are clipped to the buffer, as the pure path's are: their values only ever
 * reach fields that the reason marks as meaningless. */
#include "flowlab_native.h"

#include <string.h>

/* skip reasons: the indexes of flowlab.capture._linktypes.SKIP_REASONS */
enum { FOUND = 0, TRUNC, LINK, NOT_IP, FRAG, NOT_UDP, PORT };

/* pcap LINKTYPE_* values */
#define LT_NULL 0
#define LT_ETHERNET 1
#define LT_RAW_12 12
#define LT_RAW_14 14
#define LT_RAW 101
#define LT_LOOP 108
#define LT_SLL 113
#define LT_IPV4 228
#define LT_IPV6 229
#define LT_SLL2 276

typedef struct {
    const uint8_t *data;
    int64_t lim; /* last byte index */
    int64_t off;
} pkt_t;

static inline uint32_t U8(const pkt_t *p, int64_t rel) {
    int64_t at = p->off + rel;
    if (at > p->lim) at = p->lim;
    if (at < 0) at = 0;
    return p->data[at];
}
static inline uint32_t U16(const pkt_t *p, int64_t rel) { return (U8(p, rel) << 8) | U8(p, rel + 1); }

static inline int null_family(uint32_t f) { return f == 2 || f == 10 || f == 24 || f == 28 || f == 30; }

/* linktypes_locate(data, off, caplen, linktype, ports, reason, payload_off, payload_len, src4,
 *                  src6, is6, l3, l4) -> None
 * data: uint8; off, caplen, linktype: int64 per packet; ports: a sequence of ints; the rest are
 * outputs, one entry per packet (src6: four uint32 words). */
PyObject *flowlab_linktypes_locate(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 13, "linktypes_locate")) return NULL;
    long ports[16];
    Py_ssize_t nports = 0;
    PyObject *seq = PySequence_Fast(args[4], "ports must be a sequence");
    if (!seq) return NULL;
    nports = PySequence_Fast_GET_SIZE(seq);
    if (nports > 16) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "linktypes_locate: at most 16 ports");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < nports; k++) {
        ports[k] = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, k));
        if (ports[k] == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    Py_buffer v[12];
    int got = 0;
    static const int item[12] = {1, 8, 8, 8, 1, 8, 8, 4, 16, 1, 8, 8};
    static const int out[12] = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    const int arg_of[12] = {0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12};
    Py_ssize_t n = 0;
    for (int k = 0; k < 12; k++) {
        if (PyObject_GetBuffer(args[arg_of[k]], &v[k], (out[k] ? PyBUF_WRITABLE : 0) | PyBUF_C_CONTIGUOUS) < 0)
            goto fail;
        got++;
        if (k == 1) n = v[k].len / 8;
        if (k >= 1 && v[k].len < n * item[k]) {
            PyErr_SetString(PyExc_ValueError, "linktypes_locate: an array is shorter than the packets");
            goto fail;
        }
    }
    {
        const uint8_t *data = v[0].buf;
        const int64_t *off = v[1].buf, *caplen = v[2].buf, *linktype = v[3].buf;
        uint8_t *reason = v[4].buf, *is6 = v[9].buf;
        int64_t *pay_off = v[5].buf, *pay_len = v[6].buf, *l3_out = v[10].buf, *l4_out = v[11].buf;
        uint32_t *src4 = v[7].buf, *src6 = v[8].buf;
        int64_t lim = v[0].len - 1;
        static const uint8_t zero = 0;
        if (lim < 0) {
            data = &zero;
            lim = 0;
        }
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            pkt_t p = {data, lim, off[i]};
            int64_t cap = caplen[i], lt = linktype[i];
            uint8_t why = FOUND;
#define FAIL(cond, code) do { if (why == FOUND && (cond)) why = (code); } while (0)
            int eth = lt == LT_ETHERNET, sll = lt == LT_SLL, sll2 = lt == LT_SLL2;
            int bare = lt == LT_RAW_12 || lt == LT_RAW_14 || lt == LT_RAW || lt == LT_IPV4 || lt == LT_IPV6;
            int null = lt == LT_NULL || lt == LT_LOOP;
            FAIL(!(eth || sll || sll2 || bare || null), LINK);
            int64_t l3 = eth ? 14 : sll ? 16 : sll2 ? 20 : null ? 4 : 0;
            uint32_t et = eth ? U16(&p, 12) : sll ? U16(&p, 14) : sll2 ? U16(&p, 0) : 0;
            FAIL((eth && cap < 14) || (sll && cap < 16) || (sll2 && cap < 20), TRUNC);
            FAIL(null && cap < 4, TRUNC);
            for (int k = 0; k < 2; k++) {
                int tagged = eth && (et == 0x8100 || et == 0x88A8);
                if (!tagged) break;
                FAIL(cap < l3 + 4, TRUNC);
                et = U16(&p, l3 + 2);
                l3 += 4;
            }
            if (null) {
                uint32_t le = U8(&p, 0) | (U8(&p, 1) << 8), be = U8(&p, 3) | (U8(&p, 2) << 8);
                FAIL(!(null_family(le) || null_family(be)), NOT_IP);
            }
            uint32_t nibble = U8(&p, l3) >> 4;
            int by_nibble = bare || null;
            int v4 = (by_nibble ? nibble == 4 : et == 0x0800) && lt != LT_IPV6;
            int v6 = (by_nibble ? nibble == 6 : et == 0x86DD) && lt != LT_IPV4;
            FAIL(!(v4 || v6), NOT_IP);
            int64_t ihl = (int64_t)(U8(&p, l3) & 0x0F) * 4;
            FAIL(v4 && cap < l3 + 20, TRUNC);
            FAIL(v4 && (U16(&p, l3 + 6) & 0x3FFF) != 0, FRAG);
            uint32_t proto = v4 ? U8(&p, l3 + 9) : U8(&p, l3 + 6);
            int64_t l4 = v4 ? l3 + ihl : l3 + 40;
            FAIL(v4 && ihl < 20, NOT_IP);
            FAIL(v6 && cap < l3 + 40, TRUNC);
            for (int k = 0; k < 4; k++) {
                int ext = v6 && (proto == 0 || proto == 43 || proto == 60);
                if (!ext) break;
                FAIL(cap < l4 + 2, TRUNC);
                int64_t size = ((int64_t)U8(&p, l4 + 1) + 1) * 8;
                proto = U8(&p, l4);
                l4 += size;
            }
            FAIL(v6 && proto == 44, FRAG);
            FAIL(proto != 17, NOT_UDP);
            FAIL(cap < l4 + 8, TRUNC);
            uint32_t dport = U16(&p, l4 + 2);
            int wanted = 0;
            for (Py_ssize_t k = 0; k < nports; k++) wanted |= (long)dport == ports[k];
            FAIL(!wanted, PORT);
#undef FAIL
            int64_t udp = (int64_t)U16(&p, l4 + 4) - 8, room = cap - l4 - 8;
            int64_t plen = udp < room ? udp : room;
            reason[i] = why;
            pay_off[i] = off[i] + l4 + 8;
            pay_len[i] = plen > 0 ? plen : 0;
            src4[i] = (U8(&p, l3 + 12) << 24) | (U8(&p, l3 + 13) << 16) | (U8(&p, l3 + 14) << 8) |
                      U8(&p, l3 + 15);
            uint32_t *w = src6 + 4 * i;
            memset(w, 0, 16);
            if (v6 && why == FOUND)
                for (int k = 0; k < 16; k++) w[k / 4] |= U8(&p, l3 + 8 + k) << (24 - 8 * (k % 4));
            is6[i] = (uint8_t)v6;
            l3_out[i] = l3;
            l4_out[i] = l4;
        }
        Py_END_ALLOW_THREADS
    }
    for (int k = 0; k < got; k++) PyBuffer_Release(&v[k]);
    return Py_NewRef(Py_None);
fail:
    for (int k = 0; k < got; k++) PyBuffer_Release(&v[k]);
    return NULL;
}
