/* Canonical texts of addresses (flowlab/decoding/addresses.py, which writes the same in Python):
 * IPv4 as a dotted quad, a 48-bit MAC in lower-case colon form. A batch of spoofed sources has as
 * many distinct addresses as rows: each is written here in a few nanoseconds, not formatted as a
 * Python string first. */
#include "flowlab_native.h"

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
