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

/* the length of the match between `m` and `r` (r < m), up to `end` */
static inline size_t
match_length(const unsigned char *m, const unsigned char *r, const unsigned char *end)
{
    const unsigned char *start = m;
    while (m + 8 <= end) {
        uint64_t x = read64(m) ^ read64(r);
        if (x) return (size_t)(m - start) + (__builtin_ctzll(x) >> 3);
        m += 8;
        r += 8;
    }
    while (m < end && *m == *r) {
        m++;
        r++;
    }
    return (size_t)(m - start);
}

/* Move a match found at `*ip` (from `*ref`) back over the literals before it that match
 * too; returns how many bytes it grew by */
static inline size_t
extend_back(const unsigned char **ip, const unsigned char **ref, const unsigned char *anchor,
            const unsigned char *src)
{
    const unsigned char *i = *ip, *r = *ref;
    while (i > anchor && r > src && i[-1] == r[-1]) {
        i--;
        r--;
    }
    size_t k = (size_t)(*ip - i);
    *ip = i;
    *ref = r;
    return k;
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
            extend_back(&ip, &ref, anchor, src);
            const unsigned char *m =
                ip + MIN_MATCH + match_length(ip + MIN_MATCH, ref + MIN_MATCH, match_end);
            op = put_sequence(op, anchor, (size_t)(ip - anchor), (size_t)(ip - ref),
                              (size_t)(m - ip));
            /* the position just before the match's end, for the next search */
            if (m - 2 > src && m - 2 + 4 <= end) table[hash4(read32(m - 2))] = (uint32_t)(m - 2 - src);
            ip = anchor = m;
        }
    }
    return (size_t)(put_sequence(op, anchor, (size_t)(end - anchor), 0, 0) - dst);
}

#define CHAIN_LOG 16 /* the window: MAX_OFFSET + 1 positions */

typedef struct {
    uint32_t head[1 << HASH_LOG]; /* hash of 4 bytes -> the last position with it, + 1 */
    uint32_t chain[1 << CHAIN_LOG]; /* position -> the one before it with that hash, + 1 */
} Chains;

static inline void
chains_insert(Chains *c, const unsigned char *src, size_t pos)
{
    uint32_t h = hash4(read32(src + pos));
    c->chain[pos & ((1 << CHAIN_LOG) - 1)] = c->head[h];
    c->head[h] = (uint32_t)pos + 1;
}

/* The same block format, with the longest match among the last `depth` positions that
 * had the same hash (every position is remembered): smaller, several times slower. */
static size_t
lz4_compress_chains(const unsigned char *src, size_t n, unsigned char *dst, Chains *c,
                    int depth)
{
    const unsigned char *ip = src, *anchor = src, *end = src + n;
    unsigned char *op = dst;
    if (n > MATCH_LIMIT + 1) {
        const unsigned char *limit = end - MATCH_LIMIT, *match_end = end - LAST_LITERALS;
        memset(c->head, 0, sizeof c->head);
        size_t inserted = 0; /* positions below are in the chains */
        while (ip < limit) {
            size_t pos = (size_t)(ip - src);
            for (; inserted < pos; inserted++) chains_insert(c, src, inserted);
            uint32_t seq = read32(ip);
            uint32_t cand = c->head[hash4(seq)];
            size_t best = 0;
            const unsigned char *best_ref = NULL;
            for (int tries = depth; cand && tries > 0; tries--) {
                size_t cpos = cand - 1;
                if (pos - cpos > MAX_OFFSET) break;
                const unsigned char *ref = src + cpos;
                if (ref[best] == ip[best] && read32(ref) == seq) {
                    size_t len = MIN_MATCH + match_length(ip + MIN_MATCH, ref + MIN_MATCH, match_end);
                    if (len > best) {
                        best = len;
                        best_ref = ref;
                        if (ip + len >= match_end) break;
                    }
                }
                uint32_t prev = c->chain[cpos & ((1 << CHAIN_LOG) - 1)];
                if (prev >= cand) break; /* none, or a slot a later position took over */
                cand = prev;
            }
            chains_insert(c, src, pos);
            inserted = pos + 1;
            if (best < MIN_MATCH) {
                ip++;
                continue;
            }
            best += extend_back(&ip, &best_ref, anchor, src);
            op = put_sequence(op, anchor, (size_t)(ip - anchor), (size_t)(ip - best_ref), best);
            ip = anchor = ip + best;
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

/* what one call works in: kept between calls (fresh pages from the system for every
 * batch cost as much as compressing it) */
typedef struct {
    uint32_t table[1 << HASH_LOG];
    Chains chains;
    unsigned char *out;
    size_t outcap;
} Scratch;

#define KEEP_OUT (8u << 20)
static Scratch *kept; /* claimed (under the GIL) by a call while it runs; NULL meanwhile */

/* pack_chunks([(raw: bytes, crc_seed: int), ...], depth=0) -> [(compressed: bool,
 * stored: bytes, crc: int), ...]: each chunk LZ4-compressed (stored as it is when that is
 * not smaller), and the CRC-32 of the stored bytes continued from crc_seed.  depth > 0:
 * matches searched among that many earlier positions (lz4_compress_chains). */
PyObject *
ds_pack_chunks(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *arg;
    int depth = 0;
    if (!PyArg_ParseTuple(args, "O|i:pack_chunks", &arg, &depth)) return NULL;
    static int crc_ready;
    if (!crc_ready) {
        crc_init();
        crc_ready = 1;
    }
    PyObject *seq = PySequence_Fast(arg, "pack_chunks takes a list of (bytes, int)");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    Job *jobs = PyMem_RawCalloc((size_t)n + 1, sizeof(Job));
    Scratch *sc = kept ? kept : PyMem_RawCalloc(1, sizeof(Scratch));
    kept = NULL;
    PyObject *result = NULL;
    if (!jobs || !sc) {
        PyErr_NoMemory();
        goto done;
    }
    size_t total = 0;
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
        total += ds_lz4_bound(jobs[i].n);
    }
    if (total > sc->outcap) {
        unsigned char *out = PyMem_RawRealloc(sc->out, total);
        if (!out) {
            PyErr_NoMemory();
            goto done;
        }
        sc->out = out;
        sc->outcap = total;
    }
    Py_BEGIN_ALLOW_THREADS
    unsigned char *at = sc->out;
    for (Py_ssize_t i = 0; i < n; i++) {
        Job *j = &jobs[i];
        j->out = at;
        j->nout = depth > 0 ? lz4_compress_chains(j->raw, j->n, j->out, &sc->chains, depth)
                            : lz4_compress(j->raw, j->n, j->out, sc->table);
        at += j->nout;
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
    PyMem_RawFree(jobs);
    if (sc && !kept) {
        if (sc->outcap > KEEP_OUT) { /* not a large batch's worth for ever */
            PyMem_RawFree(sc->out);
            sc->out = NULL;
            sc->outcap = 0;
        }
        kept = sc;
    }
    else if (sc) {
        PyMem_RawFree(sc->out);
        PyMem_RawFree(sc);
    }
    Py_DECREF(seq);
    return result;
}
