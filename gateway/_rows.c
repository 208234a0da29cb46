/* Row assembly for the wire encoders: the pieces of every row (message heads, length words,
 * field values, delimiters), already made column-wise by numpy and pyarrow, copied row by row
 * into one buffer with the GIL released.
 *
 * pyarrow's take did this before (gateway/pgtypes.py, interleaved): ~11 ns per row and piece,
 * plus a second copy for the fixed-width runs, and it was 60% of a binary COPY's server CPU.
 * This loop is one memcpy per row and piece into a buffer sized beforehand.
 *
 *   rows(n, pieces) -> bytes
 *
 * Each piece is a tuple, one of:
 *   (data, width, stride)                      value i: data[i*stride : i*stride+width]
 *                                              (stride 0 repeats one value on every row)
 *   (data, offsets, wide, start, validity, null)
 *                                              an Arrow binary/string array: value i is
 *                                              data[offsets[start+i] : offsets[start+i+1]]
 *                                              (int64 offsets when wide), or `null` where bit
 *                                              start+i of `validity` (None: all valid) is 0.
 * data, offsets and validity are anything with the buffer protocol (pyarrow Buffers, numpy
 * arrays, bytes); data may be None for an array whose values are all empty.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define SLACK 16

typedef struct {
    Py_buffer data, offsets, validity, null;
    int has_data, has_offsets, has_validity, has_null;
    Py_ssize_t width, stride, start;
    int wide;
    enum { SAME, BLOCK, VAR32, VAR64 } kind;  /* set once parsed: what the copy loop switches on */
    const char *base;  /* data */
    const uint8_t *bits;  /* validity, NULL when every value is valid */
    const char *end;  /* end of data: a 16-byte read from before it stays inside */
    char same[SLACK]; /* a value repeated on every row (stride 0), padded for 16-byte copies */
} Piece;

/* Most values are short (length words, delimiters, numbers, dates), where a call to memcpy
 * costs more than the copy. A value of up to 16 bytes is copied as 16 (one unaligned load and
 * store) when its source has 16 bytes left; the output has SLACK bytes beyond its end for the
 * last such store. */
static inline char *put(char *to, const char *from, size_t len, const char *end) {
    if (len <= SLACK && from + SLACK <= end)
        memcpy(to, from, SLACK);
    else
        memcpy(to, from, len);
    return to + len;
}

static void release(Piece *pieces, Py_ssize_t count) {
    for (Py_ssize_t p = 0; p < count; p++) {
        if (pieces[p].has_data) PyBuffer_Release(&pieces[p].data);
        if (pieces[p].has_offsets) PyBuffer_Release(&pieces[p].offsets);
        if (pieces[p].has_validity) PyBuffer_Release(&pieces[p].validity);
        if (pieces[p].has_null) PyBuffer_Release(&pieces[p].null);
    }
    PyMem_Free(pieces);
}

static int view(PyObject *obj, Py_buffer *buf, int *has) {
    if (obj == Py_None) return 0;
    if (PyObject_GetBuffer(obj, buf, PyBUF_SIMPLE) < 0) return -1;
    *has = 1;
    return 0;
}

static inline int64_t offset_at(const Piece *p, Py_ssize_t i) {
    return p->wide ? ((const int64_t *)p->offsets.buf)[i] : ((const int32_t *)p->offsets.buf)[i];
}

static inline int is_valid(const Piece *p, Py_ssize_t i) {
    return !p->has_validity || (((const uint8_t *)p->validity.buf)[i >> 3] >> (i & 7)) & 1;
}

/* Reads one piece tuple; checks every bound the copy loop relies on. */
static int parse(PyObject *tuple, Piece *p, Py_ssize_t n) {
    if (!PyTuple_Check(tuple)) {
        PyErr_SetString(PyExc_TypeError, "each piece must be a tuple");
        return -1;
    }
    Py_ssize_t size = PyTuple_GET_SIZE(tuple);
    if (size == 3) {
        if (view(PyTuple_GET_ITEM(tuple, 0), &p->data, &p->has_data) < 0) return -1;
        p->width = PyLong_AsSsize_t(PyTuple_GET_ITEM(tuple, 1));
        p->stride = PyLong_AsSsize_t(PyTuple_GET_ITEM(tuple, 2));
        if (PyErr_Occurred()) return -1;
        Py_ssize_t have = p->has_data ? p->data.len : 0;
        if (p->width < 0 || p->stride < 0 || (n > 0 && (n - 1) * p->stride + p->width > have)) {
            PyErr_SetString(PyExc_ValueError, "fixed-width piece shorter than its rows");
            return -1;
        }
        p->end = p->has_data ? (const char *)p->data.buf + p->data.len : NULL;
        if (p->stride == 0 && p->width <= SLACK && p->width > 0) {
            memcpy(p->same, p->data.buf, p->width);
            p->end = p->same + SLACK;
        }
        return 0;
    }
    if (size != 6) {
        PyErr_SetString(PyExc_TypeError, "a piece is (data, width, stride) or (data, offsets, wide, start, validity, null)");
        return -1;
    }
    p->width = -1;
    if (view(PyTuple_GET_ITEM(tuple, 0), &p->data, &p->has_data) < 0) return -1;
    if (view(PyTuple_GET_ITEM(tuple, 1), &p->offsets, &p->has_offsets) < 0) return -1;
    p->wide = PyObject_IsTrue(PyTuple_GET_ITEM(tuple, 2));
    p->start = PyLong_AsSsize_t(PyTuple_GET_ITEM(tuple, 3));
    if (p->wide < 0 || PyErr_Occurred()) return -1;
    if (view(PyTuple_GET_ITEM(tuple, 4), &p->validity, &p->has_validity) < 0) return -1;
    if (view(PyTuple_GET_ITEM(tuple, 5), &p->null, &p->has_null) < 0) return -1;
    Py_ssize_t item = p->wide ? 8 : 4;
    if (!p->has_offsets || p->start < 0 || p->offsets.len < (p->start + n + 1) * item) {
        PyErr_SetString(PyExc_ValueError, "offsets shorter than the rows");
        return -1;
    }
    if (p->has_validity && p->validity.len * 8 < p->start + n) {
        PyErr_SetString(PyExc_ValueError, "validity bitmap shorter than the rows");
        return -1;
    }
    p->end = p->has_data ? (const char *)p->data.buf + p->data.len : NULL;  /* each value's bounds: checked as it is copied */
    return 0;
}

static PyObject *rows(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "nO", &n, &seq)) return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "n must not be negative");
        return NULL;
    }
    PyObject *fast = PySequence_Fast(seq, "pieces must be a sequence");
    if (fast == NULL) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    Piece *pieces = PyMem_Calloc(count ? count : 1, sizeof(Piece));
    if (pieces == NULL) {
        Py_DECREF(fast);
        return PyErr_NoMemory();
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t p = 0; p < count; p++) {
        if (parse(PySequence_Fast_GET_ITEM(fast, p), &pieces[p], n) < 0) {
            release(pieces, count);
            Py_DECREF(fast);
            return NULL;
        }
        Piece *q = &pieces[p];
        q->base = q->has_data ? (const char *)q->data.buf : NULL;
        q->bits = q->has_validity ? (const uint8_t *)q->validity.buf : NULL;
        if (q->width >= 0)
            q->kind = q->stride == 0 && q->width <= SLACK ? SAME : BLOCK;
        else
            q->kind = q->wide ? VAR64 : VAR32;
        if (q->width >= 0) {
            total += n * q->width;
        } else if (!q->has_validity) {
            total += (Py_ssize_t)(offset_at(q, q->start + n) - offset_at(q, q->start));
        } else {
            Py_ssize_t null_len = q->has_null ? q->null.len : 0;
            for (Py_ssize_t i = q->start; i < q->start + n; i++)
                total += is_valid(q, i) ? (Py_ssize_t)(offset_at(q, i + 1) - offset_at(q, i)) : null_len;
        }
    }
    Py_DECREF(fast);
    PyObject *out = PyBytes_FromStringAndSize(NULL, total + SLACK);
    if (out == NULL) {
        release(pieces, count);
        return NULL;
    }
    char *at = PyBytes_AS_STRING(out);
    const char *limit = at + total;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        for (Py_ssize_t p = 0; p < count; p++) {
            const Piece *q = &pieces[p];
            const char *from = q->base, *end = q->end;
            size_t len = (size_t)q->width;
            if (q->kind == SAME) {
                from = q->same;
            } else if (q->kind == BLOCK) {
                from += i * q->stride;
            } else {
                Py_ssize_t v = q->start + i;
                int64_t first, last;
                if (q->kind == VAR32) {
                    first = ((const int32_t *)q->offsets.buf)[v];
                    last = ((const int32_t *)q->offsets.buf)[v + 1];
                } else {
                    first = ((const int64_t *)q->offsets.buf)[v];
                    last = ((const int64_t *)q->offsets.buf)[v + 1];
                }
                if (q->bits && !((q->bits[v >> 3] >> (v & 7)) & 1)) {
                    from = q->null.buf;
                    len = q->has_null ? (size_t)q->null.len : 0;
                    end = from + len;
                } else if (first < 0 || last < first || last > end - from) {
                    bad = 1;
                    goto done;
                } else {
                    from += first;
                    len = (size_t)(last - first);
                }
            }
            if (len == 0)  /* data may be absent when every value is empty */
                continue;
            if (len > (size_t)(limit - at)) {  /* more than the sizes summed before */
                bad = 1;
                goto done;
            }
            at = put(at, from, len, end);
        }
    }
done:
    Py_END_ALLOW_THREADS
    release(pieces, count);
    if (bad) {  /* offsets that do not match the data or the sizes summed before */
        Py_DECREF(out);
        PyErr_SetString(PyExc_ValueError, "offsets outside the data");
        return NULL;
    }
    _PyBytes_Resize(&out, total);  /* drops the slack: shrinks in place */
    return out;
}

static PyMethodDef methods[] = {
    {"rows", rows, METH_VARARGS, "rows(n, pieces) -> bytes: every row's pieces back to back, row after row."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rows", NULL, -1, methods};

PyMODINIT_FUNC PyInit__rows(void) { return PyModule_Create(&module); }
