/* Shared by the passes of devsandbox._timescan (timescan.c, itemdiffs.c).  Record grammar:
 * adapters/devsandbox/recorder/format.py. */
#ifndef DEVSANDBOX_TIMESCAN_H
#define DEVSANDBOX_TIMESCAN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum {
    E_THREAD = 0x40, E_KEYFRAME = 0x41, E_KFRAME = 0x42, E_CALL = 0x43, E_ENTER = 0x44,
    E_LINE = 0x45, E_RETURN = 0x46, E_EXCEPTION = 0x47, E_POP = 0x48, E_SET = 0x50,
    E_DEL = 0x51, E_MARK = 0x60, E_CLOCK = 0x49,
};
enum {
    V_NONE = 0x01, V_TRUE = 0x02, V_FALSE = 0x03, V_INT = 0x04, V_BIGINT = 0x05, V_FLOAT = 0x06,
    V_STR = 0x07, V_STR_TRUNC = 0x08, V_BYTES = 0x09, V_BYTES_TRUNC = 0x0A, V_COMPLEX = 0x0B,
    V_LIST = 0x10, V_DICT = 0x14, V_DEEP = 0x18, V_RECUR = 0x19, V_REPR = 0x20,
    V_REPR_TRUNC = 0x21, V_REPR_ERROR = 0x22, V_REPR_SLOW = 0x23, V_OBJECT = 0x24, V_FMT = 0x25,
};

typedef struct {
    const uint8_t *p;
    Py_ssize_t n;
    Py_ssize_t pos;
    int bad;
} Reader;

/* a varint at the reader's position (sets `bad` past the end) */
uint64_t rd_varint(Reader *r);
/* past the value at the reader's position */
void skip_value(Reader *r, int depth);

typedef struct { uint8_t *d; size_t len, cap; } Buf;

int buf_put(Buf *b, const void *src, size_t k);

/* itemdiffs.c */
PyObject *ts_as_sets(PyObject *self, PyObject *args);

#endif
