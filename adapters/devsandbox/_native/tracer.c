/* devsandbox._tracer: the native core of DevSandbox's in-process agent.
 *
 * This module will hold the recorder's hot path (the trace "tee" that owns the
 * thread's trace slot on 3.11 and the sys.monitoring callbacks on 3.12+).  For
 * now it provides the low-level helpers the agent needs from C.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define DEVSANDBOX_NATIVE_ABI 1

/* thread_frames(): {thread_id: innermost frame} without the GIL being released,
 * like sys._current_frames() but available under one stable name. */
static PyObject *
thread_frames(PyObject *self, PyObject *unused)
{
    PyObject *sys = PyImport_ImportModule("sys");
    if (!sys) return NULL;
    PyObject *res = PyObject_CallMethod(sys, "_current_frames", NULL);
    Py_DECREF(sys);
    return res;
}

/* object_size(obj): a shallow size estimate that never runs Python code
 * (tp_basicsize + items * tp_itemsize), unlike sys.getsizeof which may call
 * a user-defined __sizeof__. */
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

static PyMethodDef methods[] = {
    {"thread_frames", thread_frames, METH_NOARGS, "Current frame of every thread."},
    {"object_size", object_size, METH_O, "Shallow size of an object without calling user code."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "devsandbox._tracer", "DevSandbox native agent core.", -1, methods,
};

PyMODINIT_FUNC
PyInit__tracer(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "ABI", DEVSANDBOX_NATIVE_ABI) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
