/* devsandbox._tracer: the native core of DevSandbox's in-process recorder.
 *
 * Hooks
 *   3.11: a C trace function installed with PyEval_SetTrace ("tee"): it owns
 *         the thread's trace slot, records, then runs the Python-level tracer
 *         (pydevd, coverage, the user's sys.settrace) behind it exactly like
 *         CPython's trace trampoline.
 *   3.12+: sys.monitoring callbacks (C functions) registered by
 *         recorder/native.py under our own tool id; code objects in scope get
 *         their events through set_local_events.
 *
 * Hot path: every event is encoded into the thread's staging buffer (so that
 * a repr() that releases the GIL cannot interleave bytes of two threads),
 * then appended to one global event buffer.  Values are captured
 * incrementally: every frame keeps a shadow (fingerprint, and a reference
 * for values shown through repr()) per local, and only changed locals are
 * encoded.  A step whose previous line could not have changed an object
 * (its bytecode neither calls nor stores into objects, and nothing else ran:
 * see step_mask) compares only the locals that line rebinds.  The writer
 * thread takes the buffers every 100 ms (or when 1 MB
 * is reached) and compresses them; each take starts a new chunk in which
 * every thread first writes a keyframe of its stack, so that a chunk decodes
 * on its own.  The byte layout is in recorder/format.py.
 */
#include "recorder.h"
#include <opcode.h>
#include <time.h>
#if PY_VERSION_HEX < 0x030D0000
#include <frameobject.h> /* PyFrame_FastToLocalsWithError */
#endif

#define Py_BUILD_CORE 1
#include "internal/pycore_frame.h"
#if PY_VERSION_HEX >= 0x030C0000
#include "internal/pycore_interp.h"
#else
#undef _PyGC_FINALIZED /* cpython/objimpl.h's; pycore_gc.h defines its own */
#include "internal/pycore_runtime.h"
#endif
#include "internal/pycore_gil.h"
#undef Py_BUILD_CORE

#ifndef CO_FAST_CELL /* internal/pycore_code.h */
#define CO_FAST_CELL 0x40
#define CO_FAST_FREE 0x80
#endif

#define DEVSANDBOX_NATIVE_ABI 2

#if PY_VERSION_HEX >= 0x030D0000
#define IF_CODE(f) ((PyCodeObject *)(f)->f_executable)
#else
#define IF_CODE(f) ((f)->f_code)
#endif

#if PY_VERSION_HEX >= 0x030D0000
#define CURRENT_IFRAME(ts) ((ts)->current_frame)
#elif PY_VERSION_HEX >= 0x030C0000
#define CURRENT_IFRAME(ts) ((ts)->cframe->current_frame)
#endif

/* the innermost frame of any thread (CURRENT_IFRAME: only where monitoring exists) */
#if PY_VERSION_HEX >= 0x030D0000
#define THREAD_IFRAME(ts) ((ts)->current_frame)
#else
#define THREAD_IFRAME(ts) ((ts)->cframe->current_frame)
#endif

/* event records (format.py: class E) */
enum {
    E_THREAD = 0x40, E_KEYFRAME = 0x41, E_KFRAME = 0x42, E_CALL = 0x43, E_ENTER = 0x44,
    E_LINE = 0x45, E_RETURN = 0x46, E_EXCEPTION = 0x47, E_POP = 0x48, E_CLOCK = 0x49,
    E_SET = 0x50, E_DEL = 0x51, E_MARK = 0x60,
};
/* definition records (format.py: class D) */
enum { D_STR = 0x01, D_CODE = 0x02, D_THREAD = 0x03 };

enum { EV_CALL = 0, EV_EXCEPTION = 1, EV_LINE = 2, EV_RETURN = 3 };

/* ---- recorder state ------------------------------------------------------ */

/* What the bytecode of one line can do (line_infos): a step after a line that
 * can neither call nor store into objects, in a thread where nothing else ran
 * meanwhile, compares only the locals that line rebinds. */
typedef struct {
    uint64_t writes;  /* local slots it rebinds or deletes (STORE_FAST…) */
    uint64_t inplace; /* slots of augmented assignments (x += …): safe while x held a scalar */
    uint8_t unsafe;   /* it may change objects from C: calls, item and attribute stores… */
    uint64_t loads;   /* local slots it reads, rebinds or deletes (LOAD_FAST…) */
    uint8_t loads_all; /* it names a slot past the 64 `loads` holds */
    uint8_t ncalls;    /* its CALL instructions (saturating: 255 is unsafe_other) */
    uint8_t unsafe_other; /* unsafe for another reason than its calls */
    uint8_t loops;     /* it jumps back to one of its own instructions: one may run twice */
    uint8_t stores;    /* it stores into objects (attributes, items, augmented assignments
                        * of them): unsafe_other unless `targets` names them */
    int16_t ntargets;  /* its stores and calls, followed on the stack (targets.c) */
    uint8_t pieces;    /* in several pieces: an event at the start of one runs only what
                        * CodeRec.entries holds for it */
    DsTarget *targets;
} LineInfo;

typedef struct {
    PyObject *code; /* strong */
    uint32_t id;
    int in_scope;
    int optimized; /* fast locals (else a locals dict) */
    int is_async;  /* a coroutine, async generator or iterable coroutine */
    int nglobals;  /* module globals it reads (option "globals") */
    PyObject **gnames;   /* strong */
    uint32_t *gname_ids; /* ids of "global:NAME" */
    /* what the names bound (borrowed; NULL: unbound or code) in `gdict` (strong) when its
     * version was `gver`: good while the dict's version stays the same */
    PyObject **gvals;
    PyObject *gdict;
    uint64_t gver;
    int nlocals;
    uint32_t *name_ids;
    unsigned char *kinds;
    int start_off, start_line; /* line cache for PY_START (3.12+) */
    int ret_off, ret_line;
    LineInfo *lines; /* per line from line_base (NULL: every step compares every local) */
    int line_base, nlines;
    LineInfo noline; /* instructions without a line: they may run between any two */
    /* where a line's event can fire other than at its first instruction (a loop's head):
     * what the line can do from there on (entry_info) */
    PyObject *bytes;    /* co_code without specializations (strong), with lines */
    int *unit_line;     /* the line of each code unit (0: none) */
    int nunits;
    PtrMap entries;     /* byte offset + 1 -> LineInfo* */
} CodeRec;

typedef struct {
    PyObject *ref; /* kept for values shown through repr(): their address stays theirs */
    uint64_t fp;   /* fingerprint of the whole value (not with item-level diffs) */
    ShNode *tree;  /* builtin containers, with item-level diffs: shadow (shadow.c) */
    void *shallow_of; /* list or dict whose ds_shallow signature is `shallow` */
    uint64_t shallow;
    uint32_t gen;
    uint8_t present;
    uint8_t scalar; /* `ref` is an immutable scalar: the same object means the same value */
    uint8_t vol;    /* its value is volatile (ds_fp_volatile) */
    uint8_t priv;   /* `priv_of` was private when last compared (ds_fp_shared) */
    void *priv_of;
    uint64_t text;  /* hash of the repr() text it was last written with (0: not a repr) */
    /* the mutable objects whose state its value's fingerprint read (ds_fp_saw): up to two
     * in `in`, else a hash set `objs` of `objcap` entries; objs_ok 0: not known */
    void *in[2];
    void **objs;
    uint32_t objcap, nobjs;
    uint8_t objs_ok;
    uint64_t objs_sig; /* of the addresses in `objs`, in the order they were read */
} Slot;

typedef struct {
    PyObject *name; /* strong (dict frames only) */
    uint32_t name_id;
    Slot s;
} DSlot;

typedef struct {
    _PyInterpreterFrame *iframe;
    CodeRec *code;
    uint32_t frame_id;
    int line;
    Slot *slots; /* optimized frames: one per co_nlocalsplus */
    Slot *gslots; /* the module globals its code reads */
    DSlot *dslots; /* dict frames */
    int ndslots, capdslots;
    PtrMap dindex; /* name -> index + 1 */
    uint32_t gen;
    uint8_t unwinding; /* an exception event was its last: the next line event is a handler */
    uint8_t vol;       /* a local's value is volatile: compare all at every step */
    int last_kind;     /* the kind of its last step, and the GIL's switch count after it */
    unsigned long switches;
    int off;           /* the byte offset of its last step (a line or call event), or -1 */
    /* since its last step: functions its CALL instructions started directly (Python code of
     * the scope, not through C); at that step: its thread's `dirty` and R.wild */
    uint32_t direct_calls;
    uint64_t dirty_seen, wild_seen;
    uint64_t dlog_seen; /* its thread's dlog_n at that step */
} FrameRec;

typedef struct {
    uint64_t ts_id;
    uint32_t tid;
    unsigned long ident, native_id;
    FrameRec *stack;
    int depth, cap;
    uint64_t epoch;
    uint64_t step, chunk_first_step;
    Buf stage;
    Buf pending; /* marks for this thread made by another thread: written at its next event */
    PyObject *task; /* the asyncio task its last coroutine step ran in (strong) */
    uint64_t clock_us; /* its last E_CLOCK in this chunk (µs since clock_origin_ns) */
    uint64_t dirty; /* steps of its frames after code that may have changed objects */
    /* the objects lines of its frames changed, as they said (targets.c): the last DLOG of
     * dlog_n in all */
#define DLOG 128
    void *dlog[DLOG];
    uint64_t dlog_n;
    int dlog_read; /* a step read the log after its last entry (ThreadRec.dlog_n) */
} ThreadRec;

static struct {
    int active;
    Buf ev, defs;
    PtrMap codes;  /* PyCodeObject* -> CodeRec* */
    PtrMap strs;   /* str object -> id */
    PtrMap types;  /* exception type -> id of its name */
    uint32_t next_str, next_code, next_frame, next_tid;
    ThreadRec **threads;
    int nthreads, capthreads;
    PyThreadState *last_ts;
    ThreadRec *last_thread;
    uint32_t cur_tid; /* thread of the last appended event */
    uint64_t epoch;
    int busy; /* threads inside record(): take() waits for 0 */
    uint64_t nevents, nlines, sampled_ns, nsampled;
    uint64_t nelided;  /* steps that compared only the locals their line rebinds */
    uint64_t nprivate; /* private values not compared (priv_mask) */
    uint64_t wild;     /* bumped when code outside the scope, a tracer behind us or a debugger
                        * ran, or a mark was written: anything may have changed */
    uint64_t nclean;   /* steps after calls that changed nothing (step_mask) */
    uint64_t ntargeted; /* steps that compared the locals showing objects lines changed */
    uint64_t npartial;  /* ... of which shadowed containers compared only those objects */
    uint64_t nreused;   /* values written from an encoding kept in the chunk (ds_memo_get) */
    int introspect;    /* in-scope code names frame introspection: no priv_mask */
    size_t flush_bytes;
    int flushing;
    PyObject *scope_fn, *flush_cb, *threading_active, *set_local_events, *disable, *globals_fn;
    int tool_id;
    long local_events;
    PyObject *codes_list; /* in-scope code objects, for stop() on 3.12+ */
} R;

static PyThreadState *find_tstate(unsigned long ident);

/* ---- definitions --------------------------------------------------------- */

static int
put_str_obj(Buf *b, PyObject *s)
{
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (!u) {
        PyErr_Clear();
        u = "?";
        n = 1;
    }
    if (buf_need(b, (size_t)n + 12) < 0) return -1;
    put_var(b, (uint64_t)n);
    put_bytes(b, u, (size_t)n);
    return 0;
}

/* id of a str object in the definitions (0 on error) */
static uint32_t
str_id(PyObject *s)
{
    void *v = ds_map_get(&R.strs, s);
    if (v) return (uint32_t)(uintptr_t)v;
    if (buf_need(&R.defs, 1) < 0) return 0;
    put_u8(&R.defs, D_STR);
    if (put_str_obj(&R.defs, s) < 0) return 0;
    uint32_t id = ++R.next_str;
    Py_INCREF(s);
    if (ds_map_put(&R.strs, s, (void *)(uintptr_t)id) < 0) return 0;
    return id;
}

static uint32_t
type_name_id(PyTypeObject *t)
{
    void *v = ds_map_get(&R.types, t);
    if (v) return (uint32_t)(uintptr_t)v;
    PyObject *qual = PyType_GetQualName(t);
    PyObject *mod = PyObject_GetAttrString((PyObject *)t, "__module__");
    PyObject *full = NULL;
    if (qual && mod && PyUnicode_Check(mod) && PyUnicode_CompareWithASCIIString(mod, "builtins") != 0)
        full = PyUnicode_FromFormat("%U.%U", mod, qual);
    else if (qual)
        full = Py_NewRef(qual);
    Py_XDECREF(qual);
    Py_XDECREF(mod);
    if (!full) {
        PyErr_Clear();
        full = PyUnicode_FromString(t->tp_name);
        if (!full) return 0;
    }
    uint32_t id = str_id(full);
    Py_DECREF(full);
    Py_INCREF(t);
    if (ds_map_put(&R.types, t, (void *)(uintptr_t)id) < 0) return 0;
    return id;
}

/* ---- code objects -------------------------------------------------------- */

/* the module globals a function reads, as the option's function lists them */
static int
code_globals(CodeRec *cr, PyCodeObject *co)
{
    PyObject *names = PyObject_CallOneArg(R.globals_fn, (PyObject *)co);
    if (!names) {
        PyErr_WriteUnraisable(R.globals_fn);
        return 0;
    }
    PyObject *seq = PySequence_Fast(names, "globals: a sequence of names");
    Py_DECREF(names);
    if (!seq) {
        PyErr_WriteUnraisable(R.globals_fn);
        return 0;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    cr->gnames = PyMem_RawCalloc((size_t)n + 1, sizeof(PyObject *));
    cr->gname_ids = PyMem_RawCalloc((size_t)n + 1, sizeof(uint32_t));
    cr->gvals = PyMem_RawCalloc((size_t)n + 1, sizeof(PyObject *));
    if (!cr->gnames || !cr->gname_ids || !cr->gvals) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    int k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyUnicode_Check(name)) continue;
        PyObject *shown = PyUnicode_FromFormat("global:%U", name);
        uint32_t id = shown ? str_id(shown) : 0;
        Py_XDECREF(shown);
        if (!id) {
            Py_DECREF(seq);
            return -1;
        }
        cr->gnames[k] = Py_NewRef(name);
        cr->gname_ids[k++] = id;
    }
    cr->nglobals = k;
    Py_DECREF(seq);
    return 0;
}

/* ---- what a line can do ---------------------------------------------------- */

/* 1: the instruction cannot change an object from C code (whatever Python code
 * it runs, a __add__ or a property, is seen: it is an event or, outside the
 * scope, bumps R.wild).  Anything not listed here counts as unsafe. */
static int
op_is_safe(int op)
{
    switch (op) {
    case CACHE: case NOP: case RESUME: case POP_TOP: case PUSH_NULL: case COPY: case SWAP:
    case LOAD_FAST: case LOAD_CONST: case LOAD_GLOBAL: case LOAD_DEREF: case LOAD_CLOSURE:
    case COPY_FREE_VARS: case LOAD_ATTR: case COMPARE_OP: case IS_OP: case CONTAINS_OP:
    case UNARY_NEGATIVE: case UNARY_NOT: case UNARY_INVERT: case BINARY_SUBSCR:
    case JUMP_FORWARD: case JUMP_BACKWARD: case JUMP_BACKWARD_NO_INTERRUPT:
    case FOR_ITER: case GET_ITER: case UNPACK_SEQUENCE: case UNPACK_EX:
    case BUILD_TUPLE: case BUILD_LIST: case BUILD_SET: case BUILD_MAP:
    case BUILD_CONST_KEY_MAP: case BUILD_STRING: case BUILD_SLICE:
    case LIST_APPEND: case SET_ADD: case MAP_ADD: case RETURN_VALUE: case MAKE_FUNCTION:
    case RAISE_VARARGS: case RERAISE: case POP_EXCEPT: case PUSH_EXC_INFO:
    case CHECK_EXC_MATCH: case LOAD_ASSERTION_ERROR: case GET_LEN:
#ifdef LOAD_FAST_CHECK
    case LOAD_FAST_CHECK:
#endif
#ifdef LOAD_FAST_LOAD_FAST
    case LOAD_FAST_LOAD_FAST:
#endif
#ifdef LOAD_SUPER_ATTR
    case LOAD_SUPER_ATTR:
#endif
#ifdef LOAD_METHOD
    case LOAD_METHOD:
#endif
#ifdef TO_BOOL
    case TO_BOOL:
#endif
#ifdef UNARY_POSITIVE
    case UNARY_POSITIVE:
#endif
#ifdef BINARY_SLICE
    case BINARY_SLICE:
#endif
#ifdef POP_JUMP_IF_FALSE
    case POP_JUMP_IF_FALSE: case POP_JUMP_IF_TRUE:
#endif
#ifdef POP_JUMP_IF_NONE
    case POP_JUMP_IF_NONE: case POP_JUMP_IF_NOT_NONE:
#endif
#ifdef POP_JUMP_FORWARD_IF_FALSE
    case POP_JUMP_FORWARD_IF_FALSE: case POP_JUMP_FORWARD_IF_TRUE:
    case POP_JUMP_FORWARD_IF_NONE: case POP_JUMP_FORWARD_IF_NOT_NONE:
    case POP_JUMP_BACKWARD_IF_FALSE: case POP_JUMP_BACKWARD_IF_TRUE:
    case POP_JUMP_BACKWARD_IF_NONE: case POP_JUMP_BACKWARD_IF_NOT_NONE:
#endif
#ifdef JUMP_IF_FALSE_OR_POP
    case JUMP_IF_FALSE_OR_POP: case JUMP_IF_TRUE_OR_POP:
#endif
#ifdef END_FOR
    case END_FOR:
#endif
#ifdef LIST_TO_TUPLE
    case LIST_TO_TUPLE:
#endif
#ifdef FORMAT_VALUE
    case FORMAT_VALUE:
#endif
#ifdef FORMAT_SIMPLE
    case FORMAT_SIMPLE: case FORMAT_WITH_SPEC: case CONVERT_VALUE:
#endif
#ifdef RETURN_CONST
    case RETURN_CONST:
#endif
#ifdef SET_FUNCTION_ATTRIBUTE
    case SET_FUNCTION_ATTRIBUTE:
#endif
#ifdef KW_NAMES
    case KW_NAMES:
#endif
#ifdef NOT_TAKEN
    case NOT_TAKEN:
#endif
#ifdef POP_ITER
    case POP_ITER:
#endif
        return 1;
    default:
        return 0;
    }
}

/* slots an instruction rebinds (bits in *writes); 0 if it stores nothing, -1 if a slot
 * is past the 64 a line's mask holds */
static int
op_writes(int op, int arg, uint64_t *writes)
{
    int a = -1, b = -1;
    switch (op) {
    case STORE_FAST: case DELETE_FAST: case STORE_DEREF: case DELETE_DEREF: case MAKE_CELL:
#ifdef LOAD_FAST_AND_CLEAR
    case LOAD_FAST_AND_CLEAR:
#endif
        a = arg;
        break;
#ifdef STORE_FAST_LOAD_FAST
    case STORE_FAST_LOAD_FAST:
        a = arg >> 4;
        break;
    case STORE_FAST_STORE_FAST:
        a = arg >> 4;
        b = arg & 15;
        break;
#endif
    default:
        return 0;
    }
    if (a >= 64 || b >= 64) return -1;
    *writes |= (uint64_t)1 << a;
    if (b >= 0) *writes |= (uint64_t)1 << b;
    return 1;
}

/* slots an instruction names at all (reads, rebinds, deletes, wraps in a cell): bits in
 * li->loads, or li->loads_all past the 64 it holds */
static void
op_loads(LineInfo *li, int op, int arg)
{
    int a = -1, b = -1;
    switch (op) {
    case LOAD_FAST: case STORE_FAST: case DELETE_FAST: case LOAD_CLOSURE: case LOAD_DEREF:
    case STORE_DEREF: case DELETE_DEREF: case MAKE_CELL:
#ifdef LOAD_FAST_CHECK
    case LOAD_FAST_CHECK:
#endif
#ifdef LOAD_FAST_AND_CLEAR
    case LOAD_FAST_AND_CLEAR:
#endif
#ifdef LOAD_CLASSDEREF
    case LOAD_CLASSDEREF:
#endif
#ifdef LOAD_FROM_DICT_OR_DEREF
    case LOAD_FROM_DICT_OR_DEREF:
#endif
        a = arg;
        break;
#ifdef LOAD_FAST_LOAD_FAST
    case LOAD_FAST_LOAD_FAST:
#endif
#ifdef STORE_FAST_LOAD_FAST
    case STORE_FAST_LOAD_FAST: case STORE_FAST_STORE_FAST:
#endif
#if defined(LOAD_FAST_LOAD_FAST) || defined(STORE_FAST_LOAD_FAST)
        a = arg >> 4;
        b = arg & 15;
        break;
#endif
    default:
        return;
    }
    if (a >= 64 || b >= 64) li->loads_all = 1;
    else {
        li->loads |= (uint64_t)1 << a;
        if (b >= 0) li->loads |= (uint64_t)1 << b;
    }
}


/* an instruction that calls what is on the stack (a Python function of the scope called
 * from there starts directly: direct_calls) */
static inline int
is_call(int op)
{
#ifdef CALL_KW
    if (op == CALL_KW) return 1;
#endif
    return op == CALL;
}

#define NB_INPLACE_FIRST 13 /* NB_INPLACE_ADD (internal/pycore_opcode_utils.h) */

static void
classify(LineInfo *li, const unsigned char *code, Py_ssize_t n, Py_ssize_t off, int op, int arg)
{
    op_loads(li, op, arg);
    int w = op_writes(op, arg, &li->writes);
    if (w < 0) li->unsafe = li->unsafe_other = 1;
    /* a cell is shared with the functions that close over it: they show the change too */
    if (op == STORE_DEREF || op == DELETE_DEREF) li->unsafe_other = 1;
    if (w) return;
    if (op == BINARY_OP && arg >= NB_INPLACE_FIRST) {
        /* an augmented assignment to a local: BINARY_OP then a store of the same name */
        Py_ssize_t j = off + 2;
        while (j + 1 < n && code[j] == CACHE) j += 2;
        int store = j + 1 < n ? code[j] : -1, sarg = j + 1 < n ? code[j + 1] : 0;
        int slot = store == STORE_FAST ? sarg : -1;
#ifdef STORE_FAST_LOAD_FAST
        if (store == STORE_FAST_LOAD_FAST || store == STORE_FAST_STORE_FAST) slot = sarg >> 4;
#endif
        if (slot >= 64) li->unsafe = li->unsafe_other = 1;
        else if (slot < 0) li->unsafe = li->stores = 1; /* of an attribute or item */
        else li->inplace |= (uint64_t)1 << slot;
        return;
    }
    if (op == STORE_ATTR || op == STORE_SUBSCR || op == DELETE_ATTR || op == DELETE_SUBSCR ||
        op == STORE_GLOBAL || op == DELETE_GLOBAL) {
        li->unsafe = li->stores = 1;
        return;
    }
#ifdef CALL_INTRINSIC_1
    /* StopIteration made a RuntimeError (a generator's handler), an async generator's value
     * wrapped, unary +, a new list made a tuple: nothing of the program's changes */
    if (op == CALL_INTRINSIC_1 && arg >= 3 && arg <= 6) return;
#endif
    if (is_call(op)) {
        li->unsafe = 1;
        if (li->ncalls < 255) li->ncalls++;
        else li->unsafe_other = 1;
        return;
    }
#ifdef PRECALL
    if (op == PRECALL) { /* the first half of a call (3.11) */
        li->unsafe = 1;
        return;
    }
#endif
    if (op != BINARY_OP && !op_is_safe(op)) li->unsafe = li->unsafe_other = 1;
}

static void mark_loops(CodeRec *cr);

static void
free_lines(CodeRec *cr)
{
    for (int i = 0; cr->lines && i < cr->nlines; i++) ds_free_targets(cr->lines[i].targets);
    PyMem_RawFree(cr->lines);
}

#define ENTRY_WHOLE ((LineInfo *)1) /* in CodeRec.entries: the whole line's */

/* code unit `u` starts one of the ranges of its line */
static inline int
range_start(CodeRec *cr, const unsigned char *code, int u)
{
    return u == 0 ||
           (cr->unit_line[u - 1] != cr->unit_line[u] && code[2 * (u - 1)] != EXTENDED_ARG);
}

/* What an event at code unit `p`, the start of a piece of `line` (a line in several), can
 * do: the instructions of the line it reaches before another line's (ds_entry_units), and
 * their targets, on the stack the statement's code from `s0` left (NULL: the whole line's) */
static LineInfo *
piece_info(CodeRec *cr, PyCodeObject *co, const unsigned char *code, uint8_t *in, int line,
           int p, int s0, int u1)
{
    if (ds_entry_units(code, cr->unit_line, cr->nunits, line, p, in) < 0) return NULL;
    LineInfo *li = PyMem_RawCalloc(1, sizeof(LineInfo));
    if (!li) return NULL;
    int ext = 0;
    for (int k = p; k < cr->nunits; k++) {
        int op = code[2 * k], arg = code[2 * k + 1] | ext;
        ext = op == EXTENDED_ARG ? arg << 8 : 0;
        if (in[k] != 1 || op == EXTENDED_ARG || op == CACHE) continue;
        classify(li, code, 2 * (Py_ssize_t)cr->nunits, 2 * k, op, arg);
    }
    if (li->stores || li->ncalls) {
        int n = ds_entry_targets(co, code, cr->unit_line, cr->nunits, line, s0, p, u1, in,
                                 li->writes | cr->noline.writes, &li->targets);
        if (n < 0 && li->stores) li->unsafe_other = 1;
        li->ntargets = (int16_t)(n > 0 ? n : 0);
    }
    return li;
}

/* CodeRec.entries for the start of each piece of the lines in several that can call or
 * store into objects */
static void
piece_infos(CodeRec *cr, PyCodeObject *co, const unsigned char *code, const int *first,
            const int *end, const int *nranges)
{
    uint8_t *in = PyMem_RawMalloc((size_t)cr->nunits + 1);
    if (!in) return; /* the whole lines' */
    for (int u = 0; u < cr->nunits; u++) {
        int line = cr->unit_line[u];
        if (!line || !range_start(cr, code, u)) continue;
        int i = line - cr->line_base;
        LineInfo *whole = &cr->lines[i];
        if (nranges[i] < 2 || !(whole->ncalls || whole->stores || whole->unsafe_other)) continue;
        LineInfo *li = piece_info(cr, co, code, in, line, u, first[i], end[i]);
        if (!li) continue;
        if (ds_map_put(&cr->entries, (void *)(uintptr_t)(2 * u + 1), li) < 0) {
            PyErr_Clear();
            ds_free_targets(li->targets);
            PyMem_RawFree(li);
            continue;
        }
        whole->pieces = 1;
    }
    PyMem_RawFree(in);
}

/* LineInfo.targets of each line, in one piece or several (a line not understood that
 * stores into objects: unsafe_other) */
static int
line_targets(CodeRec *cr, PyCodeObject *co, const unsigned char *code)
{
    int *first = PyMem_RawMalloc(sizeof(int) * 3 * (size_t)cr->nlines + 1);
    if (!first) {
        PyErr_NoMemory();
        return -1;
    }
    int *end = first + cr->nlines, *nranges = end + cr->nlines;
    for (int i = 0; i < cr->nlines; i++) first[i] = -1, end[i] = 0, nranges[i] = 0;
    for (int u = 0; u < cr->nunits; u++) {
        int line = cr->unit_line[u];
        if (!line) continue;
        int i = line - cr->line_base;
        if (first[i] < 0) first[i] = u;
        end[i] = u + 1;
        nranges[i] += range_start(cr, code, u);
    }
    for (int i = 0; i < cr->nlines; i++) {
        LineInfo *li = &cr->lines[i];
        if (!li->stores && !li->ncalls) continue;
        int n = first[i] >= 0 && !li->unsafe_other
                    ? ds_line_targets(co, code, cr->unit_line, cr->nunits, i + cr->line_base,
                                      first[i], end[i], li->writes | cr->noline.writes,
                                      &li->targets)
                    : -1;
        if (n < 0 && li->stores) li->unsafe_other = 1;
        li->ntargets = (int16_t)(n > 0 ? n : 0);
    }
    piece_infos(cr, co, code, first, end, nranges);
    PyMem_RawFree(first);
    return 0;
}

/* cr->lines: what each line of an optimized code object can do (no table for code with
 * more than 64 locals: it compares every local at every step) */
static int
line_infos(CodeRec *cr, PyCodeObject *co)
{
    if (!cr->optimized || cr->nlocals > 64) return 0;
    PyObject *bytes = PyCode_GetCode(co);
    PyObject *ranges = bytes ? PyObject_CallMethod((PyObject *)co, "co_lines", NULL) : NULL;
    PyObject *list = ranges ? PySequence_List(ranges) : NULL;
    Py_XDECREF(ranges);
    if (!list || !PyBytes_Check(bytes)) {
        Py_XDECREF(bytes);
        Py_XDECREF(list);
        return -1;
    }
    const unsigned char *code = (const unsigned char *)PyBytes_AS_STRING(bytes);
    Py_ssize_t n = PyBytes_GET_SIZE(bytes), nr = PyList_GET_SIZE(list);
    long lo = LONG_MAX, hi = LONG_MIN;
    int rc = 0;
    for (Py_ssize_t i = 0; i < nr; i++) {
        PyObject *t = PyList_GET_ITEM(list, i);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 3) goto bad;
        PyObject *ln = PyTuple_GET_ITEM(t, 2);
        if (ln == Py_None) continue;
        long v = PyLong_AsLong(ln);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    if (PyErr_Occurred()) goto bad;
    if (hi >= lo && hi - lo < 100000) {
        cr->nlines = (int)(hi - lo + 1);
        cr->line_base = (int)lo;
        cr->lines = PyMem_RawCalloc((size_t)cr->nlines, sizeof(LineInfo));
        cr->nunits = (int)(n / 2);
        cr->unit_line = PyMem_RawCalloc((size_t)cr->nunits + 1, sizeof(int));
        if (!cr->lines || !cr->unit_line) {
            PyErr_NoMemory();
            rc = -1;
            goto done;
        }
    }
    else {
        goto done; /* no lines, or a strange table: no elision */
    }
    int ext = 0;
    for (Py_ssize_t i = 0; i < nr; i++) {
        PyObject *t = PyList_GET_ITEM(list, i);
        Py_ssize_t start = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 0));
        Py_ssize_t end = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 1));
        PyObject *ln = PyTuple_GET_ITEM(t, 2);
        if (PyErr_Occurred()) goto bad;
        LineInfo *li = ln == Py_None ? &cr->noline : &cr->lines[PyLong_AsLong(ln) - lo];
        if (start < 0) start = 0;
        if (end > n) end = n;
        for (Py_ssize_t off = start & ~(Py_ssize_t)1; off + 1 < end; off += 2) {
            int op = code[off], arg = code[off + 1] | ext;
            if (ln != Py_None) cr->unit_line[off / 2] = (int)PyLong_AsLong(ln);
            if (op == EXTENDED_ARG) {
                ext = arg << 8;
                continue;
            }
            ext = 0;
            classify(li, code, n, off, op, arg);
        }
    }
    if (cr->noline.stores) cr->noline.unsafe_other = 1;
    if (line_targets(cr, co, code) < 0) goto bad;
    goto done;
bad:
    PyErr_Clear();
    free_lines(cr);
    cr->lines = NULL;
    cr->nlines = 0;
done:
    if (cr->lines && cr->unit_line) {
        cr->bytes = bytes; /* kept for entry_info */
        mark_loops(cr);
    }
    else {
        Py_DECREF(bytes);
    }
    Py_DECREF(list);
    return rc;
}

/* where the backward jump at code unit `k` goes (its inline caches follow it as CACHE) */
static inline int
jump_target(const unsigned char *code, int nunits, int k, int arg)
{
    int next = k + 1;
    while (next < nunits && code[2 * next] == CACHE) next++;
    return next - arg;
}

/* LineInfo.loops: lines with a backward jump to one of their own instructions (a jump to
 * another line is that line's event) */
static void
mark_loops(CodeRec *cr)
{
    const unsigned char *code = (const unsigned char *)PyBytes_AS_STRING(cr->bytes);
    int ext = 0;
    for (int k = 0; k < cr->nunits; k++) {
        int op = code[2 * k], arg = code[2 * k + 1] | ext;
        ext = op == EXTENDED_ARG ? arg << 8 : 0;
        if (!ds_is_backward_jump(op)) continue;
        int t = jump_target(code, cr->nunits, k, arg), line = cr->unit_line[k];
        if (t < 0 || t >= cr->nunits) t = k; /* not understood: count it as a loop */
        if (cr->unit_line[t] != line) continue; /* to another line: its event */
        if (line) cr->lines[line - cr->line_base].loops = 1;
        else cr->noline.loops = 1;
    }
}

static LineInfo *entry_scan(CodeRec *cr, int line, int u);

/* What line `line` can do when its event fires at byte offset `off`, not at its first
 * instruction: a loop's head (FOR_ITER) is entered again by a backward jump from the loop's
 * last line, and what comes before it in the line (the call that made the iterator) does
 * not run again.  From `off` only the line's instructions at `off` and after can run before
 * the frame's next event (a jump forward stays after it, an instruction of another line is
 * an event, an exception an exception event), unless one of them jumps back before `off`
 * into the line: then, and for an offset that is not the line's, the whole line's (NULL:
 * unknown). */
static LineInfo *
entry_info(CodeRec *cr, int line, int off)
{
    int i = line - cr->line_base;
    if (!cr->lines || i < 0 || i >= cr->nlines) return NULL;
    LineInfo *whole = &cr->lines[i];
    int u = off / 2;
    if (!cr->bytes || off < 0 || (off & 1) || u >= cr->nunits || cr->unit_line[u] != line)
        return whole;
    const unsigned char *code = (const unsigned char *)PyBytes_AS_STRING(cr->bytes);
    if (range_start(cr, code, u)) {
        /* the start of one of its ranges (most events) */
        if (!whole->pieces) return whole;
        LineInfo *pi = ds_map_get(&cr->entries, (void *)(uintptr_t)(off + 1));
        return pi && pi != ENTRY_WHOLE ? pi : whole;
    }
    LineInfo *li = ds_map_get(&cr->entries, (void *)(uintptr_t)(off + 1));
    if (li) return li == ENTRY_WHOLE ? whole : li;
    li = entry_scan(cr, line, u);
    if (ds_map_put(&cr->entries, (void *)(uintptr_t)(off + 1), li ? li : ENTRY_WHOLE) < 0) {
        PyErr_Clear();
        PyMem_RawFree(li);
        return whole;
    }
    return li ? li : whole;
}

/* entry_info for the code unit `u` of `line` (not the start of one of its ranges): NULL
 * for the whole line */
static LineInfo *
entry_scan(CodeRec *cr, int line, int u)
{
    const unsigned char *code = (const unsigned char *)PyBytes_AS_STRING(cr->bytes);
    Py_ssize_t n = PyBytes_GET_SIZE(cr->bytes);
    if (code[2 * (u - 1)] == EXTENDED_ARG) return NULL; /* not an instruction's start */
    LineInfo *li = PyMem_RawCalloc(1, sizeof(LineInfo));
    if (!li) return NULL;
    int ext = 0;
    for (int k = u; k < cr->nunits; k++) {
        int op = code[2 * k], arg = code[2 * k + 1] | ext;
        if (op == EXTENDED_ARG) {
            ext = arg << 8;
            continue;
        }
        ext = 0;
        if (cr->unit_line[k] != line || op == CACHE) continue;
        if (ds_is_backward_jump(op)) {
            int t = jump_target(code, cr->nunits, k, arg);
            if (t < 0 || t >= cr->nunits || (t < u && cr->unit_line[t] == line)) {
                PyMem_RawFree(li); /* back before `off` within the line (or not understood) */
                return NULL;
            }
            if (cr->unit_line[t] == line) li->loops = 1;
        }
        classify(li, code, n, 2 * k, op, arg);
    }
    if (li->stores) li->unsafe_other = 1; /* stores into objects not followed from here */
    return li;
}

/* names through which code can reach another frame's locals (locals(), eval("…"),
 * frame.f_locals, a debugger, gc's object lists): code of the program that names one
 * turns priv_mask off for the rest of the recording */
static const char *const introspection_names[] = {
    "locals", "vars", "eval", "exec", "f_locals", "breakpoint", "set_trace", "settrace",
    "get_referrers", "get_objects", NULL,
};

static int
names_introspection(PyCodeObject *co)
{
    PyObject *names = co->co_names;
    for (Py_ssize_t i = 0; names && i < PyTuple_GET_SIZE(names); i++) {
        const char *n = PyUnicode_AsUTF8(PyTuple_GET_ITEM(names, i));
        if (!n) {
            PyErr_Clear();
            return 1;
        }
        for (const char *const *p = introspection_names; *p; p++)
            if (strcmp(n, *p) == 0) return 1;
    }
    return 0;
}

static CodeRec *
new_code(PyCodeObject *co)
{
    CodeRec *cr = PyMem_RawCalloc(1, sizeof(CodeRec));
    if (!cr) {
        PyErr_NoMemory();
        return NULL;
    }
    cr->code = Py_NewRef((PyObject *)co);
    cr->start_off = cr->ret_off = -1;
    int in_scope = 0;
    if (R.scope_fn) {
        PyObject *r = PyObject_CallOneArg(R.scope_fn, (PyObject *)co);
        if (!r) {
            PyErr_WriteUnraisable(R.scope_fn);
        }
        else {
            in_scope = PyObject_IsTrue(r) == 1;
            Py_DECREF(r);
        }
    }
    cr->in_scope = in_scope;
    if (ds_map_put(&R.codes, co, cr) < 0) return NULL;
    if (!in_scope) return cr;

    cr->optimized = (co->co_flags & CO_OPTIMIZED) != 0;
    cr->is_async = (co->co_flags & (CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR)) != 0;
    cr->nlocals = co->co_nlocalsplus;
    cr->name_ids = PyMem_RawCalloc((size_t)cr->nlocals + 1, sizeof(uint32_t));
    cr->kinds = PyMem_RawCalloc((size_t)cr->nlocals + 1, 1);
    if (!cr->name_ids || !cr->kinds) {
        PyErr_NoMemory();
        return NULL;
    }
    for (int i = 0; i < cr->nlocals; i++) {
        cr->name_ids[i] = str_id(PyTuple_GET_ITEM(co->co_localsplusnames, i));
        cr->kinds[i] = (unsigned char)PyBytes_AS_STRING(co->co_localspluskinds)[i];
    }
    if (R.globals_fn && cr->optimized && code_globals(cr, co) < 0) return NULL;
    if (line_infos(cr, co) < 0) return NULL;
    if (names_introspection(co)) R.introspect = 1;
    uint32_t fid = str_id(co->co_filename), qid = str_id(co->co_qualname),
             nid = str_id(co->co_name);
    if (buf_need(&R.defs, 40) < 0) return NULL;
    put_u8(&R.defs, D_CODE);
    put_var(&R.defs, fid);
    put_var(&R.defs, qid);
    put_var(&R.defs, nid);
    put_var(&R.defs, (uint64_t)co->co_firstlineno);
    put_var(&R.defs, (uint64_t)co->co_flags);
    cr->id = ++R.next_code;
    if (R.codes_list && PyList_Append(R.codes_list, (PyObject *)co) < 0) return NULL;
#ifdef CURRENT_IFRAME
    if (R.set_local_events) {
        PyObject *r = PyObject_CallFunction(R.set_local_events, "iOl", R.tool_id, (PyObject *)co,
                                            R.local_events);
        if (!r) PyErr_WriteUnraisable(R.set_local_events);
        Py_XDECREF(r);
    }
#endif
    return cr;
}

static inline CodeRec *
get_code(PyCodeObject *co)
{
    CodeRec *cr = ds_map_get(&R.codes, co);
    return cr ? cr : new_code(co);
}

static void
free_code(CodeRec *cr)
{
    Py_XDECREF(cr->code);
    PyMem_RawFree(cr->name_ids);
    PyMem_RawFree(cr->kinds);
    for (int i = 0; i < cr->nglobals; i++) Py_XDECREF(cr->gnames[i]);
    PyMem_RawFree(cr->gnames);
    PyMem_RawFree(cr->gname_ids);
    PyMem_RawFree(cr->gvals);
    Py_XDECREF(cr->gdict);
    free_lines(cr);
    Py_XDECREF(cr->bytes);
    PyMem_RawFree(cr->unit_line);
    for (size_t i = 0; i < cr->entries.cap; i++) {
        LineInfo *li = cr->entries.vals ? cr->entries.vals[i] : NULL;
        if (cr->entries.keys[i] && li != ENTRY_WHOLE) {
            ds_free_targets(li->targets);
            PyMem_RawFree(li);
        }
    }
    ds_map_clear(&cr->entries);
    PyMem_RawFree(cr);
}

/* ---- threads and frames -------------------------------------------------- */

static void
free_slots(Slot *slots, int n)
{
    if (!slots) return;
    for (int i = 0; i < n; i++) {
        Py_XDECREF(slots[i].ref);
        ds_sh_free(slots[i].tree);
        PyMem_RawFree(slots[i].objs);
    }
    PyMem_RawFree(slots);
}

/* slot arrays of frames that ended, by size: a call takes one, its return gives it back */
#define SLOT_POOL_MAX 32
static void *slot_pool[SLOT_POOL_MAX + 1];

static Slot *
slots_alloc(int n)
{
    if (n <= SLOT_POOL_MAX && slot_pool[n]) {
        Slot *s = slot_pool[n];
        slot_pool[n] = *(void **)s;
        memset(s, 0, sizeof(Slot) * (size_t)n);
        return s;
    }
    return PyMem_RawCalloc((size_t)n, sizeof(Slot));
}

static void
slots_release(Slot *s, int n)
{
    if (n > 0 && n <= SLOT_POOL_MAX) {
        *(void **)s = slot_pool[n];
        slot_pool[n] = s;
        return;
    }
    PyMem_RawFree(s);
}

static void
frame_clear(FrameRec *fr)
{
    free_slots(fr->gslots, fr->code->nglobals);
    fr->gslots = NULL;
    if (fr->slots) {
        for (int i = 0; i < fr->code->nlocals; i++) {
            Py_XDECREF(fr->slots[i].ref);
            ds_sh_free(fr->slots[i].tree);
            PyMem_RawFree(fr->slots[i].objs);
        }
        slots_release(fr->slots, fr->code->nlocals);
        fr->slots = NULL;
    }
    for (int i = 0; i < fr->ndslots; i++) {
        Py_XDECREF(fr->dslots[i].name);
        Py_XDECREF(fr->dslots[i].s.ref);
        ds_sh_free(fr->dslots[i].s.tree);
        PyMem_RawFree(fr->dslots[i].s.objs);
    }
    PyMem_RawFree(fr->dslots);
    fr->dslots = NULL;
    fr->ndslots = fr->capdslots = 0;
    ds_map_clear(&fr->dindex);
}

static ThreadRec *
new_thread(PyThreadState *ts)
{
    ThreadRec *th = PyMem_RawCalloc(1, sizeof(ThreadRec));
    if (!th) return (ThreadRec *)PyErr_NoMemory();
    if (R.nthreads == R.capthreads) {
        int cap = R.capthreads ? R.capthreads * 2 : 16;
        ThreadRec **a = PyMem_RawRealloc(R.threads, sizeof(ThreadRec *) * (size_t)cap);
        if (!a) {
            PyMem_RawFree(th);
            return (ThreadRec *)PyErr_NoMemory();
        }
        R.threads = a;
        R.capthreads = cap;
    }
    R.threads[R.nthreads++] = th;
    th->ts_id = ts->id;
    th->tid = ++R.next_tid;
    th->epoch = (uint64_t)-1;
    unsigned long ident = ts->thread_id;
    th->ident = ident;
    th->native_id = ts->native_thread_id;
    uint32_t name_id = 0;
    if (R.threading_active) {
        PyObject *key = PyLong_FromUnsignedLong(ident);
        PyObject *t = key ? PyDict_GetItemWithError(R.threading_active, key) : NULL;
        Py_XDECREF(key);
        PyObject *name = t ? PyObject_GetAttrString(t, "_name") : NULL;
        if (name && PyUnicode_Check(name)) name_id = str_id(name);
        Py_XDECREF(name);
        PyErr_Clear();
    }
    if (buf_need(&R.defs, 32) < 0) return NULL;
    put_u8(&R.defs, D_THREAD);
    put_var(&R.defs, ident);
    put_var(&R.defs, th->native_id);
    put_var(&R.defs, name_id);
    return th;
}

static inline ThreadRec *
get_thread(PyThreadState *ts)
{
    if (ts == R.last_ts && R.last_thread->ts_id == ts->id) return R.last_thread;
    ThreadRec *th = NULL;
    for (int i = 0; i < R.nthreads; i++) {
        if (R.threads[i]->ts_id == ts->id) {
            th = R.threads[i];
            break;
        }
    }
    if (!th && !(th = new_thread(ts))) return NULL;
    R.last_ts = ts;
    R.last_thread = th;
    return th;
}

static FrameRec *
push_frame(ThreadRec *th, _PyInterpreterFrame *f, CodeRec *cr)
{
    if (th->depth == th->cap) {
        int cap = th->cap ? th->cap * 2 : 32;
        FrameRec *s = PyMem_RawRealloc(th->stack, sizeof(FrameRec) * (size_t)cap);
        if (!s) return (FrameRec *)PyErr_NoMemory();
        th->stack = s;
        th->cap = cap;
    }
    FrameRec *fr = &th->stack[th->depth++];
    memset(fr, 0, sizeof *fr);
    fr->iframe = f;
    fr->code = cr;
    fr->frame_id = ++R.next_frame;
    fr->last_kind = -1; /* no step yet */
    fr->off = -1;
    if (cr->optimized && cr->nlocals) {
        fr->slots = slots_alloc(cr->nlocals);
        if (!fr->slots) return (FrameRec *)PyErr_NoMemory();
    }
    if (cr->nglobals && !(fr->gslots = PyMem_RawCalloc((size_t)cr->nglobals, sizeof(Slot))))
        return (FrameRec *)PyErr_NoMemory();
    return fr;
}

static void
pop_frames(ThreadRec *th, int n)
{
    while (n-- > 0 && th->depth > 0) frame_clear(&th->stack[--th->depth]);
}

/* ---- locals -------------------------------------------------------------- */

/* the byte offset of the instruction the frame is at (a line event: the line's) */
static inline int
frame_offset(_PyInterpreterFrame *f)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyUnstable_InterpreterFrame_GetLasti(f);
#else
    return _PyInterpreterFrame_LASTI(f) * (int)sizeof(_Py_CODEUNIT);
#endif
}

static inline PyObject *
slot_value(_PyInterpreterFrame *f, CodeRec *cr, int i)
{
    PyObject *v = f->localsplus[i];
    if (v && (cr->kinds[i] & (CO_FAST_CELL | CO_FAST_FREE)) && PyCell_Check(v))
        v = PyCell_GET(v);
    return v;
}

static int item_diffs; /* write E_ITEMS records (format 1.1) */

/* E_CLOCK records (format 1.2): the time of every call, return and pop, in µs since
 * clock_origin_ns (CLOCK_MONOTONIC, as time.monotonic_ns()); 0: timings off */
static int64_t clock_origin_ns;
static int64_t now_ns(void);

static inline int
put_clock(Buf *b, ThreadRec *th, int64_t now)
{
    if (buf_need(b, 12) < 0) return -1;
    uint64_t us = now > clock_origin_ns ? (uint64_t)(now - clock_origin_ns) / 1000 : 0;
    if (us < th->clock_us) us = th->clock_us;
    put_u8(b, E_CLOCK);
    put_var(b, us - th->clock_us);
    th->clock_us = us;
    return 0;
}

/* A value shown by its repr() whose text is the one the slot already shows (what the repr
 * reads changed, not what it shows: an object filled in attribute by attribute whose repr
 * fails until the last one) is not written again: the SET at `start` is taken back. */
static inline void
same_text(Buf *b, Slot *s, int was, size_t start, size_t at)
{
    int tag = b->p[at];
    if ((tag < V_REPR || tag > V_REPR_SLOW) && tag != V_FMT) {
        s->text = 0;
        return;
    }
    uint64_t hv = ds_hash_bytes(b->p + at, b->n - at) | 1;
    if (was && s->text == hv) b->n = start;
    s->text = hv;
}

/* the slot shows nothing: its next value is written whole */
static void
forget_slot(Slot *s)
{
    Py_CLEAR(s->ref);
    s->present = 0;
    s->priv = 0;
    s->shallow_of = NULL;
    ds_sh_free(s->tree);
    s->tree = NULL;
    s->objs_ok = 0;
}

static inline uint32_t
obj_hash(void *o, uint32_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)o >> 4;
    return (uint32_t)((h * 0x9E3779B97F4A7C15ULL) >> 40) & (cap - 1);
}

/* s->objs...: the objects ds_fingerprint just reported (ds_fp_objs) */
static void
keep_objs(Slot *s)
{
    size_t n = ds_fp_nobjs;
    s->objs_ok = 0;
    if (n > DS_FP_OBJS_MAX) return;
    if (n <= 2) {
        s->in[0] = n > 0 ? ds_fp_objs[0] : NULL;
        s->in[1] = n > 1 ? ds_fp_objs[1] : NULL;
        s->nobjs = (uint32_t)n;
        s->objcap = 0;
        s->objs_ok = 1;
        return;
    }
    /* the same objects as last time (a value read again after a change of its scalars) */
    uint64_t sig = n;
    for (size_t i = 0; i < n; i++) sig = (sig ^ (uintptr_t)ds_fp_objs[i]) * 0x100000001b3ULL;
    if (s->objcap && s->objs && s->nobjs == n && s->objs_sig == sig) {
        s->objs_ok = 1;
        return;
    }
    s->objs_sig = sig;
    uint32_t cap = 8;
    while (cap < 2 * n) cap <<= 1;
    if (cap != s->objcap || !s->objs) {
        PyMem_RawFree(s->objs);
        s->objcap = 0;
        if (!(s->objs = PyMem_RawCalloc(cap, sizeof(void *)))) return;
    }
    else {
        memset(s->objs, 0, sizeof(void *) * cap);
    }
    s->objcap = cap;
    for (size_t i = 0; i < n; i++) {
        void *o = ds_fp_objs[i];
        uint32_t h = obj_hash(o, cap);
        while (s->objs[h] && s->objs[h] != o) h = (h + 1) & (cap - 1);
        s->objs[h] = o;
    }
    s->nobjs = (uint32_t)n;
    s->objs_ok = 1;
}

/* the value the slot shows may have read the state of `o` */
static inline int
slot_read(Slot *s, void *o)
{
    if (!s->objs_ok) return 1;
    if (!s->objcap) return s->nobjs && (s->in[0] == o || (s->nobjs > 1 && s->in[1] == o));
    uint32_t h = obj_hash(o, s->objcap);
    for (;;) {
        void *k = s->objs[h];
        if (k == o) return 1;
        if (!k) return 0;
        h = (h + 1) & (s->objcap - 1);
    }
}

/* The slot's next comparison (a fingerprint or a shadow's) starts: note the objects whose
 * state it reads (ds_fp_saw) and whether what it read is volatile */
static inline void
reads_begin(void)
{
    ds_fp_volatile = 0;
    ds_fp_nobjs = 0;
    ds_fp_collect = 1;
}

/* ... and ended: the slot keeps them (step_mask) */
static inline void
reads_end(Slot *s)
{
    ds_fp_collect = 0;
    keep_objs(s);
    s->vol = (uint8_t)ds_fp_volatile;
}

/* values a fingerprint visits (the container and its items) from which a container
 * compared again without change is shadowed (item-level diffs) */
#define SHADOW_VISITS 32

/* the slot's container `v` is shadowed from now on */
static int
new_tree(Slot *s, PyObject *v)
{
    ds_fp_shared = 0;
    reads_begin();
    s->tree = ds_sh_new(v);
    reads_end(s);
    if (!s->tree && PyErr_Occurred()) return -1;
    if (!s->tree) s->objs_ok = 0; /* compared whole at every step that may change it */
    s->priv = s->tree && !ds_fp_shared && !ds_fp_volatile;
    s->priv_of = v;
    s->shallow_of = NULL;
    return 0;
}

static int
emit_slot(Buf *b, Slot *s, uint32_t name_id, PyObject *v)
{
    if (!v) {
        if (!s->present) return 0;
        if (buf_need(b, 12) < 0) return -1;
        put_u8(b, E_DEL);
        put_var(b, name_id);
        forget_slot(s);
        s->vol = 0;
        return 0;
    }
    /* the same immutable scalar object (held, so its address is still its own) */
    if (s->present && v == s->ref && s->scalar) return 0;
    int tag = 0;
    uint64_t h = 0;
    int was_priv = s->priv;
    s->priv = 0;
    if (s->tree) {
        /* builtin containers, once they changed: only the items that change.  The objects
         * whose state the comparison read are kept as below (step_mask) */
        tag = ds_container_tag(v);
        if (tag && ds_sh_tag(s->tree) == tag) {
            ds_fp_shared = 0;
            reads_begin();
            int rc = ds_sh_diff(b, name_id, s->tree, v);
            reads_end(s);
            s->priv = !ds_fp_shared && !ds_fp_volatile;
            s->priv_of = v;
            return rc;
        }
        ds_sh_free(s->tree);
        s->tree = NULL;
        s->fp = 0;
        s->present = 0; /* not a container now: written whole (s->fp is from before) */
    }
    /* the whole value again when anything in it changed */
    uint64_t sig = 0;
    int has_sig = ds_shallow(v, &sig);
    if (has_sig && s->present && s->shallow_of == (void *)v && s->shallow == sig) {
        /* its items are scalars, the same as when it was found private */
        s->priv = was_priv && s->priv_of == (void *)v && Py_REFCNT(v) == 1;
        return 0;
    }
    ds_fp_deep = 0;
    ds_fp_shared = 0;
    uint64_t visits = ds_fp_nodes;
    reads_begin();
    h = ds_fingerprint(v, 0);
    reads_end(s);
    visits = ds_fp_nodes - visits;
    s->priv = !ds_fp_shared && !ds_fp_volatile;
    s->priv_of = v;
    /* only scalar items: the signature alone tells whether it changed */
    s->shallow_of = (has_sig && !ds_fp_deep) ? (void *)v : NULL;
    s->shallow = sig;
    /* with item-level diffs, a builtin container is shadowed from now on once it changed,
     * or when it is large and compared again (one written once and never compared again,
     * or small and always replaced whole, is not) */
    if (item_diffs && s->present && (s->fp != h || visits >= SHADOW_VISITS))
        tag = ds_container_tag(v);
    if (s->present && s->fp == h) {
        /* unchanged: the shadow starts from what the slot shows */
        return tag ? new_tree(s, v) : 0;
    }
    if (buf_need(b, 12) < 0) return -1;
    size_t start = b->n;
    put_u8(b, E_SET);
    put_var(b, name_id);
    int was = s->present;
    s->present = 1;
    s->fp = h;
    s->scalar = (uint8_t)ds_is_scalar(v);
    Py_XSETREF(s->ref, (s->scalar || !ds_is_structural(v)) ? Py_NewRef(v) : NULL);
    if (tag && new_tree(s, v) < 0) return -1;
    size_t at = b->n;
    /* an object or container written earlier in the chunk with the same fingerprint (an
     * argument that was the value returned a step before, a value held by several locals) */
    int memo = !s->scalar && !s->vol, rc = memo ? ds_memo_get(b, h) : 0;
    if (rc < 0) return -1;
    if (rc) R.nreused++;
    else {
        if (ds_encode(b, v, 0) < 0) return -1;
        /* only values whose fingerprint reads all they show: a template's fields, an
         * object's attributes, a builtin container (not the text of a repr() that ran) */
        int vt = b->p[at];
        if (memo && (vt == V_FMT || vt == V_OBJECT || (vt >= V_LIST && vt <= V_DICT)))
            ds_memo_keep(h, b->p + at, b->n - at);
    }
    same_text(b, s, was, start, at);
    return 0;
}

static DSlot *
dict_slot(FrameRec *fr, PyObject *name)
{
    void *v = ds_map_get(&fr->dindex, name);
    if (v) return &fr->dslots[(uintptr_t)v - 1];
    if (fr->ndslots == fr->capdslots) {
        int cap = fr->capdslots ? fr->capdslots * 2 : 16;
        DSlot *a = PyMem_RawRealloc(fr->dslots, sizeof(DSlot) * (size_t)cap);
        if (!a) return (DSlot *)PyErr_NoMemory();
        fr->dslots = a;
        fr->capdslots = cap;
    }
    uint32_t id = str_id(name);
    if (!id) return NULL;
    DSlot *d = &fr->dslots[fr->ndslots++];
    memset(d, 0, sizeof *d);
    d->name = Py_NewRef(name);
    d->name_id = id;
    if (ds_map_put(&fr->dindex, name, (void *)(uintptr_t)fr->ndslots) < 0) return NULL;
    return d;
}

/* 1 and *ver, the dict's version (a new one at each change), or 0: not known */
static inline int
dict_version(PyObject *d, uint64_t *ver)
{
#if PY_VERSION_HEX < 0x030E0000
    if (!PyDict_CheckExact(d)) return 0;
_Py_COMP_DIAG_PUSH
_Py_COMP_DIAG_IGNORE_DEPR_DECLS
    *ver = ((PyDictObject *)d)->ma_version_tag;
_Py_COMP_DIAG_POP
    return 1;
#else
    (void)d;
    (void)ver;
    return 0;
#endif
}

/* cr->gvals: the values the module globals its code reads have in `globals` (looked up
 * again only when the dict changed since: a new version) */
static void
global_values(CodeRec *cr, PyObject *globals)
{
    uint64_t ver = 0;
    int versioned = globals && dict_version(globals, &ver);
    if (versioned && globals == cr->gdict && ver == cr->gver) return;
    for (int i = 0; i < cr->nglobals; i++) {
        PyObject *v = globals && PyDict_Check(globals)
                          ? PyDict_GetItemWithError(globals, cr->gnames[i]) : NULL;
        if (!v) PyErr_Clear();
        else if (PyModule_Check(v) || PyFunction_Check(v) || PyType_Check(v) ||
                 PyCFunction_Check(v) || PyMethod_Check(v))
            v = NULL; /* code, not data */
        cr->gvals[i] = v;
    }
    /* the version read before the lookups: one that ran code (a key's __eq__) changing the
     * dict leaves it behind, and the next step looks up again */
    Py_XSETREF(cr->gdict, versioned ? Py_NewRef(globals) : NULL);
    cr->gver = ver;
}

/* Compare the frame's locals (and the module globals it reads) with its shadow and write
 * what changed; `skip`: slots not to compare if their value is still private (priv_mask) */
static int
diff_locals(Buf *b, FrameRec *fr, _PyInterpreterFrame *f, uint64_t skip)
{
    CodeRec *cr = fr->code;
    if (cr->optimized) {
        int vol = 0;
        for (int i = 0; i < cr->nlocals; i++) {
            Slot *s = &fr->slots[i];
            PyObject *v = slot_value(f, cr, i);
            if (i < 64 && (skip >> i & 1) && s->priv && s->present && v == s->priv_of &&
                Py_REFCNT(v) == 1 && !(cr->kinds[i] & (CO_FAST_CELL | CO_FAST_FREE))) {
                R.nprivate++;
                continue;
            }
            if (emit_slot(b, s, cr->name_ids[i], v) < 0) return -1;
            vol |= s->vol;
        }
        if (cr->nglobals) global_values(cr, f->f_globals);
        for (int i = 0; i < cr->nglobals; i++) {
            if (emit_slot(b, &fr->gslots[i], cr->gname_ids[i], cr->gvals[i]) < 0) return -1;
            vol |= fr->gslots[i].vol;
        }
        fr->vol = (uint8_t)vol;
        return 0;
    }
    PyObject *locals = f->f_locals;
    if (!locals || !PyDict_Check(locals)) return 0;
    uint32_t gen = ++fr->gen;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    Py_INCREF(locals);
    int rc = 0;
    while (PyDict_Next(locals, &pos, &k, &v)) {
        if (!PyUnicode_Check(k)) continue;
        DSlot *d = dict_slot(fr, k);
        if (!d) {
            rc = -1;
            break;
        }
        d->s.gen = gen;
        Py_INCREF(v);
        rc = emit_slot(b, &d->s, d->name_id, v);
        Py_DECREF(v);
        if (rc < 0) break;
    }
    Py_DECREF(locals);
    for (int i = 0; rc == 0 && i < fr->ndslots; i++)
        if (fr->dslots[i].s.present && fr->dslots[i].s.gen != gen)
            rc = emit_slot(b, &fr->dslots[i].s, fr->dslots[i].name_id, NULL);
    return rc;
}

/* ---- steps that compare only what their line rebinds ------------------------- */

/* how many times another thread took the GIL: any other thread may have run meanwhile */
static inline unsigned long
gil_switches(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030C0000
    return ts->interp->ceval.gil ? ts->interp->ceval.gil->switch_number : 0;
#else
    (void)ts;
    return _PyRuntime.ceval.gil.switch_number;
#endif
}

typedef struct {
    ThreadRec *th;
    _PyInterpreterFrame *f;
    CodeRec *cr;
} StepCtx;

static PyObject *
step_slot(void *ctx, int i)
{
    StepCtx *c = ctx;
    return i < c->cr->nlocals ? slot_value(c->f, c->cr, i) : NULL;
}

/* a line of the thread changed `o` (it said which: ds_eval_targets) */
static int
step_changed(void *ctx, PyObject *o)
{
    ThreadRec *th = ((StepCtx *)ctx)->th;
    /* the same object again, when no step has read the log since: once is enough */
    if (th->dlog_n && !th->dlog_read && th->dlog[(th->dlog_n - 1) % DLOG] == (void *)o) return 0;
    th->dlog[th->dlog_n % DLOG] = o;
    th->dlog_n++;
    th->dlog_read = 0;
    return 0;
}

/* 1: the code the frame ran since its last step (`li`: a line from where its event fired, or
 * a function's start or resumption) may have changed objects that other frames show: it
 * stores into objects (or into cells other frames share), jumps back (an instruction may
 * run twice), or makes calls that did not all start Python code of the scope directly (a
 * builtin, a class, a C method: C code may change anything its arguments lead to).  The
 * functions it did call directly ran their own steps, which counted for themselves.
 * The objects its stores and method calls changed, when it names them (targets.c), are
 * logged (ThreadRec.dlog) for the frames showing them, and do not count. */
static inline int
may_have_changed(ThreadRec *th, FrameRec *fr, _PyInterpreterFrame *f, LineInfo *li)
{
    CodeRec *cr = fr->code;
    if (!li || li->unsafe_other || li->loops || cr->noline.unsafe || cr->noline.loops) return 1;
    int resolved = 0;
    if (li->ntargets) {
        StepCtx ctx = {th, f, cr};
        resolved = ds_eval_targets(li->targets, li->ntargets, (PyCodeObject *)cr->code, step_slot,
                                   &ctx, f->f_globals, f->f_builtins, step_changed);
        if (resolved < 0) return 1;
    }
    return li->ncalls - resolved != (int)fr->direct_calls;
}

/* a slot that may show one of the objects logged since `from` (a value that is not an
 * immutable scalar and whose fingerprint read it, or of which that is not known) */
static inline int
shows_logged(Slot *s, ThreadRec *th, uint64_t from)
{
    if (!s->present || s->scalar) return 0;
    for (uint64_t k = from; k < th->dlog_n; k++)
        if (slot_read(s, th->dlog[k % DLOG])) return 1;
    return 0;
}

/* The locals to compare at this step of `fr` (a line or return event): all (-1), or only
 * those its code since its last step rebinds, when no object can have changed meanwhile:
 * that code changed none (may_have_changed), neither did any other step of the thread since
 * (its `dirty` count), no code outside the scope, tracer behind us or debugger ran (R.wild),
 * nor another thread (the GIL's switch count), an augmented assignment in it updated a local
 * holding a scalar, and no local holds a volatile value (ds_fp_volatile). */
static inline uint64_t
step_mask(ThreadRec *th, FrameRec *fr, _PyInterpreterFrame *f, unsigned long switches,
          LineInfo *li, uint64_t *partial, int *globals)
{
    CodeRec *cr = fr->code;
    if (!li || fr->vol || th->dirty != fr->dirty_seen || R.wild != fr->wild_seen ||
        fr->switches != switches)
        return (uint64_t)-1;
    uint64_t inplace = li->inplace | cr->noline.inplace;
    for (uint64_t m = inplace; m; m &= m - 1) {
        Slot *s = &fr->slots[__builtin_ctzll(m)];
        if (!s->present || !s->scalar) return (uint64_t)-1;
    }
    if (fr->direct_calls) R.nclean++;
    uint64_t mask = li->writes | cr->noline.writes | inplace;
    if (th->dlog_n != fr->dlog_seen) {
        /* objects lines changed: the locals (or globals) whose values showed one */
        if (th->dlog_n - fr->dlog_seen > DLOG) return (uint64_t)-1;
        for (int i = 0; i < cr->nlocals && i < 64; i++)
            if (!(mask >> i & 1) && shows_logged(&fr->slots[i], th, fr->dlog_seen)) {
                mask |= (uint64_t)1 << i;
                /* a shadowed container: only the shadows of the objects changed */
                if (fr->slots[i].tree) *partial |= (uint64_t)1 << i;
            }
        /* the module globals it shows are compared (looked up again) when one shows a
         * logged object, or a global was rebound (STORE_GLOBAL logs the module's dict) */
        for (int i = 0; i < cr->nglobals && !*globals; i++)
            if (shows_logged(&fr->gslots[i], th, fr->dlog_seen)) *globals = 1;
        if (cr->nglobals)
            for (uint64_t k = fr->dlog_seen; k < th->dlog_n && !*globals; k++)
                if (th->dlog[k % DLOG] == (void *)f->f_globals) *globals = 1;
        R.ntargeted++;
    }
    return mask;
}

/* A function of the scope started: if its caller's CALL instruction started it directly
 * (not through C code, and not a generator resuming), that counts for the caller's next
 * step (may_have_changed). */
static inline void
count_direct_call(ThreadRec *th, _PyInterpreterFrame *f, CodeRec *cr)
{
    _PyInterpreterFrame *caller = f->previous;
#if PY_VERSION_HEX >= 0x030C0000
    if (!caller || caller->owner == FRAME_OWNED_BY_CSTACK) return;
#else
    if (!caller || f->is_entry) return;
#endif
    if (th->depth < 2 || th->stack[th->depth - 2].iframe != caller) return;
    FrameRec *up = &th->stack[th->depth - 2];
    /* a start, not a resumption: RESUME with oparg 0 (or, 3.11, before the first instruction) */
    int off = frame_offset(f);
    if (off >= 0) {
        if (!cr->bytes || off + 1 >= PyBytes_GET_SIZE(cr->bytes)) return;
        const unsigned char *code = (const unsigned char *)PyBytes_AS_STRING(cr->bytes);
        if (code[off] != RESUME || (code[off + 1] & 3) != 0) return;
    }
    /* the caller is at a CALL (not a property or __getitem__ run from another instruction) */
    CodeRec *ucr = up->code;
    int uoff = frame_offset(caller);
    if (!ucr->bytes || uoff < 0 || uoff + 1 >= PyBytes_GET_SIZE(ucr->bytes)) return;
    const unsigned char *ucode = (const unsigned char *)PyBytes_AS_STRING(ucr->bytes);
    int u = uoff / 2;
    while (u > 0 && ucode[2 * u] == CACHE) u--;
    if (!is_call(ucode[2 * u])) return;
    up->direct_calls++;
}

static int other_tracer(PyThreadState *ts);

/* The slots a step (line or return event) of `fr` need not compare while their values stay
 * private (Slot.priv: the slot holds a builtin container that nothing else refers to, nor
 * to any container shown inside it; ds_fp_shared).  Such a value can only change through
 * code that names its slot.  Since the frame's last step (a line event), only the
 * instructions of that line and those without a line ran in it: the others it does not
 * name.  Code elsewhere, in this thread or another, reaches the value only by introspecting
 * the frame, so not when: another thread ran meanwhile (a debugger acting on the stopped
 * frame), another tracer is installed (pdb), or code of the program names an introspection
 * function (names_introspection).  diff_locals checks that the slot still holds the same
 * object, referred to only by the frame. */
static inline uint64_t
priv_mask(FrameRec *fr, PyThreadState *ts, unsigned long switches, uint64_t named)
{
    if (R.introspect || fr->last_kind != EV_LINE ||
        fr->switches != switches || other_tracer(ts))
        return 0;
    return ~named;
}

/* the slots the instructions `li` stands for (and those without a line) name: all if unknown */
static inline uint64_t
line_named(CodeRec *cr, LineInfo *li)
{
    if (!li || li->loads_all || cr->noline.loads_all) return (uint64_t)-1;
    return li->loads | cr->noline.loads;
}

/* a slot whose value only the objects the thread's lines logged since `from` changed */
static int
emit_partial(Buf *b, Slot *s, uint32_t name_id, PyObject *v, ThreadRec *th, uint64_t from)
{
    if (v && s->present && s->tree) {
        void *objs[DLOG];
        size_t n = 0;
        for (uint64_t k = from; k < th->dlog_n; k++) objs[n++] = th->dlog[k % DLOG];
        s->priv = 0; /* another local's line changed it: not private */
        int rc = ds_sh_diff_objs(b, name_id, s->tree, v, objs, n);
        if (rc < 0) return -1;
        if (rc == 1) {
            R.npartial++;
            return 0;
        }
    }
    return emit_slot(b, s, name_id, v);
}

static int
diff_some(Buf *b, FrameRec *fr, _PyInterpreterFrame *f, uint64_t mask, uint64_t named,
          uint64_t partial, int globals, ThreadRec *th)
{
    CodeRec *cr = fr->code;
    /* a slot its line read without rebinding may now share its value (y = x[0]) */
    for (uint64_t m = named & ~mask; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        if (i >= cr->nlocals) break;
        fr->slots[i].priv = 0;
    }
    for (; mask; mask &= mask - 1) {
        int i = __builtin_ctzll(mask);
        if (i >= cr->nlocals) continue;
        Slot *s = &fr->slots[i];
        PyObject *v = slot_value(f, cr, i);
        int rc = (partial >> i & 1) ? emit_partial(b, s, cr->name_ids[i], v, th, fr->dlog_seen)
                                    : emit_slot(b, s, cr->name_ids[i], v);
        if (rc < 0) return -1;
        if (s->vol) fr->vol = 1;
    }
    if (globals) {
        global_values(cr, f->f_globals);
        for (int i = 0; i < cr->nglobals; i++) {
            Slot *s = &fr->gslots[i];
            if (emit_slot(b, s, cr->gname_ids[i], cr->gvals[i]) < 0) return -1;
            if (s->vol) fr->vol = 1;
        }
    }
    R.nelided++;
    return 0;
}

static void
reset_slots(Slot *slots, int n)
{
    for (int i = 0; slots && i < n; i++) forget_slot(&slots[i]);
}

static void
reset_shadow(FrameRec *fr)
{
    reset_slots(fr->gslots, fr->code->nglobals);
    reset_slots(fr->slots, fr->code->nlocals);
    for (int i = 0; i < fr->ndslots; i++) forget_slot(&fr->dslots[i].s);
}

static int
put_frame_head(Buf *b, int op, FrameRec *fr)
{
    if (buf_need(b, 24) < 0) return -1;
    put_u8(b, op);
    put_var(b, fr->frame_id);
    put_var(b, fr->code->id);
    put_var(b, (uint64_t)(fr->line > 0 ? fr->line : 0));
    return 0;
}

/* First event of a thread in a new chunk: its whole stack, so that the
 * chunk decodes on its own.  Frames we lost track of are dropped. */
static int
keyframe(ThreadRec *th, _PyInterpreterFrame *current)
{
    PtrMap live = {0};
    for (_PyInterpreterFrame *f = current; f; f = f->previous)
        if (ds_map_put(&live, f, f) < 0) return -1;
    int keep = 0;
    for (int i = 0; i < th->depth; i++) {
        if (ds_map_get(&live, th->stack[i].iframe)) {
            if (keep != i) th->stack[keep] = th->stack[i];
            keep++;
        }
        else {
            frame_clear(&th->stack[i]);
        }
    }
    th->depth = keep;
    ds_map_clear(&live);
    Buf *b = &th->stage;
    if (buf_need(b, 24) < 0) return -1;
    put_u8(b, E_KEYFRAME);
    put_var(b, th->step);
    put_var(b, (uint64_t)th->depth);
    for (int i = 0; i < th->depth; i++) {
        FrameRec *fr = &th->stack[i];
        reset_shadow(fr);
        if (put_frame_head(b, E_KFRAME, fr) < 0 || diff_locals(b, fr, fr->iframe, 0) < 0)
            return -1;
    }
    th->epoch = R.epoch;
    th->chunk_first_step = th->step;
    th->clock_us = 0; /* the chunk's first E_CLOCK of the thread: since the origin */
    Py_CLEAR(th->task); /* a chunk reads on its own: its first coroutine step says the task */
    return 0;
}

static FrameRec *
frame_for(ThreadRec *th, _PyInterpreterFrame *f, CodeRec *cr, int line)
{
    if (th->depth && th->stack[th->depth - 1].iframe == f) return &th->stack[th->depth - 1];
    Buf *b = &th->stage;
    for (int i = th->depth - 2; i >= 0; i--) {
        if (th->stack[i].iframe == f) {
            int n = th->depth - 1 - i;
            if (clock_origin_ns && put_clock(b, th, now_ns()) < 0) return NULL;
            if (buf_need(b, 12) < 0) return NULL;
            put_u8(b, E_POP);
            put_var(b, (uint64_t)n);
            pop_frames(th, n);
            th->dirty++; /* frames that left without their events: what they ran is unknown */
            return &th->stack[th->depth - 1];
        }
    }
    /* a frame that was running before we saw it start */
    FrameRec *fr = push_frame(th, f, cr);
    if (!fr) return NULL;
    fr->line = line;
    if (put_frame_head(b, E_ENTER, fr) < 0 || diff_locals(b, fr, f, 0) < 0) return NULL;
    return fr;
}

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Hand the buffers over when 1 MB is waiting, or when the writer has not taken
 * them for a while (checked every 1024 events): a program that keeps taking
 * the GIL back (a loop printing often) can starve the writer thread. */
static int64_t last_take_ns;

static void
maybe_flush(int64_t now)
{
    if (R.busy || R.flushing || !R.flush_cb) return;
    if (R.ev.n < R.flush_bytes && !(now && now - last_take_ns > 150 * 1000 * 1000 && R.ev.n))
        return;
    R.flushing = 1;
    PyObject *r = PyObject_CallNoArgs(R.flush_cb);
    if (!r) PyErr_WriteUnraisable(R.flush_cb);
    Py_XDECREF(r);
    R.flushing = 0;
}

static int
append_stage(ThreadRec *th)
{
    Buf *b = &R.ev, *s = &th->stage;
    if (buf_need(b, s->n + 12) < 0) return -1;
    if (R.cur_tid != th->tid) {
        put_u8(b, E_THREAD);
        put_var(b, th->tid);
        R.cur_tid = th->tid;
    }
    put_bytes(b, s->p, s->n);
    s->n = 0;
    return 0;
}

/* ---- explicit marks written by the recorder itself ---------------------- */

static uint32_t
kind_id(const char *kind, PyObject **cache)
{
    if (!*cache && !(*cache = PyUnicode_InternFromString(kind))) return 0;
    return str_id(*cache);
}

static int
put_mark_text(Buf *b, uint32_t kid, const char *text, size_t n)
{
    if (buf_need(b, n + 24) < 0) return -1;
    put_u8(b, E_MARK);
    put_var(b, kid);
    put_var(b, (uint64_t)n);
    put_bytes(b, text, n);
    return 0;
}

/* "caught": the line where a frame handles an exception raised in (or through) it */
static PyObject *caught_kind;

static int
mark_caught(Buf *b, int line)
{
    uint32_t kid = kind_id("caught", &caught_kind);
    if (!kid) return -1;
    char text[48];
    int n = snprintf(text, sizeof text, "{\"line\": %d}", line);
    return put_mark_text(b, kid, text, (size_t)n);
}

static int
is_stop_exception(PyTypeObject *et)
{
    return PyType_IsSubtype(et, (PyTypeObject *)PyExc_StopIteration) ||
           PyType_IsSubtype(et, (PyTypeObject *)PyExc_StopAsyncIteration) ||
           PyType_IsSubtype(et, (PyTypeObject *)PyExc_GeneratorExit);
}

/* "task": the asyncio task the following steps of this thread run in, written when it
 * changes (checked when a coroutine starts or resumes) */
static PyObject *task_kind, *current_task_fn;

static int
json_str(Buf *b, PyObject *s)
{
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (!u) {
        PyErr_Clear();
        u = "?";
        n = 1;
    }
    if (buf_need(b, (size_t)n * 6 + 4) < 0) return -1;
    put_u8(b, '"');
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c == '"' || c == '\\') {
            put_u8(b, '\\');
            put_u8(b, c);
        }
        else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put_bytes(b, esc, 6);
        }
        else {
            put_u8(b, c);
        }
    }
    put_u8(b, '"');
    return 0;
}

static int
mark_task(Buf *b, ThreadRec *th)
{
    if (!current_task_fn) {
        PyObject *mod_name = PyUnicode_FromString("asyncio");
        PyObject *asyncio = mod_name ? PyImport_GetModule(mod_name) : NULL;
        Py_XDECREF(mod_name);
        PyErr_Clear();
        if (!asyncio) return 0; /* never imported: no task can run */
        current_task_fn = PyObject_GetAttrString(asyncio, "current_task");
        Py_DECREF(asyncio);
        if (!current_task_fn) {
            PyErr_Clear();
            return 0;
        }
    }
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    PyObject *task = PyObject_CallNoArgs(current_task_fn);
    if (!task) {
        PyErr_Clear(); /* no running loop: a coroutine driven by hand */
        task = Py_NewRef(Py_None);
    }
    int rc = 0;
    if (task != th->task && !(task == Py_None && !th->task)) {
        uint32_t kid = kind_id("task", &task_kind);
        Buf text = {0};
        rc = kid ? 0 : -1;
        if (rc == 0 && task == Py_None) {
            rc = buf_need(&text, 16);
            if (rc == 0) put_bytes(&text, "null", 4);
        }
        else if (rc == 0) {
            PyObject *name = PyObject_CallMethod(task, "get_name", NULL);
            char head[48];
            int n = snprintf(head, sizeof head, "{\"id\": \"%p\", \"name\": ", (void *)task);
            rc = buf_need(&text, (size_t)n + 8);
            if (rc == 0) put_bytes(&text, head, (size_t)n);
            if (rc == 0 && name && PyUnicode_Check(name)) {
                rc = json_str(&text, name);
            }
            else if (rc == 0) {
                PyErr_Clear();
                put_bytes(&text, "null", 4);
            }
            if (rc == 0 && buf_need(&text, 2) == 0) put_u8(&text, '}');
            Py_XDECREF(name);
        }
        if (rc == 0) rc = put_mark_text(b, kid, (const char *)text.p, text.n);
        PyMem_RawFree(text.p);
        Py_XSETREF(th->task, task == Py_None ? NULL : Py_NewRef(task));
    }
    Py_DECREF(task);
    PyErr_Restore(et, ev, etb);
    return rc;
}

/* one event of an in-scope frame; `arg` is the return value or exception */
static int
record(PyThreadState *ts, _PyInterpreterFrame *f, CodeRec *cr, int what, int line,
       PyObject *arg)
{
    int sample = (R.nevents & 1023) == 0;
    int timed = clock_origin_ns && (what == EV_CALL || what == EV_RETURN);
    int64_t t0 = sample || timed ? now_ns() : 0;
    ThreadRec *th = get_thread(ts);
    if (!th) return -1;
    R.busy++;
    int rc = 0;
    Buf *b = &th->stage;
    FrameRec *fr;
    uint64_t mask = (uint64_t)-1; /* the locals to compare */
    uint64_t named = (uint64_t)-1, skip = 0; /* those its last line named; private ones */
    uint64_t partial = 0; /* those only objects its lines logged changed (shadowed) */
    int globals = 0;      /* the module globals it shows are compared too */
    if (th->epoch != R.epoch && keyframe(th, f) < 0) goto fail;
    if (th->pending.n) {
        if (buf_need(b, th->pending.n) < 0) goto fail;
        put_bytes(b, th->pending.p, th->pending.n);
        th->pending.n = 0;
    }
    if (what == EV_CALL) {
        if (cr->is_async && mark_task(b, th) < 0) goto fail;
        if (!(fr = push_frame(th, f, cr))) goto fail;
        fr->line = line;
        count_direct_call(th, f, cr);
        if (timed && put_clock(b, th, t0) < 0) goto fail;
        if (put_frame_head(b, E_CALL, fr) < 0) goto fail;
    }
    else {
        if (!(fr = frame_for(th, f, cr, line))) goto fail;
        /* what ran in the frame since its last step (a line or call event at fr->off) */
        LineInfo *li = fr->last_kind == EV_LINE || fr->last_kind == EV_CALL
                           ? entry_info(cr, fr->line, fr->off) : NULL;
        int changed = may_have_changed(th, fr, f, li);
        if (changed) th->dirty++;
        named = line_named(cr, li);
        unsigned long switches = gil_switches(ts); /* the GIL's, before this step */
        if (what != EV_EXCEPTION && !changed)
            mask = step_mask(th, fr, f, switches, li, &partial, &globals);
        skip = priv_mask(fr, ts, switches, named);
        fr->line = line;
        if (buf_need(b, 24) < 0) goto fail;
        if (line < 0) line = 0;
        if (what == EV_LINE) {
            if (fr->unwinding) {
                fr->unwinding = 0;
                if (mark_caught(b, line) < 0 || buf_need(b, 24) < 0) goto fail;
            }
            put_u8(b, E_LINE);
            put_var(b, (uint64_t)line);
        }
        else if (what == EV_RETURN) {
            fr->unwinding = 0;
            if (timed && (put_clock(b, th, t0) < 0 || buf_need(b, 24) < 0)) goto fail;
            put_u8(b, E_RETURN);
            put_var(b, (uint64_t)line);
            if (ds_encode(b, arg ? arg : Py_None, 0) < 0) goto fail;
        }
        else {
            PyObject *exc = arg;
            PyTypeObject *et;
            if (arg && PyTuple_Check(arg) && PyTuple_GET_SIZE(arg) >= 2) {
                et = (PyTypeObject *)PyTuple_GET_ITEM(arg, 0);
                exc = PyTuple_GET_ITEM(arg, 1);
                if (!PyType_Check(et)) et = Py_TYPE(exc);
            }
            else {
                et = Py_TYPE(exc ? exc : Py_None);
            }
            uint32_t tid_ = type_name_id(et);
            fr->unwinding = !is_stop_exception(et);
            if (buf_need(b, 12) < 0) goto fail;
            put_u8(b, E_EXCEPTION);
            put_var(b, (uint64_t)line);
            put_var(b, tid_);
            if (ds_encode(b, exc ? exc : Py_None, 0) < 0) goto fail;
        }
    }
    if ((mask == (uint64_t)-1 ? diff_locals(b, fr, f, skip)
                              : diff_some(b, fr, f, mask, named, partial, globals, th)) < 0)
        goto fail;
    fr->last_kind = what;
    fr->switches = gil_switches(ts);
    fr->off = what == EV_LINE || what == EV_CALL ? frame_offset(f) : -1;
    fr->direct_calls = 0;
    fr->dirty_seen = th->dirty;
    fr->dlog_seen = th->dlog_n;
    th->dlog_read = 1;
    fr->wild_seen = R.wild;
    if (what == EV_RETURN) pop_frames(th, 1);
    th->step++;
    R.nevents++;
    R.nlines += what == EV_LINE;
    if (append_stage(th) < 0) goto fail;
    goto done;
fail:
    rc = -1;
    th->stage.n = 0;
done:
    R.busy--;
    if (sample) {
        int64_t t1 = now_ns();
        R.sampled_ns += (uint64_t)(t1 - t0);
        R.nsampled++;
        t0 = t1;
    }
    if (rc == 0) maybe_flush(t0);
    return rc;
}

/* Errors inside the recorder must not reach the program: report, stop. */
static void
recorder_failed(void)
{
    PyErr_WriteUnraisable(NULL);
    R.active = 0;
}

/* ---- 3.11: the tee (PyEval_SetTrace) -------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *inner; /* the Python-level tracer behind us, or NULL */
} TeeObject;

static void
tee_dealloc(TeeObject *self)
{
    Py_XDECREF(self->inner);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject TeeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "devsandbox._tracer.Tee",
    .tp_basicsize = sizeof(TeeObject),
    .tp_dealloc = (destructor)tee_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

static PyObject *whatstrings[8];

static int
tee_trace(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    TeeObject *self = (TeeObject *)obj;
    if (R.active && what <= PyTrace_RETURN) {
        _PyInterpreterFrame *f = frame->f_frame;
        CodeRec *cr = get_code(IF_CODE(f));
        if (!cr) {
            recorder_failed();
        }
        else if (cr->in_scope) {
            int line = frame->f_lineno ? frame->f_lineno : PyFrame_GetLineNumber(frame);
            if (record(PyThreadState_GET(), f, cr, what, line, arg) < 0) recorder_failed();
        }
        else {
            R.wild++; /* code outside the scope ran: it may have changed anything */
        }
    }
    PyObject *cb = what == PyTrace_CALL ? self->inner : frame->f_trace;
    if (!cb) return 0;
    R.wild++; /* so may the tracer behind us (and LocalsToFast after it) */
    /* CPython's trace_trampoline/call_trampoline, for the tracer behind us */
    Py_INCREF(self);
    Py_INCREF(cb);
    int rc = 0;
#if PY_VERSION_HEX < 0x030D0000
    if (PyFrame_FastToLocalsWithError(frame) < 0) {
        rc = -1;
    }
    else
#endif
    {
        PyObject *stack[3] = {(PyObject *)frame, whatstrings[what], arg ? arg : Py_None};
        PyObject *res = PyObject_Vectorcall(cb, stack, 3, NULL);
#if PY_VERSION_HEX < 0x030D0000
        PyFrame_LocalsToFast(frame, 1);
#endif
        if (!res) {
            Py_CLEAR(self->inner);
            Py_CLEAR(frame->f_trace);
            rc = -1;
        }
        else if (res != Py_None) {
            Py_XSETREF(frame->f_trace, res);
        }
        else {
            Py_DECREF(res);
        }
    }
    Py_DECREF(cb);
    Py_DECREF(self);
    return rc;
}

static TeeObject *
thread_tee(PyThreadState *ts)
{
    return ts->c_tracefunc == tee_trace ? (TeeObject *)ts->c_traceobj : NULL;
}

/* 1: a trace function other than the recorder's sees this thread's frames (priv_mask) */
static int
other_tracer(PyThreadState *ts)
{
    if (!ts->c_tracefunc) return 0;
    TeeObject *tee = thread_tee(ts);
    return !tee || tee->inner != NULL;
}

/* Put a tee in the thread's trace slot, keeping the tracer already there
 * (pydevd, coverage, the user's) behind it. */
static int
install_tee(PyThreadState *ts)
{
    if (thread_tee(ts)) return 0;
    TeeObject *tee = PyObject_New(TeeObject, &TeeType);
    if (!tee) return -1;
    tee->inner = ts->c_tracefunc ? Py_XNewRef(ts->c_traceobj) : NULL;
#if PY_VERSION_HEX < 0x030C0000
    int rc = _PyEval_SetTrace(ts, tee_trace, (PyObject *)tee);
#else
    int rc = 0;
    if (ts == PyThreadState_GET())
        PyEval_SetTrace(tee_trace, (PyObject *)tee);
#endif
    Py_DECREF(tee);
    return rc;
}

/* install_tee_all(skip=()): every thread but those whose ident is in `skip` */
static PyObject *
py_install_tee_all(PyObject *m, PyObject *args)
{
    PyObject *skip = NULL;
    if (!PyArg_ParseTuple(args, "|O", &skip)) return NULL;
    PyInterpreterState *interp = PyThreadState_GET()->interp;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts)) {
        if (skip) {
            PyObject *ident = PyLong_FromUnsignedLong(ts->thread_id);
            int in = ident ? PySequence_Contains(skip, ident) : -1;
            Py_XDECREF(ident);
            if (in < 0) return NULL;
            if (in) continue;
        }
        if (install_tee(ts) < 0) return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
py_install_tee(PyObject *m, PyObject *unused)
{
    if (install_tee(PyThreadState_GET()) < 0) return NULL;
    Py_RETURN_NONE;
}

/* remove the tee where nothing is behind it; elsewhere it stays, a pass-through */
static PyObject *
py_remove_tee_all(PyObject *m, PyObject *unused)
{
#if PY_VERSION_HEX < 0x030C0000
    PyInterpreterState *interp = PyThreadState_GET()->interp;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts)) {
        TeeObject *tee = thread_tee(ts);
        if (tee && !tee->inner && _PyEval_SetTrace(ts, NULL, NULL) < 0) return NULL;
    }
#endif
    Py_RETURN_NONE;
}

/* sys.settrace while the tee is in place: the function goes behind it */
static PyObject *
py_settrace(PyObject *m, PyObject *func)
{
    PyThreadState *ts = PyThreadState_GET();
    TeeObject *tee = thread_tee(ts);
    if (func == Py_None) func = NULL;
    if (tee) {
        Py_XSETREF(tee->inner, Py_XNewRef(func));
        if (!func && !R.active) PyEval_SetTrace(NULL, NULL);
        Py_RETURN_NONE;
    }
    if (install_tee(ts) < 0) return NULL;
    tee = thread_tee(ts);
    if (tee) Py_XSETREF(tee->inner, Py_XNewRef(func));
    Py_RETURN_NONE;
}

/* settrace_thread(ident, func) -> 0, or <0 when there is no such thread:
 * pydevd's set_trace_to_threads through the tee (never around it) */
static PyObject *
py_settrace_thread(PyObject *m, PyObject *args)
{
    unsigned long ident;
    PyObject *func;
    if (!PyArg_ParseTuple(args, "kO", &ident, &func)) return NULL;
    PyThreadState *ts = find_tstate(ident);
    if (!ts) return PyLong_FromLong(-1);
    if (func == Py_None) func = NULL;
    TeeObject *tee = thread_tee(ts);
    if (!tee) {
        if (install_tee(ts) < 0) return NULL;
        tee = thread_tee(ts);
        if (!tee) return PyLong_FromLong(-2);
    }
    Py_XSETREF(tee->inner, Py_XNewRef(func));
    return PyLong_FromLong(0);
}

static PyObject *
py_gettrace_thread(PyObject *m, PyObject *arg)
{
    unsigned long ident = PyLong_AsUnsignedLong(arg);
    if (ident == (unsigned long)-1 && PyErr_Occurred()) return NULL;
    PyThreadState *ts = find_tstate(ident);
    if (!ts) Py_RETURN_NONE;
    TeeObject *tee = thread_tee(ts);
    PyObject *f = tee ? tee->inner : ts->c_traceobj;
    return Py_NewRef(f ? f : Py_None);
}

/* take this thread out of tracing entirely (a debugger's own threads) */
static PyObject *
py_uninstall_tee(PyObject *m, PyObject *unused)
{
    if (thread_tee(PyThreadState_GET())) PyEval_SetTrace(NULL, NULL);
    Py_RETURN_NONE;
}

static PyObject *
py_gettrace(PyObject *m, PyObject *unused)
{
    PyThreadState *ts = PyThreadState_GET();
    TeeObject *tee = thread_tee(ts);
    PyObject *f = tee ? tee->inner : ts->c_traceobj;
    return Py_NewRef(f ? f : Py_None);
}

/* ---- 3.12+: sys.monitoring callbacks ------------------------------------- */

#ifdef CURRENT_IFRAME
static inline PyObject *
mon_result(int disable)
{
    return Py_NewRef(disable ? R.disable : Py_None);
}

/* the frame's line, as frame.f_lineno shows it (cached per instruction) */
static int
frame_line(CodeRec *cr, _PyInterpreterFrame *f, int *cache_off, int *cache_line)
{
    int off = PyUnstable_InterpreterFrame_GetLasti(f);
    if (off == *cache_off) return *cache_line;
    int line = PyUnstable_InterpreterFrame_GetLine(f);
    *cache_off = off;
    *cache_line = line;
    return line;
}

/* PY_START, PY_RESUME, PY_THROW: settrace's "call" */
static PyObject *
mon_start_event(PyObject *const *args, Py_ssize_t n, int may_disable)
{
    if (!R.active || n < 2) return mon_result(0);
    CodeRec *cr = get_code((PyCodeObject *)args[0]);
    if (!cr) {
        recorder_failed();
        return mon_result(0);
    }
    if (!cr->in_scope) {
        /* not DISABLE: code outside the scope that runs may change what the program's
         * locals show, so the next step compares all of them (step_mask) */
        (void)may_disable;
        R.wild++;
        return mon_result(0);
    }
    PyThreadState *ts = PyThreadState_GET();
    _PyInterpreterFrame *f = CURRENT_IFRAME(ts);
    int line = frame_line(cr, f, &cr->start_off, &cr->start_line);
    if (record(ts, f, cr, EV_CALL, line, NULL) < 0) recorder_failed();
    return mon_result(0);
}

static PyObject *
mon_start(PyObject *m, PyObject *const *args, Py_ssize_t n)
{
    return mon_start_event(args, n, 1);
}

/* PY_THROW cannot be disabled (returning DISABLE removes the callback) */
static PyObject *
mon_throw(PyObject *m, PyObject *const *args, Py_ssize_t n)
{
    return mon_start_event(args, n, 0);
}

static PyObject *
mon_event(int what, PyObject *const *args, Py_ssize_t n, int *disable)
{
    if (!R.active || n < 2) return mon_result(0);
    CodeRec *cr = ds_map_get(&R.codes, args[0]);
    if (!cr || !cr->in_scope) return mon_result(0);
    PyThreadState *ts = PyThreadState_GET();
    _PyInterpreterFrame *f = CURRENT_IFRAME(ts);
    int line;
    if (what == EV_LINE)
        line = (int)PyLong_AsLong(args[1]);
    else if (what == EV_RETURN)
        line = frame_line(cr, f, &cr->ret_off, &cr->ret_line);
    else
        line = PyUnstable_InterpreterFrame_GetLine(f);
    if (record(ts, f, cr, what, line, n > 2 ? args[2] : NULL) < 0)
        recorder_failed();
    return mon_result(0);
}

static PyObject *
mon_line(PyObject *m, PyObject *const *args, Py_ssize_t n)
{
    return mon_event(EV_LINE, args, n, NULL);
}

/* PY_RETURN, PY_YIELD: "return" with the value */
static PyObject *
mon_return(PyObject *m, PyObject *const *args, Py_ssize_t n)
{
    return mon_event(EV_RETURN, args, n, NULL);
}

/* PY_UNWIND: "return" with None */
static PyObject *
mon_unwind(PyObject *m, PyObject *const *args, Py_ssize_t n)
{
    return mon_event(EV_RETURN, args, 2, NULL);
}

/* RAISE, STOP_ITERATION: "exception" */
static PyObject *
mon_raise(PyObject *m, PyObject *const *args, Py_ssize_t n)
{
    return mon_event(EV_EXCEPTION, args, n, NULL);
}

/* JUMP: settrace reports a backward jump within one line as a line event */
static PyObject *
mon_jump(PyObject *m, PyObject *const *args, Py_ssize_t n)
{
    if (!R.active || n < 3) return mon_result(0);
    CodeRec *cr = ds_map_get(&R.codes, args[0]);
    if (!cr || !cr->in_scope) return mon_result(0);
    int from = (int)PyLong_AsLong(args[1]), to = (int)PyLong_AsLong(args[2]);
    if (to > from) return mon_result(1);
    int to_line = PyCode_Addr2Line((PyCodeObject *)cr->code, to);
    if (to_line != PyCode_Addr2Line((PyCodeObject *)cr->code, from)) return mon_result(1);
    PyThreadState *ts = PyThreadState_GET();
    if (to_line >= 0 && record(ts, CURRENT_IFRAME(ts), cr, EV_LINE, to_line, NULL) < 0)
        recorder_failed();
    return mon_result(0);
}
#endif

/* ---- no-op hooks: the floor of any line recorder (bench/recorder.py) ----- */

static int
noop_trace(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    return 0;
}

static PyObject *
py_install_noop_trace(PyObject *m, PyObject *unused)
{
    PyEval_SetTrace(noop_trace, NULL);
    Py_RETURN_NONE;
}

static PyObject *
mon_noop(PyObject *m, PyObject *const *args, Py_ssize_t n)
{
    Py_RETURN_NONE;
}

/* ---- control ------------------------------------------------------------- */

static PyObject *
py_configure(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *names[] = {"scope", "flush", "threading_active", "max_depth", "max_items",
                            "max_str", "max_repr", "repr_budget_ns", "flush_bytes",
                            "set_local_events", "disable", "tool_id", "local_events",
                            "item_diffs", "type_budget_ns", "globals", "clock_origin_ns",
                            "attributes", "templates", NULL};
    PyObject *scope = NULL, *flush = NULL, *active = NULL, *sle = NULL, *disable = NULL,
             *gfn = NULL;
    int max_depth = ds_limits.max_depth, tool_id = -1;
    Py_ssize_t max_items = ds_limits.max_items, max_str = ds_limits.max_str,
               max_repr = ds_limits.max_repr, flush_bytes = 1 << 20;
    long long budget = ds_limits.repr_budget_ns, type_budget = ds_limits.type_budget_ns;
    long long origin = 0;
    long local_events = 0;
    int items = 0, attributes = 0, templates = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|innnLnOOilpLOLpp", names, &scope, &flush,
                                     &active, &max_depth, &max_items, &max_str, &max_repr,
                                     &budget, &flush_bytes, &sle, &disable, &tool_id,
                                     &local_events, &items, &type_budget, &gfn, &origin,
                                     &attributes, &templates))
        return NULL;
    ds_limits.attributes = attributes;
    ds_limits.templates = templates;
    item_diffs = items;
    clock_origin_ns = origin > 0 ? origin : 0;
    Py_XSETREF(R.scope_fn, Py_NewRef(scope));
    Py_XSETREF(R.flush_cb, Py_NewRef(flush));
    Py_XSETREF(R.threading_active, active == Py_None ? NULL : Py_NewRef(active));
    Py_XSETREF(R.set_local_events, sle && sle != Py_None ? Py_NewRef(sle) : NULL);
    Py_XSETREF(R.disable, Py_NewRef(disable ? disable : Py_None));
    Py_XSETREF(R.globals_fn, gfn && gfn != Py_None ? Py_NewRef(gfn) : NULL);
    R.tool_id = tool_id;
    R.local_events = local_events;
    ds_limits.max_depth = max_depth < 1 ? 1 : max_depth;
    ds_limits.max_items = max_items < 1 ? 1 : max_items;
    ds_limits.max_str = max_str < 1 ? 1 : max_str;
    ds_limits.max_repr = max_repr < 8 ? 8 : max_repr;
    ds_limits.repr_budget_ns = budget;
    ds_limits.type_budget_ns = type_budget;
    R.flush_bytes = (size_t)(flush_bytes < 4096 ? 4096 : flush_bytes);
    if (!R.codes_list && !(R.codes_list = PyList_New(0))) return NULL;
    Py_RETURN_NONE;
}

static PyObject *
py_start(PyObject *m, PyObject *unused)
{
    R.epoch++;
    R.active = 1;
    Py_RETURN_NONE;
}

static void
clear_threads(void)
{
    for (int i = 0; i < R.nthreads; i++) {
        ThreadRec *th = R.threads[i];
        pop_frames(th, th->depth);
        PyMem_RawFree(th->stack);
        PyMem_RawFree(th->stage.p);
        PyMem_RawFree(th->pending.p);
        Py_XDECREF(th->task);
        PyMem_RawFree(th);
    }
    PyMem_RawFree(R.threads);
    R.threads = NULL;
    R.nthreads = R.capthreads = 0;
    R.last_ts = NULL;
    R.last_thread = NULL;
}

static PyObject *
py_stop(PyObject *m, PyObject *unused)
{
    R.active = 0;
    Py_RETURN_NONE;
}

/* Hand the buffers to the writer: (defs, events, [(tid, first_step, steps)],
 * total events).  None while an event is half written (the GIL was released
 * by a repr()): try again shortly. */
static PyObject *
py_take(PyObject *m, PyObject *unused)
{
    if (R.busy) Py_RETURN_NONE;
    PyObject *defs = PyBytes_FromStringAndSize((char *)R.defs.p, (Py_ssize_t)R.defs.n);
    PyObject *ev = PyBytes_FromStringAndSize((char *)R.ev.p, (Py_ssize_t)R.ev.n);
    PyObject *info = PyList_New(0);
    if (!defs || !ev || !info) goto fail;
    for (int i = 0; i < R.nthreads; i++) {
        ThreadRec *th = R.threads[i];
        if (th->epoch != R.epoch) continue;
        PyObject *t = Py_BuildValue("(IKK)", th->tid, (unsigned long long)th->chunk_first_step,
                                    (unsigned long long)(th->step - th->chunk_first_step));
        if (!t || PyList_Append(info, t) < 0) {
            Py_XDECREF(t);
            goto fail;
        }
        Py_DECREF(t);
    }
    R.defs.n = 0;
    R.ev.n = 0;
    R.cur_tid = 0;
    R.epoch++;
    ds_values_new_chunk();
    last_take_ns = now_ns();
    return Py_BuildValue("(NNNK)", defs, ev, info, (unsigned long long)R.nevents);
fail:
    Py_XDECREF(defs);
    Py_XDECREF(ev);
    Py_XDECREF(info);
    return NULL;
}

/* Forget everything (after the last take()). */
static PyObject *
py_reset(PyObject *m, PyObject *unused)
{
    R.active = 0;
    clear_threads();
    for (size_t i = 0; i < R.codes.cap; i++)
        if (R.codes.keys[i]) free_code(R.codes.vals[i]);
    ds_map_clear(&R.codes);
    for (size_t i = 0; i < R.strs.cap; i++)
        if (R.strs.keys[i]) Py_DECREF((PyObject *)R.strs.keys[i]);
    ds_map_clear(&R.strs);
    for (size_t i = 0; i < R.types.cap; i++)
        if (R.types.keys[i]) Py_DECREF((PyObject *)R.types.keys[i]);
    ds_map_clear(&R.types);
    ds_values_reset();
    R.defs.n = R.ev.n = 0;
    R.next_str = R.next_code = R.next_frame = R.next_tid = 0;
    R.cur_tid = 0;
    R.nevents = R.nlines = R.sampled_ns = R.nsampled = R.nelided = R.nprivate = R.nclean = 0;
    R.ntargeted = R.npartial = R.nreused = 0;
    R.introspect = 0;
    Py_CLEAR(R.scope_fn);
    Py_CLEAR(R.flush_cb);
    Py_CLEAR(R.threading_active);
    Py_CLEAR(R.set_local_events);
    Py_CLEAR(R.codes_list);
    Py_CLEAR(R.globals_fn);
    Py_RETURN_NONE;
}

/* Register a code object now (a frame that was running when recording
 * started); True if it is in scope. */
static PyObject *
py_prime(PyObject *m, PyObject *code)
{
    if (!PyCode_Check(code)) {
        PyErr_SetString(PyExc_TypeError, "a code object is required");
        return NULL;
    }
    CodeRec *cr = get_code((PyCodeObject *)code);
    if (!cr) return NULL;
    return PyBool_FromLong(cr->in_scope);
}

static PyObject *
py_codes(PyObject *m, PyObject *unused)
{
    return R.codes_list ? PyList_GetSlice(R.codes_list, 0, PY_SSIZE_T_MAX) : PyList_New(0);
}

static PyObject *
py_stats(PyObject *m, PyObject *unused)
{
    double est = R.nsampled ? (double)R.sampled_ns / (double)R.nsampled * (double)R.nevents : 0.0;
    return Py_BuildValue("{sKsKsKsdsisnsKsKsKsKsKsK}", "events", (unsigned long long)R.nevents,
                         "line_events", (unsigned long long)R.nlines, "sampled",
                         (unsigned long long)R.nsampled, "recorder_seconds_estimate", est / 1e9,
                         "threads", R.nthreads, "codes", (Py_ssize_t)R.codes.n,
                         "short_steps", (unsigned long long)R.nelided, "private_skips",
                         (unsigned long long)R.nprivate, "clean_call_steps",
                         (unsigned long long)R.nclean, "targeted_steps",
                         (unsigned long long)R.ntargeted, "partial_diffs",
                         (unsigned long long)R.npartial, "reused_encodings",
                         (unsigned long long)R.nreused);
}

static PyThreadState *
find_tstate(unsigned long ident)
{
    PyInterpreterState *interp = PyThreadState_GET()->interp;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        if (ts->thread_id == ident) return ts;
    return NULL;
}

static int
put_mark(Buf *b, uint32_t kid, PyObject *payload)
{
    if (buf_need(b, 12) < 0) return -1;
    put_u8(b, E_MARK);
    put_var(b, kid);
    return put_str_obj(b, payload);
}

/* Make the thread's stream ready for records outside an event: a keyframe
 * first if the thread has not written in this chunk yet. */
static int
thread_ready(ThreadRec *th, PyThreadState *ts)
{
    if (th->epoch == R.epoch) return 0;
    _PyInterpreterFrame *f = THREAD_IFRAME(ts);
    return keyframe(th, f);
}

/* mark(kind, text, ident=None): append an explicit event (setVariable,
 * goto, a note) to a thread's stream: kind and a UTF-8 text (JSON by
 * convention).  For another thread, the mark is written just before that
 * thread's next event (it is usually suspended by a debugger). */
static PyObject *
py_mark(PyObject *m, PyObject *args)
{
    PyObject *kind, *payload, *ident_obj = Py_None;
    if (!PyArg_ParseTuple(args, "UU|O", &kind, &payload, &ident_obj)) return NULL;
    if (!R.active) Py_RETURN_FALSE;
    PyThreadState *cur = PyThreadState_GET(), *ts = cur;
    if (ident_obj != Py_None) {
        unsigned long ident = PyLong_AsUnsignedLong(ident_obj);
        if (ident == (unsigned long)-1 && PyErr_Occurred()) return NULL;
        ts = find_tstate(ident);
        if (!ts) Py_RETURN_FALSE;
    }
    ThreadRec *th = get_thread(ts);
    if (!th) return NULL;
    uint32_t kid = str_id(kind);
    if (!kid) return NULL;
    if (ts != cur || th->stage.n) {
        if (put_mark(&th->pending, kid, payload) < 0) return NULL;
        Py_RETURN_TRUE;
    }
    R.busy++;
    R.wild++;
    int rc = thread_ready(th, ts);
    if (rc == 0) rc = put_mark(&th->stage, kid, payload);
    if (rc == 0) rc = append_stage(th);
    if (rc < 0) th->stage.n = 0;
    R.busy--;
    if (rc < 0) return NULL;
    Py_RETURN_TRUE;
}

/* resync(frame, kind, text, force): called in the thread running `frame`
 * (its innermost recorded frame) after a debugger let it go: locals changed
 * meanwhile (setVariable, setExpression, an evaluate with side effects) are
 * recorded after a mark, so that they do not look like the work of the next
 * line.  The mark is written if something changed or `force` is true (a
 * goto).  Returns True if a mark was written. */
static PyObject *
py_resync(PyObject *m, PyObject *args)
{
    PyObject *frame, *kind, *payload;
    int force = 0;
    if (!PyArg_ParseTuple(args, "O!UU|p", &PyFrame_Type, &frame, &kind, &payload, &force))
        return NULL;
    if (!R.active) Py_RETURN_FALSE;
    _PyInterpreterFrame *f = ((PyFrameObject *)frame)->f_frame;
    CodeRec *cr = get_code(IF_CODE(f));
    if (!cr) return NULL;
    if (!cr->in_scope) Py_RETURN_FALSE;
    PyThreadState *ts = PyThreadState_GET();
    ThreadRec *th = get_thread(ts);
    if (!th) return NULL;
    if (th->stage.n) Py_RETURN_FALSE; /* inside record() (cannot happen from Python code) */
    uint32_t kid = str_id(kind);
    if (!kid) return NULL;
    R.busy++;
    R.wild++; /* a debugger may have changed values: the next step compares every local */
    Buf diff = {0};
    int wrote = 0, rc = 0;
    FrameRec *fr = NULL;
    if (th->epoch != R.epoch) {
        /* the keyframe about to be written shows the new values: find the changes first */
        for (int i = th->depth - 1; i >= 0; i--)
            if (th->stack[i].iframe == f) {
                rc = diff_locals(&diff, &th->stack[i], f, 0);
                break;
            }
        if (rc == 0) rc = thread_ready(th, ts);
    }
    if (rc == 0 && th->pending.n) {
        rc = buf_need(&th->stage, th->pending.n);
        if (rc == 0) {
            put_bytes(&th->stage, th->pending.p, th->pending.n);
            th->pending.n = 0;
        }
    }
    if (rc == 0) {
        fr = frame_for(th, f, cr, PyFrame_GetLineNumber((PyFrameObject *)frame));
        if (!fr) rc = -1;
    }
    if (rc == 0) rc = diff_locals(&diff, fr, f, 0);  /* appends to what the keyframe found */
    if (rc == 0 && (diff.n || force)) {
        rc = put_mark(&th->stage, kid, payload);
        if (rc == 0 && diff.n) rc = buf_need(&th->stage, diff.n);
        if (rc == 0) {
            put_bytes(&th->stage, diff.p, diff.n);
            wrote = 1;
        }
    }
    if (rc == 0 && th->stage.n) rc = append_stage(th);
    if (rc < 0) th->stage.n = 0;
    PyMem_RawFree(diff.p);
    R.busy--;
    if (rc < 0) return NULL;
    return PyBool_FromLong(wrote);
}

/* threads() -> [(tid, ident, native_id, steps, depth)] of the recording */
static PyObject *
py_threads(PyObject *m, PyObject *unused)
{
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (int i = 0; i < R.nthreads; i++) {
        ThreadRec *th = R.threads[i];
        PyObject *t = Py_BuildValue("(IkkKi)", th->tid, th->ident, th->native_id,
                                    (unsigned long long)th->step, th->depth);
        if (!t || PyList_Append(out, t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(t);
    }
    return out;
}

/* ---- helpers kept from the first version of this module ------------------ */

static PyObject *
thread_frames(PyObject *self, PyObject *unused)
{
    PyObject *sys = PyImport_ImportModule("sys");
    if (!sys) return NULL;
    PyObject *res = PyObject_CallMethod(sys, "_current_frames", NULL);
    Py_DECREF(sys);
    return res;
}

static PyObject *
object_size(PyObject *self, PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    Py_ssize_t size = tp->tp_basicsize;
    if (tp->tp_itemsize) {
        Py_ssize_t n = Py_SIZE(obj);
        if (n < 0) n = -n;
        size += n * tp->tp_itemsize;
    }
    return PyLong_FromSsize_t(size);
}

/* encode(value) -> bytes: the value encoding alone (tests, the fallback) */
static PyObject *
py_encode(PyObject *m, PyObject *obj)
{
    Buf b = {0};
    if (ds_encode(&b, obj, 0) < 0) {
        PyMem_RawFree(b.p);
        return NULL;
    }
    PyObject *r = PyBytes_FromStringAndSize((char *)b.p, (Py_ssize_t)b.n);
    PyMem_RawFree(b.p);
    return r;
}

static PyObject *
py_fingerprint(PyObject *m, PyObject *obj)
{
    return PyLong_FromUnsignedLongLong(ds_fingerprint(obj, 0));
}

static PyObject *
py_type_costs(PyObject *m, PyObject *unused)
{
    return ds_type_costs();
}

static PyMethodDef methods[] = {
    {"type_costs", py_type_costs, METH_NOARGS,
     "Classes with their own __repr__: (qualname, repr ns, values visited, looks, opaque, "
     "repr calls)."},
    {"thread_frames", thread_frames, METH_NOARGS, "Current frame of every thread."},
    {"object_size", object_size, METH_O, "Shallow size of an object without calling user code."},
    {"configure", (PyCFunction)(void (*)(void))py_configure, METH_VARARGS | METH_KEYWORDS,
     "Set the scope function, flush callback and value limits."},
    {"start", py_start, METH_NOARGS, "Start recording (hooks are installed by the caller)."},
    {"stop", py_stop, METH_NOARGS, "Stop recording."},
    {"take", py_take, METH_NOARGS, "Take the encoded buffers (the writer calls this)."},
    {"reset", py_reset, METH_NOARGS, "Forget all recorder state."},
    {"prime", py_prime, METH_O, "Register a code object; True if in scope."},
    {"codes", py_codes, METH_NOARGS, "Code objects in scope."},
    {"stats", py_stats, METH_NOARGS, "Counters."},
    {"mark", py_mark, METH_VARARGS, "Append an explicit event to a thread's stream."},
    {"resync", py_resync, METH_VARARGS, "Record locals changed while a debugger held the thread."},
    {"threads", py_threads, METH_NOARGS, "Recorded threads: (tid, ident, native id, steps, depth)."},
    {"settrace_thread", py_settrace_thread, METH_VARARGS, "Set another thread's tracer behind its tee."},
    {"gettrace_thread", py_gettrace_thread, METH_O, "Another thread's tracer."},
    {"uninstall_tee", py_uninstall_tee, METH_NOARGS, "Remove this thread's tee and tracer."},
    {"encode", py_encode, METH_O, "Encode one value."},
    {"pack_chunks", ds_pack_chunks, METH_VARARGS,
     "Compress chunks for the file (LZ4 block) and continue their CRC-32, without the GIL: "
     "pack_chunks([(raw, crc_seed)], depth=0) -> [(compressed, stored, crc)]; depth > 0 "
     "searches that many earlier matches."},
    {"fingerprint", py_fingerprint, METH_O, "Fingerprint of one value."},
    {"install_tee", py_install_tee, METH_NOARGS, "Tee this thread's trace slot."},
    {"install_noop_trace", py_install_noop_trace, METH_NOARGS, "A C trace function doing nothing."},
    {"mon_noop", (PyCFunction)(void (*)(void))mon_noop, METH_FASTCALL, "A monitoring callback doing nothing."},
    {"install_tee_all", py_install_tee_all, METH_VARARGS, "Tee every thread's trace slot."},
    {"remove_tee_all", py_remove_tee_all, METH_NOARGS, "Remove idle tees."},
    {"settrace", py_settrace, METH_O, "sys.settrace that keeps the tee."},
    {"gettrace", py_gettrace, METH_NOARGS, "sys.gettrace that sees behind the tee."},
#ifdef CURRENT_IFRAME
    {"mon_start", (PyCFunction)(void (*)(void))mon_start, METH_FASTCALL, NULL},
    {"mon_throw", (PyCFunction)(void (*)(void))mon_throw, METH_FASTCALL, NULL},
    {"mon_line", (PyCFunction)(void (*)(void))mon_line, METH_FASTCALL, NULL},
    {"mon_return", (PyCFunction)(void (*)(void))mon_return, METH_FASTCALL, NULL},
    {"mon_unwind", (PyCFunction)(void (*)(void))mon_unwind, METH_FASTCALL, NULL},
    {"mon_raise", (PyCFunction)(void (*)(void))mon_raise, METH_FASTCALL, NULL},
    {"mon_jump", (PyCFunction)(void (*)(void))mon_jump, METH_FASTCALL, NULL},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "devsandbox._tracer", "DevSandbox native recorder.", -1, methods,
};

PyMODINIT_FUNC
PyInit__tracer(void)
{
    if (PyType_Ready(&TeeType) < 0 || ds_values_init() < 0) return NULL;
    static const char *whats[] = {"call", "exception", "line", "return",
                                  "c_call", "c_exception", "c_return", "opcode"};
    for (int i = 0; i < 8; i++)
        if (!whatstrings[i] && !(whatstrings[i] = PyUnicode_InternFromString(whats[i])))
            return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
#ifdef CURRENT_IFRAME
    const char *mode = "monitoring";
#else
    const char *mode = "tee";
#endif
    if (PyModule_AddIntConstant(m, "ABI", DEVSANDBOX_NATIVE_ABI) < 0 ||
        PyModule_AddStringConstant(m, "MODE", mode) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
