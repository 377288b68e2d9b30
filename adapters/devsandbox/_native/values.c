/* Value capture for the recorder: fingerprints (cheap change detection) and
 * the compact encoding of values (format.py: decode_value).
 *
 * Builtin scalars and the exact builtin containers are encoded by content,
 * so the reader rebuilds their repr exactly and no Python code runs here.
 * Every other object is encoded as its repr() string, taken at capture time,
 * under a per-type time budget.
 */
#include "recorder.h"
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <time.h>
#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h> /* PyMemberDef (__slots__ entries) */
#endif

#if PY_VERSION_HEX >= 0x030D0000
#define Py_BUILD_CORE 1
#include "internal/pycore_setobject.h" /* _PySet_NextEntry */
#include "internal/pycore_dict.h"      /* instance attributes stored inline */
#include "internal/pycore_object.h"
#undef Py_BUILD_CORE
#else
/* 3.11: where an instance keeps its attributes (internal/pycore_object.h and
 * pycore_dict.h, which cannot be included here) */
struct ds_keys311 {
    Py_ssize_t dk_refcnt;
    uint8_t dk_log2_size, dk_log2_index_bytes, dk_kind;
    uint32_t dk_version;
    Py_ssize_t dk_usable, dk_nentries;
};
typedef struct {
    PyObject *values[1];
} ds_values311;
#endif

Limits ds_limits = {3, 64, 1000, 2000, 20 * 1000 * 1000, 500};

/* ---- buffer and map helpers ---------------------------------------------- */

int
ds_buf_grow(Buf *b, size_t extra)
{
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra) cap *= 2;
    unsigned char *p = PyMem_RawRealloc(b->p, cap);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline size_t
ptr_hash(void *k)
{
    uint64_t x = (uint64_t)(uintptr_t)k;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

void *
ds_map_get(PtrMap *m, void *key)
{
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1, i = ptr_hash(key) & mask;
    while (m->keys[i]) {
        if (m->keys[i] == key) return m->vals[i];
        i = (i + 1) & mask;
    }
    return NULL;
}

static int
map_resize(PtrMap *m, size_t cap)
{
    void **keys = PyMem_RawCalloc(cap, sizeof(void *));
    void **vals = PyMem_RawCalloc(cap, sizeof(void *));
    if (!keys || !vals) {
        PyMem_RawFree(keys);
        PyMem_RawFree(vals);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->keys[j]) continue;
        size_t i = ptr_hash(m->keys[j]) & (cap - 1);
        while (keys[i]) i = (i + 1) & (cap - 1);
        keys[i] = m->keys[j];
        vals[i] = m->vals[j];
    }
    PyMem_RawFree(m->keys);
    PyMem_RawFree(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int
ds_map_put(PtrMap *m, void *key, void *val)
{
    if ((m->n + 1) * 2 > m->cap && map_resize(m, m->cap ? m->cap * 2 : 64) < 0) return -1;
    size_t mask = m->cap - 1, i = ptr_hash(key) & mask;
    while (m->keys[i] && m->keys[i] != key) i = (i + 1) & mask;
    if (!m->keys[i]) m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 0;
}

void
ds_map_clear(PtrMap *m)
{
    PyMem_RawFree(m->keys);
    PyMem_RawFree(m->vals);
    m->keys = m->vals = NULL;
    m->cap = m->n = 0;
}

/* ---- fingerprints -------------------------------------------------------- */

static inline uint64_t
fmix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static inline uint64_t
mix(uint64_t h, uint64_t v)
{
    return (h * 0x9E3779B97F4A7C15ULL) ^ fmix(v);
}

uint64_t
ds_hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = mix(h, w);
    }
    w = 0;
    memcpy(&w, p, n);
    return mix(h, w);
}

static inline uint64_t
ptrbits(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

static uint64_t
double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* The fingerprint of an int, str, bytes, float, None or bool, by value (1), else 0.  Never
 * by address: a value replaced by another is freed, and the next one may be made at the same
 * place (floats and small objects come from free lists), so an address seen again is no sign
 * of the same value. */
static inline int
scalar_fp(PyObject *o, PyTypeObject *t, uint64_t *out)
{
    if (t == &PyFloat_Type) {
        *out = mix(0x33, double_bits(PyFloat_AS_DOUBLE(o)));
        return 1;
    }
    if (t == &PyLong_Type) {
#if PY_VERSION_HEX >= 0x030C0000
        if (PyUnstable_Long_IsCompact((PyLongObject *)o)) {
            *out = fmix((uint64_t)PyUnstable_Long_CompactValue((PyLongObject *)o) ^ 0x1234567ULL);
            return 1;
        }
#else
        Py_ssize_t size = Py_SIZE(o);
        if (size >= -1 && size <= 1) {
            *out = fmix((uint64_t)(size * (int64_t)((PyLongObject *)o)->ob_digit[0]) ^
                        0x1234567ULL);
            return 1;
        }
#endif
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        *out = overflow ? mix(0x11 + (uint64_t)Py_SIZE(o), (uint64_t)PyObject_Hash(o))
                        : fmix((uint64_t)v ^ 0x1234567ULL);
        return 1;
    }
    if (t == &PyUnicode_Type) {
        *out = mix(0x22 + (uint64_t)PyUnicode_GET_LENGTH(o), (uint64_t)PyObject_Hash(o));
        return 1;
    }
    if (o == Py_None || t == &PyBool_Type) {
        *out = fmix(ptrbits(o));
        return 1;
    }
    if (t == &PyBytes_Type) {
        *out = mix(0x44 + (uint64_t)PyBytes_GET_SIZE(o), (uint64_t)PyObject_Hash(o));
        return 1;
    }
    return 0;
}

/* elements of containers and attributes: by content (scalar_fp).  ds_fp_deep is set when a
 * fingerprint reads more than a scalar item (a container's items, an object's attributes…):
 * without that, a list's signature tells whether it changed (ds_shallow). */
int ds_fp_deep;
int ds_fp_volatile;
int ds_fp_shared;
int ds_fp_collect;
void *ds_fp_objs[DS_FP_OBJS_MAX];
size_t ds_fp_nobjs;

static inline uint64_t
elem_fp(PyObject *e, int depth)
{
    PyTypeObject *t = Py_TYPE(e);
    uint64_t h;
    if (scalar_fp(e, t, &h)) return h;
    if ((t->tp_flags & (Py_TPFLAGS_LIST_SUBCLASS | Py_TPFLAGS_TUPLE_SUBCLASS |
                        Py_TPFLAGS_DICT_SUBCLASS)) || t == &PySet_Type || t == &PyFrozenSet_Type)
        ds_fp_deep = 1; /* its items (or, past max_depth, its length) */
    return ds_fingerprint(e, depth);
}

int
ds_shallow(PyObject *o, uint64_t *sig)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyList_Type || t == &PyTuple_Type) {
        PyObject **items = t == &PyList_Type ? ((PyListObject *)o)->ob_item
                                             : ((PyTupleObject *)o)->ob_item;
        Py_ssize_t n = Py_SIZE(o);
        uint64_t acc = (uint64_t)n;
        for (Py_ssize_t i = 0; i < n && i < ds_limits.max_items; i++) {
            uint64_t h; /* a scalar by value: its address may be a later value's (scalar_fp) */
            if (!scalar_fp(items[i], Py_TYPE(items[i]), &h)) h = ptrbits(items[i]);
            acc = ((acc << 7) | (acc >> 57)) ^ h;
        }
        *sig = acc;
        return 1;
    }
    if (t == &PyDict_Type) {
_Py_COMP_DIAG_PUSH
_Py_COMP_DIAG_IGNORE_DEPR_DECLS
        *sig = ((PyDictObject *)o)->ma_version_tag;
_Py_COMP_DIAG_POP
        return 1;
    }
    return 0;
}

static inline uint64_t
seq_fp(uint64_t h, PyObject **items, Py_ssize_t n, int depth)
{
    uint64_t acc = 0;
    for (Py_ssize_t i = 0; i < n && i < ds_limits.max_items; i++)
        acc = acc * 0x100000001b3ULL + elem_fp(items[i], depth);
    return mix(h, acc);
}

/* > 0 while an object's attributes are followed (fp_other) */
static int following;

/* types whose repr() we found too slow: no longer called */
static PtrMap slow_types;

/* What following a class's instances costs (classes with their own __repr__):
 * time in their repr() and attributes visited to see whether it changed.  A
 * class whose instances cost more than ds_limits.type_budget_ns per look on
 * average to compare (after a few looks) becomes opaque: shown as "<T object at 0x…
 * (repr skipped: too costly to follow)>", compared by identity. */
typedef struct {
    int64_t repr_ns;
    uint64_t repr_calls;
    uint64_t nodes, looks;
    int opaque;
    /* the attributes its __repr__ shows (reprreads.reads): a tuple of str, or NULL for
     * all of them; reads_done once asked */
    PyObject *reads;
    Py_ssize_t *slot_off; /* per name in reads: where a __slots__ entry keeps it, or -1 */
    Py_ssize_t *hint;     /* per name in reads: its index in inline values last time */
    int reads_done;
    /* its repr as a template over those attributes (reprreads.template), or NULL; used
     * (V_FMT) once TMPL_CHECKS instances rendered through it matched their repr(); a
     * mismatch drops it */
    struct Piece *tmpl;
    int ntmpl, tmpl_ok;
    /* an instance without some attribute its template reads: repr() fails with
     * AttributeError; how many times that was checked against the repr() (-1: it was not
     * what repr() did) */
    int unset_ok;
    uint64_t tmpl_hits, tmpl_miss;
    /* data outside the instance its __repr__ reads (reprreads.reads_data): (namespace
     * dict, name) pairs and cells, compared with its attributes; NULL: none */
    PyObject *data_reads;
} TypeCost;

/* the values of the module data (and closure cells) a __repr__ reads */
static uint64_t
data_fp(TypeCost *tc, int depth)
{
    uint64_t acc = 0;
    Py_ssize_t n = PyTuple_GET_SIZE(tc->data_reads);
    ds_fp_deep = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = PyTuple_GET_ITEM(tc->data_reads, i), *v = NULL;
        /* the cell or namespace read counts as read: a line rebinding the global (it logs
         * the module's dict) makes the slots showing this value compare again */
        if (PyCell_Check(e)) {
            ds_fp_saw(e);
            v = PyCell_GET(e);
        }
        else if (PyTuple_CheckExact(e) && PyTuple_GET_SIZE(e) == 2 &&
                 PyDict_Check(PyTuple_GET_ITEM(e, 0))) {
            ds_fp_saw(PyTuple_GET_ITEM(e, 0));
            v = PyDict_GetItemWithError(PyTuple_GET_ITEM(e, 0), PyTuple_GET_ITEM(e, 1));
            if (!v) PyErr_Clear();
        }
        acc = acc * 0x100000001b3ULL + (v ? elem_fp(v, depth + 1) : 0x7f4a7c15ULL);
    }
    return acc;
}
static PtrMap type_costs;    /* type -> TypeCost* (the type is kept alive) */
uint64_t ds_fp_nodes; /* values visited by ds_fingerprint, ever */
#define NODE_NS 4            /* about what visiting one value costs */
#define FOLLOW_MAX 64        /* objects followed for one value */

static PyTypeObject *last_t; /* the last type type_cost() was asked for (runs of a class) */
static TypeCost *last_tc;

static TypeCost *
type_cost(PyTypeObject *t)
{
    if (t == last_t && last_tc) return last_tc;
    TypeCost *tc = ds_map_get(&type_costs, t);
    if (tc) {
        last_t = t;
        last_tc = tc;
        return tc;
    }
    tc = PyMem_RawCalloc(1, sizeof(TypeCost));
    if (!tc) return NULL;
    Py_INCREF(t);
    if (ds_map_put(&type_costs, t, tc) < 0) {
        Py_DECREF(t);
        PyMem_RawFree(tc);
        PyErr_Clear();
        return NULL;
    }
    return tc;
}

/* a look: comparing an instance's attributes (every event it is in); repr() calls,
 * made only when it changed, are bounded by the per-call budget instead */
static inline void
charge(TypeCost *tc)
{
    if (++tc->looks >= 64 && ds_limits.type_budget_ns > 0 &&
        (int64_t)(tc->nodes * NODE_NS) > ds_limits.type_budget_ns * (int64_t)tc->looks)
        tc->opaque = 1;
}

static PyTypeObject *deque_type;

PyObject *
ds_type_costs(void)
{
    PyObject *out = PyList_New(0);
    for (size_t i = 0; out && i < type_costs.cap; i++) {
        if (!type_costs.keys[i]) continue;
        TypeCost *tc = type_costs.vals[i];
        PyObject *name = PyType_GetQualName((PyTypeObject *)type_costs.keys[i]);
        PyObject *t = name ? Py_BuildValue("(NLKKiK)", name, (long long)tc->repr_ns,
                                           (unsigned long long)tc->nodes,
                                           (unsigned long long)tc->looks, tc->opaque,
                                           (unsigned long long)tc->repr_calls)
                           : NULL;
        if (!t || PyList_Append(out, t) < 0) Py_CLEAR(out);
        Py_XDECREF(t);
    }
    return out;
}

/* tp_repr of classes that define __repr__ in Python (CPython's slot_tp_repr) */
static reprfunc python_repr_slot;

int
ds_values_init(void)
{
    PyObject *ns = Py_BuildValue("{sO}", "__repr__", (PyObject *)&PyBaseObject_Type);
    if (!ns) return -1;
    PyObject *probe = PyObject_CallFunction((PyObject *)&PyType_Type, "s()O", "_repr_probe", ns);
    Py_DECREF(ns);
    if (!probe) return -1;
    python_repr_slot = ((PyTypeObject *)probe)->tp_repr;
    Py_DECREF(probe);
    PyObject *coll = PyImport_ImportModule("_collections");
    if (coll) {
        deque_type = (PyTypeObject *)PyObject_GetAttrString(coll, "deque");
        Py_DECREF(coll);
    }
    PyErr_Clear();
    return 0;
}

static void rmemo_free(void);
static void tmpl_free(TypeCost *tc);

void
ds_values_reset(void)
{
    rmemo_free();
    last_t = NULL;
    last_tc = NULL;
    ds_map_clear(&slow_types);
    for (size_t i = 0; i < type_costs.cap; i++)
        if (type_costs.keys[i]) {
            Py_XDECREF(((TypeCost *)type_costs.vals[i])->reads);
            Py_XDECREF(((TypeCost *)type_costs.vals[i])->data_reads);
            PyMem_RawFree(((TypeCost *)type_costs.vals[i])->slot_off);
            tmpl_free(type_costs.vals[i]);
            PyMem_RawFree(type_costs.vals[i]);
            Py_DECREF((PyObject *)type_costs.keys[i]);
        }
    ds_map_clear(&type_costs);
}

int
ds_is_structural(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    return o == Py_None || t == &PyBool_Type || t == &PyLong_Type || t == &PyFloat_Type ||
           t == &PyUnicode_Type || t == &PyBytes_Type || t == &PyComplex_Type ||
           t == &PyTuple_Type || t == &PyList_Type || t == &PyDict_Type || t == &PySet_Type ||
           t == &PyFrozenSet_Type;
}

/* builtin objects whose repr depends only on their identity and name */
static int
stable_repr(PyObject *o, PyTypeObject *t)
{
    return t == &PyFunction_Type || t == &PyCFunction_Type || t == &PyMethod_Type ||
           t == &PyModule_Type || t == &PyCode_Type || t == &PyGen_Type || t == &PyCoro_Type ||
           t == &PyAsyncGen_Type || t == &PyProperty_Type || t == &PyStaticMethod_Type ||
           t == &PyClassMethod_Type || t == &PyWrapperDescr_Type || t == &PyMethodDescr_Type ||
           t == &PyGetSetDescr_Type || t == &PyMemberDescr_Type || t == &PyRange_Type ||
           t == &PySlice_Type || PyType_Check(o) || PyExceptionInstance_Check(o) ||
           o == Py_Ellipsis || o == Py_NotImplemented;
}

/* attributes an instance keeps inline, in its class's shared keys order (no __dict__ made) */
typedef struct {
    PyObject **values; /* NULL where an attribute is not set */
#if PY_VERSION_HEX >= 0x030D0000
    PyDictUnicodeEntry *entries;
#else
    PyObject **entries; /* (key, value) pairs after the keys' index table */
#endif
} Inline;

static inline PyObject *
inline_key(const Inline *in, Py_ssize_t i)
{
#if PY_VERSION_HEX >= 0x030D0000
    return in->entries[i].me_key;
#else
    return in->entries[2 * i];
#endif
}

/* Where `o` keeps its instance attributes: inline (returns how many slots `in` has), or
 * not (returns -1, *dict is its instance dict or NULL) */
static Py_ssize_t
attr_store(PyObject *o, PyTypeObject *t, PyObject **dict, Inline *in)
{
    *dict = NULL;
    if (t->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
#if PY_VERSION_HEX >= 0x030D0000
        *dict = (PyObject *)_PyObject_GetManagedDict(o);
        if (!*dict && (t->tp_flags & Py_TPFLAGS_INLINE_VALUES)) {
            PyDictValues *vals = _PyObject_InlineValues(o);
            PyDictKeysObject *keys = ((PyHeapTypeObject *)t)->ht_cached_keys;
            if (!vals->valid || !keys) return 0;
            in->values = vals->values;
            in->entries = DK_UNICODE_ENTRIES(keys);
            return keys->dk_nentries < vals->capacity ? keys->dk_nentries : vals->capacity;
        }
#else
        *dict = ((PyObject **)o)[-3];
        ds_values311 *vals = ((ds_values311 **)o)[-4];
        if (!*dict && vals) {
            struct ds_keys311 *keys = (struct ds_keys311 *)((PyHeapTypeObject *)t)->ht_cached_keys;
            if (!keys) return 0;
            in->values = vals->values;
            in->entries = (PyObject **)((char *)(keys + 1) +
                                        ((size_t)1 << keys->dk_log2_index_bytes));
            return keys->dk_nentries;
        }
#endif
    }
    else if (t->tp_dictoffset) {
        PyObject **dp = _PyObject_GetDictPtr(o);
        *dict = dp ? *dp : NULL;
    }
    return -1;
}

/* an instance's attributes, read where CPython keeps them (without making
 * a __dict__ for objects that keep their attributes inline) */
static uint64_t
attrs_fp(PyObject *o, PyTypeObject *t, int depth)
{
    PyObject *dict;
    Inline in;
    Py_ssize_t n = attr_store(o, t, &dict, &in);
    if (n >= 0) {
        uint64_t acc = (uint64_t)n;
        if (n) ds_fp_deep = 1;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *v = in.values[i];
            acc = acc * 0x100000001b3ULL + (v ? elem_fp(v, depth + 1) : 0x9e3779b9ULL);
        }
        return acc;
    }
    if (!dict || !PyDict_Check(dict)) return 0;
    ds_fp_deep = 1; /* its attributes are read */
    return ds_fingerprint(dict, depth);
}

/* ---- an instance's attributes, for objects recorded with them (V_OBJECT) ---- */

#ifndef Py_T_OBJECT_EX
#define Py_T_OBJECT_EX 16 /* a __slots__ entry */
#endif

/* the __slots__ values of `o` (its class and heap-type bases) */
static uint64_t
slots_fp(PyObject *o, PyTypeObject *t, int depth)
{
    uint64_t acc = 0;
    for (PyTypeObject *k = t; k && (k->tp_flags & Py_TPFLAGS_HEAPTYPE); k = k->tp_base) {
        for (PyMemberDef *m = k->tp_members; m && m->name; m++) {
            if (m->type != Py_T_OBJECT_EX) continue;
            PyObject *v = *(PyObject **)((char *)o + m->offset);
            acc = acc * 0x100000001b3ULL + (v ? elem_fp(v, depth + 1) : 0x85ebca6bULL);
        }
    }
    return acc;
}

/* the value of `o`'s attribute `name` in its instance dict or inline values, without
 * running code; NULL if it has none there.  *hint: the inline index to try first (where
 * the last instance looked at had it), updated */
static PyObject *
attr_get(PyObject *o, PyTypeObject *t, PyObject *name, Py_ssize_t *hint)
{
    PyObject *dict;
    Inline in;
    Py_ssize_t n = attr_store(o, t, &dict, &in);
    if (*hint < n && inline_key(&in, *hint) == name) return in.values[*hint];
    int interned_name = PyUnicode_CheckExact(name) && PyUnicode_CHECK_INTERNED(name);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = inline_key(&in, i);
        if (k == name) {
            *hint = i;
            return in.values[i];
        }
        /* two interned strings at different addresses differ */
        if (k && PyUnicode_CheckExact(k) && !(PyUnicode_CHECK_INTERNED(k) && interned_name) &&
            PyUnicode_Compare(k, name) == 0)
            return in.values[i];
    }
    if (n < 0 && dict && PyDict_CheckExact(dict)) {
        PyObject *v = PyDict_GetItemWithError(dict, name);
        if (v) return v;
        PyErr_Clear();
    }
    return NULL;
}

/* where instances of `t` keep `name` in a __slots__ entry (its offset), or -1 */
static Py_ssize_t
slot_offset(PyTypeObject *t, PyObject *name)
{
    const char *cname = PyUnicode_AsUTF8(name);
    if (!cname) {
        PyErr_Clear();
        return -1;
    }
    for (PyTypeObject *k = t; k && (k->tp_flags & Py_TPFLAGS_HEAPTYPE); k = k->tp_base)
        for (PyMemberDef *m = k->tp_members; m && m->name; m++)
            if (m->type == Py_T_OBJECT_EX && strcmp(m->name, cname) == 0) return m->offset;
    return -1;
}

/* the value of the `i`th attribute its __repr__ reads (borrowed; NULL: none) */
static inline PyObject *
read_attr(PyObject *o, PyTypeObject *t, TypeCost *tc, Py_ssize_t i)
{
    Py_ssize_t off = tc->slot_off[i]; /* a slot (a data descriptor) comes first */
    return off >= 0 ? *(PyObject **)((char *)o + off)
                    : attr_get(o, t, PyTuple_GET_ITEM(tc->reads, i), &tc->hint[i]);
}

/* the attributes named in `reads` (those its __repr__ shows) */
static uint64_t
reads_fp(PyObject *o, PyTypeObject *t, TypeCost *tc, int depth)
{
    PyObject *reads = tc->reads;
    Py_ssize_t n = PyTuple_GET_SIZE(reads);
    uint64_t acc = (uint64_t)n;
    if (n) ds_fp_deep = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = read_attr(o, t, tc, i);
        acc = acc * 0x100000001b3ULL + (v ? elem_fp(v, depth + 1) : 0x9e3779b9ULL);
    }
    return acc;
}

static void tmpl_load(TypeCost *tc, PyTypeObject *t);

/* devsandbox.recorder.reprreads.<name> (a new reference, kept by the caller), or NULL with
 * no error set */
static PyObject *
reprreads_fn(const char *name)
{
    PyObject *mod = PyImport_ImportModule("devsandbox.recorder.reprreads");
    PyObject *fn = mod ? PyObject_GetAttrString(mod, name) : NULL;
    Py_XDECREF(mod);
    if (!fn) PyErr_Clear();
    return fn;
}

/* tc->reads = reprreads.reads(t) (NULL: every attribute counts), asked once per class,
 * before the first call of its repr (never while fingerprinting: Python code may let
 * another thread run, and fingerprints keep their state in statics) */
static void
type_reads(TypeCost *tc, PyTypeObject *t)
{
    static PyObject *fn;
    static int failed;
    tc->reads_done = 1;
    if (failed) return;
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    if (!fn && !(fn = reprreads_fn("reads"))) failed = 1;
    static PyObject *data_fn;
    if (!data_fn && !failed) data_fn = reprreads_fn("reads_data");
    PyObject *d = data_fn ? PyObject_CallOneArg(data_fn, (PyObject *)t) : NULL;
    if (d && PyTuple_CheckExact(d) && PyTuple_GET_SIZE(d) > 0) tc->data_reads = d;
    else Py_XDECREF(d);
    PyErr_Clear();
    PyObject *r = fn ? PyObject_CallOneArg(fn, (PyObject *)t) : NULL;
    if (r && PyTuple_CheckExact(r)) {
        Py_ssize_t n = PyTuple_GET_SIZE(r);
        for (Py_ssize_t i = 0; r && i < n; i++)
            if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(r, i))) Py_CLEAR(r);
        /* the names interned, as the keys of instance dicts are: found by address */
        PyObject *interned = r ? PyTuple_New(n) : NULL;
        for (Py_ssize_t i = 0; interned && i < n; i++) {
            PyObject *name = Py_NewRef(PyTuple_GET_ITEM(r, i));
            PyUnicode_InternInPlace(&name);
            PyTuple_SET_ITEM(interned, i, name);
        }
        Py_XSETREF(r, interned);
        Py_ssize_t *off = r ? PyMem_RawMalloc(sizeof(Py_ssize_t) * 2 * (size_t)(n ? n : 1)) : NULL;
        for (Py_ssize_t i = 0; off && i < n; i++) {
            off[i] = slot_offset(t, PyTuple_GET_ITEM(r, i));
            off[n + i] = 0; /* hint: where the instance's inline values last had it */
        }
        if (off) {
            tc->slot_off = off;
            tc->hint = off + n;
            tc->reads = r;
            if (ds_limits.templates) tmpl_load(tc, t);
        }
        else {
            Py_XDECREF(r);
        }
    }
    else {
        Py_XDECREF(r);
    }
    PyErr_Clear();
    PyErr_Restore(et, ev, etb);
}

/* Up to `max` (name, value) pairs of `o`'s attributes (new references; a name is a str,
 * or NULL with its C string in cnames): its instance dict or inline values, then its
 * __slots__.  Returns how many it has in all (-1 on error). */
static Py_ssize_t
collect_attrs(PyObject *o, PyTypeObject *t, PyObject **names, const char **cnames,
              PyObject **values, Py_ssize_t max)
{
    Py_ssize_t total = 0, got = 0;
    PyObject *dict;
    Inline in;
    Py_ssize_t n = attr_store(o, t, &dict, &in);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = in.values[i], *k = inline_key(&in, i);
        if (!v || !k || !PyUnicode_Check(k)) continue;
        if (got < max) {
            names[got] = Py_NewRef(k);
            cnames[got] = NULL;
            values[got++] = Py_NewRef(v);
        }
        total++;
    }
    if (dict && PyDict_Check(dict)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(dict, &pos, &k, &v)) {
            if (!PyUnicode_Check(k)) continue;
            if (got < max) {
                names[got] = Py_NewRef(k);
                cnames[got] = NULL;
                values[got++] = Py_NewRef(v);
            }
            total++;
        }
    }
    for (PyTypeObject *k = t; k && (k->tp_flags & Py_TPFLAGS_HEAPTYPE); k = k->tp_base) {
        for (PyMemberDef *m = k->tp_members; m && m->name; m++) {
            if (m->type != Py_T_OBJECT_EX) continue;
            PyObject *v = *(PyObject **)((char *)o + m->offset);
            if (!v) continue;
            if (got < max) {
                names[got] = NULL;
                cnames[got] = m->name;
                values[got++] = Py_NewRef(v);
            }
            total++;
        }
    }
    return total;
}

/* the part of an arbitrary object's state that its repr plausibly shows */
static uint64_t
fp_other(PyObject *o, int depth)
{
    PyTypeObject *t = Py_TYPE(o);
    uint64_t h = mix(ptrbits(t), ptrbits(o));
    ds_fp_shared = 1; /* only builtin containers and scalars make a private value */
    if (t->tp_repr == PyBaseObject_Type.tp_repr) { /* "<T object at 0x…>" */
        /* recorded with its attributes (enc_object): they are its state */
        if (!ds_limits.attributes || !(t->tp_flags & Py_TPFLAGS_HEAPTYPE) || depth > 0)
            return h;
        ds_fp_saw(o);
        return mix(mix(h, attrs_fp(o, t, depth)), slots_fp(o, t, depth));
    }
    int user_repr = (t->tp_flags & Py_TPFLAGS_HEAPTYPE) && t->tp_repr == python_repr_slot;
    if (user_repr) { /* shown as a placeholder: its identity is all there is to compare */
        TypeCost *tc = type_cost(t);
        if (tc && tc->opaque) return h;
    }
    if (depth >= ds_limits.max_depth && !user_repr) return h;
    ds_fp_saw(o); /* what follows reads its state (or a repr that may show anything) */
    if (PyList_Check(o)) {
        ds_fp_deep = 1;
        h = seq_fp(mix(h, (uint64_t)Py_SIZE(o)), ((PyListObject *)o)->ob_item, Py_SIZE(o),
                   depth + 1);
        if (t->tp_repr == PyList_Type.tp_repr) return h; /* shows its items, nothing else */
    }
    else if (PyTuple_Check(o)) {
        ds_fp_deep = 1;
        h = seq_fp(mix(h, (uint64_t)Py_SIZE(o)), ((PyTupleObject *)o)->ob_item, Py_SIZE(o),
                   depth + 1);
        if (t->tp_repr == PyTuple_Type.tp_repr) return h;
    }
    if (PyByteArray_Check(o)) {
        ds_fp_deep = 1;
        Py_ssize_t n = PyByteArray_GET_SIZE(o);
        h = mix(h, (uint64_t)n);
        const unsigned char *p = (const unsigned char *)PyByteArray_AS_STRING(o);
        uint64_t acc = 0;
        for (Py_ssize_t i = 0; i < n && i < ds_limits.max_str; i++) {
            acc = (acc << 8) | p[i];
            if ((i & 7) == 7) {
                h = mix(h, acc);
                acc = 0;
            }
        }
        return mix(h, acc);
    }
    if (deque_type && t == deque_type) {
        ds_fp_deep = 1;
        /* the deque's own iterator is C code; it sees items in order */
        h = mix(h, (uint64_t)PyObject_Length(o));
        PyObject *it = PyObject_GetIter(o), *item;
        Py_ssize_t i = 0;
        while (it && i++ < ds_limits.max_items && (item = PyIter_Next(it))) {
            h = mix(h, ds_fingerprint(item, depth + 1));
            Py_DECREF(item);
        }
        Py_XDECREF(it);
        PyErr_Clear();
        return h;
    }
    if (!(t->tp_flags & Py_TPFLAGS_HEAPTYPE) || t->tp_repr != python_repr_slot) {
        if (stable_repr(o, t)) return h;
        /* a builtin whose repr may show hidden state (a lock's "locked", a
         * file's "closed", datetime values…): its repr is C code; follow it */
        ds_fp_volatile = 1;
        ds_fp_deep = 1;
        PyObject *r = PyObject_Repr(o);
        if (!r) {
            PyErr_Clear();
            return h;
        }
        Py_hash_t hv = PyObject_Hash(r);
        Py_DECREF(r);
        return mix(h, (uint64_t)hv);
    }
    /* user class with its own __repr__: follow its instance attributes; its repr is
     * not cut at max_depth, so at least its direct attributes count at any depth
     * (objects reached through attributes: a few levels) */
    TypeCost *tc = type_cost(t);
    if (tc && tc->opaque) return h;
    if (tc && tc->data_reads) h = mix(h, data_fp(tc, depth));
    /* each object at most once per value looked at (object graphs share and cycle),
     * and a bounded number of them */
    static void *seen[FOLLOW_MAX];
    static int nseen;
    if (following == 0) nseen = 0;
    for (int i = 0; i < nseen; i++)
        if (seen[i] == (void *)o) return h;
    if (nseen == FOLLOW_MAX) return h;
    seen[nseen++] = o;
    if (following < 4) {
        int at = depth < ds_limits.max_depth ? depth : ds_limits.max_depth - 1;
        uint64_t before = ds_fp_nodes;
        int outermost = following == 0;
        following++;
        /* the attributes its __repr__ shows (known once an instance was encoded); not for
         * an object reached through another's attribute: that repr may read anything of it */
        PyObject *reads = tc && outermost ? tc->reads : NULL;
        h = mix(h, reads ? reads_fp(o, t, tc, at < 0 ? 0 : at)
                         : attrs_fp(o, t, at < 0 ? 0 : at));
        following--;
        /* a look is what one step costs: the objects followed from an outermost one are
         * part of its look (counted as looks of their own, they would thin the average) */
        if (tc && outermost) {
            tc->nodes += ds_fp_nodes - before;
            charge(tc);
        }
    }
    return h;
}

static uint64_t fp_container(PyObject *o, PyTypeObject *t, int depth);

uint64_t
ds_fingerprint(PyObject *o, int depth)
{
    PyTypeObject *t = Py_TYPE(o);
    ds_fp_nodes++;
    uint64_t h;
    if (scalar_fp(o, t, &h)) return h;
    if (depth >= ds_limits.max_depth &&
        (t == &PyList_Type || t == &PyTuple_Type || t == &PyDict_Type || t == &PySet_Type ||
         t == &PyFrozenSet_Type)) {
        if (Py_REFCNT(o) != 1) ds_fp_shared = 1;
        if (t != &PyTuple_Type && t != &PyFrozenSet_Type) ds_fp_saw(o); /* its length */
        return mix(ptrbits(t), (uint64_t)PyObject_Length(o));
    }
    if (t == &PyList_Type || t == &PyTuple_Type || PyDict_Check(o) || t == &PySet_Type ||
        t == &PyFrozenSet_Type)
        return fp_container(o, t, depth);
    if (t == &PyComplex_Type) {
        Py_complex c = PyComplex_AsCComplex(o);
        return mix(mix(0x55, double_bits(c.real)), double_bits(c.imag));
    }
    return fp_other(o, depth);
}

/* an exact list, tuple, set or frozenset, or a dict (or dict subclass) */
static uint64_t
fp_container(PyObject *o, PyTypeObject *t, int depth)
{
    if (Py_REFCNT(o) != 1) ds_fp_shared = 1;
    if (t != &PyTuple_Type && t != &PyFrozenSet_Type) ds_fp_saw(o);
    if (t == &PyList_Type)
        return seq_fp(mix(ptrbits(t), (uint64_t)Py_SIZE(o)), ((PyListObject *)o)->ob_item,
                      Py_SIZE(o), depth + 1);
    if (t == &PyTuple_Type)
        return seq_fp(mix(ptrbits(t), (uint64_t)Py_SIZE(o)), ((PyTupleObject *)o)->ob_item,
                      Py_SIZE(o), depth + 1);
    if (PyDict_Check(o)) {
        Py_ssize_t pos = 0, i = 0;
        PyObject *k, *v;
        uint64_t h = mix(ptrbits(t), (uint64_t)PyDict_GET_SIZE(o)), acc = 0;
        if (t != &PyDict_Type) {
            h = mix(h, ptrbits(o));
            ds_fp_volatile = 1; /* a defaultdict grows when read */
            ds_fp_shared = 1;
        }
        while (i++ < ds_limits.max_items && PyDict_Next(o, &pos, &k, &v)) {
            acc = acc * 0x100000001b3ULL + elem_fp(k, depth + 1);
            acc = acc * 0x100000001b3ULL + elem_fp(v, depth + 1);
        }
        return mix(h, acc);
    }
    if (t == &PySet_Type || t == &PyFrozenSet_Type) {
        Py_ssize_t pos = 0, i = 0;
        PyObject *k;
        Py_hash_t hv;
        uint64_t h = mix(ptrbits(t), (uint64_t)PySet_GET_SIZE(o)), acc = 0;
        while (i++ < ds_limits.max_items && _PySet_NextEntry(o, &pos, &k, &hv))
            acc = acc * 0x100000001b3ULL + elem_fp(k, depth + 1);
        return mix(h, acc);
    }
    return 0;
}

/* ---- encoding ------------------------------------------------------------ */

static int
put_text(Buf *b, int tag, const char *s, Py_ssize_t n)
{
    if (buf_need(b, (size_t)n + 12) < 0) return -1;
    put_u8(b, tag);
    put_var(b, (uint64_t)n);
    put_bytes(b, s, (size_t)n);
    return 0;
}

/* a str object's UTF-8 (lone surrogates kept with surrogatepass) */
static int
put_str_payload(Buf *b, PyObject *s)
{
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u) {
        if (buf_need(b, (size_t)n + 10) < 0) return -1;
        put_var(b, (uint64_t)n);
        put_bytes(b, u, (size_t)n);
        return 0;
    }
    PyErr_Clear();
    PyObject *enc = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
    if (!enc) {
        PyErr_Clear();
        if (buf_need(b, 10) < 0) return -1;
        put_var(b, 0);
        return 0;
    }
    n = PyBytes_GET_SIZE(enc);
    int rc = buf_need(b, (size_t)n + 10);
    if (rc == 0) {
        put_var(b, (uint64_t)n);
        put_bytes(b, PyBytes_AS_STRING(enc), (size_t)n);
    }
    Py_DECREF(enc);
    return rc;
}

static int
enc_str(Buf *b, PyObject *o)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(o);
    if (len <= ds_limits.max_str) {
        if (buf_need(b, 1) < 0) return -1;
        put_u8(b, V_STR);
        return put_str_payload(b, o);
    }
    PyObject *head = PyUnicode_Substring(o, 0, ds_limits.max_str);
    if (!head) return -1;
    int rc = buf_need(b, 12);
    if (rc == 0) {
        put_u8(b, V_STR_TRUNC);
        put_var(b, (uint64_t)len);
        rc = put_str_payload(b, head);
    }
    Py_DECREF(head);
    return rc;
}

static int
enc_bytes(Buf *b, PyObject *o)
{
    Py_ssize_t len = PyBytes_GET_SIZE(o);
    Py_ssize_t shown = len <= ds_limits.max_str ? len : ds_limits.max_str;
    if (buf_need(b, (size_t)shown + 24) < 0) return -1;
    if (shown == len) {
        put_u8(b, V_BYTES);
    }
    else {
        put_u8(b, V_BYTES_TRUNC);
        put_var(b, (uint64_t)len);
    }
    put_var(b, (uint64_t)shown);
    put_bytes(b, PyBytes_AS_STRING(o), (size_t)shown);
    return 0;
}

static int
enc_int(Buf *b, PyObject *o)
{
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (!overflow) {
        if (buf_need(b, 11) < 0) return -1;
        put_u8(b, V_INT);
        put_var(b, zigzag(v));
        return 0;
    }
    PyObject *s = PyObject_Str(o); /* may fail past sys.get_int_max_str_digits() */
    if (!s) {
        PyErr_Clear();
        return put_text(b, V_REPR_ERROR, "<int too large to show>", 23);
    }
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    int rc = u ? put_text(b, V_BIGINT, u, n) : -1;
    Py_DECREF(s);
    return rc;
}

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* "0x7f…" as printf's %p writes it (glibc), into out (>= 20 bytes); returns the length */
static int
hex_addr(char *out, const void *p)
{
    uint64_t v = (uint64_t)(uintptr_t)p;
    int n = v ? (67 - __builtin_clzll(v)) / 4 : 1; /* hex digits */
    out[0] = '0';
    out[1] = 'x';
    for (int i = n + 1; i >= 2; i--, v >>= 4) out[i] = "0123456789abcdef"[v & 15];
    return n + 2;
}

/* "<module.Type object at 0x…>" without calling anything user-defined */
static int
put_placeholder(Buf *b, int tag, PyObject *o, const char *why)
{
    /* "<%.200s object at %p (%s)>" without printf (called for every change of such a local) */
    char text[300];
    const char *name = Py_TYPE(o)->tp_name;
    size_t nl = strlen(name), wl = strlen(why);
    if (nl > 200) nl = 200;
    if (wl > 60) wl = 60;
    size_t n = 0;
    text[n++] = '<';
    memcpy(text + n, name, nl);
    n += nl;
    memcpy(text + n, " object at ", 11);
    n += 11;
    n += (size_t)hex_addr(text + n, o);
    text[n++] = ' ';
    text[n++] = '(';
    memcpy(text + n, why, wl);
    n += wl;
    text[n++] = ')';
    text[n++] = '>';
    return put_text(b, tag, text, (Py_ssize_t)n);
}

/* object.__repr__ ("<module.Qualname object at 0x…>") without running it: the
 * part before the address is kept per type */
static PtrMap repr_prefixes; /* type -> PyBytes "<module.Qualname object at " */

static int
enc_default_repr(Buf *b, PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    PyObject *prefix = ds_map_get(&repr_prefixes, t);
    if (!prefix) {
        PyObject *mod = PyObject_GetAttrString((PyObject *)t, "__module__");
        if (!mod || !PyUnicode_Check(mod)) {
            PyErr_Clear();
            Py_CLEAR(mod);
        }
        PyObject *qual = PyType_GetQualName(t), *text;
        if (!qual) {
            Py_XDECREF(mod);
            return -1;
        }
        if (mod && PyUnicode_CompareWithASCIIString(mod, "builtins") != 0)
            text = PyUnicode_FromFormat("<%U.%U object at ", mod, qual);
        else
            text = PyUnicode_FromFormat("<%s object at ", t->tp_name);
        Py_XDECREF(mod);
        Py_DECREF(qual);
        if (!text) return -1;
        prefix = PyUnicode_AsUTF8String(text);
        Py_DECREF(text);
        if (!prefix) return -1;
        Py_INCREF(t); /* the type's address stays its own */
        if (ds_map_put(&repr_prefixes, t, prefix) < 0) return -1;
    }
    char addr[40];
    int n = hex_addr(addr, o);
    addr[n++] = '>';
    Py_ssize_t plen = PyBytes_GET_SIZE(prefix);
    if (buf_need(b, (size_t)(plen + n) + 12) < 0) return -1;
    put_u8(b, V_REPR);
    put_var(b, (uint64_t)(plen + n));
    put_bytes(b, PyBytes_AS_STRING(prefix), (size_t)plen);
    put_bytes(b, addr, (size_t)n);
    return 0;
}

/* ---- the repr() time budget: a watchdog thread interrupts a repr() that runs
 * past it (an asynchronous TimeoutError in the thread running it, as Ctrl-C
 * would), so a user's __repr__ never holds the program up for longer. */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started;
    int active;         /* a repr() is being watched */
    uint64_t seq;       /* changes when one starts and when it ends */
    uint64_t fired;     /* seq of the repr() interrupted */
    int64_t deadline;   /* CLOCK_MONOTONIC ns */
    unsigned long thread;
} WD = {PTHREAD_MUTEX_INITIALIZER};

static void
wd_after_fork(void)
{
    pthread_mutex_init(&WD.mu, NULL);
    WD.started = WD.active = 0;
}

/* Wakes up every 50 ms (arming and disarming signal nothing: a repr() costs no
 * thread switch) and fires at a watched repr() that is past its deadline. */
static void *
wd_main(void *unused)
{
    pthread_mutex_lock(&WD.mu);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t t = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
        int64_t wake = t + 50 * 1000 * 1000;
        if (WD.active && WD.deadline > t && WD.deadline < wake) wake = WD.deadline;
        if (!(WD.active && WD.deadline <= t)) {
            struct timespec until = {(time_t)(wake / 1000000000), (long)(wake % 1000000000)};
            pthread_cond_timedwait(&WD.cv, &WD.mu, &until);
            continue;
        }
        uint64_t seq = WD.seq;
        if (WD.fired == seq) { /* already fired at this one: wait for it to end */
            struct timespec until = {(time_t)(wake / 1000000000), (long)(wake % 1000000000)};
            pthread_cond_timedwait(&WD.cv, &WD.mu, &until);
            continue;
        }
        pthread_mutex_unlock(&WD.mu);
        if (!Py_IsInitialized()) return NULL;
        PyGILState_STATE g = PyGILState_Ensure();
        pthread_mutex_lock(&WD.mu);
        if (WD.active && WD.seq == seq) { /* still running: with the GIL, so not yet back */
            PyThreadState_SetAsyncExc(WD.thread, PyExc_TimeoutError);
            WD.fired = seq;
        }
        pthread_mutex_unlock(&WD.mu);
        PyGILState_Release(g);
        pthread_mutex_lock(&WD.mu);
    }
    return NULL;
}

static int
wd_start(void)
{
    static int atfork;
    if (!atfork) {
        pthread_atfork(NULL, NULL, wd_after_fork);
        atfork = 1;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&WD.cv, &attr);
    pthread_condattr_destroy(&attr);
    pthread_t t;
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &ta, wd_main, NULL);
    pthread_attr_destroy(&ta);
    if (rc != 0) return -1;
    WD.started = 1;
    return 0;
}

/* arm for the repr() about to run in this thread: 1 if armed */
static int
wd_arm(int64_t now)
{
    if (ds_limits.repr_budget_ns <= 0) return 0;
    pthread_mutex_lock(&WD.mu);
    int armed = 0;
    if (!WD.started && wd_start() < 0) {
        pthread_mutex_unlock(&WD.mu);
        return 0;
    }
    if (!WD.active) { /* one repr() watched at a time (another thread's may be running) */
        WD.active = 1;
        WD.seq++;
        WD.deadline = now + ds_limits.repr_budget_ns;
        WD.thread = PyThread_get_thread_ident();
        armed = 1;
    }
    pthread_mutex_unlock(&WD.mu);
    return armed;
}

/* Take an interruption that came too late to land in the repr(): run a little
 * bytecode, where the pending exception is raised (and the interpreter's
 * "something pending" flag reset, which clearing it by hand would not do on
 * 3.11), and drop it. */
static void
wd_absorb(void)
{
    static PyObject *code, *ns;
    if (!code && !(code = Py_CompileString("None", "<devsandbox>", Py_eval_input))) {
        PyErr_Clear();
        return;
    }
    if (!ns && !(ns = PyDict_New())) {
        PyErr_Clear();
        return;
    }
    PyObject *r = PyEval_EvalCode(code, ns, ns);
    if (r) Py_DECREF(r);
    else PyErr_Clear();
}

/* the repr() is back (GIL held): 1 if the watchdog interrupted it */
static int
wd_disarm(PyObject *result)
{
    pthread_mutex_lock(&WD.mu);
    int fired = WD.fired == WD.seq;
    WD.active = 0;
    WD.seq++;
    pthread_mutex_unlock(&WD.mu);
    if (fired && result) { /* finished before the exception landed: it is still pending */
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        wd_absorb();
        PyErr_Restore(et, ev, etb);
    }
    return fired;
}

/* ---- containers being encoded ----------------------------------------------
 * repr() marks the containers it is inside (Py_ReprEnter) so that one met again
 * shows as "[...]".  The encoder keeps its own marks and publishes them to
 * Py_ReprEnter only before it runs a repr() (user code that may repr them); the
 * thread's own marks (a repr() of the program in progress) are read once per
 * value. */
#define ENC_MAX 32
typedef struct {
    PyObject *stack[ENC_MAX];
    uint8_t entered[ENC_MAX];
    int n;
    PyObject *outer; /* the thread's Py_Repr list while not empty (borrowed) */
} EncMarks;
static EncMarks enc;
static PyObject *py_repr_key;

static PyObject *
thread_repr_marks(void)
{
    PyObject *d = PyThreadState_GetDict();
    if (!d) return NULL;
    if (!py_repr_key && !(py_repr_key = PyUnicode_InternFromString("Py_Repr"))) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *l = PyDict_GetItemWithError(d, py_repr_key);
    if (!l) PyErr_Clear();
    return l && PyList_Check(l) && PyList_GET_SIZE(l) > 0 ? l : NULL;
}

/* 1: `o` is being encoded or repr()'d (show it as "[...]") */
static int
enc_marked(PyObject *o)
{
    for (int i = 0; i < enc.n; i++)
        if (enc.stack[i] == o) return 1;
    if (enc.outer)
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(enc.outer); i++)
            if (PyList_GET_ITEM(enc.outer, i) == o) return 1;
    return 0;
}

/* before a repr(): our marks become repr()'s marks */
static void
enc_publish(void)
{
    for (int i = 0; i < enc.n; i++) {
        if (enc.entered[i]) continue;
        if (Py_ReprEnter(enc.stack[i]) < 0) PyErr_Clear();
        enc.entered[i] = 1;
    }
}

/* ---- encodings of the chunk ------------------------------------------------
 * An object of a class with its own __repr__, met again with the same
 * fingerprint (its address and the attributes its repr may show) in the same
 * chunk, is encoded as it was without running its repr() again (a value passed
 * down a chain of calls, or held by several locals).  A local's whole value is
 * kept too, under its fingerprint (ds_memo_get). */
#define RMEMO 1024
#define RMEMO_MAX 512 /* bytes of an encoding kept */
static struct {
    uint64_t key;
    uint32_t gen, n;
    unsigned char *p;
} rmemo[RMEMO];
static uint32_t rmemo_gen = 1;

void
ds_values_new_chunk(void)
{
    rmemo_gen++;
}

int
ds_memo_get(Buf *b, uint64_t fp)
{
    uint64_t key = fp | 1;
    unsigned i = (unsigned)(key >> 7) & (RMEMO - 1);
    if (rmemo[i].key != key || rmemo[i].gen != rmemo_gen) return 0;
    if (buf_need(b, rmemo[i].n) < 0) return -1;
    put_bytes(b, rmemo[i].p, rmemo[i].n);
    return 1;
}

void
ds_memo_keep(uint64_t fp, const unsigned char *p, size_t n)
{
    uint64_t key = fp | 1;
    unsigned i = (unsigned)(key >> 7) & (RMEMO - 1);
    if (n > RMEMO_MAX || (!rmemo[i].p && !(rmemo[i].p = PyMem_RawMalloc(RMEMO_MAX)))) return;
    memcpy(rmemo[i].p, p, n);
    rmemo[i].n = (uint32_t)n;
    rmemo[i].key = key;
    rmemo[i].gen = rmemo_gen;
}

static void
rmemo_free(void)
{
    for (int i = 0; i < RMEMO; i++) {
        PyMem_RawFree(rmemo[i].p);
        rmemo[i].p = NULL;
        rmemo[i].key = 0;
    }
}

/* ---- repr templates ----------------------------------------------------------
 * A class whose __repr__ only formats the attributes it reads (reprreads.template) is
 * recorded by those attributes' values: V_FMT, then the pieces of the text, each a
 * literal (0, len, utf-8) or a field (1: str(), 2: repr(), 3: format() with `len, utf-8`
 * of a spec; then the value).  No repr() runs: the reader renders the text.  A field
 * takes only the exact types the reader rebuilds (int, float, str, bool, None), or for
 * str() and repr() an object whose own repr is a checked template (1.5: a V_FMT inside),
 * and a text that cannot pass max_repr; for any other value the repr() runs as before. */
#define TMPL_CHECKS 3
enum { K_INT = 1, K_FLOAT = 2, K_STR = 4, K_BOOL = 8, K_NONE = 16 };

typedef struct Piece {
    PyObject *text;  /* a literal (str), or NULL for a field */
    const char *utf8; /* the UTF-8 of `text`, or of `spec` (kept by them) */
    Py_ssize_t nutf8;
    Py_ssize_t at;   /* field: which of tc->reads */
    int conv;        /* field: 1 str, 2 repr, 3 format with spec */
    PyObject *spec;  /* field: the format spec (str) */
    int kinds;       /* field: K_* accepted */
    Py_ssize_t pad;  /* field: what the text may add to the value's own length */
    int small;       /* field: only |value| < 1e15 (fixed-point formats) */
} Piece;

static void
tmpl_free(TypeCost *tc)
{
    for (int i = 0; i < tc->ntmpl; i++) {
        Py_XDECREF(tc->tmpl[i].text);
        Py_XDECREF(tc->tmpl[i].spec);
    }
    PyMem_RawFree(tc->tmpl);
    tc->tmpl = NULL;
    tc->ntmpl = 0;
}

/* tc->tmpl = reprreads.template(t, tc->reads) (with the GIL, where user code may run) */
static void
tmpl_load(TypeCost *tc, PyTypeObject *t)
{
    static PyObject *fn;
    if (!fn && !(fn = reprreads_fn("template"))) return;
    PyObject *r = PyObject_CallFunctionObjArgs(fn, (PyObject *)t, tc->reads, NULL);
    if (!r || !PyTuple_CheckExact(r) || PyTuple_GET_SIZE(r) == 0 || PyTuple_GET_SIZE(r) > 64) {
        Py_XDECREF(r);
        PyErr_Clear();
        return;
    }
    int n = (int)PyTuple_GET_SIZE(r);
    Piece *ps = PyMem_RawCalloc((size_t)n, sizeof(Piece));
    int ok = ps != NULL;
    for (int i = 0; ok && i < n; i++) {
        PyObject *e = PyTuple_GET_ITEM(r, i);
        Piece *p = &ps[i];
        if (PyUnicode_CheckExact(e)) {
            p->text = Py_NewRef(e);
            if (!(p->utf8 = PyUnicode_AsUTF8AndSize(e, &p->nutf8))) ok = 0;
            continue;
        }
        const char *conv;
        int small;
        if (!PyArg_ParseTuple(e, "nsUinp", &p->at, &conv, &p->spec, &p->kinds, &p->pad, &small) ||
            p->at < 0 || p->at >= PyTuple_GET_SIZE(tc->reads)) {
            p->spec = NULL;
            ok = 0;
            break;
        }
        Py_INCREF(p->spec);
        p->small = small;
        p->conv = conv[0] == 's' ? 1 : conv[0] == 'r' ? 2 : 3;
        if (p->conv == 3 && !(p->utf8 = PyUnicode_AsUTF8AndSize(p->spec, &p->nutf8))) ok = 0;
    }
    Py_DECREF(r);
    PyErr_Clear();
    tc->tmpl = ps;
    tc->ntmpl = n;
    if (!ok) tmpl_free(tc);
}

#define TMPL_NEST 3 /* objects shown through their own template inside a template's text */

static Py_ssize_t tmpl_bound(PyObject *o, PyTypeObject *t, TypeCost *tc, PyObject **vals,
                             int nest);

/* A field's value that is itself an instance of a class whose repr is a checked template
 * (a Ray showing repr(self.point)): str() or repr() of it is that template's text, which
 * the reader renders as well (1.5).  Its length bound, or -1. */
static Py_ssize_t
nested_bound(PyObject *v, PyTypeObject *vt, int conv, int nest)
{
    if (nest + 1 >= TMPL_NEST || (conv != 1 && conv != 2) ||
        !(vt->tp_flags & Py_TPFLAGS_HEAPTYPE) || vt->tp_repr != python_repr_slot ||
        (conv == 1 && vt->tp_str != PyBaseObject_Type.tp_str) || ds_map_get(&slow_types, vt))
        return -1;
    TypeCost *tc = ds_map_get(&type_costs, vt);
    if (!tc || tc->opaque || !tc->tmpl || tc->tmpl_ok < TMPL_CHECKS) return -1;
    PyObject *vals[64];
    return tmpl_bound(v, vt, tc, vals, nest + 1);
}

/* `self.NAME` raises AttributeError for an instance of `t` that does not have it (in its
 * instance dict, inline values or __slots__ entry): no class attribute of that name, and
 * attribute lookup is object's own */
static int
unset_raises(PyTypeObject *t, TypeCost *tc, Py_ssize_t at)
{
    if (t->tp_getattro != PyObject_GenericGetAttr) return 0;
    if (tc->slot_off[at] >= 0) return 1; /* an empty __slots__ entry */
    return _PyType_Lookup(t, PyTuple_GET_ITEM(tc->reads, at)) == NULL;
}

#define TMPL_UNSET (-2)

/* the values of `o`'s fields (borrowed) and a bound of the text's length if the template
 * stands for its repr; TMPL_UNSET if repr() raises AttributeError (an attribute it reads
 * is not set, as while __init__ runs, and formatting the others cannot fail); else -1 */
static Py_ssize_t
tmpl_bound(PyObject *o, PyTypeObject *t, TypeCost *tc, PyObject **vals, int nest)
{
    Py_ssize_t bound = 0;
    int unset = 0;
    for (int i = 0; i < tc->ntmpl; i++) {
        Piece *p = &tc->tmpl[i];
        if (p->text) {
            bound += PyUnicode_GET_LENGTH(p->text);
            continue;
        }
        PyObject *v = read_attr(o, t, tc, p->at);
        if (!v) {
            if (nest || !unset_raises(t, tc, p->at)) return -1;
            unset = 1;
            continue;
        }
        PyTypeObject *vt = Py_TYPE(v);
        Py_ssize_t len;
        if (vt == &PyFloat_Type) {
            if (!(p->kinds & K_FLOAT)) return -1;
            if (p->small && !(fabs(PyFloat_AS_DOUBLE(v)) < 1e15)) return -1;
            len = 24;
        }
        else if (vt == &PyLong_Type) {
            int overflow = 0;
            long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (!(p->kinds & K_INT) || overflow || (p->small && (x >= 1000000000000000LL ||
                                                                 x <= -1000000000000000LL)))
                return -1;
            len = 20;
        }
        else if (vt == &PyUnicode_Type) {
            len = PyUnicode_GET_LENGTH(v);
            if (!(p->kinds & K_STR) || len > ds_limits.max_str) return -1;
            if (p->conv == 2) len = 2 + 10 * len;
        }
        else if (vt == &PyBool_Type) {
            if (!(p->kinds & K_BOOL)) return -1;
            len = 5;
        }
        else if (v == Py_None) {
            if (!(p->kinds & K_NONE)) return -1;
            len = 4;
        }
        else if ((len = nested_bound(v, vt, p->conv, nest)) < 0) {
            return -1;
        }
        bound += len + p->pad;
        if (bound > ds_limits.max_repr && !unset) return -1;
        vals[i] = v;
    }
    return unset ? TMPL_UNSET : bound;
}

/* V_FMT, with the values tmpl_bound found */
static int
enc_template(Buf *b, TypeCost *tc, PyObject **vals)
{
    if (buf_need(b, 12) < 0) return -1;
    put_u8(b, V_FMT);
    put_var(b, (uint64_t)tc->ntmpl);
    for (int i = 0; i < tc->ntmpl; i++) {
        Piece *p = &tc->tmpl[i];
        /* a literal (0) or a format spec (3) comes with its text; str (1) and repr (2) not */
        if (p->text || p->conv == 3) {
            if (put_text(b, p->text ? 0 : 3, p->utf8, p->nutf8) < 0) return -1;
            if (p->text) continue;
        }
        else {
            if (buf_need(b, 1) < 0) return -1;
            put_u8(b, (unsigned)p->conv);
        }
        if (ds_encode(b, vals[i], 0) < 0) return -1;
    }
    return 0;
}

/* Before a template is used: does it render what repr() gave (the V_REPR written at
 * `at`) for this instance?  Counts a match, drops the template on a mismatch. */
static void
tmpl_check(Buf *b, size_t at, PyObject *o, PyTypeObject *t, TypeCost *tc)
{
    PyObject *vals[64]; /* read again: the repr() ran code (another thread may have too) */
    if (b->p[at] != V_REPR || tmpl_bound(o, t, tc, vals, 0) < 0) return;
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    PyObject *parts = PyList_New(tc->ntmpl), *text = NULL;
    for (int i = 0; parts && i < tc->ntmpl; i++) {
        Piece *p = &tc->tmpl[i];
        PyObject *s = p->text ? Py_NewRef(p->text)
                      : p->conv == 1 ? PyObject_Str(vals[i])
                      : p->conv == 2 ? PyObject_Repr(vals[i])
                                     : PyObject_Format(vals[i], p->spec);
        if (!s) {
            Py_CLEAR(parts);
            break;
        }
        PyList_SET_ITEM(parts, i, s);
    }
    if (parts) {
        PyObject *empty = PyUnicode_New(0, 0);
        text = empty ? PyUnicode_Join(empty, parts) : NULL;
        Py_XDECREF(empty);
    }
    Py_XDECREF(parts);
    Py_ssize_t n = 0;
    const char *u = text ? PyUnicode_AsUTF8AndSize(text, &n) : NULL;
    size_t pos = at + 1, len = 0;
    for (int shift = 0; pos < b->n; shift += 7) {
        unsigned char c = b->p[pos++];
        len |= (size_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) break;
    }
    if (u && (size_t)n == len && pos + len == b->n && memcmp(u, b->p + pos, len) == 0)
        tc->tmpl_ok++;
    else
        tmpl_free(tc);
    Py_XDECREF(text);
    PyErr_Clear();
    PyErr_Restore(et, ev, etb);
}

static int enc_repr_call(Buf *b, PyObject *o, TypeCost *tc);

/* what a repr() that raised `error` (a type's name) shows */
static int
put_repr_failed(Buf *b, const char *error)
{
    /* "<repr failed: NAME>" (NAME cut at 200 bytes), without snprintf: an instance being
     * built shows this at every step of its __init__ */
    static const char head[] = "<repr failed: ";
    size_t h = sizeof head - 1, e = strnlen(error, 200);
    if (buf_need(b, h + e + 12) < 0) return -1;
    put_u8(b, V_REPR_ERROR);
    put_var(b, (uint64_t)(h + e + 1));
    put_bytes(b, head, h);
    put_bytes(b, error, e);
    put_u8(b, '>');
    return 0;
}

/* instances keep some attributes in __slots__ (PyMemberDef entries of type T_OBJECT_EX):
 * a fingerprint of all attributes (attrs_fp) does not see them, so their repr() is not
 * reused */
static int
has_slots(PyTypeObject *t)
{
    for (PyTypeObject *k = t; k && (k->tp_flags & Py_TPFLAGS_HEAPTYPE); k = k->tp_base)
        for (PyMemberDef *m = k->tp_members; m && m->name; m++)
            if (m->type == Py_T_OBJECT_EX) return 1;
    return 0;
}

static int
enc_repr(Buf *b, PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t->tp_repr == PyBaseObject_Type.tp_repr) return enc_default_repr(b, o);
    if (ds_map_get(&slow_types, t)) return put_placeholder(b, V_REPR_SLOW, o, "repr skipped: slow");
    TypeCost *tc = NULL;
    if ((t->tp_flags & Py_TPFLAGS_HEAPTYPE) && t->tp_repr == python_repr_slot) {
        tc = type_cost(t);
        if (tc && tc->opaque)
            return put_placeholder(b, V_REPR_SLOW, o, "repr skipped: too costly to follow");
    }
    if (tc && tc->tmpl && ds_limits.templates) {
        PyObject *vals[64];
        Py_ssize_t bound = tmpl_bound(o, t, tc, vals, 0);
        if (bound == TMPL_UNSET && tc->unset_ok >= 0) {
            /* an instance being built: "<repr failed: AttributeError>", once that was
             * what its repr() gave TMPL_CHECKS times */
            if (tc->unset_ok >= TMPL_CHECKS) {
                tc->tmpl_hits++;
                return put_repr_failed(b, "AttributeError");
            }
            size_t at = b->n;
            if (enc_repr_call(b, o, tc) < 0) return -1;
            size_t mark = b->n;
            if (put_repr_failed(b, "AttributeError") < 0) return -1;
            int same = mark - at == b->n - mark && memcmp(b->p + at, b->p + mark, mark - at) == 0;
            b->n = mark;
            tc->unset_ok = same ? tc->unset_ok + 1 : -1;
            return 0;
        }
        if (bound < 0) {
            /* values it cannot stand for (a Vector where a float was): a template that
             * never applies is dropped */
            if (++tc->tmpl_miss > 256 && tc->tmpl_miss > 16 * tc->tmpl_hits) tmpl_free(tc);
        }
        else if (tc->tmpl_ok >= TMPL_CHECKS) {
            tc->tmpl_hits++;
            return enc_template(b, tc, vals) < 0 ? -1 : 0;
        }
        else {
            size_t at = b->n;
            if (enc_repr_call(b, o, tc) < 0) return -1;
            if (tc->tmpl) tmpl_check(b, at, o, t, tc);
            return 0;
        }
    }
    if (!tc || enc.outer || has_slots(t)) return enc_repr_call(b, o, tc);
    int deep = ds_fp_deep, vol = ds_fp_volatile; /* the caller's, kept */
    uint64_t key = ds_fingerprint(o, 0);
    ds_fp_deep = deep;
    ds_fp_volatile = vol;
    for (int j = 0; j < enc.n; j++) key = mix(key, ptrbits(enc.stack[j])); /* "[...]" shown */
    key |= 1;
    unsigned i = (unsigned)(key >> 7) & (RMEMO - 1);
    if (rmemo[i].key == key && rmemo[i].gen == rmemo_gen && !tc->opaque) {
        if (buf_need(b, rmemo[i].n) < 0) return -1;
        put_bytes(b, rmemo[i].p, rmemo[i].n);
        return 0;
    }
    size_t start = b->n;
    int rc = enc_repr_call(b, o, tc);
    size_t n = b->n - start;
    if (rc == 0 && n <= RMEMO_MAX && (b->p[start] == V_REPR || b->p[start] == V_REPR_TRUNC)) {
        if (!rmemo[i].p && !(rmemo[i].p = PyMem_RawMalloc(RMEMO_MAX))) return 0;
        memcpy(rmemo[i].p, b->p + start, n);
        rmemo[i].n = (uint32_t)n;
        rmemo[i].key = key;
        rmemo[i].gen = rmemo_gen;
    }
    return rc;
}

static int
enc_repr_call(Buf *b, PyObject *o, TypeCost *tc)
{
    PyTypeObject *t = Py_TYPE(o);
    int64_t t0 = now_ns();
    /* user code may run: it sees our marks; another thread may encode meanwhile */
    enc_publish();
    EncMarks saved = enc;
    enc.n = 0; /* a thread encoding meanwhile starts from no marks */
    enc.outer = NULL;
    if (tc && !tc->reads_done) {
        type_reads(tc, t); /* Python code, run here where user code may run anyway */
        t0 = now_ns();
    }
    int armed = wd_arm(t0);
    PyObject *r = PyObject_Repr(o);
    int interrupted = armed && wd_disarm(r);
    enc = saved;
    int64_t dt = now_ns() - t0;
    if (interrupted) {
        Py_XDECREF(r);
        PyErr_Clear();
        if (!ds_map_get(&slow_types, t)) {
            Py_INCREF(t); /* keep the type (and its address) alive */
            if (ds_map_put(&slow_types, t, t) < 0) return -1;
        }
        return put_placeholder(b, V_REPR_SLOW, o, "repr skipped: over the time budget");
    }
    if (tc) {
        tc->repr_ns += dt;
        tc->repr_calls++;
    }
    if (dt > ds_limits.repr_budget_ns) {
        Py_INCREF(t); /* keep the type (and its address) alive */
        if (ds_map_put(&slow_types, t, t) < 0) return -1;
    }
    if (!r) {
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        int rc = put_repr_failed(b, et ? ((PyTypeObject *)et)->tp_name : "?");
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(etb);
        return rc;
    }
    int rc;
    if (!PyUnicode_Check(r)) {
        rc = put_placeholder(b, V_REPR_ERROR, o, "repr returned a non-string");
    }
    else {
        Py_ssize_t len = PyUnicode_GET_LENGTH(r);
        if (len <= ds_limits.max_repr) {
            rc = buf_need(b, 1);
            if (rc == 0) {
                put_u8(b, V_REPR);
                rc = put_str_payload(b, r);
            }
        }
        else {
            PyObject *head = PyUnicode_Substring(r, 0, ds_limits.max_repr);
            rc = head ? buf_need(b, 12) : -1;
            if (rc == 0) {
                put_u8(b, V_REPR_TRUNC);
                put_var(b, (uint64_t)len);
                rc = put_str_payload(b, head);
            }
            Py_XDECREF(head);
        }
    }
    Py_DECREF(r);
    return rc;
}

/* list, tuple, set, frozenset or dict with exact builtin type */
static int
enc_container(Buf *b, PyObject *o, int tag, int depth)
{
    Py_ssize_t total = tag == V_LIST || tag == V_TUPLE ? Py_SIZE(o)
                       : tag == V_DICT ? PyDict_GET_SIZE(o) : PySet_GET_SIZE(o);
    if (total > 0 && depth >= ds_limits.max_depth) {
        if (buf_need(b, 12) < 0) return -1;
        put_u8(b, V_DEEP);
        put_u8(b, tag);
        put_var(b, (uint64_t)total);
        return 0;
    }
    /* the same recursion marks as repr() itself (see EncMarks) */
    int top = enc.n == 0, own = enc.n < ENC_MAX;
    if (top) enc.outer = thread_repr_marks();
    if (own ? enc_marked(o) : Py_ReprEnter(o) != 0) {
        PyErr_Clear();
        if (top) enc.outer = NULL;
        if (buf_need(b, 2) < 0) return -1;
        put_u8(b, V_RECUR);
        put_u8(b, tag);
        return 0;
    }
    int at = enc.n;
    if (own) {
        enc.stack[at] = o;
        enc.entered[at] = 0;
        enc.n++;
    }
    Py_ssize_t shown = total < ds_limits.max_items ? total : ds_limits.max_items;
    int pair = tag == V_DICT;
    /* take references first: repr() of an item may mutate the container */
    PyObject *local[130];
    size_t want = (size_t)(shown * (pair ? 2 : 1) + 1);
    PyObject **items = want <= 130 ? local : PyMem_Malloc(sizeof(PyObject *) * want);
    int rc = 0;
    if (!items) {
        PyErr_NoMemory();
        rc = -1;
        goto leave;
    }
    Py_ssize_t got = 0;
    if (tag == V_LIST || tag == V_TUPLE) {
        for (; got < shown && got < Py_SIZE(o); got++) {
            PyObject *it = tag == V_LIST ? PyList_GET_ITEM(o, got) : PyTuple_GET_ITEM(o, got);
            items[got] = Py_NewRef(it);
        }
    }
    else if (pair) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (got < shown && PyDict_Next(o, &pos, &k, &v)) {
            items[2 * got] = Py_NewRef(k);
            items[2 * got + 1] = Py_NewRef(v);
            got++;
        }
    }
    else {
        Py_ssize_t pos = 0;
        PyObject *k;
        Py_hash_t hv;
        while (got < shown && _PySet_NextEntry(o, &pos, &k, &hv)) items[got++] = Py_NewRef(k);
    }
    rc = buf_need(b, 24);
    if (rc == 0) {
        put_u8(b, tag);
        put_var(b, (uint64_t)(got < shown ? got : total));
        put_var(b, (uint64_t)got);
    }
    Py_ssize_t nrefs = got * (pair ? 2 : 1);
    for (Py_ssize_t i = 0; i < nrefs; i++) {
        if (rc == 0) rc = ds_encode(b, items[i], depth + 1);
        Py_DECREF(items[i]);
    }
    if (items != local) PyMem_Free(items);
leave:
    if (own) {
        enc.n = at;
        if (enc.entered[at]) Py_ReprLeave(o);
    }
    else {
        Py_ReprLeave(o);
    }
    if (top) enc.outer = NULL;
    return rc;
}

/* a local holding an object with object's own repr: that text, then its attributes
 * (V_OBJECT) */
static int
enc_object(Buf *b, PyObject *o, int depth)
{
    Py_ssize_t max = ds_limits.max_items;
    PyObject **refs = PyMem_Malloc(sizeof(PyObject *) * (size_t)(2 * max + 1));
    const char **cnames = PyMem_Malloc(sizeof(char *) * (size_t)(max + 1));
    if (!refs || !cnames) {
        PyMem_Free(refs);
        PyMem_Free(cnames);
        PyErr_NoMemory();
        return -1;
    }
    PyObject **names = refs, **values = refs + max;
    PyTypeObject *t = Py_TYPE(o);
    Py_INCREF(o); /* an attribute's repr() may drop the last other reference */
    Py_ssize_t total = collect_attrs(o, t, names, cnames, values, max);
    Py_ssize_t got = total < max ? total : max;
    /* the text: as enc_default_repr writes it, under the V_OBJECT tag */
    size_t at = b->n;
    int rc = enc_default_repr(b, o);
    if (rc == 0) {
        b->p[at] = V_OBJECT;
        rc = buf_need(b, 24);
    }
    if (rc == 0) {
        put_var(b, (uint64_t)total);
        put_var(b, (uint64_t)got);
    }
    for (Py_ssize_t i = 0; i < got; i++) {
        if (rc == 0) {
            if (names[i]) {
                rc = put_str_payload(b, names[i]);
            }
            else {
                size_t n = strlen(cnames[i]);
                rc = buf_need(b, n + 10);
                if (rc == 0) {
                    put_var(b, (uint64_t)n);
                    put_bytes(b, cnames[i], n);
                }
            }
        }
        if (rc == 0) rc = ds_encode(b, values[i], depth + 1);
        Py_XDECREF(names[i]);
        Py_DECREF(values[i]);
    }
    Py_DECREF(o);
    PyMem_Free(refs);
    PyMem_Free(cnames);
    return rc;
}

int
ds_encode(Buf *b, PyObject *o, int depth)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyLong_Type) return enc_int(b, o);
    if (t == &PyUnicode_Type) return enc_str(b, o);
    if (t == &PyFloat_Type) {
        if (buf_need(b, 9) < 0) return -1;
        put_u8(b, V_FLOAT);
        double d = PyFloat_AS_DOUBLE(o);
        put_bytes(b, &d, 8);
        return 0;
    }
    if (o == Py_None || t == &PyBool_Type) {
        if (buf_need(b, 1) < 0) return -1;
        put_u8(b, o == Py_None ? V_NONE : (o == Py_True ? V_TRUE : V_FALSE));
        return 0;
    }
    if (t == &PyList_Type) return enc_container(b, o, V_LIST, depth);
    if (t == &PyTuple_Type) return enc_container(b, o, V_TUPLE, depth);
    if (t == &PyDict_Type) return enc_container(b, o, V_DICT, depth);
    if (t == &PySet_Type) return enc_container(b, o, V_SET, depth);
    if (t == &PyFrozenSet_Type) return enc_container(b, o, V_FROZENSET, depth);
    if (t == &PyBytes_Type) return enc_bytes(b, o);
    if (t == &PyComplex_Type) {
        if (buf_need(b, 17) < 0) return -1;
        put_u8(b, V_COMPLEX);
        Py_complex c = PyComplex_AsCComplex(o);
        put_bytes(b, &c.real, 8);
        put_bytes(b, &c.imag, 8);
        return 0;
    }
    /* a local's own object: with its attributes (objects they hold: their text only, or
     * a value could be a whole object graph, re-encoded whenever any of it changes) */
    if (ds_limits.attributes && depth == 0 && t->tp_repr == PyBaseObject_Type.tp_repr &&
        (t->tp_flags & Py_TPFLAGS_HEAPTYPE))
        return enc_object(b, o, depth);
    return enc_repr(b, o);
}
