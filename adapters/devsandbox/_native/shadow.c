/* Item-level change detection for containers held by locals.
 *
 * A local holding an exact builtin list, tuple, dict, set or frozenset keeps
 * a shadow: per shown item, a fingerprint of what the item shows (and, for
 * items that are containers themselves and shown in full, a nested shadow).
 * At each event the container is compared item by item with its shadow, and
 * only what changed is written, as ITEMS records (format.py: E.ITEMS):
 *
 *     ITEMS name, depth, path[depth], total, shown, count, count x (index, [key,] value)
 *
 * "the container at `path` inside the local `name` now has `total` items of
 * which `shown` are shown; the items at these indices are now these values"
 * (a dict's items are its entries: key and value).  Records for nested
 * containers come before the record of the container holding them.
 *
 * Fingerprints are of values, not addresses, so a float or int replaced by
 * another at the same address is still seen.  A container whose items are
 * all scalars ("flat") and whose identity and signature (its items' values,
 * a dict's version) are unchanged is skipped without looking at its items:
 * a tuple at the address of the one shown may be another, made after it was
 * freed.
 */
#include "recorder.h"

#if PY_VERSION_HEX >= 0x030D0000
#define Py_BUILD_CORE 1
#include "internal/pycore_setobject.h" /* _PySet_NextEntry */
#undef Py_BUILD_CORE
#endif

#define SH_MAX_PATH 32
#define SH_BUILD_BUDGET 4096 /* container nodes per local */

struct ShNode {
    void *obj;    /* identity of the container (flat fast path) */
    uint64_t sig; /* its signature when last compared */
    uint8_t tag;  /* V_LIST, V_TUPLE, V_SET, V_FROZENSET, V_DICT */
    uint8_t flat; /* every shown item is a scalar */
    /* a ref: not a container's shadow but an item of its parent's whose fingerprint
     * (parent->fps[idx]) read the state of that item alone (an object shown by its
     * attributes, a list past max_depth shown by its length): indexed, so that a change of
     * it is compared by fingerprinting it alone (n is 0) */
    uint8_t ref;
    Py_ssize_t total, n;
    uint64_t *fps;        /* n item fingerprints (dicts: of the values) */
    uint64_t *kfps;       /* dicts: n key fingerprints */
    struct ShNode **sub;  /* NULL, or n shadows of items shown as containers */
    struct ShNode *parent; /* the shadow holding it as item `idx` (NULL: the root) */
    uint32_t idx;
    struct ShNode *same;   /* the next shadow of the same object in the tree (index) */
    /* the root's: its shadows by object (NULL: not built), and whether the last comparison
     * of the whole read no object's state other than the shadowed containers' ("pure") */
    PtrMap *index;
    uint8_t pure;
};

/* shadows created or freed so far: a tree whose count moved has a new shape */
static uint64_t sh_edits;
/* ds_fp_saw calls made for shadowed containers (the rest came from fingerprints) */
static size_t node_saws;

/* A shadowed container is compared: note that its state is read (step_mask), and whether
 * something other than its holder (`held`: references the comparison itself holds) refers
 * to it (ds_fp_shared: the value is not private) */
static inline void
saw_node(PyObject *o, int tag, int held)
{
    if (Py_REFCNT(o) > 1 + held) ds_fp_shared = 1;
    if (tag != V_TUPLE && tag != V_FROZENSET && ds_fp_collect) {
        ds_fp_saw(o);
        node_saws++;
    }
}

int
ds_container_tag(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyList_Type) return V_LIST;
    if (t == &PyTuple_Type) return V_TUPLE;
    if (t == &PyDict_Type) return V_DICT;
    if (t == &PySet_Type) return V_SET;
    if (t == &PyFrozenSet_Type) return V_FROZENSET;
    return 0;
}

static inline int
is_scalar(PyObject *e)
{
    PyTypeObject *t = Py_TYPE(e);
    return t == &PyLong_Type || t == &PyFloat_Type || t == &PyUnicode_Type || e == Py_None ||
           t == &PyBool_Type || t == &PyBytes_Type || t == &PyComplex_Type;
}

static inline uint64_t
rotl(uint64_t x)
{
    return (x << 7) | (x >> 57);
}

/* a signature of a flat container at the same address: equal => its shown content is
 * unchanged (by its items' values, or a dict's version: an address seen again may be another
 * container's, made after this one was freed) */
static int
signature(PyObject *o, int tag, uint64_t *sig)
{
    if (tag == V_LIST || tag == V_TUPLE || tag == V_DICT) return ds_shallow(o, sig);
    return 0;
}

static void
drop_index(ShNode *root)
{
    if (!root->index) return;
    ds_map_clear(root->index);
    PyMem_RawFree(root->index);
    root->index = NULL;
}

void
ds_sh_free(ShNode *sh)
{
    if (!sh) return;
    sh_edits++;
    drop_index(sh);
    if (sh->sub) {
        for (Py_ssize_t i = 0; i < sh->n; i++) ds_sh_free(sh->sub[i]);
        PyMem_RawFree(sh->sub);
    }
    PyMem_RawFree(sh->fps);
    PyMem_RawFree(sh->kfps);
    PyMem_RawFree(sh);
}

/* the shown items of a container, as new references (user code may run
 * later, while encoding: the snapshot stays valid) */
static Py_ssize_t
snapshot(PyObject *o, int tag, Py_ssize_t n, PyObject **keys, PyObject **vals)
{
    Py_ssize_t got = 0;
    if (tag == V_LIST || tag == V_TUPLE) {
        for (; got < n && got < Py_SIZE(o); got++)
            vals[got] = Py_NewRef(tag == V_LIST ? PyList_GET_ITEM(o, got) : PyTuple_GET_ITEM(o, got));
    }
    else if (tag == V_DICT) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (got < n && PyDict_Next(o, &pos, &k, &v)) {
            keys[got] = Py_NewRef(k);
            vals[got] = Py_NewRef(v);
            got++;
        }
    }
    else {
        Py_ssize_t pos = 0;
        PyObject *k;
        Py_hash_t hv;
        while (got < n && _PySet_NextEntry(o, &pos, &k, &hv)) vals[got++] = Py_NewRef(k);
    }
    return got;
}

static void
release(PyObject **keys, PyObject **vals, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (keys) Py_XDECREF(keys[i]);
        Py_XDECREF(vals[i]);
    }
}

static inline Py_ssize_t
length(PyObject *o, int tag)
{
    if (tag == V_LIST || tag == V_TUPLE) return Py_SIZE(o);
    if (tag == V_DICT) return PyDict_GET_SIZE(o);
    return PySet_GET_SIZE(o);
}

static int
on_path(PyObject *o, PyObject **objs, int plen)
{
    for (int i = 0; i <= plen; i++)
        if (objs[i] == o) return 1;
    return 0;
}

/* the fingerprint that started when ds_fp_nobjs was `n0` read the state of `o` alone */
static inline int
read_alone(size_t n0, PyObject *o)
{
    return ds_fp_collect && ds_fp_nobjs == n0 + 1 && n0 < DS_FP_OBJS_MAX &&
           ds_fp_objs[n0] == (void *)o;
}

/* sh->fps[i]: the fingerprint of its item `v`, not shadowed as a container; a ref shadow
 * for `v` when that read the state of `v` alone (`cap`: the items sh->sub must hold) */
static int
item_fp(ShNode *sh, Py_ssize_t i, PyObject *v, int depth, Py_ssize_t cap)
{
    size_t n0 = ds_fp_nobjs;
    sh->fps[i] = ds_fingerprint(v, depth + 1);
    if (!read_alone(n0, v)) return 0;
    if (!sh->sub && !(sh->sub = PyMem_RawCalloc((size_t)cap + 1, sizeof(ShNode *)))) {
        PyErr_NoMemory();
        return -1;
    }
    ShNode *ref = PyMem_RawCalloc(1, sizeof(ShNode));
    if (!ref) {
        PyErr_NoMemory();
        return -1;
    }
    sh_edits++;
    node_saws++;
    ref->ref = 1;
    ref->obj = v;
    ref->parent = sh;
    ref->idx = (uint32_t)i;
    sh->sub[i] = ref;
    return 0;
}

/* Shadow of container `o` shown at `depth` (objs[0..plen] are its
 * ancestors and itself).  NULL with an error set only on memory errors;
 * NULL without an error when no shadow is kept (the caller compares a
 * fingerprint of the whole item instead). */
static ShNode *
sh_build(PyObject *o, int tag, int depth, PyObject **objs, int plen, int *budget)
{
    if (depth >= ds_limits.max_depth || plen >= SH_MAX_PATH - 1 || *budget <= 0) return NULL;
    (*budget)--;
    saw_node(o, tag, plen > 0); /* its parent holds a snapshot of its items */
    ShNode *sh = PyMem_RawCalloc(1, sizeof(ShNode));
    if (!sh) return (ShNode *)PyErr_NoMemory();
    sh_edits++;
    sh->tag = (uint8_t)tag;
    sh->obj = o;
    sh->total = PyObject_Length(o);
    if (sh->total < 0) {
        PyErr_Clear();
        sh->total = 0;
    }
    Py_ssize_t n = sh->total < ds_limits.max_items ? sh->total : ds_limits.max_items;
    PyObject **keys = NULL, **vals = PyMem_RawCalloc((size_t)n + 1, sizeof(PyObject *));
    if (tag == V_DICT) keys = PyMem_RawCalloc((size_t)n + 1, sizeof(PyObject *));
    sh->fps = PyMem_RawCalloc((size_t)n + 1, sizeof(uint64_t));
    if (tag == V_DICT) sh->kfps = PyMem_RawCalloc((size_t)n + 1, sizeof(uint64_t));
    if (!vals || !sh->fps || (tag == V_DICT && (!keys || !sh->kfps))) {
        PyMem_RawFree(vals);
        PyMem_RawFree(keys);
        ds_sh_free(sh);
        return (ShNode *)PyErr_NoMemory();
    }
    n = snapshot(o, tag, n, keys, vals);
    sh->n = n;
    int flat = 1, rc = 0;
    for (Py_ssize_t i = 0; i < n && rc == 0; i++) {
        if (keys) {
            sh->kfps[i] = ds_fingerprint(keys[i], depth + 1);
            if (!is_scalar(keys[i])) flat = 0;
        }
        PyObject *v = vals[i];
        if (is_scalar(v)) {
            sh->fps[i] = ds_fingerprint(v, depth + 1);
            continue;
        }
        flat = 0;
        int vt = ds_container_tag(v);
        ShNode *kid = NULL;
        if (vt && !on_path(v, objs, plen)) {
            objs[plen + 1] = v;
            kid = sh_build(v, vt, depth + 1, objs, plen + 1, budget);
            if (!kid && PyErr_Occurred()) rc = -1;
        }
        if (kid) {
            if (!sh->sub && !(sh->sub = PyMem_RawCalloc((size_t)n + 1, sizeof(ShNode *)))) {
                ds_sh_free(kid);
                PyErr_NoMemory();
                rc = -1;
                break;
            }
            sh->sub[i] = kid;
            kid->parent = sh;
            kid->idx = (uint32_t)i;
        }
        else if (item_fp(sh, i, v, depth, n) < 0) {
            rc = -1;
        }
    }
    sh->flat = (uint8_t)(flat && signature(o, tag, &sh->sig));
    release(keys, vals, n);
    PyMem_RawFree(keys);
    PyMem_RawFree(vals);
    if (rc < 0) {
        ds_sh_free(sh);
        return NULL;
    }
    return sh;
}

/* the reads since ds_fp_nobjs was `n0` were all of shadowed containers */
static inline int
reads_pure(size_t n0)
{
    return ds_fp_collect && ds_fp_nobjs <= DS_FP_OBJS_MAX && ds_fp_nobjs - n0 == node_saws;
}

ShNode *
ds_sh_new(PyObject *o)
{
    int tag = ds_container_tag(o);
    if (!tag) return NULL;
    PyObject *objs[SH_MAX_PATH];
    objs[0] = o;
    int budget = SH_BUILD_BUDGET;
    size_t n0 = ds_fp_nobjs;
    node_saws = 0;
    ShNode *sh = sh_build(o, tag, 0, objs, 0, &budget);
    if (sh) sh->pure = reads_pure(n0);
    return sh;
}

/* an ITEMS record up to its items */
static int
items_head(Buf *b, uint32_t name_id, const uint32_t *path, int plen, Py_ssize_t total,
           Py_ssize_t n, Py_ssize_t nchanged)
{
    if (buf_need(b, 32 + 6 * (size_t)plen) < 0) return -1;
    put_u8(b, E_ITEMS);
    put_var(b, name_id);
    put_var(b, (uint64_t)plen);
    for (int i = 0; i < plen; i++) put_var(b, path[i]);
    put_var(b, (uint64_t)total);
    put_var(b, (uint64_t)n);
    put_var(b, (uint64_t)nchanged);
    return 0;
}

/* The entries of an ITEMS record: of the `n` items (new references) those `changed` marks
 * (NULL: all), numbered from `first`; the container at `path` and its ancestors
 * (objs[0..plen]) are marked for repr()'s recursion guard while they are encoded, exactly as
 * when the whole value is encoded. */
static int
put_entries(Buf *b, PyObject **objs, int plen, Py_ssize_t n, PyObject **keys, PyObject **vals,
            const unsigned char *changed, Py_ssize_t first, int depth)
{
    int entered = 0, rc = 0;
    for (; entered <= plen; entered++)
        if (Py_ReprEnter(objs[entered]) < 0) {
            PyErr_Clear();
            break;
        }
    for (Py_ssize_t i = 0; i < n && rc == 0; i++) {
        if (changed && !changed[i]) continue;
        rc = buf_need(b, 10);
        if (rc == 0) put_var(b, (uint64_t)(first + i));
        if (rc == 0 && keys) rc = ds_encode(b, keys[i], depth + 1);
        if (rc == 0) rc = ds_encode(b, vals[i], depth + 1);
    }
    while (entered-- > 0) Py_ReprLeave(objs[entered]);
    return rc;
}

/* Write the changed items of the container at `path` */
static int
emit_items(Buf *b, uint32_t name_id, const uint32_t *path, int plen, PyObject **objs,
           Py_ssize_t total, Py_ssize_t n, PyObject **keys, PyObject **vals,
           const unsigned char *changed, Py_ssize_t nchanged, int depth)
{
    if (items_head(b, name_id, path, plen, total, n, nchanged) < 0) return -1;
    if (!nchanged) return 0;
    return put_entries(b, objs, plen, n, keys, vals, changed, 0, depth);
}

static int
grow(ShNode *sh, Py_ssize_t n)
{
    uint64_t *fps = PyMem_RawRealloc(sh->fps, sizeof(uint64_t) * ((size_t)n + 1));
    if (!fps) return -1;
    sh->fps = fps;
    if (sh->kfps) {
        uint64_t *k = PyMem_RawRealloc(sh->kfps, sizeof(uint64_t) * ((size_t)n + 1));
        if (!k) return -1;
        sh->kfps = k;
    }
    if (sh->sub) {
        ShNode **s = PyMem_RawRealloc(sh->sub, sizeof(ShNode *) * ((size_t)n + 1));
        if (!s) return -1;
        sh->sub = s;
        for (Py_ssize_t i = sh->n; i < n; i++) s[i] = NULL;
    }
    return 0;
}

/* i-th shown item (borrowed), iterating with *pos for dicts and sets */
static inline int
next_item(PyObject *o, int tag, Py_ssize_t i, Py_ssize_t *pos, PyObject **key, PyObject **val)
{
    if (tag == V_LIST) {
        if (i >= Py_SIZE(o)) return 0;
        *val = PyList_GET_ITEM(o, i);
        return 1;
    }
    if (tag == V_TUPLE) {
        if (i >= Py_SIZE(o)) return 0;
        *val = PyTuple_GET_ITEM(o, i);
        return 1;
    }
    if (tag == V_DICT) return PyDict_Next(o, pos, key, val);
    Py_hash_t hv;
    return _PySet_NextEntry(o, pos, val, &hv);
}

#define SMALL_BITS 256

/* Compare container `o` (same tag as its shadow) with the shadow, write what
 * changed, bring the shadow up to date.  The comparison allocates nothing
 * and runs no user code (items are borrowed); only when something changed
 * are the items taken (new references) and encoded. */
static int
sh_diff(Buf *b, uint32_t name_id, uint32_t *path, PyObject **objs, int plen, ShNode *sh,
        PyObject *o, int depth)
{
    uint64_t sig;
    int tag = sh->tag;
    int same = sh->obj == (void *)o;
    saw_node(o, tag, 0);
    if (same && sh->flat && signature(o, tag, &sig) && sig == sh->sig) return 0;
    Py_ssize_t total = length(o, tag);
    Py_ssize_t n = total < ds_limits.max_items ? total : ds_limits.max_items;
    uint64_t small[SMALL_BITS / 64] = {0}, *changed = small;
    if (n > SMALL_BITS && !(changed = PyMem_RawCalloc((size_t)(n + 63) / 64, 8))) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t nchanged = 0, pos = 0, i = 0;
    int flat = 1, rc = 0;
    PyObject *key = NULL, *v = NULL;
    for (; i < n && rc == 0 && next_item(o, tag, i, &pos, &key, &v); i++) {
        int old = i < sh->n;
        if (tag == V_DICT && !is_scalar(key)) flat = 0;
        int scalar = is_scalar(v);
        if (!scalar) flat = 0;
        ShNode *kid = (old && sh->sub) ? sh->sub[i] : NULL;
        if (old && (tag != V_DICT || sh->kfps[i] == ds_fingerprint(key, depth + 1))) {
            if (kid && kid->ref) {
                /* unchanged while it is the same object, showing the same, reading only
                 * itself (else written again, and its ref made again) */
                size_t n0 = ds_fp_nobjs;
                uint64_t f = ds_fingerprint(v, depth + 1);
                if (f == sh->fps[i] && kid->obj == (void *)v && read_alone(n0, v)) {
                    node_saws++;
                    continue;
                }
            }
            else if (kid) {
                if (ds_container_tag(v) == kid->tag && !on_path(v, objs, plen) &&
                    plen < SH_MAX_PATH - 1) {
                    path[plen] = (uint32_t)i;
                    objs[plen + 1] = v;
                    rc = sh_diff(b, name_id, path, objs, plen + 1, kid, v, depth + 1);
                    continue;
                }
            }
            else if (ds_fingerprint(v, depth + 1) == sh->fps[i]) {
                /* (a tuple at the address of the one shown may be another: by value) */
                continue;
            }
        }
        changed[i / 64] |= (uint64_t)1 << (i % 64);
        nchanged++;
    }
    n = i; /* a set or dict shorter than its length said (cannot happen; be safe) */
    if (rc == 0 && flat && (nchanged || n != sh->n || total != sh->total)) {
        /* only scalars: written from borrowed references (encoding them runs no code) */
        if (n > sh->n && grow(sh, n) < 0) {
            if (changed != small) PyMem_RawFree(changed);
            PyErr_NoMemory();
            return -1;
        }
        rc = items_head(b, name_id, path, plen, total, n, nchanged);
        pos = 0;
        for (Py_ssize_t j = 0; j < n && rc == 0 && next_item(o, tag, j, &pos, &key, &v); j++) {
            if (!((changed[j / 64] >> (j % 64)) & 1)) continue;
            rc = buf_need(b, 10);
            if (rc == 0) put_var(b, (uint64_t)j);
            if (rc == 0 && tag == V_DICT) rc = ds_encode(b, key, depth + 1);
            if (rc == 0) rc = ds_encode(b, v, depth + 1);
            if (tag == V_DICT) sh->kfps[j] = ds_fingerprint(key, depth + 1);
            sh->fps[j] = ds_fingerprint(v, depth + 1);
            if (sh->sub && j < sh->n && sh->sub[j]) {
                ds_sh_free(sh->sub[j]);
                sh->sub[j] = NULL;
            }
        }
        for (Py_ssize_t j = n; sh->sub && j < sh->n; j++) {
            ds_sh_free(sh->sub[j]);
            sh->sub[j] = NULL;
        }
    }
    else if (rc == 0 && (nchanged || n != sh->n || total != sh->total)) {
        /* take the items, then write and follow them */
        PyObject **keys = NULL, **vals = PyMem_RawCalloc((size_t)n + 1, sizeof(PyObject *));
        if (tag == V_DICT) keys = PyMem_RawCalloc((size_t)n + 1, sizeof(PyObject *));
        unsigned char *flags = PyMem_RawCalloc((size_t)n + 1, 1);
        if (!vals || !flags || (tag == V_DICT && !keys) || (n > sh->n && grow(sh, n) < 0)) {
            PyMem_RawFree(vals);
            PyMem_RawFree(keys);
            PyMem_RawFree(flags);
            if (changed != small) PyMem_RawFree(changed);
            PyErr_NoMemory();
            return -1;
        }
        Py_ssize_t got = snapshot(o, tag, n, keys, vals);
        for (Py_ssize_t j = 0; j < got; j++)
            flags[j] = (changed[j / 64] >> (j % 64)) & 1;
        rc = emit_items(b, name_id, path, plen, objs, total, got, keys, vals, flags, nchanged,
                        depth);
        for (Py_ssize_t j = got; j < sh->n; j++)
            if (sh->sub) {
                ds_sh_free(sh->sub[j]);
                sh->sub[j] = NULL;
            }
        int budget = SH_BUILD_BUDGET / 8;
        for (Py_ssize_t j = 0; j < got && rc == 0; j++) {
            if (!flags[j]) continue;
            PyObject *item = vals[j];
            if (keys) sh->kfps[j] = ds_fingerprint(keys[j], depth + 1);
            if (sh->sub) {
                ds_sh_free(sh->sub[j]);
                sh->sub[j] = NULL;
            }
            int vt = ds_container_tag(item);
            ShNode *kid = NULL;
            if (vt && !on_path(item, objs, plen) && plen < SH_MAX_PATH - 1) {
                objs[plen + 1] = item;
                kid = sh_build(item, vt, depth + 1, objs, plen + 1, &budget);
                if (!kid && PyErr_Occurred()) rc = -1;
            }
            if (kid) {
                if (!sh->sub &&
                    !(sh->sub = PyMem_RawCalloc((size_t)(got > sh->n ? got : sh->n) + 1,
                                                sizeof(ShNode *)))) {
                    ds_sh_free(kid);
                    PyErr_NoMemory();
                    rc = -1;
                    break;
                }
                sh->sub[j] = kid;
                kid->parent = sh;
                kid->idx = (uint32_t)j;
            }
            else if (item_fp(sh, j, item, depth, got > sh->n ? got : sh->n) < 0) {
                rc = -1;
            }
        }
        release(keys, vals, got);
        PyMem_RawFree(vals);
        PyMem_RawFree(keys);
        PyMem_RawFree(flags);
        n = got;
    }
    if (changed != small) PyMem_RawFree(changed);
    sh->n = n;
    sh->total = total;
    if (!same) {
        sh->obj = o;
        sh_edits++; /* the index is by object */
    }
    sh->flat = (uint8_t)(flat && signature(o, tag, &sh->sig));
    return rc;
}

int
ds_sh_diff(Buf *b, uint32_t name_id, ShNode *sh, PyObject *o)
{
    uint32_t path[SH_MAX_PATH];
    PyObject *objs[SH_MAX_PATH];
    objs[0] = o;
    size_t n0 = ds_fp_nobjs;
    uint64_t edits = sh_edits;
    node_saws = 0;
    int rc = sh_diff(b, name_id, path, objs, 0, sh, o, 0);
    sh->pure = rc == 0 && reads_pure(n0);
    if (sh_edits != edits) drop_index(sh);
    return rc;
}

/* The item `idx` of the container shadowed by `sh` (at `path`), `o`, has a ref shadow and
 * changed: fingerprint it alone, and write it if what it shows changed.  *reshaped when it
 * is not that item any more or its fingerprint reads more than itself now. */
static int
ref_diff(Buf *b, uint32_t name_id, const uint32_t *path, PyObject **objs, int plen, ShNode *sh,
         uint32_t idx, PyObject *o, int *reshaped)
{
    PyObject *c = (PyObject *)sh->obj, *key = NULL, *v = NULL;
    Py_ssize_t pos = 0;
    for (Py_ssize_t j = 0; j <= (Py_ssize_t)idx; j++)
        if (!next_item(c, sh->tag, j, &pos, &key, &v)) v = NULL;
    size_t n0 = ds_fp_nobjs;
    uint64_t f = v == o ? ds_fingerprint(o, plen + 1) : 0;
    if (v != o || !read_alone(n0, o)) {
        *reshaped = 1;
        return 0;
    }
    node_saws++;
    if (f == sh->fps[idx]) return 0;
    sh->fps[idx] = f;
    if (items_head(b, name_id, path, plen, sh->total, sh->n, 1) < 0) return -1;
    /* its repr may run code: hold what is written */
    Py_INCREF(o);
    Py_XINCREF(key);
    int rc = put_entries(b, objs, plen, 1, sh->tag == V_DICT ? &key : NULL, &o, NULL, idx, plen);
    Py_XDECREF(key);
    Py_DECREF(o);
    return rc;
}

/* the tree's shadows by object: a shadow heads the chain of those of its object */
static int
index_add(PtrMap *m, ShNode *sh)
{
    sh->same = ds_map_get(m, sh->obj);
    if (ds_map_put(m, sh->obj, sh) < 0) return -1;
    for (Py_ssize_t i = 0; sh->sub && i < sh->n; i++)
        if (sh->sub[i] && index_add(m, sh->sub[i]) < 0) return -1;
    return 0;
}

int
ds_sh_diff_objs(Buf *b, uint32_t name_id, ShNode *root, PyObject *o, void *const *changed,
                size_t nchanged)
{
    if (!root->pure || root->obj != (void *)o) return 0;
    if (!root->index) {
        PtrMap *m = PyMem_RawCalloc(1, sizeof(PtrMap));
        if (!m) {
            PyErr_NoMemory();
            return -1;
        }
        root->index = m;
        if (index_add(m, root) < 0) {
            drop_index(root);
            return -1;
        }
    }
    uint64_t edits = sh_edits;
    /* what the comparisons read: to see whether it is still only shadowed containers */
    int collect = ds_fp_collect;
    size_t nobjs = ds_fp_nobjs;
    int vol = ds_fp_volatile;
    ds_fp_collect = 1;
    ds_fp_nobjs = 0;
    ds_fp_volatile = 0;
    node_saws = 0;
    int rc = 0;
    /* a comparison that reshaped the tree may have freed shadows still in the index: then
     * stop (the caller compares the whole, which finds only what is left) */
    int reshaped = 0;
    for (size_t k = 0; k < nchanged && rc == 0 && sh_edits == edits && !reshaped; k++) {
        for (ShNode *sh = ds_map_get(root->index, changed[k]); sh && rc == 0 && sh_edits == edits;
             sh = sh->same) {
            /* the path to the shadow (a ref: to its parent) */
            ShNode *at = sh->ref ? sh->parent : sh;
            uint32_t path[SH_MAX_PATH];
            PyObject *objs[SH_MAX_PATH];
            int plen = 0;
            for (ShNode *p = at; p->parent; p = p->parent) plen++;
            int i = plen;
            for (ShNode *p = at; p; p = p->parent) {
                objs[i] = (PyObject *)p->obj;
                if (p->parent) path[i - 1] = p->idx;
                i--;
            }
            if (sh->ref)
                rc = ref_diff(b, name_id, path, objs, plen, at, sh->idx, (PyObject *)sh->obj,
                              &reshaped);
            else
                rc = sh_diff(b, name_id, path, objs, plen, sh, (PyObject *)changed[k], plen);
        }
    }
    int again = reshaped || sh_edits != edits || ds_fp_volatile || !reads_pure(0);
    ds_fp_collect = collect;
    ds_fp_nobjs = nobjs;
    ds_fp_volatile = vol;
    if (rc < 0) return -1;
    if (again) {
        drop_index(root);
        return 0;
    }
    return 1;
}

int
ds_sh_tag(ShNode *sh)
{
    return sh ? sh->tag : 0;
}
