/* Which objects a line changed, when it says so itself.
 *
 * A line that stores into an object (`self.x = v`, `v1[0] -= d`) or calls a method
 * (`lst.append(x)`) changes objects that other locals, and other frames' locals, may
 * show.  Without knowing which, every local of every frame of the thread is compared at
 * its next step.  Here the line's bytecode is followed on a model of the value stack
 * (ds_line_targets): when the object stored into comes straight from a local, a module
 * global or one attribute of either, and each call is of a named global, a module's
 * function or a method of such an object, the line's effects are listed as targets.  At
 * the step after the line (ds_eval_targets) the targets are looked up again (the line
 * did not rebind the locals they name) and checked: an attribute store into an object
 * whose class stores it plainly, an item store into an exact list or dict, a builtin
 * known to change nothing, a method of a builtin type known to change only its object.
 * The objects changed are reported; anything not understood makes the step unknown, as
 * before.
 *
 * A line whose code is in several pieces (a statement over several lines is its first
 * line's start, its other lines, then the call or store back on its first line; a `for`
 * line is its iterator, then the loop's exit after the body) is also followed from the start
 * of each piece (ds_entry_units, ds_entry_targets): an event there runs only what that piece
 * reaches before another line's code, on the stack the statement's earlier lines left.
 *
 * Nothing here runs code of the program: lookups are in exact dicts with str keys,
 * attributes are read where CPython keeps them (no descriptor other than __slots__).
 */
#include "recorder.h"

enum { R_NONE = 0, R_SLOT = 1, R_GLOBAL = 2 };

typedef struct {
    uint8_t base;   /* R_SLOT, R_GLOBAL */
    int16_t slot;
    PyObject *name; /* the global's name (borrowed from co_names) */
    PyObject *attr; /* NULL, or one attribute of it */
} Ref;

struct DsTarget {
    uint8_t kind;    /* T_* */
    uint8_t inplace; /* the value stored is an augmented assignment of what it replaces */
    uint8_t key_kind; /* K_* (item stores) */
    int16_t key;      /* the key's const index or slot */
    Ref obj;          /* the object stored into, or whose method is called */
    PyObject *name;   /* the attribute stored or the method called (borrowed) */
};

enum { T_ATTR = 1, T_DELATTR, T_ITEM, T_DELITEM, T_CALL_GLOBAL, T_CALL_METHOD, T_GLOBALS };
enum { K_UNKNOWN = 0, K_CONST = 1, K_SLOT = 2 };

/* ---- the model of the value stack ------------------------------------------ */

enum { S_UNK = 0, S_NULL, S_REF, S_CONST, S_METH, S_ITEM, S_INPL };

typedef struct {
    uint8_t k;
    uint8_t key_kind; /* S_ITEM, S_INPL of an item */
    int16_t key;      /* S_CONST: index; S_ITEM: key */
    Ref ref;          /* S_REF, S_METH (the object), S_ITEM (the container), S_INPL */
    PyObject *name;   /* S_METH: the method; S_INPL: the attribute (NULL: an item) */
    uint8_t inpl_item; /* S_INPL: of an item (key_kind, key) */
    int16_t from_slot; /* the local it was loaded from (even one the line rebinds), or -1 */
} Ent;

#define SIM_DEPTH 48
#define SIM_TARGETS 32
#define SIM_BRANCHES 4

/* the stack a forward jump inside the line takes to `unit` */
typedef struct {
    int unit;
    int n;
    Ent st[SIM_DEPTH];
} Branch;

typedef struct {
    Ent st[SIM_DEPTH];
    int n;
    Branch br[SIM_BRANCHES];
    int nbr;
    DsTarget out[SIM_TARGETS];
    int nout;
    int fail;
    int raised;
    int quiet; /* the instructions followed only for the stack they leave (another step's) */
    PyObject *names;
    uint64_t writes;
} Sim;

static inline Ent *
push(Sim *s, uint8_t k)
{
    if (s->n >= SIM_DEPTH) {
        s->fail = 1;
        return NULL;
    }
    Ent *e = &s->st[s->n++];
    memset(e, 0, sizeof *e);
    e->k = k;
    e->from_slot = -1;
    return e;
}

/* the top entry, popped; an augmented result popped by anything but its own store means
 * an object may have changed in place where we cannot see it */
static inline Ent
pop(Sim *s)
{
    Ent e = {0};
    if (s->n <= 0) {
        s->fail = 1;
        return e;
    }
    return s->st[--s->n];
}

static inline void
drop(Sim *s, int n)
{
    for (int i = 0; i < n; i++) {
        Ent e = pop(s);
        if (e.k == S_INPL) s->fail = 1;
    }
}

static inline PyObject *
name_at(Sim *s, int i)
{
    if (!s->names || i < 0 || i >= PyTuple_GET_SIZE(s->names)) {
        s->fail = 1;
        return NULL;
    }
    return PyTuple_GET_ITEM(s->names, i);
}

static inline int
slot_ok(Sim *s, int slot)
{
    return slot >= 0 && slot < 64 && !(s->writes >> slot & 1);
}

static inline int
same_ref(const Ref *a, const Ref *b)
{
    return a->base == b->base && a->slot == b->slot && a->name == b->name && a->attr == b->attr;
}

static void
add_target(Sim *s, int kind, const Ref *obj, PyObject *name, int inplace, int key_kind, int key)
{
    if (s->quiet) return;
    if (s->nout >= SIM_TARGETS) {
        s->fail = 1;
        return;
    }
    DsTarget *t = &s->out[s->nout++];
    t->kind = (uint8_t)kind;
    t->inplace = (uint8_t)inplace;
    t->key_kind = (uint8_t)key_kind;
    t->key = (int16_t)key;
    t->obj = *obj;
    t->name = name;
}

/* STORE_FAST of `slot`: an augmented result may only go back to the local it came from
 * (x op= v: the local's own check, LineInfo.inplace) */
static void
store_fast(Sim *s, int slot)
{
    Ent v = pop(s);
    if (v.k == S_INPL && !(v.ref.base == R_SLOT && v.ref.slot == slot && !v.name && !v.inpl_item))
        s->fail = 1;
}

static void
load_fast(Sim *s, int slot)
{
    Ent *e = push(s, S_REF);
    if (!e) return;
    e->from_slot = (int16_t)(slot < 32767 ? slot : -1);
    if (!slot_ok(s, slot)) {
        e->k = S_UNK;
        return;
    }
    e->ref.base = R_SLOT;
    e->ref.slot = (int16_t)slot;
}

/* LOAD_ATTR of `name` on the top entry; `method`: the method form (two entries) */
static void
load_attr(Sim *s, PyObject *name, int method)
{
    Ent o = pop(s);
    if (o.k == S_INPL) s->fail = 1;
    if (method) {
        Ent *m = push(s, S_UNK);
        if (m && o.k == S_REF) {
            m->k = S_METH;
            m->ref = o.ref;
            m->name = name;
        }
        push(s, S_UNK); /* self, or NULL */
        return;
    }
    Ent *e = push(s, S_UNK);
    if (e && o.k == S_REF && !o.ref.attr) {
        e->k = S_REF;
        e->ref = o.ref;
        e->ref.attr = name;
    }
}

static void
call(Sim *s, int nargs, int extra)
{
    drop(s, nargs + extra);
    Ent a = pop(s), b = pop(s);
    if (a.k == S_INPL || b.k == S_INPL) s->fail = 1;
    const Ent *m = a.k == S_METH ? &a : b.k == S_METH ? &b : NULL;
    const Ent *g = a.k == S_REF ? &a : b.k == S_REF ? &b : NULL;
    if (m) {
        add_target(s, T_CALL_METHOD, &m->ref, m->name, 0, 0, 0);
    }
    else if (g && g->ref.base == R_GLOBAL && !g->ref.attr) {
        add_target(s, T_CALL_GLOBAL, &g->ref, NULL, 0, 0, 0);
    }
    else if (g && g->ref.base == R_GLOBAL) {
        /* `math.sqrt(x)`: 3.13 loads a function of a name bound by an import as a plain
         * attribute (no method call form); it is looked up the same way */
        Ref mod = g->ref;
        mod.attr = NULL;
        add_target(s, T_CALL_METHOD, &mod, g->ref.attr, 0, 0, 0);
    }
    push(s, S_UNK);
}

/* a store into the object of entry `o`: attribute `name` (NULL: the item `key`) */
static void
store(Sim *s, int kind, Ent *o, PyObject *name, Ent *key, Ent *val)
{
    if (o->k != S_REF) {
        s->fail = 1;
        return;
    }
    int key_kind = K_UNKNOWN, keyv = 0;
    if (key) {
        if (key->k == S_CONST) {
            key_kind = K_CONST;
            keyv = key->key;
        }
        else if (key->k == S_REF && key->ref.base == R_SLOT && !key->ref.attr) {
            key_kind = K_SLOT;
            keyv = key->ref.slot;
        }
        else if (key->k == S_INPL) {
            s->fail = 1;
        }
    }
    int inplace = 0;
    if (val && val->k == S_INPL) {
        /* `o.name op= v` or `o[key] op= v`: the value replaced is what the op took */
        int same = same_ref(&val->ref, &o->ref) &&
                   (name ? !val->inpl_item && val->name == name
                         : val->inpl_item && key_kind != K_UNKNOWN && val->key_kind == key_kind &&
                               val->key == keyv);
        if (!same) {
            s->fail = 1;
            return;
        }
        inplace = 1;
    }
    add_target(s, kind, &o->ref, name, inplace, key_kind, keyv);
}

#define NB_INPLACE_FIRST_ 13 /* NB_INPLACE_ADD (internal/pycore_opcode_utils.h) */

static void
step(Sim *s, int op, int arg)
{
    switch (op) {
    case CACHE: case NOP: case RESUME:
#ifdef PRECALL
    case PRECALL:
#endif
#ifdef KW_NAMES
    case KW_NAMES:
#endif
#ifdef NOT_TAKEN
    case NOT_TAKEN:
#endif
        return;
    case LOAD_FAST:
#ifdef LOAD_FAST_CHECK
    case LOAD_FAST_CHECK:
#endif
        load_fast(s, arg);
        return;
#ifdef LOAD_FAST_LOAD_FAST
    case LOAD_FAST_LOAD_FAST:
        load_fast(s, arg >> 4);
        load_fast(s, arg & 15);
        return;
#endif
    case LOAD_CONST: {
        Ent *e = push(s, S_CONST);
        if (e) e->key = (int16_t)(arg < 32767 ? arg : 0);
        if (arg >= 32767) s->fail = 1;
        return;
    }
    case LOAD_GLOBAL: {
        PyObject *name = name_at(s, arg >> 1);
#if PY_VERSION_HEX < 0x030D0000
        if (arg & 1) push(s, S_NULL);
#endif
        Ent *e = push(s, S_REF);
        if (e) {
            e->ref.base = R_GLOBAL;
            e->ref.name = name;
        }
#if PY_VERSION_HEX >= 0x030D0000
        if (arg & 1) push(s, S_NULL);
#endif
        return;
    }
    case LOAD_ATTR:
#if PY_VERSION_HEX >= 0x030C0000
        load_attr(s, name_at(s, arg >> 1), arg & 1);
#else
        load_attr(s, name_at(s, arg), 0);
#endif
        return;
#ifdef LOAD_METHOD
    case LOAD_METHOD:
        load_attr(s, name_at(s, arg), 1);
        return;
#endif
    case PUSH_NULL:
        push(s, S_NULL);
        return;
    case POP_TOP:
        drop(s, 1);
        return;
    case COPY:
        if (arg < 1 || arg > s->n) {
            s->fail = 1;
            return;
        }
        if (s->st[s->n - arg].k == S_INPL) s->fail = 1;
        if (s->n < SIM_DEPTH) s->st[s->n] = s->st[s->n - arg], s->n++;
        else s->fail = 1;
        return;
    case SWAP:
        if (arg < 2 || arg > s->n) {
            s->fail = 1;
            return;
        }
        {
            Ent t = s->st[s->n - 1];
            s->st[s->n - 1] = s->st[s->n - arg];
            s->st[s->n - arg] = t;
        }
        return;
    case STORE_FAST:
        store_fast(s, arg);
        return;
#ifdef STORE_FAST_LOAD_FAST
    case STORE_FAST_LOAD_FAST:
        store_fast(s, arg >> 4);
        load_fast(s, arg & 15);
        return;
    case STORE_FAST_STORE_FAST:
        drop(s, 2);
        return;
#endif
    case BINARY_OP: {
        Ent r = pop(s), l = pop(s);
        if (r.k == S_INPL || l.k == S_INPL) s->fail = 1;
        Ent *e = push(s, S_UNK);
        if (!e || arg < NB_INPLACE_FIRST_) return;
        /* an augmented assignment: what it updates */
        if (l.k == S_REF && l.ref.attr && l.ref.base) {
            e->k = S_INPL;
            e->ref = l.ref;
            e->ref.attr = NULL;
            e->name = l.ref.attr;
        }
        else if (l.k == S_REF && l.ref.base == R_GLOBAL) {
            e->k = S_INPL; /* G op= v */
            e->ref = l.ref;
        }
        else if (l.from_slot >= 0 && !(l.k == S_REF && l.ref.attr)) {
            e->k = S_INPL; /* x op= v: a local's own (LineInfo.inplace) */
            e->ref.base = R_SLOT;
            e->ref.slot = l.from_slot;
        }
        else if (l.k == S_ITEM) {
            e->k = S_INPL;
            e->ref = l.ref;
            e->inpl_item = 1;
            e->key_kind = l.key_kind;
            e->key = l.key;
        }
        else {
            s->fail = 1;
        }
        return;
    }
    case BINARY_SUBSCR: {
        Ent k = pop(s), c = pop(s);
        if (k.k == S_INPL || c.k == S_INPL) s->fail = 1;
        Ent *e = push(s, S_UNK);
        if (e && c.k == S_REF) {
            int kk = k.k == S_CONST ? K_CONST
                     : (k.k == S_REF && k.ref.base == R_SLOT && !k.ref.attr) ? K_SLOT : K_UNKNOWN;
            if (kk != K_UNKNOWN) {
                e->k = S_ITEM;
                e->ref = c.ref;
                e->key_kind = (uint8_t)kk;
                e->key = kk == K_CONST ? k.key : k.ref.slot;
            }
        }
        return;
    }
    case COMPARE_OP: case IS_OP: case CONTAINS_OP:
        drop(s, 2);
        push(s, S_UNK);
        return;
    case UNARY_NEGATIVE: case UNARY_NOT: case UNARY_INVERT:
#ifdef UNARY_POSITIVE
    case UNARY_POSITIVE:
#endif
#ifdef TO_BOOL
    case TO_BOOL:
#endif
#ifdef FORMAT_SIMPLE
    case FORMAT_SIMPLE: case CONVERT_VALUE:
#endif
        drop(s, 1);
        push(s, S_UNK);
        return;
#ifdef FORMAT_WITH_SPEC
    case FORMAT_WITH_SPEC:
        drop(s, 2);
        push(s, S_UNK);
        return;
#endif
#ifdef FORMAT_VALUE
    case FORMAT_VALUE:
        drop(s, (arg & 4) ? 2 : 1);
        push(s, S_UNK);
        return;
#endif
#ifdef BINARY_SLICE
    case BINARY_SLICE:
        drop(s, 3);
        push(s, S_UNK);
        return;
#endif
    case BUILD_TUPLE: case BUILD_LIST: case BUILD_SET: case BUILD_STRING: case BUILD_SLICE:
        drop(s, arg);
        push(s, S_UNK);
        return;
    case BUILD_MAP:
        drop(s, 2 * arg);
        push(s, S_UNK);
        return;
    case BUILD_CONST_KEY_MAP:
        drop(s, arg + 1);
        push(s, S_UNK);
        return;
    case LIST_EXTEND: case SET_UPDATE:
        drop(s, 1); /* into the new list or set below it */
        return;
    case UNPACK_SEQUENCE:
        drop(s, 1);
        for (int i = 0; i < arg; i++) push(s, S_UNK);
        return;
    case STORE_ATTR: case DELETE_ATTR: {
        PyObject *name = name_at(s, arg);
        Ent o = pop(s);
        Ent v = {0};
        if (op == STORE_ATTR) v = pop(s);
        store(s, op == STORE_ATTR ? T_ATTR : T_DELATTR, &o, name, NULL, op == STORE_ATTR ? &v : NULL);
        return;
    }
    case STORE_SUBSCR: {
        Ent k = pop(s), c = pop(s), v = pop(s);
        store(s, T_ITEM, &c, NULL, &k, &v);
        return;
    }
    case DELETE_SUBSCR: {
        Ent k = pop(s), c = pop(s);
        store(s, T_DELITEM, &c, NULL, &k, NULL);
        return;
    }
    case CALL:
        call(s, arg, 0);
        return;
#ifdef CALL_KW
    case CALL_KW:
        call(s, arg, 1); /* the names of the keyword arguments, on top */
        return;
#endif
    case STORE_GLOBAL: case DELETE_GLOBAL: {
        Ref none = {0};
        PyObject *name = name_at(s, arg);
        int inplace = 0;
        if (op == STORE_GLOBAL) {
            Ent v = pop(s);
            if (v.k == S_INPL) {
                /* `G op= v`: the value it replaced is checked (an immutable one) */
                if (v.ref.base != R_GLOBAL || v.ref.name != name || v.name || v.inpl_item) s->fail = 1;
                inplace = 1;
            }
        }
        add_target(s, T_GLOBALS, &none, name, inplace, 0, 0); /* the module's namespace */
        return;
    }
    case GET_ITER:
        drop(s, 1);
        push(s, S_UNK);
        return;
    case LOAD_ASSERTION_ERROR:
        push(s, S_UNK);
        return;
    case RAISE_VARARGS:
        drop(s, arg);
        s->raised = 1; /* an exception event follows, not a step of the line */
        return;
    case RETURN_VALUE:
        drop(s, 1);
        return;
#ifdef RETURN_CONST
    case RETURN_CONST:
        return;
#endif
    default:
        s->fail = 1; /* not modelled (jumps among them): the line is not understood */
        return;
    }
}

/* the conditional and forward jumps a line may hold (a conditional expression, `and`,
 * `or`): 1 if `op` is one, with how many entries it pops when taken and when not */
static int
forward_jump(int op, int *pop_taken, int *pop_not)
{
    switch (op) {
    case JUMP_FORWARD: case JUMP_BACKWARD: case JUMP_BACKWARD_NO_INTERRUPT:
        *pop_taken = 0;
        *pop_not = -1; /* no way on */
        return 1;
    case FOR_ITER: /* on to the loop's body with the next item, or out of the loop */
        *pop_taken = 0;
        *pop_not = -2;
        return 1;
#ifdef POP_JUMP_BACKWARD_IF_FALSE
    case POP_JUMP_BACKWARD_IF_FALSE: case POP_JUMP_BACKWARD_IF_TRUE:
    case POP_JUMP_BACKWARD_IF_NONE: case POP_JUMP_BACKWARD_IF_NOT_NONE:
        *pop_taken = *pop_not = 1;
        return 1;
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
#endif
        *pop_taken = *pop_not = 1;
        return 1;
#ifdef JUMP_IF_FALSE_OR_POP
    case JUMP_IF_FALSE_OR_POP: case JUMP_IF_TRUE_OR_POP:
        *pop_taken = 0;
        *pop_not = 1;
        return 1;
#endif
    default:
        return 0;
    }
}

/* the stack of a branch joining the one that went on (an entry they disagree on is not
 * known; different depths: not understood) */
static void
join(Sim *s, const Branch *b)
{
    if (b->n != s->n) {
        s->fail = 1;
        return;
    }
    for (int i = 0; i < s->n; i++) {
        if (memcmp(&s->st[i], &b->st[i], sizeof(Ent)) == 0) continue;
        if (s->st[i].k == S_INPL || b->st[i].k == S_INPL) s->fail = 1;
        memset(&s->st[i], 0, sizeof(Ent));
        s->st[i].from_slot = -1;
    }
}

/* where the jump `op` at code unit `u` goes (its inline caches follow it as CACHE) */
static inline int
jump_dest(const unsigned char *code, int nunits, int u, int op, int arg)
{
    int next = u + 1;
    while (next < nunits && code[2 * next] == CACHE) next++;
    return ds_is_backward_jump(op) ? next - arg : next + arg;
}

/* a forward jump of an instruction not of line `skip` (-1: of any) lands in units [lo, hi) */
static int
jump_lands(const unsigned char *code, const int *unit_line, int nunits, int skip, int lo, int hi)
{
    int ext = 0;
    for (int u = 0; u < nunits; u++) {
        int op = code[2 * u], arg = code[2 * u + 1] | ext, a, b;
        ext = op == EXTENDED_ARG ? arg << 8 : 0;
        if (op == EXTENDED_ARG || op == CACHE || unit_line[u] == skip) continue;
        if (!forward_jump(op, &a, &b) && op != SEND) continue;
        int t = jump_dest(code, nunits, u, op, arg);
        if (t >= lo && t < hi) return 1;
    }
    return 0;
}

/* The piece of line `line` at code units [p, ...) (not its first) is entered only by the
 * line's own jumps: the instruction before it does not go on into it, and no jump of
 * another line lands in it (an exception handler is a line of its own) */
static int
piece_closed(const unsigned char *code, const int *unit_line, int nunits, int line, int p)
{
    int pend = p;
    while (pend < nunits && unit_line[pend] == line) pend++;
    int k = p - 1;
    while (k > 0 && code[2 * k] == CACHE) k--;
    switch (code[2 * k]) {
    case RETURN_VALUE: case JUMP_FORWARD: case JUMP_BACKWARD: case RERAISE: case RAISE_VARARGS:
#ifdef RETURN_CONST
    case RETURN_CONST:
#endif
        break;
    default:
        return 0;
    }
    return !jump_lands(code, unit_line, nunits, line, p, pend);
}

/* instructions a loop's end may hold, where FOR_ITER goes when the iterator is exhausted */
static inline int
loop_exit_op(int op)
{
#ifdef END_FOR
    if (op == END_FOR) return 1;
#endif
#ifdef POP_ITER
    if (op == POP_ITER) return 1;
#endif
    return op == POP_TOP || op == NOP || op == CACHE || op == EXTENDED_ARG;
}

/* Follow line `line` on the stack model from code unit u0 to u1 (the end of its last piece).
 * `in` NULL: the whole line, every piece of which must be entered only by its own jumps.
 * Else the units an event at u0 can run (ds_entry_units): pieces not among them are not
 * followed, and a loop's exit that lands back in the line holds nothing but its ending. */
static void
follow_line(Sim *s, const unsigned char *code, const int *unit_line, int nunits, int line,
            int u0, int u1, const uint8_t *in)
{
    int ext = 0, live = 1;
    for (int u = u0; u < u1 && !s->fail; u++) {
        int op = code[2 * u], arg = code[2 * u + 1] | ext;
        if (unit_line[u] != line) {
            /* another line's code between two pieces of this one: going on into it leaves
             * the line (what the stack holds goes on in that line's step) */
            if (live)
                for (int i = 0; i < s->n; i++)
                    if (s->st[i].k == S_INPL) s->fail = 1;
            live = 0;
            ext = 0;
            continue;
        }
        /* a later piece: understood only when nothing but this line's own jumps enter it */
        int piece = u > u0 && unit_line[u - 1] != line;
        if (!in && piece && !piece_closed(code, unit_line, nunits, line, u)) s->fail = 1;
        /* branches that jumped here join */
        for (int i = 0; i < s->nbr;) {
            if (s->br[i].unit != u) {
                i++;
                continue;
            }
            if (live) join(s, &s->br[i]);
            else {
                s->n = s->br[i].n;
                memcpy(s->st, s->br[i].st, sizeof(Ent) * (size_t)s->n);
                live = 1;
            }
            s->br[i] = s->br[--s->nbr];
        }
        if (in && !live) {
            /* not run by this step, or the end of a loop it leaves (then a jump to another
             * line's code: an outer loop's head) */
            if (in[u] == 1 && !loop_exit_op(op) &&
                !((op == JUMP_BACKWARD || op == JUMP_FORWARD) &&
                  unit_line[jump_dest(code, nunits, u, op, arg)] != line))
                s->fail = 1;
            ext = op == EXTENDED_ARG ? arg << 8 : 0;
            continue;
        }
        if (piece && !live) s->fail = 1; /* reached only from other lines' code */
        if (op == EXTENDED_ARG) {
            ext = arg << 8;
            continue;
        }
        ext = 0;
        if (!live || op == CACHE) continue; /* after a jump, until a branch lands */
        int pop_taken, pop_not;
        if (!forward_jump(op, &pop_taken, &pop_not)) {
            step(s, op, arg);
            if (s->raised) {
                s->raised = 0;
                live = 0;
            }
            continue;
        }
        int back = ds_is_backward_jump(op);
        int target = jump_dest(code, nunits, u, op, arg);
        if (pop_taken > s->n || (pop_not > s->n)) {
            s->fail = 1;
            break;
        }
        if (back && target >= u0 && (!in || unit_line[target] == line)) {
            s->fail = 1; /* a loop inside the line (LineInfo.loops) */
            break;
        }
        if (op == FOR_ITER && target < u1 && unit_line[target] == line) {
            if (!in) {
                s->fail = 1; /* the loop's end in the same piece of the line: not modelled */
                break;
            }
            /* from an entry: the loop's exit only ends it (loop_exit_op), then leaves */
            push(s, S_UNK);
            continue;
        }
        for (int i = 0; i < pop_taken; i++)
            if (s->st[s->n - 1 - i].k == S_INPL) s->fail = 1;
        if (target >= u1 || target < u0 || unit_line[target] != line) {
            /* it leaves the line: what it holds goes on in another line's step */
            for (int i = 0; i < s->n - pop_taken; i++)
                if (s->st[i].k == S_INPL) s->fail = 1;
        }
        else if (s->nbr == SIM_BRANCHES) {
            s->fail = 1;
        }
        else {
            Branch *b = &s->br[s->nbr++];
            b->unit = target;
            b->n = s->n - pop_taken;
            memcpy(b->st, s->st, sizeof(Ent) * (size_t)b->n);
        }
        if (pop_not == -2) push(s, S_UNK); /* FOR_ITER: the item */
        else if (pop_not < 0) live = 0;
        else drop(s, pop_not);
    }
    if (s->nbr) s->fail = 1; /* a branch to where the scan did not reach */
    /* an augmented result left on the stack (the line goes on in another) */
    for (int i = 0; i < s->n && !s->fail; i++)
        if (s->st[i].k == S_INPL) s->fail = 1;
}

/* the targets found (-1: not understood) */
static int
sim_result(Sim *s, DsTarget **out)
{
    int n = -1;
    *out = NULL;
    if (!s->fail) {
        n = s->nout;
        if (n && (*out = PyMem_RawMalloc(sizeof(DsTarget) * (size_t)n)))
            memcpy(*out, s->out, sizeof(DsTarget) * (size_t)n);
        else if (n)
            n = -1;
    }
    PyMem_RawFree(s);
    return n;
}

static Sim *
new_sim(PyCodeObject *co, uint64_t writes)
{
    Sim *s = PyMem_RawCalloc(1, sizeof(Sim));
    if (!s) return NULL;
    s->names = co->co_names;
    s->writes = writes;
    return s;
}

int
ds_line_targets(PyCodeObject *co, const unsigned char *code, const int *unit_line, int nunits,
                int line, int u0, int u1, uint64_t writes, DsTarget **out)
{
    *out = NULL;
    Sim *s = new_sim(co, writes);
    if (!s) return -1;
    follow_line(s, code, unit_line, nunits, line, u0, u1, NULL);
    return sim_result(s, out);
}

/* what follows an instruction: 0 the next one, 1 also (or only, `*only`) jump target `*t`,
 * -1 nothing (it returns, raises or suspends) */
static int
successors(const unsigned char *code, int nunits, int u, int op, int arg, int *t, int *only)
{
    int a, b;
    *only = 0;
    switch (op) {
    case RETURN_VALUE: case RAISE_VARARGS: case RERAISE: case YIELD_VALUE:
#ifdef RETURN_CONST
    case RETURN_CONST:
#endif
        return -1;
    default:
        break;
    }
    if (!forward_jump(op, &a, &b) && op != SEND) return 0;
    *t = jump_dest(code, nunits, u, op, arg);
    *only = op == JUMP_FORWARD || op == JUMP_BACKWARD || op == JUMP_BACKWARD_NO_INTERRUPT;
    return 1;
}

int
ds_entry_units(const unsigned char *code, const int *unit_line, int nunits, int line, int p,
               uint8_t *in)
{
    /* 2: reached, 1: reached and run in the step; one pass, as jumps inside go forward */
    memset(in, 0, (size_t)nunits);
    in[p] = 2;
    int ext = 0;
    for (int u = p; u < nunits; u++) {
        int op = code[2 * u], arg = code[2 * u + 1] | ext;
        ext = op == EXTENDED_ARG ? arg << 8 : 0;
        if (!in[u]) continue;
        if (unit_line[u] != line) {
            in[u] = 0; /* another line's event ends the step */
            if (!unit_line[u]) return -1; /* code without a line: not followed */
            continue;
        }
        in[u] = 1;
        int next = u + 1;
        while (next < nunits && code[2 * next] == CACHE) in[next++] = 1;
        if (op == EXTENDED_ARG) {
            if (next < nunits) in[next] |= 2;
            continue;
        }
        int t = 0, only = 0, k = successors(code, nunits, u, op, arg, &t, &only);
        if (k >= 0 && !only && next < nunits) in[next] |= 2;
        if (k <= 0) continue;
        if (t < 0 || t >= nunits) return -1;
        if (t <= u) {
            if (unit_line[t] == line) return -1; /* a loop inside the line */
            continue;
        }
        in[t] |= 2;
    }
    return 0;
}

/* ops that rebind a local */
static int
rebinds(int op)
{
    switch (op) {
    case STORE_FAST: case DELETE_FAST:
#ifdef STORE_FAST_LOAD_FAST
    case STORE_FAST_LOAD_FAST: case STORE_FAST_STORE_FAST:
#endif
#ifdef LOAD_FAST_AND_CLEAR
    case LOAD_FAST_AND_CLEAR:
#endif
        return 1;
    default:
        return 0;
    }
}

int
ds_entry_targets(PyCodeObject *co, const unsigned char *code, const int *unit_line, int nunits,
                 int line, int s0, int p, int u1, const uint8_t *in, uint64_t writes,
                 DsTarget **out)
{
    *out = NULL;
    Sim *s = new_sim(co, writes);
    if (!s) return -1;
    if (s0 < p) {
        /* the stack the statement left to this piece: its code from s0 on, in a straight
         * line (no jump in it, none from elsewhere into it, no local rebound), followed for
         * the stack alone: what those instructions change is their own lines' steps */
        if (jump_lands(code, unit_line, nunits, -1, s0 + 1, p + 1)) s->fail = 1;
        s->quiet = 1;
        int ext = 0;
        for (int u = s0; u < p && !s->fail; u++) {
            int op = code[2 * u], arg = code[2 * u + 1] | ext, t, only;
            ext = op == EXTENDED_ARG ? arg << 8 : 0;
            if (op == EXTENDED_ARG || op == CACHE) continue;
            if (!unit_line[u] || rebinds(op) || successors(code, nunits, u, op, arg, &t, &only))
                s->fail = 1;
            else
                step(s, op, arg);
            if (s->raised) s->fail = 1;
        }
        s->quiet = 0;
    }
    if (!s->fail) follow_line(s, code, unit_line, nunits, line, p, u1, in);
    return sim_result(s, out);
}

/* ---- at the step after the line ---------------------------------------------- */

/* a name in an exact dict (borrowed, NULL: none) */
static inline PyObject *
dict_get(PyObject *d, PyObject *name)
{
    if (!d || !PyDict_CheckExact(d)) return NULL;
    PyObject *v = PyDict_GetItemWithError(d, name);
    if (!v) PyErr_Clear();
    return v;
}

/* `name` of `o` read where CPython keeps it: a module's dict, an instance dict, a
 * __slots__ entry; NULL if it is anything else (a property, a class attribute) */
static PyObject *
plain_attr(PyObject *o, PyObject *name)
{
    PyTypeObject *t = Py_TYPE(o);
    if (PyModule_CheckExact(o)) return dict_get(PyModule_GetDict(o), name);
    if (t->tp_getattro != PyObject_GenericGetAttr) return NULL;
    PyObject *descr = _PyType_Lookup(t, name);
    if (descr && Py_TYPE(descr) != &PyMemberDescr_Type) return NULL;
    if (!PyUnicode_CheckExact(name)) return NULL;
    PyObject *v = PyObject_GenericGetAttr(o, name); /* C only: a slot or the instance's dict */
    if (!v) {
        PyErr_Clear();
        return NULL;
    }
    Py_DECREF(v); /* still held by the object */
    return v;
}

static PyObject *
ref_value(const Ref *r, DsSlotFn slot, void *ctx, PyObject *globals, PyObject *builtins)
{
    PyObject *o = NULL;
    if (r->base == R_SLOT) o = slot(ctx, r->slot);
    else if (r->base == R_GLOBAL) {
        o = dict_get(globals, r->name);
        if (!o) o = dict_get(builtins, r->name);
    }
    if (o && r->attr) o = plain_attr(o, r->attr);
    return o;
}

/* a store of attribute `name` into `o` puts it where CPython keeps it (no __setattr__,
 * no property or other data descriptor but a __slots__ entry) */
static int
plain_store(PyObject *o, PyObject *name)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t->tp_setattro != PyObject_GenericSetAttr || PyModule_Check(o) || PyType_Check(o))
        return 0;
    PyObject *descr = _PyType_Lookup(t, name);
    return !descr || Py_TYPE(descr) == &PyMemberDescr_Type || !Py_TYPE(descr)->tp_descr_set;
}

static const char *const pure_builtins[] = {
    "len", "abs", "isinstance", "issubclass", "min", "max", "sum", "round", "divmod", "pow",
    "ord", "chr", "hash", "id", "any", "all", "sorted", "repr", "format", "hex", "oct", "bin",
    "callable", "getattr", "hasattr", "iter", "next", "print", "ascii", NULL,
};

static int
in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0) return 1;
    return 0;
}

static PyObject *init_name;

/* a class of the program whose call only makes a new instance and runs its __init__: its
 * metaclass is type, its __new__ object's, its __init__ object's or a Python function (its
 * events show what it does) */
static int
plain_class(PyTypeObject *t)
{
    if (!(t->tp_flags & Py_TPFLAGS_HEAPTYPE) || Py_TYPE(t) != &PyType_Type ||
        t->tp_new != PyBaseObject_Type.tp_new)
        return 0;
    if (t->tp_init == PyBaseObject_Type.tp_init) return 1;
    if (!init_name && !(init_name = PyUnicode_InternFromString("__init__"))) {
        PyErr_Clear();
        return 0;
    }
    PyObject *init = _PyType_Lookup(t, init_name);
    return init && PyFunction_Check(init);
}

/* a callable that changes none of the objects it is given (what it runs of Python code
 * is seen on its own: a __len__, a key function) */
static int
pure_callable(PyObject *v)
{
    if (PyType_Check(v)) {
        PyTypeObject *t = (PyTypeObject *)v;
        if (plain_class(t)) return 1;
        return t == &PyLong_Type || t == &PyFloat_Type || t == &PyUnicode_Type ||
               t == &PyBool_Type || t == &PyTuple_Type || t == &PyList_Type ||
               t == &PyDict_Type || t == &PySet_Type || t == &PyFrozenSet_Type ||
               t == &PyRange_Type || t == &PyEnum_Type || t == &PyZip_Type ||
               t == &PyMap_Type || t == &PyFilter_Type || t == &PyReversed_Type ||
               t == &PyComplex_Type || t == &PyBytes_Type || t == &PySlice_Type;
    }
    if (!PyCFunction_Check(v)) return 0;
    PyObject *self = PyCFunction_GET_SELF(v);
    if (!self || !PyModule_Check(self)) return 0;
    const char *mod = PyModule_GetName(self);
    if (!mod) {
        PyErr_Clear();
        return 0;
    }
    if (strcmp(mod, "math") == 0 || strcmp(mod, "cmath") == 0) return 1;
    if (strcmp(mod, "builtins") != 0) return 0;
    const char *name = ((PyCFunctionObject *)v)->m_ml->ml_name;
    return name && in_list(name, pure_builtins);
}

static const char *const list_pure[] = {"index", "count", "copy", "__getitem__", "__len__",
                                         "__contains__", NULL};
static const char *const list_changes[] = {"append", "extend", "insert", "pop", "remove",
                                            "clear", "sort", "reverse", NULL};
static const char *const dict_pure[] = {"get", "keys", "values", "items", "copy", "__getitem__",
                                         "__contains__", "__len__", NULL};
static const char *const dict_changes[] = {"update", "setdefault", "pop", "popitem", "clear", NULL};
static const char *const set_pure[] = {"union", "intersection", "difference",
                                        "symmetric_difference", "issubset", "issuperset",
                                        "isdisjoint", "copy", "__contains__", "__len__", NULL};
static const char *const set_changes[] = {"add", "discard", "remove", "pop", "clear", "update",
                                           "difference_update", "intersection_update",
                                           "symmetric_difference_update", NULL};

/* 0: the method changes nothing, 1: it changes `o` only, -1: not known */
static int
method_effect(PyObject *o, PyObject *name)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyUnicode_Type || t == &PyBytes_Type || t == &PyTuple_Type || t == &PyLong_Type ||
        t == &PyFloat_Type || t == &PyFrozenSet_Type || t == &PyBool_Type || t == &PyComplex_Type ||
        t == &PyRange_Type)
        return 0; /* immutable: no method changes it */
    const char *const *pure, *const *changes;
    if (t == &PyList_Type) pure = list_pure, changes = list_changes;
    else if (t == &PyDict_Type) pure = dict_pure, changes = dict_changes;
    else if (t == &PySet_Type) pure = set_pure, changes = set_changes;
    else return -1;
    const char *s = PyUnicode_AsUTF8(name);
    if (!s) {
        PyErr_Clear();
        return -1;
    }
    if (in_list(s, pure)) return 0;
    if (in_list(s, changes)) return 1;
    return -1;
}

/* an exact bytearray or array.array: an item store puts a number in it, and nothing else
 * changes (the array type is the one of the `array` module the program imported) */
static int
flat_array(PyObject *o)
{
    static PyTypeObject *array_type;
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyByteArray_Type || (array_type && t == array_type)) return 1;
    if (array_type || strcmp(t->tp_name, "array.array") != 0) return 0;
    PyObject *mods = PyImport_GetModuleDict(); /* borrowed */
    PyObject *mod = mods ? PyDict_GetItemString(mods, "array") : NULL;
    PyObject *cls = mod && PyModule_Check(mod)
                        ? PyDict_GetItemString(PyModule_GetDict(mod), "array") : NULL;
    /* held: its address is its own for good */
    if (cls && PyType_Check(cls) && (PyTypeObject *)cls == t)
        array_type = (PyTypeObject *)Py_NewRef(cls);
    return array_type == t;
}

/* the key of an item store, if it is known (borrowed) */
static PyObject *
item_key(const DsTarget *t, PyCodeObject *co, DsSlotFn slot, void *ctx)
{
    if (t->key_kind == K_CONST && t->key < PyTuple_GET_SIZE(co->co_consts))
        return PyTuple_GET_ITEM(co->co_consts, t->key);
    if (t->key_kind == K_SLOT) return slot(ctx, t->key);
    return NULL;
}

/* 1 and *i: the item of list `c` that the int `key` names (a negative one from the end) */
static int
list_index(PyObject *c, PyObject *key, Py_ssize_t *i)
{
    if (!key || !PyLong_CheckExact(key)) return 0;
    Py_ssize_t k = PyLong_AsSsize_t(key), n = PyList_GET_SIZE(c);
    if (k == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (k < 0) k += n;
    *i = k;
    return k >= 0 && k < n;
}

/* the index an item store into list `c` replaced, if it is past the items shown (what
 * the list shows is unchanged) */
static int
past_shown(PyObject *c, const DsTarget *t, PyCodeObject *co, DsSlotFn slot, void *ctx)
{
    Py_ssize_t i;
    return list_index(c, item_key(t, co, slot, ctx), &i) && i >= ds_limits.max_items;
}

/* the value an item store replaced is an immutable scalar (the augmented operation made
 * a new object rather than changing one in place) */
static int
item_is_scalar(PyObject *c, const DsTarget *t, PyCodeObject *co, DsSlotFn slot, void *ctx)
{
    PyObject *key = item_key(t, co, slot, ctx);
    if (!key) return 0;
    PyObject *v = NULL;
    Py_ssize_t i;
    if (PyList_CheckExact(c)) {
        if (list_index(c, key, &i)) v = PyList_GET_ITEM(c, i);
    }
    else if (PyDict_CheckExact(c) && (PyUnicode_CheckExact(key) || PyLong_CheckExact(key))) {
        v = dict_get(c, key);
    }
    return v && ds_is_scalar(v);
}

int
ds_eval_targets(const DsTarget *ts, int n, PyCodeObject *co, DsSlotFn slot, void *ctx,
                PyObject *globals, PyObject *builtins, DsChangedFn changed)
{
    int resolved = 0;
    for (int i = 0; i < n; i++) {
        const DsTarget *t = &ts[i];
        if (t->kind == T_GLOBALS) {
            if (!globals || !PyDict_Check(globals)) return -1;
            if (t->inplace) {
                PyObject *v = dict_get(globals, t->name);
                if (!v || !ds_is_scalar(v)) return -1;
            }
            if (changed(ctx, globals) < 0) return -1;
            continue;
        }
        if (t->kind == T_CALL_GLOBAL) {
            PyObject *v = ref_value(&t->obj, slot, ctx, globals, builtins);
            if (v && pure_callable(v)) resolved++;
            continue; /* else: a call of Python code (counted as such) or not known */
        }
        PyObject *o = ref_value(&t->obj, slot, ctx, globals, builtins);
        if (!o) return -1;
        if (t->kind == T_CALL_METHOD) {
            if (PyModule_CheckExact(o)) {
                PyObject *fn = dict_get(PyModule_GetDict(o), t->name);
                if (fn && pure_callable(fn)) resolved++;
                continue;
            }
            int e = method_effect(o, t->name);
            if (e < 0) continue; /* a method of Python code (counted), or not known */
            if (e > 0 && changed(ctx, o) < 0) return -1;
            resolved++;
            continue;
        }
        if (t->kind == T_ATTR || t->kind == T_DELATTR) {
            if (!plain_store(o, t->name)) return -1;
            if (t->inplace) {
                PyObject *v = plain_attr(o, t->name);
                if (!v || !ds_is_scalar(v)) return -1;
            }
        }
        else if (flat_array(o)) {
            if (t->kind == T_DELITEM) return -1; /* may be a slice: keep it simple */
        }
        else {
            if (!PyList_CheckExact(o) && !PyDict_CheckExact(o)) return -1;
            if (t->inplace && !item_is_scalar(o, t, co, slot, ctx)) return -1;
            if (t->kind == T_ITEM && PyList_CheckExact(o) && past_shown(o, t, co, slot, ctx))
                continue; /* its length and the items it shows are the same */
        }
        if (changed(ctx, o) < 0) return -1;
    }
    return resolved;
}

void
ds_free_targets(DsTarget *t)
{
    PyMem_RawFree(t);
}
