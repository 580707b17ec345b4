/* A plain service table in C: flowlab/services.py's _packed, same rules and results.
 *
 * The plain layout is a "protocol,port,name" header line (spaces ignored), then lines of three
 * cells: a protocol of 1-8 bytes, a port of 1-5 digits up to 65535, a name; empty lines and a CR
 * before the LF are left out. Anything else is for the csv module (-1). The caller has already
 * turned away data with quotes or NUL bytes (_packed, for both readings). */
#include "flowlab_native.h"

#include <string.h>

static const char HEADER[] = "protocol,port,name";

/* services_rows(data, code, port, name_start, name_end) -> rows, or -1 if not the plain layout
 * Writes each row's protocol bytes as one integer (byte k at bits 8k), its port and where its
 * name starts and ends in data, into int64 buffers (code: uint64) with room for every line. */
PyObject *flowlab_services_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (!flowlab_nargs(nargs, 5, "services_rows")) return NULL;
    flowlab_buffers b = {.n = 0};
    const uint8_t *p = flowlab_acquire(&b, args[0], 0, 0, "data");
    uint64_t *code = p ? flowlab_acquire(&b, args[1], 0, 1, "code") : NULL;
    const int64_t room = code ? b.views[1].len / 8 : 0;
    int64_t *port = code ? flowlab_acquire(&b, args[2], room * 8, 1, "port") : NULL;
    int64_t *name_start = port ? flowlab_acquire(&b, args[3], room * 8, 1, "name_start") : NULL;
    int64_t *name_end = name_start ? flowlab_acquire(&b, args[4], room * 8, 1, "name_end") : NULL;
    if (!name_end) {
        flowlab_release(&b);
        return NULL;
    }
    const int64_t size = b.views[0].len;
    int64_t rows = 0, pos = 0;
    int header = 0, plain = 1;
    Py_BEGIN_ALLOW_THREADS
    while (plain && pos < size) {
        const uint8_t *nl = memchr(p + pos, '\n', (size_t)(size - pos));
        int64_t start = pos, end = nl ? nl - p : size;
        pos = end + 1;
        if (end > start && p[end - 1] == '\r') end--;
        if (end <= start) continue; /* an empty line */
        if (!header) {              /* the header, spaces left out */
            size_t k = 0;
            for (int64_t i = start; i < end && plain; i++) {
                if (p[i] == ' ') continue;
                plain = k < sizeof HEADER - 1 && p[i] == (uint8_t)HEADER[k];
                k++;
            }
            plain = plain && k == sizeof HEADER - 1;
            header = 1;
            continue;
        }
        int64_t c1 = -1, c2 = -1, commas = 0;
        for (int64_t i = start; i < end; i++) {
            if (p[i] != ',') continue;
            if (commas == 0) c1 = i;
            else if (commas == 1) c2 = i;
            commas++;
        }
        const int64_t width = c2 - c1 - 1, pwidth = c1 - start;
        if (commas != 2 || width < 1 || width > 5 || pwidth < 1 || pwidth > 8 || rows >= room) {
            plain = 0;
            break;
        }
        int64_t number = 0;
        for (int64_t i = c1 + 1; i < c2 && plain; i++) {
            plain = p[i] >= '0' && p[i] <= '9';
            number = number * 10 + (p[i] - '0');
        }
        uint64_t text = 0;
        for (int64_t k = 0; k < pwidth; k++) text |= (uint64_t)p[start + k] << (8 * k);
        code[rows] = text;
        port[rows] = number;
        name_start[rows] = c2 + 1;
        name_end[rows] = end;
        rows++;
        plain = plain && number <= 65535;
    }
    Py_END_ALLOW_THREADS
    flowlab_release(&b);
    return PyLong_FromLongLong(plain && header && rows ? rows : -1);
}
