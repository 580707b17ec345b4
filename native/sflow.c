/* sFlow v5 in C: the walk (flowlab/sflow/_walk.py) and the columns (flowlab/sflow/_fields.py,
 * _headers.py) of a batch of datagrams, with the same rules and the same results.
 *
 * Layers, as in the pure path: datagram header -> sample framing -> known sample headers ->
 * record framing -> record bodies (the walk: a datagram is decoded entirely or rejected with the
 * reason of the first level that fails, and within a level the first failing entry in wire order
 * decides) -> flow and counter rows -> sampled packet headers.
 *
 * One pass over the batch: each datagram is checked, then its rows are written while its bytes are
 * in cache, into columns the caller allocated; when they have too little room, the walk goes on
 * counting the rows, and the caller tries again with room for them.
 * Every read is bounds-checked against the datagram: a datagram never reads past its own bytes.
 */
#include "flowlab_native.h"

#include <string.h>

/* ---- spec numbers (sFlow v5, sflow.org/sflow_version_5.txt), named once here ---- */
#define SFLOW_VERSION 5
#define AGENT_IPV4 1
#define AGENT_IPV6 2
#define SAMPLE_FLOW 1
#define SAMPLE_COUNTERS 2
#define SAMPLE_FLOW_EXPANDED 3
#define SAMPLE_COUNTERS_EXPANDED 4
#define FLOW_RAW_HEADER 1
#define FLOW_SAMPLED_IPV4 3
#define FLOW_SAMPLED_IPV6 4
#define FLOW_EXTENDED_SWITCH 1001
#define COUNTERS_GENERIC_IF 1
#define COUNTERS_ETHERNET 2
#define HEADER_ETHERNET 1
#define HEADER_IPV4 11
#define HEADER_IPV6 12
#define GENERIC_WORDS 22
#define ETHERNET_WORDS 13

/* flowlab's bounds (flowlab/sflow/_walk.py MAX_SAMPLES, MAX_RECORDS) */
#define MAX_SAMPLES 1024
#define MAX_RECORDS 256

/* rejection reasons: the indexes of flowlab.sflow._walk.REASONS */
enum {
    OK = 0,
    OUTSIDE,
    TRUNCATED,
    VERSION,
    AGENT,
    IMPLAUSIBLE,
    SAMPLE_OVERRUN,
    UNALIGNED,
    SAMPLE_SHORT,
    RECORD_OVERRUN,
    RECORD_SHORT,
};

/* fixed part of each known sample (its record count is the last word) */
static const int64_t SAMPLE_FIXED[5] = {0, 32, 12, 44, 16};

static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint32_t be16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static inline uint64_t mac48(const uint8_t *p) {
    return ((uint64_t)be16(p) << 32) | be32(p + 2);
}

/* bytes of the record bodies read (0: not read, no minimum) */
static int64_t flow_record_min(uint32_t tag) {
    switch (tag) {
    case FLOW_RAW_HEADER: return 16;
    case FLOW_SAMPLED_IPV4: return 32;
    case FLOW_SAMPLED_IPV6: return 56;
    case FLOW_EXTENDED_SWITCH: return 16;
    default: return 0;
    }
}
static int64_t counter_record_min(uint32_t tag) {
    switch (tag) {
    case COUNTERS_GENERIC_IF: return 4 * GENERIC_WORDS;
    case COUNTERS_ETHERNET: return 4 * ETHERNET_WORDS;
    default: return 0;
    }
}
static inline int is_flow(uint32_t kind) {
    return kind == SAMPLE_FLOW || kind == SAMPLE_FLOW_EXPANDED;
}
static inline uint32_t kind_of(uint32_t tag) {
    return (tag >= SAMPLE_FLOW && tag <= SAMPLE_COUNTERS_EXPANDED) ? tag : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The walk: one datagram, checked level by level.                                            */

typedef struct {
    int64_t hdr;      /* bytes of the datagram header */
    uint32_t nsamp;   /* samples */
} header_t;

/* Level 1: the datagram header; fills the per-datagram outputs (when given) */
static uint8_t check_header(const uint8_t *d, int64_t ln, header_t *h, uint32_t *agent,
                            uint8_t *agent_v6, uint32_t *sub_agent, uint32_t *sequence) {
    if (ln < 4) return TRUNCATED;
    if (be32(d) != SFLOW_VERSION) return VERSION;
    if (ln < 8) return TRUNCATED;
    uint32_t atype = be32(d + 4);
    if (atype != AGENT_IPV4 && atype != AGENT_IPV6) return AGENT;
    int64_t hdr = atype == AGENT_IPV6 ? 40 : 28;
    if (ln < hdr) return TRUNCATED;
    uint32_t nsamp = be32(d + hdr - 4);
    if ((int64_t)nsamp > (ln - hdr) / 8 || nsamp > MAX_SAMPLES) return IMPLAUSIBLE;
    h->hdr = hdr;
    h->nsamp = nsamp;
    if (agent) {
        agent[0] = be32(d + 8);
        for (int k = 1; k < 4; k++) agent[k] = atype == AGENT_IPV6 ? be32(d + 8 + 4 * k) : 0;
        *agent_v6 = atype == AGENT_IPV6;
        *sub_agent = be32(d + hdr - 16);
        *sequence = be32(d + hdr - 12);
    }
    return OK;
}

/* One entry of a framed list (a sample of a datagram, a record of a sample): its tag, where its
 * body starts and its length; *at moves past it. Only for lists whose framing was checked. */
typedef struct {
    uint32_t tag;
    int64_t body, len;
} entry_t;

static inline entry_t next_entry(const uint8_t *d, int64_t *at) {
    entry_t e = {be32(d + *at), *at + 8, be32(d + *at + 4)};
    *at = e.body + e.len;
    return e;
}

/* The record count of a known sample whose header was checked (level 3); *rp: its first record */
static inline uint32_t records_of(const uint8_t *d, const entry_t *s, uint32_t kind, int64_t *rp) {
    int64_t fixed = SAMPLE_FIXED[kind];
    *rp = s->body + fixed;
    return be32(d + s->body + fixed - 4);
}

/* Levels 2 to 5 of a datagram whose header is good */
static uint8_t check_body(const uint8_t *d, int64_t ln, const header_t *h) {
    /* 2. sample framing */
    int64_t cur = h->hdr;
    for (uint32_t k = 0; k < h->nsamp; k++) {
        if (cur + 8 > ln) return SAMPLE_OVERRUN;
        int64_t slen = be32(d + cur + 4);
        if (cur + 8 + slen > ln) return SAMPLE_OVERRUN;
        if (slen & 3) return UNALIGNED;
        cur += 8 + slen;
    }
    /* 3. known sample headers */
    cur = h->hdr;
    for (uint32_t k = 0; k < h->nsamp; k++) {
        entry_t s = next_entry(d, &cur);
        uint32_t kind = kind_of(s.tag);
        if (!kind) continue;
        int64_t fixed = SAMPLE_FIXED[kind];
        if (s.len < fixed) return SAMPLE_SHORT;
        int64_t nrec = be32(d + s.body + fixed - 4);
        if (nrec > (s.len - fixed) / 8 || nrec > MAX_RECORDS) return IMPLAUSIBLE;
    }
    /* 4. record framing inside known samples */
    cur = h->hdr;
    for (uint32_t k = 0; k < h->nsamp; k++) {
        entry_t s = next_entry(d, &cur);
        uint32_t kind = kind_of(s.tag);
        if (!kind) continue;
        int64_t rp, send = s.body + s.len;
        uint32_t nrec = records_of(d, &s, kind, &rp);
        for (uint32_t j = 0; j < nrec; j++) {
            if (rp + 8 > send) return RECORD_OVERRUN;
            int64_t rlen = be32(d + rp + 4);
            if (rp + 8 + rlen > send) return RECORD_OVERRUN;
            if (rlen & 3) return UNALIGNED;
            rp += 8 + rlen;
        }
    }
    /* 5. bodies of the records the decoder reads */
    cur = h->hdr;
    for (uint32_t k = 0; k < h->nsamp; k++) {
        entry_t s = next_entry(d, &cur);
        uint32_t kind = kind_of(s.tag);
        if (!kind) continue;
        int64_t rp;
        uint32_t nrec = records_of(d, &s, kind, &rp);
        int flow = is_flow(kind);
        for (uint32_t j = 0; j < nrec; j++) {
            entry_t r = next_entry(d, &rp);
            int64_t need = flow ? flow_record_min(r.tag) : counter_record_min(r.tag);
            if (r.len < need) return RECORD_SHORT;
            if (flow && r.tag == FLOW_RAW_HEADER && 16 + (int64_t)be32(d + r.body + 12) > r.len)
                return RECORD_SHORT;
        }
    }
    return OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Rows                                                                                       */

/* flow columns, in the order of FLOW_COLUMNS (flowlab/sflow/_fields.py FLOW_FIELDS) */
enum {
    F_DG, F_SAMPLE_SEQUENCE, F_SOURCE_ID, F_SAMPLING_RATE, F_IN_IF, F_OUT_IF, F_IP_VERSION,
    F_SRC4, F_DST4, F_SRC6, F_DST6, F_FRAME_LENGTH, F_PROTOCOL, F_SRC_PORT, F_DST_PORT,
    F_TCP_FLAGS, F_ICMP_TYPE, F_ICMP_CODE, F_TOS, F_TTL, F_ETHERTYPE, F_VLAN, F_SRC_MAC,
    F_DST_MAC, F_SUPPORTED, F_SAMPLED, F_COUNT
};
static const char *const FLOW_COLUMNS[F_COUNT] = {
    "dg", "sample_sequence", "source_id", "sampling_rate", "in_if", "out_if", "ip_version",
    "src4", "dst4", "src6", "dst6", "frame_length", "protocol", "src_port", "dst_port",
    "tcp_flags", "icmp_type", "icmp_code", "tos", "ttl", "ethertype", "vlan", "src_mac",
    "dst_mac", "supported", "sampled",
};
/* bytes of one row of each column (src6/dst6: four words) */
static const int FLOW_ITEM[F_COUNT] = {
    8, 4, 4, 4, 4, 4, 1, 4, 4, 16, 16, 4, 1, 2, 2, 2, 1, 1, 1, 1, 2, 2, 8, 8, 1, 1,
};

/* A bare flow row: a flow sample that gave no packet field (no raw header that reaches a MAC or
 * an ethertype, no sampled IPv4/IPv6 record): only its sample's own fields, written into these
 * narrow columns of their own (flowlab/sflow/_columns.py BARE_FIELDS, PACKET_FIELDS) */
enum { B_DG, B_SAMPLE_SEQUENCE, B_SOURCE_ID, B_SAMPLING_RATE, B_IN_IF, B_OUT_IF, B_FRAME_LENGTH,
       B_VLAN, B_SUPPORTED, B_COUNT };
static const int BARE_FIELD[B_COUNT] = {
    F_DG, F_SAMPLE_SEQUENCE, F_SOURCE_ID, F_SAMPLING_RATE, F_IN_IF, F_OUT_IF, F_FRAME_LENGTH,
    F_VLAN, F_SUPPORTED,
};
/* the bare columns that may lack a value (each has a validity column, in this order) */
enum { BV_FRAME_LENGTH, BV_VLAN, BV_SUPPORTED, BV_COUNT };
static const int BARE_OPTIONAL[BV_COUNT] = {F_FRAME_LENGTH, F_VLAN, F_SUPPORTED};
/* the fields only a packet gives: a row with none of them is bare */
#define PACKET_MASK                                                                            \
    ((1u << F_IP_VERSION) | (1u << F_SRC4) | (1u << F_DST4) | (1u << F_SRC6) | (1u << F_DST6) | \
     (1u << F_PROTOCOL) | (1u << F_SRC_PORT) | (1u << F_DST_PORT) | (1u << F_TCP_FLAGS) |       \
     (1u << F_ICMP_TYPE) | (1u << F_ICMP_CODE) | (1u << F_TOS) | (1u << F_TTL) |                \
     (1u << F_ETHERTYPE) | (1u << F_SRC_MAC) | (1u << F_DST_MAC) | (1u << F_SAMPLED))

typedef struct {
    int64_t dg;
    uint32_t sample_sequence, source_id, sampling_rate, in_if, out_if;
    uint32_t src4, dst4, src6[4], dst6[4], frame_length;
    uint64_t src_mac, dst_mac;
    uint16_t src_port, dst_port, tcp_flags, ethertype, vlan;
    uint8_t ip_version, protocol, icmp_type, icmp_code, tos, ttl, supported, sampled;
    uint32_t valid; /* bit F_x: the value is real */
} flow_row;

#define SET(r, f) ((r)->valid |= 1u << (f))
#define HAS(r, f) (((r)->valid >> (f)) & 1u)

static inline int has_ports(uint32_t proto) {
    return proto == 6 || proto == 17 || proto == 33 || proto == 132 || proto == 136;
}
static inline int is_ipv6_ext(uint32_t nh) {
    return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60;
}
static inline int is_tpid(uint32_t et) { return et == 0x8100 || et == 0x88A8 || et == 0x9100; }

/* The fields of a sampled packet header h[0:hlen) (flowlab/sflow/_headers.py _general) */
static void parse_header(flow_row *r, const uint8_t *h, int64_t hlen, uint32_t hp) {
#define FITS(rel, size) ((int64_t)(rel) + (size) <= hlen)
    int eth = hp == HEADER_ETHERNET;
    if (eth && FITS(0, 6)) { r->dst_mac = mac48(h); SET(r, F_DST_MAC); }
    if (eth && FITS(0, 12)) { r->src_mac = mac48(h + 6); SET(r, F_SRC_MAC); }
    int et_ok = eth && FITS(0, 14);
    uint32_t et = et_ok ? be16(h + 12) : 0;
    int64_t l3 = eth ? 14 : 0;
    int seen = 0;
    uint16_t vlan = 0;
    for (int i = 0; i < 3 && et_ok && is_tpid(et) && FITS(l3, 4); i++) {
        if (!seen) vlan = be16(h + l3) & 0x0FFF;
        seen = 1;
        et = be16(h + l3 + 2);
        l3 += 4;
    }
    if (seen && vlan) { r->vlan = vlan; SET(r, F_VLAN); }
    int b0_ok = FITS(l3, 1);
    uint32_t b0 = b0_ok ? h[l3] : 0;
    int v4 = ((eth && et_ok && et == 0x0800) || hp == HEADER_IPV4) && b0_ok && (b0 >> 4) == 4;
    int v6 = ((eth && et_ok && et == 0x86DD) || hp == HEADER_IPV6) && b0_ok && (b0 >> 4) == 6;
    if (v4 || v6) { r->ip_version = v4 ? 4 : 6; SET(r, F_IP_VERSION); }
    if (et_ok || v4 || v6) {
        r->ethertype = hp == HEADER_IPV4 ? 0x0800 : hp == HEADER_IPV6 ? 0x86DD : (uint16_t)et;
        SET(r, F_ETHERTYPE);
    }
    if (!v4 && !v6) return;
    const uint8_t *ip = h + l3;
    uint32_t protocol = 0;
    int64_t l4 = 0;
    int l4_ok = 0;
    if (FITS(l3, 2)) {
        r->tos = v4 ? ip[1] : (uint8_t)(be16(ip) >> 4);
        SET(r, F_TOS);
    }
    if (v4) {
        int64_t ihl = (int64_t)(b0 & 0x0F) * 4;
        if (FITS(l3, 9)) { r->ttl = ip[8]; SET(r, F_TTL); }
        if (FITS(l3, 10)) { protocol = ip[9]; r->protocol = ip[9]; SET(r, F_PROTOCOL); }
        if (FITS(l3, 16)) { r->src4 = be32(ip + 12); SET(r, F_SRC4); }
        if (FITS(l3, 20)) { r->dst4 = be32(ip + 16); SET(r, F_DST4); }
        l4_ok = ihl >= 20 && FITS(l3, 10) && (be16(ip + 6) & 0x1FFF) == 0;
        l4 = l3 + ihl;
    } else {
        if (FITS(l3, 8)) { r->ttl = ip[7]; SET(r, F_TTL); }
        if (FITS(l3, 24)) {
            for (int k = 0; k < 4; k++) r->src6[k] = be32(ip + 8 + 4 * k);
            SET(r, F_SRC6);
        }
        if (FITS(l3, 40)) {
            for (int k = 0; k < 4; k++) r->dst6[k] = be32(ip + 24 + 4 * k);
            SET(r, F_DST6);
        }
        int chain = FITS(l3, 7);
        uint32_t nh = chain ? ip[6] : 0;
        int64_t cur = l3 + 40;
        for (int i = 0; i < 8 && chain && is_ipv6_ext(nh); i++) {
            if (!FITS(cur, 2)) { chain = 0; break; }
            uint32_t next = h[cur], elen = h[cur + 1];
            int64_t size = nh == 44 ? 8 : nh == 51 ? ((int64_t)elen + 2) * 4 : ((int64_t)elen + 1) * 8;
            if (nh == 44 && (!FITS(cur, 4) || (be16(h + cur + 2) >> 3) != 0)) chain = 0;
            nh = next;
            cur += size;
        }
        if (is_ipv6_ext(nh)) chain = 0;
        if (FITS(l3, 7)) { protocol = nh; r->protocol = (uint8_t)nh; SET(r, F_PROTOCOL); }
        l4_ok = chain;
        l4 = cur;
    }
    if (!l4_ok) return;
    const uint8_t *t = h + l4;
    if (has_ports(protocol)) {
        if (FITS(l4, 2)) { r->src_port = be16(t); SET(r, F_SRC_PORT); }
        if (FITS(l4, 4)) { r->dst_port = be16(t + 2); SET(r, F_DST_PORT); }
    }
    if (protocol == 6 && FITS(l4, 14)) {
        r->tcp_flags = (uint16_t)(((t[12] & 1) << 8) | t[13]);
        SET(r, F_TCP_FLAGS);
    }
    if (protocol == 1 || protocol == 58) {
        if (FITS(l4, 1)) { r->icmp_type = t[0]; SET(r, F_ICMP_TYPE); }
        if (FITS(l4, 2)) { r->icmp_code = t[1]; SET(r, F_ICMP_CODE); }
    }
#undef FITS
}

/* A sampled IPv4 (version 4) or IPv6 (6) record fills a row whose header gave no IP */
static void fill_sampled(flow_row *r, const uint8_t *b, int version) {
    int words = version == 4 ? 8 : 14;
    uint32_t proto = be32(b + 4);
    r->ip_version = (uint8_t)version;
    SET(r, F_IP_VERSION);
    if (version == 4) {
        r->src4 = be32(b + 8);
        r->dst4 = be32(b + 12);
        SET(r, F_SRC4);
        SET(r, F_DST4);
    } else {
        for (int k = 0; k < 4; k++) {
            r->src6[k] = be32(b + 8 + 4 * k);
            r->dst6[k] = be32(b + 24 + 4 * k);
        }
        SET(r, F_SRC6);
        SET(r, F_DST6);
    }
    const uint8_t *tail = b + 4 * (words - 4);
    uint32_t sport = be32(tail), dport = be32(tail + 4), flags = be32(tail + 8);
    uint32_t tos = be32(tail + 12);
    int ports = has_ports(proto), icmp = proto == 1 || proto == 58;
    const uint32_t clear = (1u << F_PROTOCOL) | (1u << F_SRC_PORT) | (1u << F_DST_PORT) |
                           (1u << F_TCP_FLAGS) | (1u << F_ICMP_TYPE) | (1u << F_ICMP_CODE) |
                           (1u << F_TOS) | (1u << F_TTL);
    r->valid &= ~clear;
    r->protocol = r->src_port = r->dst_port = r->tcp_flags = 0;
    r->icmp_type = r->icmp_code = r->tos = r->ttl = 0;
    if (proto <= 0xFF) { r->protocol = (uint8_t)proto; SET(r, F_PROTOCOL); }
    if (ports && sport <= 0xFFFF) { r->src_port = (uint16_t)sport; SET(r, F_SRC_PORT); }
    if (ports && dport <= 0xFFFF) { r->dst_port = (uint16_t)dport; SET(r, F_DST_PORT); }
    if (proto == 6 && flags <= 0x1FF) { r->tcp_flags = (uint16_t)flags; SET(r, F_TCP_FLAGS); }
    if (icmp && sport <= 0xFF) { r->icmp_type = (uint8_t)sport; SET(r, F_ICMP_TYPE); }
    if (icmp && dport <= 0xFF) { r->icmp_code = (uint8_t)dport; SET(r, F_ICMP_CODE); }
    if (tos <= 0xFF) { r->tos = (uint8_t)tos; SET(r, F_TOS); }
    if (!HAS(r, F_ETHERTYPE)) { r->ethertype = version == 4 ? 0x0800 : 0x86DD; SET(r, F_ETHERTYPE); }
    if (!HAS(r, F_FRAME_LENGTH)) { r->frame_length = be32(b); SET(r, F_FRAME_LENGTH); }
}

static inline uint32_t interface(uint32_t fmt, uint32_t value) {
    return fmt == 0 ? value : ((fmt & 3) << 30) | (value & 0x3FFFFFFF);
}

/* The row of flow sample body s (kind given) whose records start at rp */
static void flow_sample_row(flow_row *r, const uint8_t *d, int64_t spos, uint32_t kind,
                            const int64_t at[4]) {
    const uint8_t *s = d + spos;
    memset(r, 0, sizeof *r);
    r->sample_sequence = be32(s);
    if (kind == SAMPLE_FLOW) {
        r->source_id = be32(s + 4) & 0xFFFFFF;
        r->sampling_rate = be32(s + 8);
        r->in_if = be32(s + 20);
        r->out_if = be32(s + 24);
    } else {
        r->source_id = be32(s + 8);
        r->sampling_rate = be32(s + 12);
        r->in_if = interface(be32(s + 24), be32(s + 28));
        r->out_if = interface(be32(s + 32), be32(s + 36));
    }
    r->valid = (1u << F_DG) | (1u << F_SAMPLE_SEQUENCE) | (1u << F_SOURCE_ID) |
               (1u << F_SAMPLING_RATE) | (1u << F_IN_IF) | (1u << F_OUT_IF);
    if (at[0] >= 0) { /* raw header */
        const uint8_t *b = d + at[0];
        uint32_t hp = be32(b);
        r->frame_length = be32(b + 4);
        SET(r, F_FRAME_LENGTH);
        r->supported = hp == HEADER_ETHERNET || hp == HEADER_IPV4 || hp == HEADER_IPV6;
        SET(r, F_SUPPORTED);
        parse_header(r, b + 16, (int64_t)be32(b + 12), hp);
    }
    if (at[1] >= 0) { /* sampled IPv4 */
        r->sampled = 1;
        SET(r, F_SAMPLED);
        if (r->ip_version == 0) fill_sampled(r, d + at[1], 4);
    }
    if (at[2] >= 0) { /* sampled IPv6 */
        r->sampled = 1;
        SET(r, F_SAMPLED);
        if (r->ip_version == 0) fill_sampled(r, d + at[2], 6);
    }
    if (at[3] >= 0) { /* extended switch: the VLAN when the header carried none */
        uint32_t vid = be32(d + at[3]);
        if (!HAS(r, F_VLAN) && vid > 0 && vid < 4096) { r->vlan = (uint16_t)vid; SET(r, F_VLAN); }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The batch                                                                                  */

typedef struct {
    int64_t flows, bare, counters, unknown, skipped;
    int64_t kinds[5];
} totals_t;

typedef struct {
    char *values[F_COUNT];
    uint8_t *valid[F_COUNT];
    char *bare[B_COUNT];
    uint8_t *bare_valid[BV_COUNT];
    int64_t *c_dg;
    uint32_t *c_seq, *c_sid, *c_gen, *c_eth;
    uint8_t *c_has_gen, *c_has_eth;
    uint32_t *unknown, *skipped;
    Py_ssize_t cap_flows, cap_bare, cap_counters, cap_unknown, cap_skipped; /* rows each holds */
} outputs_t;

static void put_flow(outputs_t *o, int64_t i, const flow_row *r) {
#define PUT(f, field) memcpy(o->values[f] + (size_t)i * sizeof(r->field), &r->field, sizeof(r->field))
    PUT(F_DG, dg);
    PUT(F_SAMPLE_SEQUENCE, sample_sequence);
    PUT(F_SOURCE_ID, source_id);
    PUT(F_SAMPLING_RATE, sampling_rate);
    PUT(F_IN_IF, in_if);
    PUT(F_OUT_IF, out_if);
    PUT(F_IP_VERSION, ip_version);
    PUT(F_SRC4, src4);
    PUT(F_DST4, dst4);
    if (HAS(r, F_SRC6)) PUT(F_SRC6, src6); /* (IPv4 rows leave these pages untouched) */
    if (HAS(r, F_DST6)) PUT(F_DST6, dst6);
    PUT(F_FRAME_LENGTH, frame_length);
    PUT(F_PROTOCOL, protocol);
    PUT(F_SRC_PORT, src_port);
    PUT(F_DST_PORT, dst_port);
    PUT(F_TCP_FLAGS, tcp_flags);
    PUT(F_ICMP_TYPE, icmp_type);
    PUT(F_ICMP_CODE, icmp_code);
    PUT(F_TOS, tos);
    PUT(F_TTL, ttl);
    PUT(F_ETHERTYPE, ethertype);
    PUT(F_VLAN, vlan);
    PUT(F_SRC_MAC, src_mac);
    PUT(F_DST_MAC, dst_mac);
    PUT(F_SUPPORTED, supported);
    PUT(F_SAMPLED, sampled);
#undef PUT
    for (int f = 0; f < F_COUNT; f++) o->valid[f][i] = (uint8_t)HAS(r, f);
}

static void put_bare(outputs_t *o, int64_t i, const flow_row *r) {
#define PUT(b, field) memcpy(o->bare[b] + (size_t)i * sizeof(r->field), &r->field, sizeof(r->field))
    PUT(B_DG, dg);
    PUT(B_SAMPLE_SEQUENCE, sample_sequence);
    PUT(B_SOURCE_ID, source_id);
    PUT(B_SAMPLING_RATE, sampling_rate);
    PUT(B_IN_IF, in_if);
    PUT(B_OUT_IF, out_if);
    PUT(B_FRAME_LENGTH, frame_length);
    PUT(B_VLAN, vlan);
    PUT(B_SUPPORTED, supported);
#undef PUT
    for (int v = 0; v < BV_COUNT; v++) o->bare_valid[v][i] = (uint8_t)HAS(r, BARE_OPTIONAL[v]);
}

/* Rows of an accepted datagram: counts them (o NULL) or writes them at t's positions */
static void rows_of(const uint8_t *d, const header_t *h, int64_t dg, totals_t *t, outputs_t *o) {
    int64_t cur = h->hdr;
    for (uint32_t k = 0; k < h->nsamp; k++) {
        entry_t sample = next_entry(d, &cur);
        int64_t spos = sample.body;
        uint32_t kind = kind_of(sample.tag);
        t->kinds[kind]++;
        if (!kind) {
            if (o) o->unknown[t->unknown] = sample.tag;
            t->unknown++;
            continue;
        }
        int64_t rp;
        uint32_t nrec = records_of(d, &sample, kind, &rp);
        int flow = is_flow(kind);
        int64_t at[4] = {-1, -1, -1, -1}; /* first raw header, IPv4, IPv6, switch | generic, ethernet */
        for (uint32_t j = 0; j < nrec; j++) {
            entry_t rec = next_entry(d, &rp);
            uint32_t rtag = rec.tag;
            int slot = -1;
            if (flow) {
                slot = rtag == FLOW_RAW_HEADER ? 0 : rtag == FLOW_SAMPLED_IPV4 ? 1
                     : rtag == FLOW_SAMPLED_IPV6 ? 2 : rtag == FLOW_EXTENDED_SWITCH ? 3 : -1;
            } else {
                slot = rtag == COUNTERS_GENERIC_IF ? 0 : rtag == COUNTERS_ETHERNET ? 1 : -1;
            }
            if (slot >= 0 && at[slot] < 0) {
                at[slot] = rec.body;
            } else {
                if (o) o->skipped[t->skipped] = rtag;
                t->skipped++;
            }
        }
        if (flow) {
            flow_row r;
            flow_sample_row(&r, d, spos, kind, at);
            r.dg = dg;
            if (r.valid & PACKET_MASK) {
                if (o) put_flow(o, t->flows, &r);
                t->flows++;
            } else {
                if (o) put_bare(o, t->bare, &r);
                t->bare++;
            }
        } else if (at[0] >= 0 || at[1] >= 0) {
            if (o) {
                int64_t i = t->counters;
                const uint8_t *s = d + spos;
                o->c_dg[i] = dg;
                o->c_seq[i] = be32(s);
                o->c_sid[i] = kind == SAMPLE_COUNTERS ? be32(s + 4) & 0xFFFFFF : be32(s + 8);
                o->c_has_gen[i] = at[0] >= 0;
                o->c_has_eth[i] = at[1] >= 0;
                for (int w = 0; w < GENERIC_WORDS; w++)
                    o->c_gen[i * GENERIC_WORDS + w] = at[0] >= 0 ? be32(d + at[0] + 4 * w) : 0;
                for (int w = 0; w < ETHERNET_WORDS; w++)
                    o->c_eth[i * ETHERNET_WORDS + w] = at[1] >= 0 ? be32(d + at[1] + 4 * w) : 0;
            }
            t->counters++;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Python bindings                                                                            */

/* Room left in the outputs for a datagram's rows: 1 if they surely fit */
static int fits_rows(const totals_t *t, const outputs_t *o, const uint8_t *d, const header_t *h,
                     int64_t dg) {
    int64_t n = h->nsamp;
    if (t->flows + n <= o->cap_flows && t->bare + n <= o->cap_bare && t->counters + n <= o->cap_counters &&
        t->unknown + n <= o->cap_unknown && t->skipped + n * MAX_RECORDS <= o->cap_skipped)
        return 1;
    totals_t need = *t; /* near the end of the room: count exactly */
    rows_of(d, h, dg, &need, NULL);
    return need.flows <= o->cap_flows && need.bare <= o->cap_bare && need.counters <= o->cap_counters &&
           need.unknown <= o->cap_unknown && need.skipped <= o->cap_skipped;
}

/* sflow_decode(data, offsets, lengths, reason, header_ok, agent, agent_v6, sub_agent, sequence,
 *              flow_values, flow_valid, bare_values, bare_valid, counters, unknown, skipped)
 * -> (flows, bare flows, counters, unknown samples, skipped records, (samples of kind 0..4))
 *
 * Checks every datagram (reason 0 = accepted) and writes the rows of the accepted ones, each
 * datagram in one go while its bytes are in cache. flow_values and flow_valid are sequences of
 * FLOW_COLUMNS buffers; bare_values (the BARE_FIELD columns) and bare_valid (BARE_OPTIONAL's)
 * get the bare flow rows; counters is (dg, sample_sequence, source_id, generic words, has generic,
 * ethernet words, has ethernet); unknown and skipped get the tags of unknown samples and skipped
 * records. Their room is given by their sizes: when the rows would not fit, it walks on
 * counting them and returns (flows, bare flows, counters, unknown samples, skipped records) needed, having
 * written no row the caller keeps (it tries again with that much room). */
PyObject *flowlab_sflow_decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 16, "sflow_decode")) return NULL;
    flowlab_buffers b = {.n = 0};
    PyObject *result = NULL, *values = NULL, *valid = NULL, *bare = NULL, *bare_valid = NULL;
    PyObject *counters = NULL;
    outputs_t o;
    memset(&o, 0, sizeof o);
    const uint8_t *data;
    const int64_t *off, *len;
    int64_t size, n;
    if (!flowlab_spans(&b, args, &data, &size, &off, &len, &n)) goto done;
    uint8_t *reason = flowlab_acquire(&b, args[3], n, 1, "reason");
    uint8_t *header_ok = reason ? flowlab_acquire(&b, args[4], n, 1, "header_ok") : NULL;
    uint32_t *agent = header_ok ? flowlab_acquire(&b, args[5], n * 16, 1, "agent") : NULL;
    uint8_t *agent_v6 = agent ? flowlab_acquire(&b, args[6], n, 1, "agent_v6") : NULL;
    uint32_t *sub_agent = agent_v6 ? flowlab_acquire(&b, args[7], n * 4, 1, "sub_agent") : NULL;
    uint32_t *sequence = sub_agent ? flowlab_acquire(&b, args[8], n * 4, 1, "sequence") : NULL;
    if (!sequence) goto done;
    values = PySequence_Fast(args[9], "flow_values must be a sequence");
    valid = values ? PySequence_Fast(args[10], "flow_valid must be a sequence") : NULL;
    bare = valid ? PySequence_Fast(args[11], "bare_values must be a sequence") : NULL;
    bare_valid = bare ? PySequence_Fast(args[12], "bare_valid must be a sequence") : NULL;
    counters = bare_valid ? PySequence_Fast(args[13], "counters must be a sequence") : NULL;
    if (!counters) goto done;
    if (PySequence_Fast_GET_SIZE(values) != F_COUNT || PySequence_Fast_GET_SIZE(valid) != F_COUNT ||
        PySequence_Fast_GET_SIZE(bare) != B_COUNT || PySequence_Fast_GET_SIZE(bare_valid) != BV_COUNT ||
        PySequence_Fast_GET_SIZE(counters) != 7) {
        PyErr_SetString(PyExc_ValueError, "sflow_decode: wrong number of columns");
        goto done;
    }
    o.cap_flows = PY_SSIZE_T_MAX;
    for (int f = 0; f < F_COUNT; f++) {
        if (!(o.values[f] = flowlab_acquire(&b, PySequence_Fast_GET_ITEM(values, f), 0, 1, FLOW_COLUMNS[f])))
            goto done;
        Py_ssize_t rows = b.views[b.n - 1].len / FLOW_ITEM[f];
        if (!(o.valid[f] = flowlab_acquire(&b, PySequence_Fast_GET_ITEM(valid, f), 0, 1, FLOW_COLUMNS[f])))
            goto done;
        if (b.views[b.n - 1].len < rows) rows = b.views[b.n - 1].len;
        if (rows < o.cap_flows) o.cap_flows = rows;
    }
    o.cap_bare = PY_SSIZE_T_MAX;
    for (int k = 0; k < B_COUNT; k++) {
        int f = BARE_FIELD[k];
        if (!(o.bare[k] = flowlab_acquire(&b, PySequence_Fast_GET_ITEM(bare, k), 0, 1, FLOW_COLUMNS[f])))
            goto done;
        Py_ssize_t rows = b.views[b.n - 1].len / FLOW_ITEM[f];
        if (rows < o.cap_bare) o.cap_bare = rows;
    }
    for (int k = 0; k < BV_COUNT; k++) {
        const char *name = FLOW_COLUMNS[BARE_OPTIONAL[k]];
        if (!(o.bare_valid[k] = flowlab_acquire(&b, PySequence_Fast_GET_ITEM(bare_valid, k), 0, 1, name)))
            goto done;
        if (b.views[b.n - 1].len < o.cap_bare) o.cap_bare = b.views[b.n - 1].len;
    }
    PyObject **c = PySequence_Fast_ITEMS(counters);
    if (!(o.c_dg = flowlab_acquire(&b, c[0], 0, 1, "counter dg"))) goto done;
    o.cap_counters = b.views[b.n - 1].len / 8;
    if (!(o.c_seq = flowlab_acquire(&b, c[1], o.cap_counters * 4, 1, "counter sequence")) ||
        !(o.c_sid = flowlab_acquire(&b, c[2], o.cap_counters * 4, 1, "counter source_id")) ||
        !(o.c_gen = flowlab_acquire(&b, c[3], o.cap_counters * 4 * GENERIC_WORDS, 1, "generic counters")) ||
        !(o.c_has_gen = flowlab_acquire(&b, c[4], o.cap_counters, 1, "has generic")) ||
        !(o.c_eth = flowlab_acquire(&b, c[5], o.cap_counters * 4 * ETHERNET_WORDS, 1, "ethernet counters")) ||
        !(o.c_has_eth = flowlab_acquire(&b, c[6], o.cap_counters, 1, "has ethernet")) ||
        !(o.unknown = flowlab_acquire(&b, args[14], 0, 1, "unknown")))
        goto done;
    o.cap_unknown = b.views[b.n - 1].len / 4;
    if (!(o.skipped = flowlab_acquire(&b, args[15], 0, 1, "skipped"))) goto done;
    o.cap_skipped = b.views[b.n - 1].len / 4;
    totals_t t;
    memset(&t, 0, sizeof t);
    int full = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        header_t h;
        uint8_t why;
        memset(agent + 4 * i, 0, 16);
        agent_v6[i] = 0;
        sub_agent[i] = sequence[i] = 0;
        header_ok[i] = 0;
        if (off[i] < 0 || len[i] < 0 || off[i] > size || len[i] > size - off[i]) {
            why = OUTSIDE;
        } else {
            const uint8_t *d = data + off[i];
            why = check_header(d, len[i], &h, agent + 4 * i, agent_v6 + i, sub_agent + i,
                               sequence + i);
            header_ok[i] = why == OK;
            if (why == OK) why = check_body(d, len[i], &h);
            if (why == OK) {
                if (!full && !fits_rows(&t, &o, d, &h, i)) full = 1;
                rows_of(d, &h, i, &t, full ? NULL : &o); /* past the room: counts only */
            }
        }
        reason[i] = why;
    }
    Py_END_ALLOW_THREADS
    if (full) { /* the caller tries again with room for these */
        result = Py_BuildValue("(LLLLL)", (long long)t.flows, (long long)t.bare,
                               (long long)t.counters, (long long)t.unknown, (long long)t.skipped);
        goto done;
    }
    result = Py_BuildValue("(LLLLL(LLLLL))", (long long)t.flows, (long long)t.bare,
                           (long long)t.counters,
                           (long long)t.unknown, (long long)t.skipped, (long long)t.kinds[0],
                           (long long)t.kinds[1], (long long)t.kinds[2], (long long)t.kinds[3],
                           (long long)t.kinds[4]);
done:
    Py_XDECREF(values);
    Py_XDECREF(valid);
    Py_XDECREF(bare);
    Py_XDECREF(bare_valid);
    Py_XDECREF(counters);
    flowlab_release(&b);
    return result;
}

/* The names of columns f[0..n) as a tuple */
static PyObject *names_of(const int *f, int n) {
    PyObject *out = PyTuple_New(n);
    for (int k = 0; out && k < n; k++) {
        PyObject *name = PyUnicode_FromString(FLOW_COLUMNS[f[k]]);
        if (!name) {
            Py_CLEAR(out);
            break;
        }
        PyTuple_SET_ITEM(out, k, name);
    }
    return out;
}

/* (FLOW_COLUMNS as (name, bytes per row), the bare columns, those of them with a validity
 * column, the packet fields: PACKET_MASK's) */
PyObject *flowlab_sflow_columns(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    int packet[F_COUNT], np = 0;
    for (int f = 0; f < F_COUNT; f++)
        if ((PACKET_MASK >> f) & 1u) packet[np++] = f;
    PyObject *layout = PyTuple_New(F_COUNT);
    for (int f = 0; layout && f < F_COUNT; f++) {
        PyObject *item = Py_BuildValue("(si)", FLOW_COLUMNS[f], FLOW_ITEM[f]);
        if (!item) {
            Py_CLEAR(layout);
            break;
        }
        PyTuple_SET_ITEM(layout, f, item);
    }
    if (!layout) return NULL;
    return Py_BuildValue("(NNNN)", layout, names_of(BARE_FIELD, B_COUNT),
                         names_of(BARE_OPTIONAL, BV_COUNT), names_of(packet, np));
}

/* The numbers this file names, for the test that checks them against flowlab.sflow._spec */
PyObject *flowlab_sflow_spec(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return Py_BuildValue(
        "{si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si,si}",
        "SFLOW_VERSION", SFLOW_VERSION, "AGENT_ADDRESS_IPV4", AGENT_IPV4, "AGENT_ADDRESS_IPV6",
        AGENT_IPV6, "SAMPLE_FLOW", SAMPLE_FLOW, "SAMPLE_COUNTERS", SAMPLE_COUNTERS,
        "SAMPLE_FLOW_EXPANDED", SAMPLE_FLOW_EXPANDED, "SAMPLE_COUNTERS_EXPANDED",
        SAMPLE_COUNTERS_EXPANDED, "FLOW_RAW_HEADER", FLOW_RAW_HEADER, "FLOW_SAMPLED_IPV4",
        FLOW_SAMPLED_IPV4, "FLOW_SAMPLED_IPV6", FLOW_SAMPLED_IPV6, "FLOW_EXTENDED_SWITCH",
        FLOW_EXTENDED_SWITCH, "COUNTERS_GENERIC_IF", COUNTERS_GENERIC_IF, "COUNTERS_ETHERNET",
        COUNTERS_ETHERNET, "HEADER_PROTOCOL_ETHERNET", HEADER_ETHERNET, "HEADER_PROTOCOL_IPV4",
        HEADER_IPV4, "HEADER_PROTOCOL_IPV6", HEADER_IPV6, "GENERIC_WORDS", GENERIC_WORDS,
        "ETHERNET_WORDS", ETHERNET_WORDS, "MAX_SAMPLES", MAX_SAMPLES, "MAX_RECORDS", MAX_RECORDS,
        "REASONS", RECORD_SHORT + 1, "FLOW_RAW_HEADER_LENGTH", (int)flow_record_min(FLOW_RAW_HEADER),
        "FLOW_SAMPLED_IPV4_LENGTH", (int)flow_record_min(FLOW_SAMPLED_IPV4),
        "FLOW_SAMPLED_IPV6_LENGTH", (int)flow_record_min(FLOW_SAMPLED_IPV6),
        "FLOW_EXTENDED_SWITCH_LENGTH", (int)flow_record_min(FLOW_EXTENDED_SWITCH));
}
