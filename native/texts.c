/* Canonical texts of addresses (flowlab/decoding/addresses.py, which writes the same in Python):
 * IPv4 as a dotted quad, a 48-bit MAC in lower-case colon form, IPv6 as Python's ipaddress writes
 * it (RFC 5952: lower-case hextets without leading zeros, the longest run of two or more zero
 * hextets as "::", the first of equal runs; an IPv4-mapped address in the form the running
 * Python uses, which changed between versions). A batch of spoofed sources has as many
 * distinct addresses as rows: each is written here in a few nanoseconds, not formatted as a
 * Python string first. */
#include "flowlab_native.h"

#include <string.h>

static const char HEX[] = "0123456789abcdef";

/* v in decimal, no leading zeros (0-255) */
static inline char *put_byte(char *p, unsigned v) {
    if (v >= 100) {
        *p++ = (char)('0' + v / 100);
        v %= 100;
        *p++ = (char)('0' + v / 10);
    } else if (v >= 10) {
        *p++ = (char)('0' + v / 10);
    }
    *p++ = (char)('0' + v % 10);
    return p;
}

int flowlab_text_ipv4(uint32_t a, char *out) {
    char *p = out;
    for (int shift = 24; shift >= 0; shift -= 8) {
        p = put_byte(p, (a >> shift) & 0xFFu);
        if (shift) *p++ = '.';
    }
    return (int)(p - out);
}

int flowlab_text_mac(uint64_t m, char *out) {
    char *p = out;
    for (int shift = 40; shift >= 0; shift -= 8) {
        unsigned b = (unsigned)(m >> shift) & 0xFFu;
        *p++ = HEX[b >> 4];
        *p++ = HEX[b & 15];
        if (shift) *p++ = ':';
    }
    return (int)(p - out);
}

static inline char *put_hextet(char *p, unsigned h) {
    int started = 0;
    for (int shift = 12; shift >= 0; shift -= 4) {
        unsigned nibble = (h >> shift) & 15u;
        if (nibble || started || shift == 0) {
            *p++ = HEX[nibble];
            started = 1;
        }
    }
    return p;
}

int flowlab_text_ipv6(const uint32_t words[4], int mapped_dotted, char *out) {
    char *p = out;
    if (mapped_dotted && words[0] == 0 && words[1] == 0 && words[2] == 0xFFFFu) {
        memcpy(p, "::ffff:", 7);
        return 7 + flowlab_text_ipv4(words[3], p + 7);
    }
    unsigned h[8];
    for (int k = 0; k < 4; k++) {
        h[2 * k] = words[k] >> 16;
        h[2 * k + 1] = words[k] & 0xFFFFu;
    }
    int best = -1, best_len = 0, run = 0;
    for (int i = 0; i < 8; i++) {
        run = h[i] ? 0 : run + 1;
        if (run > best_len) { /* strictly longer: the first of equal runs wins */
            best_len = run;
            best = i - run + 1;
        }
    }
    if (best_len < 2) best = -1;
    for (int i = 0; i < 8;) {
        if (i == best) {
            *p++ = ':';
            *p++ = ':';
            i += best_len;
            continue;
        }
        if (i > 0 && i != best + best_len) *p++ = ':';
        p = put_hextet(p, h[i]);
        i++;
    }
    return (int)(p - out);
}
