/* devsandbox._timescan: the server's fast pass over a recording's events chunk.
 *
 * The same walks as devsandbox/recording/chunks.py (scan_chunk, writes) in C;
 * chunks.py uses this module when it is built and falls back to its Python
 * code otherwise.  Record grammar: adapters/devsandbox/recorder/format.py.
 *
 * scan(buf, checkpoint, summary_only=False) -> (threads, marks)
 *   threads: list of (tid, first_step, kinds, codes, lines, depths, fids, order,
 *                     checkpoints, line_counts, calls, names, raised, min_depth,
 *                     nsteps, typecodes)
 *     kinds: bytes (one opcode per step); codes, lines, depths, fids: bytes of
 *     the array typecodes in `typecodes` (a str of 4: the fewest bytes that hold
 *     every value, fids at least "H"); order: bytes of uint32 (None when
 *     the chunk holds one thread: it is the index); checkpoints: (words, at), both bytes of
 *     uint32: the stack before the thread's steps 0, `checkpoint`, 2 * `checkpoint`
 *     ... packed, checkpoint j starting at word at[j]: the record's offset, the
 *     depth, then each frame bottom first, as fid, code, line, n, n x (name id,
 *     start, end) or, a frame unchanged since an earlier checkpoint, as CP_REF and
 *     the word where that one's frame starts (see chunks.checkpoint_stack);
 *     with summary_only, the arrays are empty and there are no checkpoints;
 *     line_counts: {code << 24 | line: hits}; calls, names: sets of ids.
 *   marks: list of (tid, step, kind string id, text bytes)
 * clocks(buf, tid) -> (indices, times)
 *   the steps of thread `tid` that a CLOCK record dates (format 1.2: calls, returns,
 *   and the step after a pop): bytes of uint32 step indices and bytes of uint64 times
 *   (µs since the recording's clock origin); both empty in older recordings.
 * writes(buf, tid, names, fids, codes) -> list of (index, fid, code, name, start, end, restated)
 *   (start = end = -1 for a deleted name); fids/codes: a set or None.
 * changes(buf, tid, name, fids, codes, last[, None, 0, -1, complete]) -> list of
 *   (index, fid, code, value, previous): only the writes of one name whose bytes differ
 *   from the frame's previous value (bytes, or None when deleted/unbound); `last`
 *   ({fid: bytes or None}) holds the previous values and is updated (a keyframe's copy
 *   of a frame not in `last` only sets its baseline, unless `complete`: every chunk
 *   before was seen, so that copy is the name's first value in the frame).
 * changes(buf, tid, name, fids, codes, last, distinct, first, keep) -> (kept, counted)
 *   the same changes tallied instead of listed: each change to a value (not a
 *   deletion) counts in `distinct` ({value bytes: [count, first step, last step,
 *   tid]}, steps being `first` + index); only the first `keep` of them are
 *   listed, so that a whole recording is counted without an object per change.
 * as_sets(buf) -> bytes
 *   each run of ITEMS records rewritten as SET records of the whole values (itemdiffs.c).
 * lz4_block(data, size) -> bytes
 *   an LZ4 block (codec 1 of the format) decoded straight into a bytes object of at most
 *   `size` bytes (ValueError if corrupt): lz4.block.decompress, without the lz4 package
 *   (its libraries stay out of the server) and without a second buffer of the chunk's size.
 */
#include "timescan.h"

uint64_t rd_varint(Reader *r)
{
    uint64_t v = 0;
    int shift = 0;
    while (r->pos < r->n) {
        uint8_t b = r->p[r->pos++];
        v |= (uint64_t)(b & 0x7F) << shift;
        if (b < 0x80) return v;
        shift += 7;
        if (shift > 63) break;
    }
    r->bad = 1;
    return 0;
}

void skip_value(Reader *r, int depth)
{
    if (r->pos >= r->n || depth > 200) { r->bad = 1; return; }
    uint8_t tag = r->p[r->pos++];
    uint64_t n, total, shown;
    switch (tag) {
    case V_INT: rd_varint(r); return;
    case V_NONE: case V_TRUE: case V_FALSE: return;
    case V_STR: case V_REPR: case V_BIGINT: case V_REPR_ERROR: case V_REPR_SLOW: case V_BYTES:
        n = rd_varint(r); r->pos += (Py_ssize_t)n; break;
    case V_FLOAT: r->pos += 8; break;
    case V_COMPLEX: r->pos += 16; break;
    case V_STR_TRUNC: case V_REPR_TRUNC: case V_BYTES_TRUNC:
        rd_varint(r); n = rd_varint(r); r->pos += (Py_ssize_t)n; break;
    case V_DEEP: r->pos += 1; rd_varint(r); break;
    case V_RECUR: r->pos += 1; break;
    case V_FMT: /* pieces: a literal (0, text), or a field (1/2, value; 3, spec, value) */
        n = rd_varint(r);
        for (uint64_t i = 0; i < n && !r->bad && r->pos < r->n; i++) {
            uint8_t how = r->p[r->pos++];
            if (how == 0 || how == 3) {
                uint64_t len = rd_varint(r);
                r->pos += (Py_ssize_t)len;
            }
            if (how != 0) skip_value(r, depth + 1);
        }
        break;
    case V_OBJECT: /* repr text, then (name, value) per recorded attribute */
        n = rd_varint(r);
        r->pos += (Py_ssize_t)n;
        rd_varint(r);
        shown = rd_varint(r);
        for (uint64_t i = 0; i < shown && !r->bad && r->pos <= r->n; i++) {
            n = rd_varint(r);
            r->pos += (Py_ssize_t)n;
            skip_value(r, depth + 1);
        }
        break;
    default:
        if (tag >= V_LIST && tag <= V_DICT) {
            total = rd_varint(r);
            (void)total;
            shown = rd_varint(r);
            if (tag == V_DICT) shown *= 2;
            for (uint64_t i = 0; i < shown && !r->bad; i++) skip_value(r, depth + 1);
            return;
        }
        r->bad = 1;
        return;
    }
    if (r->pos > r->n) r->bad = 1;
}

/* ---- growable buffers and a small hash map of uint64 -> count ------------------------ */

int buf_put(Buf *b, const void *src, size_t k)
{
    if (b->len + k > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + k) cap *= 2;
        uint8_t *d = PyMem_Realloc(b->d, cap);
        if (!d) return -1;
        b->d = d;
        b->cap = cap;
    }
    memcpy(b->d + b->len, src, k);
    b->len += k;
    return 0;
}

typedef struct { uint64_t *keys; uint32_t *vals; size_t cap, used; } Map;  /* key+1 stored */

static int map_add(Map *m, uint64_t key, uint32_t inc)
{
    if ((m->used + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        uint64_t *keys = PyMem_Calloc(cap, sizeof(uint64_t));
        uint32_t *vals = PyMem_Calloc(cap, sizeof(uint32_t));
        if (!keys || !vals) { PyMem_Free(keys); PyMem_Free(vals); return -1; }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t j = (size_t)((m->keys[i] * 0x9E3779B97F4A7C15ULL) >> 20) & (cap - 1);
            while (keys[j]) j = (j + 1) & (cap - 1);
            keys[j] = m->keys[i];
            vals[j] = m->vals[i];
        }
        PyMem_Free(m->keys);
        PyMem_Free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    uint64_t k = key + 1;
    size_t j = (size_t)((k * 0x9E3779B97F4A7C15ULL) >> 20) & (m->cap - 1);
    while (m->keys[j] && m->keys[j] != k) j = (j + 1) & (m->cap - 1);
    if (!m->keys[j]) { m->keys[j] = k; m->used++; }
    m->vals[j] += inc;
    return 0;
}

static void map_free(Map *m) { PyMem_Free(m->keys); PyMem_Free(m->vals); }

static PyObject *map_dict(Map *m)
{
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        PyObject *k = PyLong_FromUnsignedLongLong(m->keys[i] - 1);
        PyObject *v = PyLong_FromUnsignedLong(m->vals[i]);
        if (!k || !v || PyDict_SetItem(d, k, v) < 0) {
            Py_XDECREF(k); Py_XDECREF(v); Py_DECREF(d); return NULL;
        }
        Py_DECREF(k); Py_DECREF(v);
    }
    return d;
}

static PyObject *map_set(Map *m)
{
    PyObject *s = PyFrozenSet_New(NULL);
    if (!s) return NULL;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        PyObject *k = PyLong_FromUnsignedLongLong(m->keys[i] - 1);
        if (!k || PySet_Add(s, k) < 0) { Py_XDECREF(k); Py_DECREF(s); return NULL; }
        Py_DECREF(k);
    }
    return s;
}

/* ---- per-thread decoding state ----------------------------------------------------------- */

typedef struct { uint32_t name, start, end; } Val;
typedef struct {
    uint32_t fid, code, line;
    Val *vals;
    int nvals, cap;
    int dirty;  /* changed since `snap` was made */
    uint32_t snap;  /* 1 + the word where this frame is in the last checkpoint (0: none) */
} CFrame;

typedef struct {
    uint32_t tid;
    int64_t first;
    int started;
    CFrame *stack;
    int depth, cap;
    int pop, keyed, raised, min_depth;
    uint32_t nsteps, max_code, max_line, max_depth, max_fid, total;
    /* the step arrays (kinds, codes, lines, depths, fids, order), sized and typed by the
     * first pass: bytes objects written in place by the second (see scan) */
    PyObject *arr[6];
    int width[6];
    Buf cps, cp_at;  /* packed checkpoints: see the module doc */
    Map line_counts, calls, names;
} CThread;

static void frame_set(CFrame *f, uint32_t name, uint32_t start, uint32_t end, int del)
{
    f->dirty = 1;
    for (int i = 0; i < f->nvals; i++) {
        if (f->vals[i].name == name) {
            if (del) {  /* keep the order of the others (the order locals are shown in) */
                memmove(&f->vals[i], &f->vals[i + 1], sizeof(Val) * (size_t)(f->nvals - i - 1));
                f->nvals--;
            }
            else { f->vals[i].start = start; f->vals[i].end = end; }
            return;
        }
    }
    if (del) return;
    if (f->nvals == f->cap) {
        int cap = f->cap ? f->cap * 2 : 8;
        Val *v = PyMem_Realloc(f->vals, sizeof(Val) * cap);
        if (!v) return;
        f->vals = v;
        f->cap = cap;
    }
    f->vals[f->nvals++] = (Val){name, start, end};
}

static int push(CThread *t, uint32_t fid, uint32_t code, uint32_t line)
{
    if (t->depth == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        CFrame *s = PyMem_Realloc(t->stack, sizeof(CFrame) * cap);
        if (!s) return -1;
        t->stack = s;
        t->cap = cap;
    }
    t->stack[t->depth++] = (CFrame){fid, code, line, NULL, 0, 0, 1, 0};
    return 0;
}

static void pop_to(CThread *t, int depth)
{
    while (t->depth > depth && t->depth > 0) {
        CFrame *f = &t->stack[--t->depth];
        PyMem_Free(f->vals);
    }
}

#define CP_REF 0xFFFFFFFFu

/* append the thread's stack to its packed checkpoints (format: see the module doc) */
static int snapshot(CThread *t, uint32_t pos)
{
    uint32_t at = (uint32_t)(t->cps.len / 4), head[2] = {pos, (uint32_t)t->depth};
    if (buf_put(&t->cp_at, &at, 4) < 0 || buf_put(&t->cps, head, 8) < 0) return -1;
    for (int i = 0; i < t->depth; i++) {
        CFrame *f = &t->stack[i];
        if (!f->dirty && f->snap) {
            uint32_t ref[2] = {CP_REF, f->snap - 1};
            if (buf_put(&t->cps, ref, 8) < 0) return -1;
            continue;
        }
        uint32_t here = (uint32_t)(t->cps.len / 4),
                 w[4] = {f->fid, f->code, f->line, (uint32_t)f->nvals};
        if (buf_put(&t->cps, w, 16) < 0) return -1;
        for (int k = 0; k < f->nvals; k++) {
            uint32_t v[3] = {f->vals[k].name, f->vals[k].start, f->vals[k].end};
            if (buf_put(&t->cps, v, 12) < 0) return -1;
        }
        f->snap = here + 1;
        f->dirty = 0;
    }
    return 0;
}

static void thread_free(CThread *t)
{
    pop_to(t, 0);
    PyMem_Free(t->stack);
    for (int i = 0; i < 6; i++) Py_CLEAR(t->arr[i]);
    PyMem_Free(t->cps.d); PyMem_Free(t->cp_at.d);
    map_free(&t->line_counts); map_free(&t->calls); map_free(&t->names);
}

static PyObject *bytes_of(Buf *b)
{
    return PyBytes_FromStringAndSize((const char *)b->d, (Py_ssize_t)b->len);
}

/* the buffer as bytes, its memory freed (so that a scan's peak stays low) */
static PyObject *take_bytes(Buf *b)
{
    PyObject *out = bytes_of(b);
    PyMem_Free(b->d);
    *b = (Buf){0};
    return out;
}

/* the fewest bytes (1, 2 or 4, at least `least`) that hold `max` */
static int width_of(uint32_t max, int least)
{
    return max < 256 && least <= 1 ? 1 : max < 65536 && least <= 2 ? 2 : 4;
}

static void put(PyObject *arr, int width, uint32_t i, uint32_t v)
{
    uint8_t *d = (uint8_t *)PyBytes_AS_STRING(arr);
    if (width == 1) d[i] = (uint8_t)v;
    else if (width == 2) ((uint16_t *)d)[i] = (uint16_t)v;
    else ((uint32_t *)d)[i] = v;
}

/* after the first pass: the thread's step arrays, exactly as long and as wide as needed */
static int thread_alloc(CThread *t, int ordered)
{
    /* kinds, codes, lines, depths, fids, order */
    t->width[0] = 1;
    t->width[1] = width_of(t->max_code, 1);
    t->width[2] = width_of(t->max_line, 1);
    t->width[3] = width_of(t->max_depth, 1);
    t->width[4] = width_of(t->max_fid, 2);
    t->width[5] = 4;
    for (int i = 0; i < 6; i++) {
        Py_ssize_t n = i == 5 && !ordered ? 0 : (Py_ssize_t)t->total * t->width[i];
        t->arr[i] = PyBytes_FromStringAndSize(NULL, n);
        if (!t->arr[i]) return -1;
    }
    return 0;
}

static PyObject *thread_result(CThread *t, int summary_only, int ordered)
{
    PyObject *lc = map_dict(&t->line_counts), *calls = map_set(&t->calls),
             *names = map_set(&t->names);
    if (!lc || !calls || !names) { Py_XDECREF(lc); Py_XDECREF(calls); Py_XDECREF(names); return NULL; }
    char tc[5] = {'B', 'B', 'B', 'H', 0};  /* typecodes of codes, lines, depths, fids */
    PyObject *arr[6];
    for (int i = 0; i < 6; i++) {
        if (summary_only) {
            arr[i] = PyBytes_FromStringAndSize(NULL, 0);
        }
        else {
            arr[i] = t->arr[i];
            t->arr[i] = NULL;
            if (i >= 1 && i <= 4) tc[i - 1] = t->width[i] == 1 ? 'B' : t->width[i] == 2 ? 'H' : 'I';
        }
    }
    if (!summary_only && !ordered) { Py_DECREF(arr[5]); arr[5] = (Py_INCREF(Py_None), Py_None); }
    return Py_BuildValue("(ILNNNNNNNNNNOiIs)", t->tid, (long long)(t->started ? t->first : 0),
                         arr[0], arr[1], arr[2], arr[3], arr[4], arr[5],
                         Py_BuildValue("(NN)", take_bytes(&t->cps), take_bytes(&t->cp_at)),
                         lc, calls, names, t->raised ? Py_True : Py_False,
                         t->min_depth, t->nsteps, tc);
}

/* One walk over the chunk.  First pass (fill = 0): the summary (line counts, calls, names,
 * exceptions, smallest depth, marks), each thread's step count and largest values.  Second
 * pass (fill = 1, the threads of the first, arrays allocated): every step into the arrays,
 * and the checkpoints.  Two walks rather than growing arrays: a scan's memory is its result
 * and no more. */
static int walk(Reader r, int every, int fill, CThread **threads_p, int *nthreads_p,
                PyObject *marks)
{
    CThread *threads = *threads_p;
    int nthreads = *nthreads_p, cur = -1, rc = -1;
    uint32_t order = 0;
    while (r.pos < r.n && !r.bad) {
        Py_ssize_t start = r.pos;
        uint8_t op = r.p[r.pos++];
        CThread *t = cur >= 0 ? &threads[cur] : NULL;
        if (op == E_SET || op == E_DEL) {
            uint32_t k = (uint32_t)rd_varint(&r);
            Py_ssize_t vstart = r.pos;
            if (op == E_SET) skip_value(&r, 0);
            if (!t || t->depth == 0) { r.bad = 1; break; }
            frame_set(&t->stack[t->depth - 1], k, (uint32_t)vstart, (uint32_t)r.pos, op == E_DEL);
            if (!fill) map_add(&t->names, k, 1);  /* a keyframe's copy may hold a change too */
            continue;
        }
        if (t && t->pop) { pop_to(t, t->depth - 1); t->pop = 0; }
        if (op == E_LINE || op == E_CALL || op == E_RETURN || op == E_EXCEPTION) {
            if (!t) { r.bad = 1; break; }
            t->keyed = 0;
            if (fill && t->nsteps % (uint32_t)every == 0) {
                if (snapshot(t, (uint32_t)start) < 0) { PyErr_NoMemory(); goto done; }
            }
            uint32_t line;
            if (op == E_CALL) {
                uint32_t fid = (uint32_t)rd_varint(&r), code = (uint32_t)rd_varint(&r);
                line = (uint32_t)rd_varint(&r);
                if (push(t, fid, code, line) < 0) { PyErr_NoMemory(); goto done; }
                if (!fill) map_add(&t->calls, code, 1);
            }
            else {
                line = (uint32_t)rd_varint(&r);
                if (op == E_EXCEPTION) { rd_varint(&r); skip_value(&r, 0); t->raised = 1; }
                else if (op == E_RETURN) { skip_value(&r, 0); t->pop = 1; }
                if (t->depth == 0) { r.bad = 1; break; }
                t->stack[t->depth - 1].line = line;
                t->stack[t->depth - 1].dirty = 1;
            }
            CFrame *top = &t->stack[t->depth - 1];
            uint16_t depth = (uint16_t)(t->depth - 1);
            if (!fill) {
                if (op == E_LINE) map_add(&t->line_counts, ((uint64_t)top->code << 24) | line, 1);
                if (depth < t->min_depth) t->min_depth = depth;
                if (top->code > t->max_code) t->max_code = top->code;
                if (line > t->max_line) t->max_line = line;
                if (depth > t->max_depth) t->max_depth = depth;
                if (top->fid > t->max_fid) t->max_fid = top->fid;
            }
            else {
                uint32_t i = t->nsteps;
                if (i >= t->total) { r.bad = 1; break; }
                put(t->arr[0], 1, i, op);
                put(t->arr[1], t->width[1], i, top->code);
                put(t->arr[2], t->width[2], i, line);
                put(t->arr[3], t->width[3], i, depth);
                put(t->arr[4], t->width[4], i, top->fid);
                if (PyBytes_GET_SIZE(t->arr[5])) put(t->arr[5], 4, i, order);
            }
            order++;
            t->nsteps++;
        }
        else if (op == E_THREAD) {
            uint32_t tid = (uint32_t)rd_varint(&r);
            cur = -1;
            for (int i = 0; i < nthreads; i++) if (threads[i].tid == tid) cur = i;
            if (cur < 0) {
                if (fill) { r.bad = 1; break; }
                CThread *nt = PyMem_Realloc(threads, sizeof(CThread) * (nthreads + 1));
                if (!nt) { PyErr_NoMemory(); goto done; }
                threads = nt;
                *threads_p = threads;
                memset(&threads[nthreads], 0, sizeof(CThread));
                threads[nthreads].tid = tid;
                threads[nthreads].min_depth = 1 << 16;
                cur = nthreads++;
                *nthreads_p = nthreads;
            }
        }
        else if (op == E_KEYFRAME) {
            uint64_t step = rd_varint(&r);
            rd_varint(&r);
            if (!t) { r.bad = 1; break; }
            if (!t->started) { t->first = (int64_t)step; t->started = 1; }
            pop_to(t, 0);
            t->keyed = 1;
        }
        else if (op == E_KFRAME || op == E_ENTER) {
            uint32_t fid = (uint32_t)rd_varint(&r), code = (uint32_t)rd_varint(&r),
                     line = (uint32_t)rd_varint(&r);
            if (!t) { r.bad = 1; break; }
            if (push(t, fid, code, line) < 0) { PyErr_NoMemory(); goto done; }
        }
        else if (op == E_POP) {
            uint32_t k = (uint32_t)rd_varint(&r);
            if (!t) { r.bad = 1; break; }
            pop_to(t, t->depth > (int)k ? t->depth - (int)k : 0);
        }
        else if (op == E_CLOCK) {  /* times: see clocks() */
            rd_varint(&r);
        }
        else if (op == E_MARK) {
            uint32_t kind = (uint32_t)rd_varint(&r);
            uint64_t ln = rd_varint(&r);
            if (r.pos + (Py_ssize_t)ln > r.n) { r.bad = 1; break; }
            if (t && !fill) {
                PyObject *m = Py_BuildValue("(ILIy#)", t->tid, (long long)(t->first + t->nsteps) - 1,
                                            kind, r.p + r.pos, (Py_ssize_t)ln);
                if (!m || PyList_Append(marks, m) < 0) { Py_XDECREF(m); goto done; }
                Py_DECREF(m);
            }
            r.pos += (Py_ssize_t)ln;
        }
        else {
            PyErr_Format(PyExc_ValueError, "unknown event record 0x%02x at %zd", op, start);
            goto done;
        }
    }
    if (r.bad) {
        PyErr_Format(PyExc_ValueError, "corrupt events chunk near offset %zd", r.pos);
        goto done;
    }
    rc = 0;
done:
    return rc;
}

static PyObject *scan(PyObject *self, PyObject *args)
{
    Py_buffer view;
    int every, summary_only = 0;
    if (!PyArg_ParseTuple(args, "y*i|p", &view, &every, &summary_only)) return NULL;
    if (every <= 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "checkpoint must be positive");
        return NULL;
    }
    Reader r = {view.buf, view.len, 0, 0};
    CThread *threads = NULL;
    int nthreads = 0;
    PyObject *marks = PyList_New(0), *result = NULL;
    if (!marks || walk(r, every, 0, &threads, &nthreads, marks) < 0) goto done;
    int ordered = nthreads > 1;
    if (!summary_only) {
        for (int i = 0; i < nthreads; i++) {  /* back to each thread's start; summary kept */
            CThread *t = &threads[i];
            pop_to(t, 0);
            t->total = t->nsteps;
            t->nsteps = 0;
            t->started = 0;
            t->pop = t->keyed = 0;
            if (thread_alloc(t, ordered) < 0) goto done;
        }
        if (walk(r, every, 1, &threads, &nthreads, marks) < 0) goto done;
    }
    PyObject *list = PyList_New(0);
    if (!list) goto done;
    for (int i = 0; i < nthreads; i++) {
        if (!threads[i].nsteps) continue;
        PyObject *tr = thread_result(&threads[i], summary_only, ordered);
        if (!tr || PyList_Append(list, tr) < 0) { Py_XDECREF(tr); Py_DECREF(list); goto done; }
        Py_DECREF(tr);
    }
    result = Py_BuildValue("(NO)", list, marks);
done:
    for (int i = 0; i < nthreads; i++) thread_free(&threads[i]);
    PyMem_Free(threads);
    Py_XDECREF(marks);
    PyBuffer_Release(&view);
    return result;
}

/* ---- writes of names ------------------------------------------------------------------------ */

typedef struct { uint32_t fid, code; } Slot;

static int in_set(PyObject *set, uint32_t v)
{
    if (set == Py_None) return 1;
    PyObject *k = PyLong_FromUnsignedLong(v);
    if (!k) return -1;
    int rc = PySet_Contains(set, k);
    Py_DECREF(k);
    return rc;
}

/* walk the records of one thread; call `on` for each SET/DEL of a wanted name */
typedef int (*OnWrite)(void *ctx, int64_t index, Slot *top, uint32_t name, Py_ssize_t start,
                       Py_ssize_t end, int restated, const uint8_t *buf);

#define MAX_NAMES 64

static int walk_writes(Py_buffer *view, uint32_t tid, PyObject *names, PyObject *fids,
                       PyObject *codes, OnWrite on, void *ctx)
{
    Reader r = {view->buf, view->len, 0, 0};
    uint32_t wanted[MAX_NAMES];
    int nwanted = 0;
    PyObject *it = PyObject_GetIter(names), *item;
    if (!it) return -1;
    while ((item = PyIter_Next(it))) {
        unsigned long v = PyLong_AsUnsignedLong(item);
        Py_DECREF(item);
        if (v == (unsigned long)-1 && PyErr_Occurred()) { Py_DECREF(it); return -1; }
        if (nwanted == MAX_NAMES) {
            Py_DECREF(it);
            PyErr_SetString(PyExc_ValueError, "too many names");
            return -1;
        }
        wanted[nwanted++] = (uint32_t)v;
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) return -1;
    Slot *stack = NULL;
    int depth = 0, cap = 0, mine = 0, keyed = 0, pop = 0, rc = -1;
    int64_t index = -1;
    /* cache membership of the last frame checked */
    uint32_t last_fid = 0xFFFFFFFF;
    int last_ok = 0;
    while (r.pos < r.n && !r.bad) {
        uint8_t op = r.p[r.pos++];
        if (op == E_SET || op == E_DEL) {
            uint32_t k = (uint32_t)rd_varint(&r);
            Py_ssize_t vstart = r.pos;
            if (op == E_SET) skip_value(&r, 0);
            if (!mine || depth == 0) continue;
            int want = 0;
            for (int i = 0; i < nwanted && !want; i++) want = wanted[i] == k;
            if (!want) continue;
            Slot *top = &stack[depth - 1];
            if (top->fid != last_fid) {
                int a = in_set(fids, top->fid), b = in_set(codes, top->code);
                if (a < 0 || b < 0) goto out;
                last_fid = top->fid;
                last_ok = a && b;
            }
            if (!last_ok) continue;
            if (on(ctx, index, top, k, op == E_SET ? vstart : -1, op == E_SET ? r.pos : -1, keyed,
                   r.p) < 0)
                goto out;
            continue;
        }
        if (mine && pop) { if (depth) depth--; pop = 0; last_fid = 0xFFFFFFFF; }
        switch (op) {
        case E_LINE:
            rd_varint(&r);
            if (mine) { index++; keyed = 0; }
            break;
        case E_THREAD:
            mine = (uint32_t)rd_varint(&r) == tid;
            break;
        case E_CALL: case E_ENTER: case E_KFRAME: {
            uint32_t fid = (uint32_t)rd_varint(&r), code = (uint32_t)rd_varint(&r);
            rd_varint(&r);
            if (!mine) break;
            if (depth == cap) {
                cap = cap ? cap * 2 : 16;
                Slot *s = PyMem_Realloc(stack, sizeof(Slot) * cap);
                if (!s) { PyErr_NoMemory(); goto out; }
                stack = s;
            }
            stack[depth++] = (Slot){fid, code};
            if (op == E_CALL) index++;
            keyed = op != E_CALL;
            break;
        }
        case E_RETURN:
            rd_varint(&r); skip_value(&r, 0);
            if (mine) { index++; keyed = 0; pop = 1; }
            break;
        case E_EXCEPTION:
            rd_varint(&r); rd_varint(&r); skip_value(&r, 0);
            if (mine) { index++; keyed = 0; }
            break;
        case E_POP: {
            int k = (int)rd_varint(&r);
            if (mine) depth = depth > k ? depth - k : 0;
            break;
        }
        case E_KEYFRAME:
            rd_varint(&r); rd_varint(&r);
            if (mine) { depth = 0; keyed = 1; }
            break;
        case E_CLOCK:
            rd_varint(&r);
            break;
        case E_MARK: {
            rd_varint(&r);
            uint64_t ln = rd_varint(&r);
            r.pos += (Py_ssize_t)ln;
            break;
        }
        default:
            PyErr_Format(PyExc_ValueError, "unknown event record 0x%02x at %zd", op, r.pos - 1);
            goto out;
        }
    }
    if (r.bad) {
        PyErr_Format(PyExc_ValueError, "corrupt events chunk near offset %zd", r.pos);
        goto out;
    }
    rc = 0;
out:
    PyMem_Free(stack);
    return rc;
}

static int on_write_list(void *ctx, int64_t index, Slot *top, uint32_t name, Py_ssize_t start,
                         Py_ssize_t end, int restated, const uint8_t *buf)
{
    PyObject *item = Py_BuildValue("(LIIInnO)", (long long)index, top->fid, top->code, name,
                                   start, end, restated ? Py_True : Py_False);
    if (!item) return -1;
    int rc = PyList_Append((PyObject *)ctx, item);
    Py_DECREF(item);
    return rc;
}

static PyObject *writes(PyObject *self, PyObject *args)
{
    Py_buffer view;
    unsigned int tid;
    PyObject *names, *fids, *codes;
    if (!PyArg_ParseTuple(args, "y*IOOO", &view, &tid, &names, &fids, &codes)) return NULL;
    PyObject *out = PyList_New(0);
    if (out && walk_writes(&view, tid, names, fids, codes, on_write_list, out) < 0) {
        Py_CLEAR(out);
    }
    PyBuffer_Release(&view);
    return out;
}

typedef struct {
    PyObject *out, *last;
    PyObject *distinct, *tid;  /* tallying (distinct != NULL): see the module doc */
    long long first;
    Py_ssize_t keep, counted;
    int complete;  /* every earlier write is in `last`: a keyframe's copy of a frame not in it
                    * is the name's first value in that frame (a change from unbound) */
} ChangesCtx;

/* count one change to `value` (bytes) at `step` in ctx->distinct */
static int tally(ChangesCtx *ctx, PyObject *value, long long step)
{
    PyObject *entry = PyDict_GetItemWithError(ctx->distinct, value);  /* borrowed */
    if (!entry) {
        if (PyErr_Occurred()) return -1;
        entry = Py_BuildValue("[iLLO]", 1, step, step, ctx->tid);
        if (!entry) return -1;
        int rc = PyDict_SetItem(ctx->distinct, value, entry);
        Py_DECREF(entry);
        return rc;
    }
    if (!PyList_Check(entry) || PyList_GET_SIZE(entry) < 3) {
        PyErr_SetString(PyExc_TypeError, "distinct values map to [count, first, last, ...]");
        return -1;
    }
    long long count = PyLong_AsLongLong(PyList_GET_ITEM(entry, 0));
    if (count == -1 && PyErr_Occurred()) return -1;
    PyObject *c = PyLong_FromLongLong(count + 1), *s = PyLong_FromLongLong(step);
    if (!c || !s) { Py_XDECREF(c); Py_XDECREF(s); return -1; }
    PyList_SetItem(entry, 0, c);
    PyList_SetItem(entry, 2, s);
    return 0;
}

static int on_change(void *vctx, int64_t index, Slot *top, uint32_t name, Py_ssize_t start,
                     Py_ssize_t end, int restated, const uint8_t *buf)
{
    ChangesCtx *ctx = vctx;
    PyObject *fid = PyLong_FromUnsignedLong(top->fid);
    if (!fid) return -1;
    PyObject *prev = PyDict_GetItemWithError(ctx->last, fid);  /* borrowed */
    if (!prev && PyErr_Occurred()) { Py_DECREF(fid); return -1; }
    int same;
    if (start < 0) same = prev == Py_None;
    else same = prev && prev != Py_None && PyBytes_GET_SIZE(prev) == end - start
                && memcmp(PyBytes_AS_STRING(prev), buf + start, (size_t)(end - start)) == 0;
    if (same || (start < 0 && !prev)) { Py_DECREF(fid); return 0; }
    PyObject *value = start < 0 ? (Py_INCREF(Py_None), Py_None)
                                : PyBytes_FromStringAndSize((const char *)buf + start, end - start);
    if (!value) { Py_DECREF(fid); return -1; }
    PyObject *item = NULL;
    /* a keyframe's copy is a change when it differs from a value seen before (the
     * keyframe holds the values at the chunk's first step); else only a baseline */
    int listed = !restated || prev || ctx->complete;
    if (listed && ctx->distinct) {  /* tallying: deletions are not counted */
        listed = start >= 0;
        if (listed) {
            ctx->counted++;
            if (tally(ctx, value, ctx->first + (index > 0 ? index : 0)) < 0) {
                Py_DECREF(fid); Py_DECREF(value); return -1;
            }
            listed = ctx->keep < 0 || PyList_GET_SIZE(ctx->out) < ctx->keep;
        }
    }
    if (listed) {
        item = Py_BuildValue("(LIIOO)", (long long)index, top->fid, top->code, value,
                             prev ? prev : Py_None);
        if (!item) { Py_DECREF(fid); Py_DECREF(value); return -1; }
    }
    int rc = PyDict_SetItem(ctx->last, fid, value);  /* may free prev: item holds its own */
    if (rc == 0 && item) rc = PyList_Append(ctx->out, item);
    Py_XDECREF(item);
    Py_DECREF(fid);
    Py_DECREF(value);
    return rc;
}

static PyObject *changes(PyObject *self, PyObject *args)
{
    Py_buffer view;
    unsigned int tid, name;
    PyObject *fids, *codes, *last, *distinct = NULL;
    long long first = 0;
    Py_ssize_t keep = -1;
    int complete = 0;
    if (!PyArg_ParseTuple(args, "y*IIOOO!|OLnp", &view, &tid, &name, &fids, &codes, &PyDict_Type,
                          &last, &distinct, &first, &keep, &complete))
        return NULL;
    if (distinct == Py_None) distinct = NULL;
    if (distinct && !PyDict_Check(distinct)) {
        PyErr_SetString(PyExc_TypeError, "distinct must be a dict or None");
        PyBuffer_Release(&view);
        return NULL;
    }
    PyObject *names = PySet_New(NULL), *key = PyLong_FromUnsignedLong(name);
    ChangesCtx ctx = {PyList_New(0), last, distinct, PyLong_FromUnsignedLong(tid), first, keep, 0,
                      complete};
    if (!names || !key || !ctx.out || !ctx.tid || PySet_Add(names, key) < 0
        || walk_writes(&view, tid, names, fids, codes, on_change, &ctx) < 0) {
        Py_CLEAR(ctx.out);
    }
    Py_XDECREF(names);
    Py_XDECREF(key);
    Py_XDECREF(ctx.tid);
    PyBuffer_Release(&view);
    if (ctx.out && distinct) return Py_BuildValue("(Nn)", ctx.out, ctx.counted);
    return ctx.out;
}

/* ---- times of steps (format 1.2) ---------------------------------------------------------- */

static PyObject *clocks(PyObject *self, PyObject *args)
{
    Py_buffer view;
    unsigned int tid;
    if (!PyArg_ParseTuple(args, "y*I", &view, &tid)) return NULL;
    Reader r = {view.buf, view.len, 0, 0};
    Buf idx = {0}, times = {0};
    int mine = 0, dated = 0;
    uint32_t index = 0;
    uint64_t clock = 0;
    PyObject *result = NULL;
    while (r.pos < r.n && !r.bad) {
        uint8_t op = r.p[r.pos++];
        switch (op) {
        case E_SET: rd_varint(&r); skip_value(&r, 0); break;
        case E_DEL: case E_POP: rd_varint(&r); break;
        case E_THREAD: mine = (uint32_t)rd_varint(&r) == tid; break;
        case E_CLOCK: {
            uint64_t d = rd_varint(&r);
            if (mine) { clock += d; dated = 1; }
            break;
        }
        case E_KEYFRAME:
            rd_varint(&r); rd_varint(&r);
            if (mine) { clock = 0; dated = 0; }
            break;
        case E_KFRAME: case E_ENTER: rd_varint(&r); rd_varint(&r); rd_varint(&r); break;
        case E_MARK: {
            rd_varint(&r);
            uint64_t ln = rd_varint(&r);
            r.pos += (Py_ssize_t)ln;
            if (r.pos > r.n) r.bad = 1;
            break;
        }
        case E_LINE: case E_CALL: case E_RETURN: case E_EXCEPTION:
            if (op == E_CALL) { rd_varint(&r); rd_varint(&r); }
            rd_varint(&r);
            if (op == E_EXCEPTION) rd_varint(&r);
            if (op == E_RETURN || op == E_EXCEPTION) skip_value(&r, 0);
            if (!mine) break;
            if (dated && (buf_put(&idx, &index, 4) < 0 || buf_put(&times, &clock, 8) < 0)) {
                PyErr_NoMemory();
                goto done;
            }
            dated = 0;
            index++;
            break;
        default:
            PyErr_Format(PyExc_ValueError, "unknown event record 0x%02x at %zd", op, r.pos - 1);
            goto done;
        }
    }
    if (r.bad) {
        PyErr_Format(PyExc_ValueError, "corrupt events chunk near offset %zd", r.pos);
        goto done;
    }
    result = Py_BuildValue("(NN)", bytes_of(&idx), bytes_of(&times));
done:
    PyMem_Free(idx.d);
    PyMem_Free(times.d);
    PyBuffer_Release(&view);
    return result;
}

/* ---- LZ4 blocks ---------------------------------------------------------------------------- */

/* Decode an LZ4 block (the recorder's codec 1: lz4.block without a size prefix) into `out`
 * (capacity `cap`); the decoded length, or -1 when the block is malformed or would not fit.
 * A block is a run of sequences: a token (high nibble: literal count, low nibble: match
 * length - 4; 15 in either means more bytes follow, each added, until one is below 255),
 * the literals, then (except in the last sequence) a 2-byte little-endian offset back into
 * the output and the match copied from there (it may overlap what it writes). */
static Py_ssize_t lz4_block_decode(const uint8_t *in, Py_ssize_t n, uint8_t *out, Py_ssize_t cap)
{
    Py_ssize_t ip = 0, op = 0;
    if (n == 0) return 0;
    while (ip < n) {
        uint8_t token = in[ip++];
        size_t lit = token >> 4;
        if (lit == 15) {
            uint8_t b;
            do {
                if (ip >= n) return -1;
                b = in[ip++];
                lit += b;
            } while (b == 255);
        }
        if (lit > (size_t)(n - ip) || lit > (size_t)(cap - op)) return -1;
        memcpy(out + op, in + ip, lit);
        ip += (Py_ssize_t)lit;
        op += (Py_ssize_t)lit;
        if (ip == n) return op;  /* the last sequence has literals only */
        if (n - ip < 2) return -1;
        size_t offset = (size_t)in[ip] | ((size_t)in[ip + 1] << 8);
        ip += 2;
        if (offset == 0 || offset > (size_t)op) return -1;
        size_t len = (size_t)(token & 15);
        if (len == 15) {
            uint8_t b;
            do {
                if (ip >= n) return -1;
                b = in[ip++];
                len += b;
            } while (b == 255);
        }
        len += 4;
        if (len > (size_t)(cap - op)) return -1;
        const uint8_t *from = out + op - offset;
        if (offset >= len) memcpy(out + op, from, len);
        else for (size_t i = 0; i < len; i++) out[op + i] = from[i];  /* overlapping */
        op += (Py_ssize_t)len;
    }
    return -1;  /* a block ends with literals */
}

static PyObject *lz4_block(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t raw;
    if (!PyArg_ParseTuple(args, "y*n", &view, &raw)) return NULL;
    if (raw < 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "negative size");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, raw);
    if (out) {
        Py_ssize_t got = lz4_block_decode(view.buf, view.len, (uint8_t *)PyBytes_AS_STRING(out),
                                          raw);
        if (got < 0) {
            Py_CLEAR(out);
            PyErr_SetString(PyExc_ValueError, "corrupt LZ4 block");
        }
        else if (got < raw) {
            _PyBytes_Resize(&out, got);
        }
    }
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "One pass over an events chunk (see the module doc)."},
    {"clocks", clocks, METH_VARARGS, "Times of a thread's steps (format 1.2)."},
    {"writes", writes, METH_VARARGS, "Writes of names in a thread's frames."},
    {"changes", changes, METH_VARARGS, "Changed values of one name per frame."},
    {"lz4_block", lz4_block, METH_VARARGS, "Decode an LZ4 block of at most `size` bytes."},
    {"as_sets", ts_as_sets, METH_VARARGS, "ITEMS records rewritten as SETs (itemdiffs.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "devsandbox._timescan",
    "Fast passes over recording chunks for the server (see recording/chunks.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__timescan(void) { return PyModule_Create(&module); }
