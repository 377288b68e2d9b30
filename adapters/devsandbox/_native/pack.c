/* Packing the recorder's chunks for the file: LZ4 block compression and CRC-32, for a
 * whole batch of chunks with the GIL released once (pack_chunks).
 *
 * The writer thread used lz4.block.compress and zlib.crc32 per chunk.  Each of those
 * releases the GIL, and taking it back from a busy program waits for the switch interval
 * (5 ms): the writer fell behind, and the program's own thread wrote two chunks in three.
 *
 * The compressor writes the LZ4 block format (read back by lz4.block.decompress): a
 * sequence is a token (literal count in the high nibble, match length - 4 in the low one,
 * 15 meaning "more bytes follow, each adding up to 255"), the literals, a two-byte
 * little-endian offset back into what was already produced, and the rest of the match
 * length.  The block ends with literals only; its last 5 bytes are literals and no match
 * starts in its last 12.  Matches are found greedily through a hash table of 4-byte
 * sequences, skipping faster through data that does not compress.
 */
#include "recorder.h"

#define HASH_LOG 13
#define MIN_MATCH 4
#define LAST_LITERALS 5
#define MATCH_LIMIT 12 /* no match starts in the last 12 bytes */
#define MAX_OFFSET 65535

static inline uint32_t
read32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t
read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t
hash4(uint32_t v)
{
    return (v * 2654435761U) >> (32 - HASH_LOG);
}

/* the most ds_lz4_compress can write for `n` bytes */
size_t
ds_lz4_bound(size_t n)
{
    return n + n / 255 + 16;
}

static inline unsigned char *
put_length(unsigned char *op, size_t n)
{
    for (; n >= 255; n -= 255) *op++ = 255;
    *op++ = (unsigned char)n;
    return op;
}

static inline unsigned char *
put_sequence(unsigned char *op, const unsigned char *lit, size_t nlit, size_t offset,
             size_t match)
{
    unsigned char *token = op++;
    *token = (unsigned char)((nlit >= 15 ? 15 : nlit) << 4);
    if (nlit >= 15) op = put_length(op, nlit - 15);
    memcpy(op, lit, nlit);
    op += nlit;
    if (!match) return op; /* the last sequence: literals only */
    *op++ = (unsigned char)(offset & 0xFF);
    *op++ = (unsigned char)(offset >> 8);
    size_t m = match - MIN_MATCH;
    *token |= (unsigned char)(m >= 15 ? 15 : m);
    if (m >= 15) op = put_length(op, m - 15);
    return op;
}

/* Compress `n` bytes at `src` into `dst` (ds_lz4_bound(n) bytes); returns the length.
 * `table`: 1 << HASH_LOG entries of scratch. */
static size_t
lz4_compress(const unsigned char *src, size_t n, unsigned char *dst, uint32_t *table)
{
    const unsigned char *ip = src, *anchor = src, *end = src + n;
    unsigned char *op = dst;
    if (n > MATCH_LIMIT + 1) {
        const unsigned char *limit = end - MATCH_LIMIT, *match_end = end - LAST_LITERALS;
        memset(table, 0, sizeof(uint32_t) << HASH_LOG);
        ip++;
        while (ip < limit) {
            uint32_t seq = read32(ip);
            uint32_t h = hash4(seq);
            const unsigned char *ref = src + table[h];
            table[h] = (uint32_t)(ip - src);
            if (ref >= ip || ip - ref > MAX_OFFSET || read32(ref) != seq) {
                ip += 1 + ((size_t)(ip - anchor) >> 6); /* faster where nothing matches */
                continue;
            }
            /* extend backwards over literals, then forwards */
            while (ip > anchor && ref > src && ip[-1] == ref[-1]) {
                ip--;
                ref--;
            }
            const unsigned char *m = ip + MIN_MATCH, *r = ref + MIN_MATCH;
            while (m + 8 <= match_end) {
                uint64_t x = read64(m) ^ read64(r);
                if (x) {
                    m += __builtin_ctzll(x) >> 3;
                    goto found;
                }
                m += 8;
                r += 8;
            }
            while (m < match_end && *m == *r) {
                m++;
                r++;
            }
        found:
            op = put_sequence(op, anchor, (size_t)(ip - anchor), (size_t)(ip - ref),
                              (size_t)(m - ip));
            /* the position just before the match's end, for the next search */
            if (m - 2 > src && m - 2 + 4 <= end) table[hash4(read32(m - 2))] = (uint32_t)(m - 2 - src);
            ip = anchor = m;
        }
    }
    return (size_t)(put_sequence(op, anchor, (size_t)(end - anchor), 0, 0) - dst);
}

/* CRC-32 as zlib.crc32 computes it (reflected, polynomial 0xEDB88320) */
static uint32_t crc_table[8][256];

static void
crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320U & (0U - (c & 1)));
        crc_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

static uint32_t
crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    for (; n >= 8; p += 8, n -= 8) { /* eight bytes at a time (little-endian) */
        uint64_t w = read64(p) ^ crc;
        crc = crc_table[7][w & 0xFF] ^ crc_table[6][(w >> 8) & 0xFF] ^
              crc_table[5][(w >> 16) & 0xFF] ^ crc_table[4][(w >> 24) & 0xFF] ^
              crc_table[3][(w >> 32) & 0xFF] ^ crc_table[2][(w >> 40) & 0xFF] ^
              crc_table[1][(w >> 48) & 0xFF] ^ crc_table[0][w >> 56];
    }
    while (n--) crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xFF];
    return ~crc;
}

typedef struct {
    const unsigned char *raw;
    size_t n;
    uint32_t crc; /* in: the CRC so far (of the frame's info); out: with the stored bytes */
    unsigned char *out;
    size_t nout;
    int compressed;
} Job;

/* pack_chunks([(raw: bytes, crc_seed: int), ...]) -> [(compressed: bool, stored: bytes,
 * crc: int), ...]: each chunk LZ4-compressed (stored as it is when that is not smaller),
 * and the CRC-32 of the stored bytes continued from crc_seed. */
PyObject *
ds_pack_chunks(PyObject *self, PyObject *arg)
{
    (void)self;
    static int crc_ready;
    if (!crc_ready) {
        crc_init();
        crc_ready = 1;
    }
    PyObject *seq = PySequence_Fast(arg, "pack_chunks takes a list of (bytes, int)");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    Job *jobs = PyMem_RawCalloc((size_t)n + 1, sizeof(Job));
    uint32_t *table = PyMem_RawMalloc(sizeof(uint32_t) << HASH_LOG);
    PyObject *result = NULL;
    if (!jobs || !table) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *raw;
        unsigned long seed;
        if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "Sk", &raw, &seed)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "pack_chunks: (bytes, int)");
            goto done;
        }
        jobs[i].raw = (const unsigned char *)PyBytes_AS_STRING(raw); /* kept by `seq` */
        jobs[i].n = (size_t)PyBytes_GET_SIZE(raw);
        jobs[i].crc = (uint32_t)seed;
        if (!(jobs[i].out = PyMem_RawMalloc(ds_lz4_bound(jobs[i].n)))) {
            PyErr_NoMemory();
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        Job *j = &jobs[i];
        j->nout = lz4_compress(j->raw, j->n, j->out, table);
        j->compressed = j->nout < j->n;
        if (j->compressed) j->crc = crc32_update(j->crc, j->out, j->nout);
        else j->crc = crc32_update(j->crc, j->raw, j->n);
    }
    Py_END_ALLOW_THREADS
    if (!(result = PyList_New(n))) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        Job *j = &jobs[i];
        PyObject *t = j->compressed
            ? Py_BuildValue("Oy#k", Py_True, (const char *)j->out, (Py_ssize_t)j->nout,
                            (unsigned long)j->crc)
            : Py_BuildValue("OOk", Py_False, PySequence_Fast_GET_ITEM(
                                PySequence_Fast_GET_ITEM(seq, i), 0), (unsigned long)j->crc);
        if (!t) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, t);
    }
done:
    if (jobs)
        for (Py_ssize_t i = 0; i < n; i++) PyMem_RawFree(jobs[i].out);
    PyMem_RawFree(jobs);
    PyMem_RawFree(table);
    Py_DECREF(seq);
    return result;
}
