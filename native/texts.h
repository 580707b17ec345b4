/* Canonical texts of addresses (flowlab/decoding/addresses.py, which writes the same in Python):
 * IPv4 as a dotted quad, a 48-bit MAC in lower-case colon form, IPv6 as Python's ipaddress writes
 * it (RFC 5952: lower-case hextets without leading zeros, the longest run of two or more zero
 * hextets as "::", the first of equal runs; an IPv4-mapped address in the form the running
 * Python uses, which changed between versions). A batch of spoofed sources has as many
 * distinct addresses as rows: each is written here in a few nanoseconds, not formatted as a
 * Python string first. Header-only: the column writers (arrow.c) inline them. */
#ifndef FLOWLAB_TEXTS_H
#define FLOWLAB_TEXTS_H
#include <stdint.h>
#include <string.h>

static const char HEX[] = "0123456789abcdef";

/* Each byte value's decimal text and a dot, as the 4 bytes stored in memory on a little-endian
 * machine (zeros after the dot): one load and one 4-byte move a byte of a dotted quad. Made by
 * int.from_bytes(f"{v}.".encode().ljust(4, b"\0"), "little") for v in range(256). */
static const uint32_t DOTTED[256] = {
    0x00002E30, 0x00002E31, 0x00002E32, 0x00002E33, 0x00002E34, 0x00002E35, 0x00002E36, 0x00002E37,
    0x00002E38, 0x00002E39, 0x002E3031, 0x002E3131, 0x002E3231, 0x002E3331, 0x002E3431, 0x002E3531,
    0x002E3631, 0x002E3731, 0x002E3831, 0x002E3931, 0x002E3032, 0x002E3132, 0x002E3232, 0x002E3332,
    0x002E3432, 0x002E3532, 0x002E3632, 0x002E3732, 0x002E3832, 0x002E3932, 0x002E3033, 0x002E3133,
    0x002E3233, 0x002E3333, 0x002E3433, 0x002E3533, 0x002E3633, 0x002E3733, 0x002E3833, 0x002E3933,
    0x002E3034, 0x002E3134, 0x002E3234, 0x002E3334, 0x002E3434, 0x002E3534, 0x002E3634, 0x002E3734,
    0x002E3834, 0x002E3934, 0x002E3035, 0x002E3135, 0x002E3235, 0x002E3335, 0x002E3435, 0x002E3535,
    0x002E3635, 0x002E3735, 0x002E3835, 0x002E3935, 0x002E3036, 0x002E3136, 0x002E3236, 0x002E3336,
    0x002E3436, 0x002E3536, 0x002E3636, 0x002E3736, 0x002E3836, 0x002E3936, 0x002E3037, 0x002E3137,
    0x002E3237, 0x002E3337, 0x002E3437, 0x002E3537, 0x002E3637, 0x002E3737, 0x002E3837, 0x002E3937,
    0x002E3038, 0x002E3138, 0x002E3238, 0x002E3338, 0x002E3438, 0x002E3538, 0x002E3638, 0x002E3738,
    0x002E3838, 0x002E3938, 0x002E3039, 0x002E3139, 0x002E3239, 0x002E3339, 0x002E3439, 0x002E3539,
    0x002E3639, 0x002E3739, 0x002E3839, 0x002E3939, 0x2E303031, 0x2E313031, 0x2E323031, 0x2E333031,
    0x2E343031, 0x2E353031, 0x2E363031, 0x2E373031, 0x2E383031, 0x2E393031, 0x2E303131, 0x2E313131,
    0x2E323131, 0x2E333131, 0x2E343131, 0x2E353131, 0x2E363131, 0x2E373131, 0x2E383131, 0x2E393131,
    0x2E303231, 0x2E313231, 0x2E323231, 0x2E333231, 0x2E343231, 0x2E353231, 0x2E363231, 0x2E373231,
    0x2E383231, 0x2E393231, 0x2E303331, 0x2E313331, 0x2E323331, 0x2E333331, 0x2E343331, 0x2E353331,
    0x2E363331, 0x2E373331, 0x2E383331, 0x2E393331, 0x2E303431, 0x2E313431, 0x2E323431, 0x2E333431,
    0x2E343431, 0x2E353431, 0x2E363431, 0x2E373431, 0x2E383431, 0x2E393431, 0x2E303531, 0x2E313531,
    0x2E323531, 0x2E333531, 0x2E343531, 0x2E353531, 0x2E363531, 0x2E373531, 0x2E383531, 0x2E393531,
    0x2E303631, 0x2E313631, 0x2E323631, 0x2E333631, 0x2E343631, 0x2E353631, 0x2E363631, 0x2E373631,
    0x2E383631, 0x2E393631, 0x2E303731, 0x2E313731, 0x2E323731, 0x2E333731, 0x2E343731, 0x2E353731,
    0x2E363731, 0x2E373731, 0x2E383731, 0x2E393731, 0x2E303831, 0x2E313831, 0x2E323831, 0x2E333831,
    0x2E343831, 0x2E353831, 0x2E363831, 0x2E373831, 0x2E383831, 0x2E393831, 0x2E303931, 0x2E313931,
    0x2E323931, 0x2E333931, 0x2E343931, 0x2E353931, 0x2E363931, 0x2E373931, 0x2E383931, 0x2E393931,
    0x2E303032, 0x2E313032, 0x2E323032, 0x2E333032, 0x2E343032, 0x2E353032, 0x2E363032, 0x2E373032,
    0x2E383032, 0x2E393032, 0x2E303132, 0x2E313132, 0x2E323132, 0x2E333132, 0x2E343132, 0x2E353132,
    0x2E363132, 0x2E373132, 0x2E383132, 0x2E393132, 0x2E303232, 0x2E313232, 0x2E323232, 0x2E333232,
    0x2E343232, 0x2E353232, 0x2E363232, 0x2E373232, 0x2E383232, 0x2E393232, 0x2E303332, 0x2E313332,
    0x2E323332, 0x2E333332, 0x2E343332, 0x2E353332, 0x2E363332, 0x2E373332, 0x2E383332, 0x2E393332,
    0x2E303432, 0x2E313432, 0x2E323432, 0x2E333432, 0x2E343432, 0x2E353432, 0x2E363432, 0x2E373432,
    0x2E383432, 0x2E393432, 0x2E303532, 0x2E313532, 0x2E323532, 0x2E333532, 0x2E343532, 0x2E353532,
};

/* A dotted quad. Writes one byte past the text: the caller's room has 16 bytes an address. */
static inline int flowlab_text_ipv4(uint32_t a, char *out) {
    char *p = out;
    for (int shift = 24; shift >= 0; shift -= 8) {
        uint32_t v = (a >> shift) & 0xFFu;
        uint32_t len = 1 + (v >= 10) + (v >= 100);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(p, &DOTTED[v], 4);
#else
        char d[4] = {(char)('0' + v / 100), (char)('0' + v / 10 % 10), (char)('0' + v % 10), '.'};
        memcpy(p, d + 3 - len, len + 1);
#endif
        p += len + 1;
    }
    return (int)(p - out) - 1; /* less the last dot */
}

static inline int flowlab_text_mac(uint64_t m, char *out) {
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

static inline int flowlab_text_ipv6(const uint32_t words[4], int mapped_dotted, char *out) {
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
#endif
