/* Shared declarations of DevSandbox's native recorder (devsandbox._tracer).
 *
 * The byte layout written here is specified, on the Python side, by
 * adapters/devsandbox/recorder/format.py: keep the two in step.
 */
#ifndef DEVSANDBOX_RECORDER_H
#define DEVSANDBOX_RECORDER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <opcode.h>
#include <stdint.h>
#include <string.h>

/* ---- growable byte buffer ------------------------------------------------ */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} Buf;

int ds_buf_grow(Buf *b, size_t extra);

/* Make room for `extra` more bytes; the put_* helpers below assume it. */
static inline int
buf_need(Buf *b, size_t extra)
{
    return (b->n + extra <= b->cap) ? 0 : ds_buf_grow(b, extra);
}

static inline void
put_u8(Buf *b, unsigned v)
{
    b->p[b->n++] = (unsigned char)v;
}

static inline void
put_var(Buf *b, uint64_t v)
{
    while (v >= 0x80) {
        b->p[b->n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    b->p[b->n++] = (unsigned char)v;
}

static inline uint64_t
zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline void
put_bytes(Buf *b, const void *src, size_t n)
{
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

/* ---- value tags (format.py: class V) -------------------------------------- */

enum {
    V_NONE = 0x01, V_TRUE = 0x02, V_FALSE = 0x03, V_INT = 0x04, V_BIGINT = 0x05,
    V_FLOAT = 0x06, V_STR = 0x07, V_STR_TRUNC = 0x08, V_BYTES = 0x09,
    V_BYTES_TRUNC = 0x0A, V_COMPLEX = 0x0B,
    V_LIST = 0x10, V_TUPLE = 0x11, V_SET = 0x12, V_FROZENSET = 0x13, V_DICT = 0x14,
    V_DEEP = 0x18, V_RECUR = 0x19,
    V_REPR = 0x20, V_REPR_TRUNC = 0x21, V_REPR_ERROR = 0x22, V_REPR_SLOW = 0x23, V_OBJECT = 0x24,
    V_FMT = 0x25,
};

/* ---- limits on captured values ------------------------------------------- */

typedef struct {
    int max_depth;          /* containers nested deeper are shown as "[…N items]" */
    Py_ssize_t max_items;   /* items shown per container */
    Py_ssize_t max_str;     /* characters (str) or bytes (bytes) shown */
    Py_ssize_t max_repr;    /* characters of a user-defined repr shown */
    int64_t repr_budget_ns; /* a type whose repr took longer is not repr()'d again */
    int64_t type_budget_ns; /* a class with its own __repr__ costing more per look: opaque */
    int attributes;         /* objects with object's repr: recorded with their attributes */
    int templates;          /* a repr that only formats attributes: their values (V_FMT) */
} Limits;

extern Limits ds_limits;

/* Fingerprint of what the value's repr would show (same depth and item
 * limits as the encoder): equal fingerprints mean "unchanged" for the
 * incremental capture.  Never runs user code. */
uint64_t ds_fingerprint(PyObject *o, int depth);

/* values ds_fingerprint visited, ever */
extern uint64_t ds_fp_nodes;

/* Set by ds_fingerprint when a container holds non-scalar items. */
extern int ds_fp_deep;

/* Set by ds_fingerprint when the value holds something whose shown state may change
 * without Python code or a call in the program's own lines: a builtin whose repr
 * shows hidden state (an iterator's position), a dict subclass (a defaultdict's
 * __missing__ inserts on a read).  Such a frame's locals are compared at every step. */
extern int ds_fp_volatile;

/* Cleared by the caller, set by ds_fingerprint when the value is not private: a part
 * of it that is shown and could change is not a builtin container (list, tuple, dict,
 * set, frozenset) held by nothing but its parent (a reference count of 1, the root's
 * being the frame slot).  A private value can only change through that slot. */
extern int ds_fp_shared;

/* A cheap signature of a list's or tuple's scalar items (by value) or a dict's version: when it
 * and the container's address are unchanged and the container holds only
 * scalars, its content is unchanged.  Returns 0 for other types. */
int ds_shallow(PyObject *o, uint64_t *sig);

/* int, float, str, bytes, bool, None, complex: immutable, shown by value */
static inline int
ds_is_scalar(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    return t == &PyLong_Type || t == &PyFloat_Type || t == &PyUnicode_Type || o == Py_None ||
           t == &PyBool_Type || t == &PyBytes_Type || t == &PyComplex_Type;
}

/* True if the repr of `o` is computed from its content (no user code), so
 * that the shadow does not need to keep it alive to trust its address. */
int ds_is_structural(PyObject *o);

/* Append the encoding of `o` (format.py: decode_value).  May run user code
 * (repr of user objects).  Returns -1 only on memory errors. */
int ds_encode(Buf *b, PyObject *o, int depth);

/* Module initialisation of the value capture. */
int ds_values_init(void);

/* [(class qualname, repr ns, attribute values visited, looks, opaque)] */
PyObject *ds_type_costs(void);

/* Clear the per-type "repr is too slow" memory. */
void ds_values_reset(void);

/* A new chunk starts: repr() texts of the last one are not reused. */
void ds_values_new_chunk(void);

/* The encoding of a value whose fingerprint (ds_fingerprint at depth 0, not volatile) is
 * `fp`, kept earlier in the chunk (ds_memo_keep): appended to `b` (1), or not kept (0); -1
 * on memory errors.  Equal fingerprints show the same text, so the same encoding. */
int ds_memo_get(Buf *b, uint64_t fp);
void ds_memo_keep(uint64_t fp, const unsigned char *p, size_t n);

/* ---- item-level shadows of containers (shadow.c) --------------------------- */

#define E_ITEMS 0x52 /* format.py: E.ITEMS */

typedef struct ShNode ShNode;

/* V_LIST... for exact builtin containers, else 0 */
int ds_container_tag(PyObject *o);
/* a shadow of the container `o` shown at depth 0 (NULL: error, or not a container) */
ShNode *ds_sh_new(PyObject *o);
/* write ITEMS records for what changed in `o` since the shadow; update it */
int ds_sh_diff(Buf *b, uint32_t name_id, ShNode *sh, PyObject *o);
/* After a step that changed only the objects `changed` (and nothing else the value shows):
 * write ITEMS records for the shadows of those objects alone.  1: done; 0: compare the
 * whole (not possible, or the tree's shape or what it reads changed on the way: the whole
 * comparison writes what is left and brings those up to date); -1: error. */
int ds_sh_diff_objs(Buf *b, uint32_t name_id, ShNode *root, PyObject *o, void *const *changed,
                    size_t nchanged);
int ds_sh_tag(ShNode *sh);
void ds_sh_free(ShNode *sh);

/* ---- what a line changed (targets.c) ---------------------------------------- */

/* an instruction that jumps back (its target: the code unit after its caches, minus its
 * argument) */
static inline int
ds_is_backward_jump(int op)
{
    switch (op) {
    case JUMP_BACKWARD: case JUMP_BACKWARD_NO_INTERRUPT:
#ifdef POP_JUMP_BACKWARD_IF_FALSE
    case POP_JUMP_BACKWARD_IF_FALSE: case POP_JUMP_BACKWARD_IF_TRUE:
    case POP_JUMP_BACKWARD_IF_NONE: case POP_JUMP_BACKWARD_IF_NOT_NONE:
#endif
        return 1;
    default:
        return 0;
    }
}

typedef struct DsTarget DsTarget;
/* the value of local `i` of the frame behind `ctx` (borrowed, NULL: unbound) */
typedef PyObject *(*DsSlotFn)(void *ctx, int i);
/* `o` was changed by the line (-1: give up) */
typedef int (*DsChangedFn)(void *ctx, PyObject *o);

/* The stores and calls of line `line` of `co`, whose code units are those of [u0, u1) that
 * `unit_line` (of `nunits`) gives that line (in one piece or several: a conditional
 * expression's other branch placed after the next line's code, entered only by the line's
 * own jump; `writes`: the locals it rebinds): how many (*out,
 * PyMem_RawMalloc'd), or -1 when the line is not understood (a jump back, an instruction
 * not modelled, a store into an object we cannot name). */
int ds_line_targets(PyCodeObject *co, const unsigned char *code, const int *unit_line,
                    int nunits, int line, int u0, int u1, uint64_t writes, DsTarget **out);
/* The code units an event at `p`, the start of one of the pieces of line `line`, can run
 * before the frame's next event (in[u] = 1; `in` holds `nunits`): those of the line reached
 * from `p`, through its forward jumps.  -1: not understood (a jump back inside the line, code
 * without a line). */
int ds_entry_units(const unsigned char *code, const int *unit_line, int nunits, int line, int p,
                   uint8_t *in);
/* ds_line_targets for the step from an event at `p` (ds_entry_units: `in`), where `p` may
 * be a later piece of a statement in several lines that starts at `s0` (the stack it
 * finds is what the code from `s0` left, in a straight line) */
int ds_entry_targets(PyCodeObject *co, const unsigned char *code, const int *unit_line,
                     int nunits, int line, int s0, int p, int u1, const uint8_t *in,
                     uint64_t writes, DsTarget **out);
/* At the step after the line: report the objects its stores and method calls changed
 * (`changed`), and return how many of its calls are known to have run no Python code of
 * their own and changed nothing else; -1 if what it did is not known. */
int ds_eval_targets(const DsTarget *t, int n, PyCodeObject *co, DsSlotFn slot, void *ctx,
                    PyObject *globals, PyObject *builtins, DsChangedFn changed);
void ds_free_targets(DsTarget *t);

/* a hash of `n` bytes, eight at a time (values.c) */
uint64_t ds_hash_bytes(const unsigned char *p, size_t n);

/* ---- chunks packed for the file (pack.c) ------------------------------------- */

PyObject *ds_pack_chunks(PyObject *self, PyObject *args);

/* ---- the objects a fingerprint read (values.c) ------------------------------- */

/* While ds_fp_collect is set, ds_fingerprint appends to ds_fp_objs the address of each
 * mutable object whose state it reads (builtin containers, objects whose attributes it
 * follows); ds_fp_nobjs is set past DS_FP_OBJS_MAX when there were more. */
#define DS_FP_OBJS_MAX 1024
extern int ds_fp_collect;
extern void *ds_fp_objs[DS_FP_OBJS_MAX];
extern size_t ds_fp_nobjs;

static inline void
ds_fp_saw(void *o)
{
    if (!ds_fp_collect) return;
    if (ds_fp_nobjs < DS_FP_OBJS_MAX) ds_fp_objs[ds_fp_nobjs] = o;
    ds_fp_nobjs++;
}

/* ---- small pointer-keyed hash map ---------------------------------------- */

typedef struct {
    void **keys;
    void **vals;
    size_t cap, n; /* cap is a power of two */
} PtrMap;

void *ds_map_get(PtrMap *m, void *key);
int ds_map_put(PtrMap *m, void *key, void *val);
void ds_map_clear(PtrMap *m);

#endif
