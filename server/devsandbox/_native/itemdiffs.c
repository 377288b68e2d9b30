/* devsandbox._timescan.as_sets: recording/itemdiffs.py's as_sets in C.
 *
 * as_sets(buf) -> bytes
 *   the events chunk with each run of ITEMS records (format 1.1) replaced by one SET record
 *   per local the run patched, holding the local's whole patched value, in the order the run
 *   first patched them; `buf` itself when it holds no ITEMS record.  ValueError when a
 *   record does not match the values before it, or the chunk is cut short.
 *
 * Each thread keeps a stack of frames, each frame its locals' values: a span of `buf` (a
 * SET's value, as written) or, once an ITEMS record patched it, a tree of its items whose
 * leaves are spans again.  A patched value is written out by copying those spans.
 */
#include "timescan.h"

#define E_ITEMS 0x52
#define MAX_DEPTH 200

typedef struct Node Node;

typedef struct {
    Py_ssize_t start, end; /* a span of buf (node == NULL) */
    Node *node;            /* or a container patched item by item */
} Val;

struct Node {
    uint8_t tag;
    uint64_t total;
    Py_ssize_t n, cap;
    Val *items;
    Val *keys; /* dicts */
};

typedef struct {
    uint32_t name;
    Val v;
} Local;

typedef struct {
    Local *locals;
    Py_ssize_t n, cap;
} Frame;

typedef struct {
    uint64_t tid;
    Frame *frames;
    Py_ssize_t depth, cap;
} Stack;

typedef struct {
    Reader r;
    Stack *stacks;
    Py_ssize_t nstacks, capstacks;
    Stack *cur;
    const char *error;
} Ctx;

static void val_free(Val *v);

static void
node_free(Node *nd)
{
    if (!nd) return;
    for (Py_ssize_t i = 0; i < nd->n; i++) {
        val_free(&nd->items[i]);
        if (nd->keys) val_free(&nd->keys[i]);
    }
    PyMem_Free(nd->items);
    PyMem_Free(nd->keys);
    PyMem_Free(nd);
}

static void
val_free(Val *v)
{
    node_free(v->node);
    v->node = NULL;
}

static void
frame_clear(Frame *f)
{
    for (Py_ssize_t i = 0; i < f->n; i++) val_free(&f->locals[i].v);
    PyMem_Free(f->locals);
    f->locals = NULL;
    f->n = f->cap = 0;
}

static void
pop_frames(Stack *s, Py_ssize_t k)
{
    while (k-- > 0 && s->depth > 0) frame_clear(&s->frames[--s->depth]);
}

static Frame *
top(Ctx *c)
{
    if (!c->cur || !c->cur->depth) {
        c->error = "a value record outside any frame";
        return NULL;
    }
    return &c->cur->frames[c->cur->depth - 1];
}

static Local *
find_local(Frame *f, uint32_t name)
{
    for (Py_ssize_t i = 0; i < f->n; i++)
        if (f->locals[i].name == name) return &f->locals[i];
    return NULL;
}

static Local *
add_local(Frame *f, uint32_t name)
{
    Local *l = find_local(f, name);
    if (l) return l;
    if (f->n == f->cap) {
        Py_ssize_t cap = f->cap ? 2 * f->cap : 8;
        Local *p = PyMem_Realloc(f->locals, (size_t)cap * sizeof(Local));
        if (!p) return NULL;
        f->locals = p;
        f->cap = cap;
    }
    l = &f->locals[f->n++];
    l->name = name;
    l->v.start = l->v.end = 0;
    l->v.node = NULL;
    return l;
}

static int
push_frame(Ctx *c)
{
    Stack *s = c->cur;
    if (!s) {
        c->error = "a frame record before any thread record";
        return -1;
    }
    if (s->depth == s->cap) {
        Py_ssize_t cap = s->cap ? 2 * s->cap : 16;
        Frame *p = PyMem_Realloc(s->frames, (size_t)cap * sizeof(Frame));
        if (!p) return -1;
        s->frames = p;
        s->cap = cap;
    }
    memset(&s->frames[s->depth++], 0, sizeof(Frame));
    return 0;
}

static int
use_thread(Ctx *c, uint64_t tid)
{
    for (Py_ssize_t i = 0; i < c->nstacks; i++)
        if (c->stacks[i].tid == tid) {
            c->cur = &c->stacks[i];
            return 0;
        }
    if (c->nstacks == c->capstacks) {
        Py_ssize_t cap = c->capstacks ? 2 * c->capstacks : 4;
        Stack *p = PyMem_Realloc(c->stacks, (size_t)cap * sizeof(Stack));
        if (!p) return -1;
        c->stacks = p;
        c->capstacks = cap;
    }
    c->cur = &c->stacks[c->nstacks++];
    memset(c->cur, 0, sizeof(Stack));
    c->cur->tid = tid;
    return 0;
}

static int
is_container(uint8_t tag)
{
    return tag >= V_LIST && tag <= V_DICT;
}

/* the value at the reader's position, as a span or (a container) a tree of spans */
static int
read_val(Ctx *c, Val *out, int depth)
{
    Reader *r = &c->r;
    out->node = NULL;
    out->start = r->pos;
    if (r->pos >= r->n || depth > MAX_DEPTH) {
        r->bad = 1;
        return 0;
    }
    uint8_t tag = r->p[r->pos];
    if (!is_container(tag)) {
        skip_value(r, depth);
        out->end = r->pos;
        return 0;
    }
    r->pos++;
    Node *nd = PyMem_Calloc(1, sizeof(Node));
    if (!nd) return -1;
    out->node = nd;
    nd->tag = tag;
    nd->total = rd_varint(r);
    uint64_t shown = rd_varint(r);
    if (r->bad || shown > (uint64_t)(r->n - r->pos)) { /* each item takes a byte at least */
        r->bad = 1;
        return 0;
    }
    nd->cap = (Py_ssize_t)shown;
    nd->items = PyMem_Calloc((size_t)shown + 1, sizeof(Val));
    if (tag == V_DICT) nd->keys = PyMem_Calloc((size_t)shown + 1, sizeof(Val));
    if (!nd->items || (tag == V_DICT && !nd->keys)) return -1;
    for (uint64_t i = 0; i < shown && !r->bad; i++) {
        nd->n = (Py_ssize_t)i + 1;
        if (nd->keys && read_val(c, &nd->keys[i], depth + 1) < 0) return -1;
        if (read_val(c, &nd->items[i], depth + 1) < 0) return -1;
    }
    out->end = r->pos;
    return 0;
}

/* a local's value as a tree (parsed from its span the first time it is patched) */
static int
as_tree(Ctx *c, Val *v)
{
    if (v->node) return 0;
    Reader saved = c->r;
    c->r.pos = v->start;
    c->r.n = v->end;
    Val t;
    int rc = read_val(c, &t, 0);
    int bad = c->r.bad;
    c->r = saved;
    if (rc < 0 || bad) {
        val_free(&t);
        if (rc == 0) c->error = "a recorded value that cannot be read";
        return -1;
    }
    *v = t;
    return 0;
}

static int
resize(Node *nd, Py_ssize_t shown)
{
    for (Py_ssize_t i = shown; i < nd->n; i++) {
        val_free(&nd->items[i]);
        if (nd->keys) val_free(&nd->keys[i]);
    }
    if (shown > nd->cap) {
        Val *p = PyMem_Realloc(nd->items, (size_t)shown * sizeof(Val));
        if (!p) return -1;
        nd->items = p;
        if (nd->keys) {
            Val *k = PyMem_Realloc(nd->keys, (size_t)shown * sizeof(Val));
            if (!k) return -1;
            nd->keys = k;
        }
        nd->cap = shown;
    }
    for (Py_ssize_t i = nd->n; i < shown; i++) {
        nd->items[i].start = nd->items[i].end = -1; /* unset until a patch gives it */
        nd->items[i].node = NULL;
        if (nd->keys) nd->keys[i] = nd->items[i];
    }
    nd->n = shown;
    return 0;
}

/* apply the ITEMS record whose body is at the reader's position to the top frame; *name:
 * the local it patched */
static int
apply_items(Ctx *c, uint32_t *name)
{
    Reader *r = &c->r;
    Frame *f = top(c);
    if (!f) return -1;
    *name = (uint32_t)rd_varint(r);
    uint64_t depth = rd_varint(r);
    Local *l = find_local(f, *name);
    if (!l || r->bad) {
        c->error = "an ITEMS record for a local without a value";
        return -1;
    }
    if (as_tree(c, &l->v) < 0) return -1;
    Node *nd = l->v.node;
    for (uint64_t d = 0; d < depth; d++) {
        uint64_t i = rd_varint(r);
        if (!nd || r->bad || i >= (uint64_t)nd->n) {
            c->error = "an ITEMS record does not match the recorded value";
            return -1;
        }
        nd = nd->items[i].node;
    }
    if (!nd) {
        c->error = "an ITEMS record for a value that is not a container";
        return -1;
    }
    uint64_t total = rd_varint(r), shown = rd_varint(r), count = rd_varint(r);
    if (r->bad || shown > (uint64_t)PY_SSIZE_T_MAX / 2 / sizeof(Val)) {
        c->error = "an ITEMS record cut short";
        return -1;
    }
    nd->total = total;
    if (resize(nd, (Py_ssize_t)shown) < 0) return -1;
    for (uint64_t k = 0; k < count; k++) {
        uint64_t i = rd_varint(r);
        if (r->bad || i >= shown) {
            c->error = "an ITEMS record does not match the recorded value";
            return -1;
        }
        if (nd->keys) {
            val_free(&nd->keys[i]);
            if (read_val(c, &nd->keys[i], 1) < 0) return -1;
        }
        val_free(&nd->items[i]);
        if (read_val(c, &nd->items[i], 1) < 0) return -1;
        if (r->bad) {
            c->error = "an ITEMS record cut short";
            return -1;
        }
    }
    return 0;
}

static int
put_varint(Buf *b, uint64_t v)
{
    uint8_t tmp[10];
    int k = 0;
    while (v >= 0x80) {
        tmp[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[k++] = (uint8_t)v;
    return buf_put(b, tmp, (size_t)k);
}

static int
write_val(Ctx *c, Buf *out, const Val *v)
{
    if (!v->node) {
        if (v->start < 0) {
            c->error = "an ITEMS record left an item of a container unset";
            return -1;
        }
        return buf_put(out, c->r.p + v->start, (size_t)(v->end - v->start));
    }
    const Node *nd = v->node;
    if (buf_put(out, &nd->tag, 1) < 0 || put_varint(out, nd->total) < 0 ||
        put_varint(out, (uint64_t)nd->n) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < nd->n; i++) {
        if (nd->keys && write_val(c, out, &nd->keys[i]) < 0) return -1;
        if (write_val(c, out, &nd->items[i]) < 0) return -1;
    }
    return 0;
}

/* a SET record of each local the run patched, in the order it first patched them */
static int
write_run(Ctx *c, Buf *out, const uint32_t *run, Py_ssize_t nrun)
{
    Frame *f = top(c);
    if (!f) return -1;
    for (Py_ssize_t i = 0; i < nrun; i++) {
        Local *l = find_local(f, run[i]);
        uint8_t op = E_SET;
        if (!l || buf_put(out, &op, 1) < 0 || put_varint(out, run[i]) < 0 ||
            write_val(c, out, &l->v) < 0)
            return -1;
    }
    return 0;
}

static void
ctx_free(Ctx *c)
{
    for (Py_ssize_t i = 0; i < c->nstacks; i++) {
        pop_frames(&c->stacks[i], c->stacks[i].depth);
        PyMem_Free(c->stacks[i].frames);
    }
    PyMem_Free(c->stacks);
}

#define RUN_MAX 4096

PyObject *
ts_as_sets(PyObject *self, PyObject *args)
{
    PyObject *src;
    if (!PyArg_ParseTuple(args, "O", &src)) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(src, &view, PyBUF_SIMPLE) < 0) return NULL;
    Ctx c = {{view.buf, view.len, 0, 0}, NULL, 0, 0, NULL, NULL};
    Reader *r = &c.r;
    Buf out = {NULL, 0, 0};
    Py_ssize_t copied = 0; /* buf[:copied] is in out (or replaced) */
    uint32_t run[RUN_MAX];
    Py_ssize_t nrun = 0;
    int pop = 0, any = 0, rc = 0;
    while (r->pos < r->n && rc == 0) {
        Py_ssize_t start = r->pos;
        uint8_t op = r->p[r->pos++];
        if (op == E_ITEMS) {
            if (!nrun && buf_put(&out, r->p + copied, (size_t)(start - copied)) < 0) {
                rc = -1;
                break;
            }
            uint32_t name;
            if (apply_items(&c, &name) < 0) {
                rc = -1;
                break;
            }
            Py_ssize_t i = 0;
            while (i < nrun && run[i] != name) i++;
            if (i == nrun) {
                if (nrun == RUN_MAX) {
                    c.error = "too many locals patched in one run";
                    rc = -1;
                    break;
                }
                run[nrun++] = name;
            }
            copied = r->pos;
            any = 1;
            continue;
        }
        if (nrun) {
            if (write_run(&c, &out, run, nrun) < 0) {
                rc = -1;
                break;
            }
            nrun = 0;
        }
        if (op == E_SET || op == E_DEL) {
            Frame *f = top(&c);
            uint32_t name = (uint32_t)rd_varint(r);
            if (!f) {
                rc = -1;
                break;
            }
            if (op == E_SET) {
                Local *l = add_local(f, name);
                if (!l) {
                    rc = -1;
                    break;
                }
                val_free(&l->v);
                l->v.start = r->pos;
                skip_value(r, 0);
                l->v.end = r->pos;
            }
            else {
                Local *l = find_local(f, name);
                if (l) {
                    val_free(&l->v);
                    *l = f->locals[--f->n];
                }
            }
            continue;
        }
        if (pop) {
            pop_frames(c.cur, 1);
            pop = 0;
        }
        switch (op) {
        case E_LINE: case E_CLOCK:
            rd_varint(r);
            break;
        case E_THREAD:
            if (use_thread(&c, rd_varint(r)) < 0) rc = -1;
            break;
        case E_CALL: case E_ENTER: case E_KFRAME:
            rd_varint(r);
            rd_varint(r);
            rd_varint(r);
            if (push_frame(&c) < 0) rc = -1;
            break;
        case E_RETURN:
            rd_varint(r);
            skip_value(r, 0);
            pop = 1;
            break;
        case E_EXCEPTION:
            rd_varint(r);
            rd_varint(r);
            skip_value(r, 0);
            break;
        case E_POP: {
            uint64_t k = rd_varint(r);
            if (!c.cur) {
                c.error = "a frame record before any thread record";
                rc = -1;
            }
            else {
                pop_frames(c.cur, k > (uint64_t)c.cur->depth ? c.cur->depth : (Py_ssize_t)k);
            }
            break;
        }
        case E_KEYFRAME:
            rd_varint(r);
            rd_varint(r);
            if (c.cur) pop_frames(c.cur, c.cur->depth);
            break;
        case E_MARK: {
            rd_varint(r);
            uint64_t len = rd_varint(r);
            r->pos += (Py_ssize_t)(len < (uint64_t)r->n ? len : (uint64_t)r->n);
            break;
        }
        default:
            c.error = "an unknown event record";
            rc = -1;
        }
    }
    if (rc == 0 && nrun && write_run(&c, &out, run, nrun) < 0) rc = -1;
    if (rc == 0 && (r->bad || r->pos > r->n)) {
        c.error = "an events chunk cut short";
        rc = -1;
    }
    PyObject *res = NULL;
    if (rc == 0 && !any) {
        res = Py_NewRef(src);
    }
    else if (rc == 0) {
        if (copied < r->n && buf_put(&out, r->p + copied, (size_t)(r->n - copied)) < 0)
            rc = -1;
        else
            res = PyBytes_FromStringAndSize((const char *)out.d, (Py_ssize_t)out.len);
    }
    if (rc < 0 && !PyErr_Occurred()) {
        if (c.error)
            PyErr_Format(PyExc_ValueError, "%s (record at byte %zd)", c.error, r->pos);
        else
            PyErr_NoMemory();
    }
    ctx_free(&c);
    PyMem_Free(out.d);
    PyBuffer_Release(&view);
    return res;
}
