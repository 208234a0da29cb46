/* Row assembly for the wire encoders: the parts of every row (message heads, length words,
 * field values, delimiters, CSV quotes), made column-wise by numpy and pyarrow, written row by
 * row into one buffer with the GIL released.
 *
 * pyarrow's take did this before (gateway/pgtypes.py keeps it as the fallback): ~11 ns per row
 * and piece, a copy of every fixed-width run, numpy passes for the message and field lengths,
 * and CSV quoting by kernels that copied each quoted column twice. Here it is one pass: a value
 * is copied (or quoted) once, and a message's length is patched in when its row is done.
 * (datetimes() and numbers(), at the end, format dates, timestamps, integers and decimals as
 * text for the same encoders, floats() lays out Arrow's float text as PostgreSQL's, and
 * numerics() writes decimals in PostgreSQL's binary form.)
 *
 *   rows(n, pieces) -> Block (read-only bytes through the buffer protocol; see Block below)
 *
 * Each piece is a tuple, one of:
 *   (0, kind)                       a message head: the byte `kind`, then the int32 length of
 *                                   the rest of the row (itself included), as PostgreSQL frames
 *   (1, data, width, stride)        fixed width: value i is data[i*stride : i*stride+width]
 *                                   (stride 0 repeats one value on every row)
 *   (2, data, offsets, wide, start, validity, null, prefixed, quoting)
 *                                   an Arrow binary/string array: value i is
 *                                   data[offsets[start+i] : offsets[start+i+1]] (int64 offsets
 *                                   when wide), NULL where bit start+i of `validity` (None: all
 *                                   valid) is 0. `prefixed`: an int32 length word first (-1 for
 *                                   NULL, which then has no bytes); otherwise a NULL is written
 *                                   as the bytes `null`. `quoting`: None, or (delimiter, empty)
 *                                   for CSV: a value holding the delimiter byte, '"', CR or LF
 *                                   (or empty, when `empty`) is written in '"'s, each '"' in it
 *                                   doubled; or (delimiter, empty, 1) for COPY's text format:
 *                                   a backslash before a backslash or the delimiter, and BS,
 *                                   FF, LF, CR, TAB and VT as \b \f \n \r \t \v, as
 *                                   PostgreSQL's CopyAttributeOutText writes them.
 * data, offsets and validity are anything with the buffer protocol (pyarrow Buffers, numpy
 * arrays, bytes); data may be None for an array whose values are all empty.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define SHORT 16  /* a value this long or shorter is copied as this many bytes */
#define SLACK 32  /* bytes past the output's end for such copies: two SHORTs */

enum { HEAD, SAME, BLOCK, VAR32, VAR64 };
enum { PLAIN, CSV, ESCAPED };  /* how a VAR piece's values are written: Piece.quoting */

typedef struct {
    Py_buffer data, offsets, validity, null;
    int has_data, has_offsets, has_validity, has_null;
    int kind, prefixed, quoting, quote_empty;
    int plain;            /* CSV or ESCAPED: no value of these rows holds a byte either looks for */
    char head;
    Py_ssize_t width, stride, start;
    const char *base;     /* data */
    const char *end;      /* end of data: a 16-byte read from before it stays inside */
    const uint8_t *bits;  /* validity, NULL when every value is valid */
    uint8_t delimiter;    /* CSV: the delimiter, with '"', CR and LF what makes a value quoted;
                             ESCAPED: the delimiter, escaped like a backslash */
    char same[SHORT];     /* a value repeated on every row (stride 0), padded for 16-byte copies */
} Piece;

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

static int fail(PyObject *type, const char *message) {
    PyErr_SetString(type, message);
    return -1;
}

/* Most values are short (length words, delimiters, numbers, dates, names, e-mail addresses),
 * where a call to memcpy costs more than the copy. A value of up to 16 bytes is copied as 16
 * (one unaligned load and store), one of up to 32 as 32, when its source has that many bytes
 * left; the output has SLACK bytes beyond its end for the last such store. */
static inline char *put(char *to, const char *from, size_t len, const char *end) {
    if (len <= SHORT && from + SHORT <= end)
        memcpy(to, from, SHORT);
    else if (len <= 2 * SHORT && from + 2 * SHORT <= end)
        memcpy(to, from, 2 * SHORT);
    else
        memcpy(to, from, len);
    return to + len;
}

static inline char *put_word(char *to, int32_t value) {
    uint32_t v = (uint32_t)value;
    to[0] = (char)(v >> 24), to[1] = (char)(v >> 16), to[2] = (char)(v >> 8), to[3] = (char)v;
    return to + 4;
}

static int parse_quoting(PyObject *spec, Piece *p) {
    int delimiter, empty, escaped = 0;
    if (!PyArg_ParseTuple(spec, "ip|p", &delimiter, &empty, &escaped)) return -1;
    if (delimiter < 0 || delimiter > 255) return fail(PyExc_ValueError, "the delimiter is one byte");
    p->quoting = escaped ? ESCAPED : CSV, p->delimiter = (uint8_t)delimiter, p->quote_empty = empty && !escaped;
    return 0;
}

/* Whether a value holds a byte that makes CSV quote it (1) and whether it holds a quote (2).
 * With SSE2, 16 bytes a step, reading past the value's end (masked off) while the data
 * buffer lasts: most values are shorter than 16 bytes, where a byte loop costs more. */
static inline int csv_scan(const uint8_t *s, Py_ssize_t len, uint8_t delimiter, const char *end) {
    unsigned special = 0, quote = 0;
    Py_ssize_t k = 0;
#ifdef __SSE2__
    const __m128i d = _mm_set1_epi8((char)delimiter), q = _mm_set1_epi8('"');
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
    for (; k < len && (const char *)s + k + 16 <= end; k += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + k));
        unsigned mask = len - k >= 16 ? 0xFFFFu : (1u << (len - k)) - 1;
        quote |= (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, q)) & mask;
        special |= (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, d), _mm_cmpeq_epi8(x, cr)),
                                                            _mm_cmpeq_epi8(x, lf))) & mask;
    }
#endif
    for (; k < len; k++) {
        uint8_t c = s[k];
        special |= (c == delimiter) | (c == '\r') | (c == '\n');
        quote |= c == '"';
    }
    return (special || quote) | (quote ? 2 : 0);
}

/* Whether a value may hold a byte that COPY's text format escapes: a backslash, the delimiter
 * or a control character (most control characters are not escaped; the byte loop sees to
 * that). Like csv_scan, 16 bytes a step while the data buffer lasts. */
static inline int text_scan(const uint8_t *s, Py_ssize_t len, uint8_t delimiter, const char *end) {
    unsigned found = 0;
    Py_ssize_t k = 0;
#ifdef __SSE2__
    const __m128i d = _mm_set1_epi8((char)delimiter), b = _mm_set1_epi8('\\'), low = _mm_set1_epi8(0x1F);
    for (; k < len && (const char *)s + k + 16 <= end; k += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + k));
        unsigned mask = len - k >= 16 ? 0xFFFFu : (1u << (len - k)) - 1;
        __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(x, low), x);  /* x <= 0x1F, unsigned */
        found |= (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, d), _mm_cmpeq_epi8(x, b)),
                                                          control)) & mask;
    }
#endif
    for (; k < len; k++) found |= s[k] < 0x20 || s[k] == '\\' || s[k] == delimiter;
    return found != 0;
}

/* A value in COPY's text format, as PostgreSQL's CopyAttributeOutText writes it. */
static inline char *put_escaped(char *at, const char *from, Py_ssize_t len, uint8_t delimiter) {
    for (Py_ssize_t k = 0; k < len; k++) {
        uint8_t c = (uint8_t)from[k];
        if (c < 0x20) {
            char letter = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r'
                        : c == '\t' ? 't' : c == '\v' ? 'v' : 0;
            if (letter) {
                *at++ = '\\', *at++ = letter;
                continue;
            }
        }
        if (c == '\\' || c == delimiter) *at++ = '\\';
        *at++ = (char)c;
    }
    return at;
}

/* Reads one piece tuple; checks every bound that holds for the whole piece. Each value's own
 * bounds are checked as it is copied. */
static int parse(PyObject *tuple, Piece *p, Py_ssize_t n) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) < 2)
        return fail(PyExc_TypeError, "each piece must be a tuple (tag, ...)");
    long tag = PyLong_AsLong(PyTuple_GET_ITEM(tuple, 0));
    Py_ssize_t size = PyTuple_GET_SIZE(tuple);
    if (tag == 0 && size == 2) {
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(tuple, 1));
        if (PyErr_Occurred()) return -1;
        if (kind < 0 || kind > 255) return fail(PyExc_ValueError, "a message kind is one byte");
        p->kind = HEAD, p->head = (char)kind;
        return 0;
    }
    if (tag == 1 && size == 4) {
        if (view(PyTuple_GET_ITEM(tuple, 1), &p->data, &p->has_data) < 0) return -1;
        p->width = PyLong_AsSsize_t(PyTuple_GET_ITEM(tuple, 2));
        p->stride = PyLong_AsSsize_t(PyTuple_GET_ITEM(tuple, 3));
        if (PyErr_Occurred()) return -1;
        Py_ssize_t have = p->has_data ? p->data.len : 0;
        if (p->width < 0 || p->stride < 0 || (n > 0 && (n - 1) * p->stride + p->width > have))
            return fail(PyExc_ValueError, "fixed-width piece shorter than its rows");
        p->base = p->has_data ? (const char *)p->data.buf : NULL;
        p->end = p->base + have;
        p->kind = BLOCK;
        if (p->stride == 0 && p->width <= SHORT) {
            if (p->width) memcpy(p->same, p->base, p->width);
            p->kind = SAME;
        }
        return 0;
    }
    if (tag != 2 || size != 9) {
        if (!PyErr_Occurred())
            fail(PyExc_TypeError, "a piece is (0, kind), (1, data, width, stride) or "
                                  "(2, data, offsets, wide, start, validity, null, prefixed, quoting)");
        return -1;
    }
    if (view(PyTuple_GET_ITEM(tuple, 1), &p->data, &p->has_data) < 0) return -1;
    if (view(PyTuple_GET_ITEM(tuple, 2), &p->offsets, &p->has_offsets) < 0) return -1;
    int wide = PyObject_IsTrue(PyTuple_GET_ITEM(tuple, 3));
    p->start = PyLong_AsSsize_t(PyTuple_GET_ITEM(tuple, 4));
    if (wide < 0 || PyErr_Occurred()) return -1;
    if (view(PyTuple_GET_ITEM(tuple, 5), &p->validity, &p->has_validity) < 0) return -1;
    if (view(PyTuple_GET_ITEM(tuple, 6), &p->null, &p->has_null) < 0) return -1;
    p->prefixed = PyObject_IsTrue(PyTuple_GET_ITEM(tuple, 7));
    if (p->prefixed < 0) return -1;
    PyObject *quoting = PyTuple_GET_ITEM(tuple, 8);
    if (quoting != Py_None && parse_quoting(quoting, p) < 0) return -1;
    if (p->quoting && p->prefixed) return fail(PyExc_ValueError, "a quoted value has no length word");
    p->kind = wide ? VAR64 : VAR32;
    Py_ssize_t item = wide ? 8 : 4;
    if (!p->has_offsets || p->start < 0 || p->offsets.len < (p->start + n + 1) * item)
        return fail(PyExc_ValueError, "offsets shorter than the rows");
    if (p->has_validity && p->validity.len * 8 < p->start + n)
        return fail(PyExc_ValueError, "validity bitmap shorter than the rows");
    p->base = p->has_data ? (const char *)p->data.buf : NULL;
    p->end = p->base + (p->has_data ? p->data.len : 0);
    p->bits = p->has_validity ? (const uint8_t *)p->validity.buf : NULL;
    return 0;
}

/* Offset i of a VAR piece (int32 or, when wide, int64). */
static inline int64_t offset_at(const Piece *p, Py_ssize_t i) {
    return p->kind == VAR32 ? ((const int32_t *)p->offsets.buf)[i] : ((const int64_t *)p->offsets.buf)[i];
}

/* Whether none of the n rows' values of a quoted or escaped piece holds a byte its scan looks
 * for: one pass over their bytes, 4 KB a step until one is found. Most columns hold none
 * (names, places, codes), and then no value is scanned on its own. */
static int plain_rows(const Piece *p, Py_ssize_t n) {
    int64_t first = offset_at(p, p->start), last = offset_at(p, p->start + n);
    if (first < 0 || last < first || last > p->end - p->base) return 0;  /* the values' own checks fail */
    for (int64_t at = first; at < last; at += 4096) {
        Py_ssize_t len = (Py_ssize_t)(last - at < 4096 ? last - at : 4096);
        const uint8_t *s = (const uint8_t *)p->base + at;
        if (p->quoting == CSV ? csv_scan(s, len, p->delimiter, p->end) : text_scan(s, len, p->delimiter, p->end))
            return 0;
    }
    return 1;
}

/* The bytes a piece writes for n rows, as the output is first allocated: all of them, but
 * for the quotes doubled inside quoted values (the output grows for those, see rows()). */
static Py_ssize_t bound(const Piece *p, Py_ssize_t n) {
    if (p->kind == HEAD) return 5 * n;
    if (p->kind == SAME || p->kind == BLOCK) return p->width * n;
    int64_t first = offset_at(p, p->start), last = offset_at(p, p->start + n);
    Py_ssize_t span = last > first ? (Py_ssize_t)(last - first) : 0;  /* a bad span fails as it is copied */
    Py_ssize_t extra = p->prefixed ? 4 : (p->has_null ? p->null.len : 0);
    return span + (p->quoting == CSV ? 2 * n : 0) + extra * n;
}

/* The most bytes value i of a VAR piece can write (a quoted one: every byte a doubled quote);
 * -1 when its offsets are outside the data. */
static Py_ssize_t value_most(const Piece *q, Py_ssize_t i) {
    Py_ssize_t v = q->start + i;
    if (q->bits && !((q->bits[v >> 3] >> (v & 7)) & 1)) return q->prefixed ? 4 : (q->has_null ? q->null.len : 0);
    int64_t first = offset_at(q, v), last = offset_at(q, v + 1);
    if (first < 0 || last < first || last > q->end - q->base) return -1;
    Py_ssize_t len = (Py_ssize_t)(last - first);
    return (q->prefixed ? 4 : 0) + (q->quoting == CSV ? 2 * len + 2 : q->quoting == ESCAPED ? 2 * len : len);
}

/* Writes value i of a VAR piece at `at`; NULL when it would pass `limit` or its offsets are
 * outside the data. */
static inline char *put_value(const Piece *q, Py_ssize_t i, char *at, const char *limit) {
    Py_ssize_t v = q->start + i;
    int64_t first = offset_at(q, v), last = offset_at(q, v + 1);
    if (q->bits && !((q->bits[v >> 3] >> (v & 7)) & 1)) {
        if (q->prefixed) {
            if (limit - at < 4) return NULL;
            return put_word(at, -1);
        }
        Py_ssize_t len = q->has_null ? q->null.len : 0;
        if (len > limit - at) return NULL;
        return len ? put(at, q->null.buf, (size_t)len, (const char *)q->null.buf + len) : at;
    }
    if (first < 0 || last < first || last > q->end - q->base) return NULL;
    const char *from = q->base + first;
    Py_ssize_t len = (Py_ssize_t)(last - first);
    int escaped = q->quoting == ESCAPED && !q->plain && text_scan((const uint8_t *)from, len, q->delimiter, q->end);
    if ((q->prefixed ? 4 : 0) + (q->quoting == CSV ? 2 * len + 2 : escaped ? 2 * len : len) > limit - at)
        return NULL;
    if (q->prefixed) at = put_word(at, (int32_t)len);
    if (escaped) return put_escaped(at, from, len, q->delimiter);
    if (q->quoting == CSV) {
        int found = q->plain ? 0 : csv_scan((const uint8_t *)from, len, q->delimiter, q->end);
        if (found || (len == 0 && q->quote_empty)) {
            *at++ = '"';
            if (!(found & 2)) {
                memcpy(at, from, (size_t)len);
                at += len;
            } else {
                for (Py_ssize_t k = 0; k < len; k++) {  /* a quote inside is doubled */
                    if (from[k] == '"') *at++ = '"';
                    *at++ = from[k];
                }
            }
            *at++ = '"';
            return at;
        }
    }
    return len ? put(at, from, (size_t)len, q->end) : at;
}

/* -- the output: rows() writes into a Block, whose memory is kept for the next call --------- */

/* A batch's rows are 5-20 MB. Each fresh allocation of that size is a fresh mmap from glibc,
 * every page of it faulting in as it is written: ~2,300 faults a batch, 30-50% of this file's
 * time, and left so by glibc's own heuristics (its dynamic mmap threshold, then the trimming of
 * its thread arenas). So a Block's memory goes back to a few spares when the Block is freed,
 * and the next call writes into pages that are already there. The spares are guarded by the
 * GIL; a Block's memory is PyMem_Raw*, which may be grown without it. */

#define SPARES 4              /* at most this many blocks kept: about the batches in flight */
#define SPARE_MOST (64 << 20) /* a larger block is freed, not kept */

static struct {
    char *memory;
    Py_ssize_t capacity;
} spares[SPARES];
static int spare_count;

typedef struct {
    PyObject_HEAD
    char *memory;
    Py_ssize_t capacity, size;
} Block;

/* Memory for at least `want` bytes (its capacity in *capacity): the smallest spare that holds
 * it, else a new allocation. Called with the GIL. */
static char *take_memory(Py_ssize_t want, Py_ssize_t *capacity) {
    int best = -1;
    for (int k = 0; k < spare_count; k++)
        if (spares[k].capacity >= want && (best < 0 || spares[k].capacity < spares[best].capacity)) best = k;
    if (best >= 0) {
        char *memory = spares[best].memory;
        *capacity = spares[best].capacity;
        spares[best] = spares[--spare_count];
        return memory;
    }
    *capacity = want + want / 8;  /* room for the next batch, a little larger */
    return PyMem_RawMalloc((size_t)*capacity);
}

/* Keeps a freed block's memory as a spare: in a free slot, else in place of the smallest spare
 * when it is larger (batches grow as their values do). Called with the GIL. */
static void keep(char *memory, Py_ssize_t capacity) {
    if (memory != NULL && capacity <= SPARE_MOST) {
        if (spare_count < SPARES) {
            spares[spare_count].memory = memory, spares[spare_count].capacity = capacity;
            spare_count++;
            return;
        }
        int smallest = 0;
        for (int k = 1; k < SPARES; k++)
            if (spares[k].capacity < spares[smallest].capacity) smallest = k;
        if (spares[smallest].capacity < capacity) {
            char *evicted = spares[smallest].memory;
            spares[smallest].memory = memory, spares[smallest].capacity = capacity;
            memory = evicted;
        }
    }
    PyMem_RawFree(memory);
}

static void block_dealloc(Block *self) {
    keep(self->memory, self->capacity);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int block_getbuffer(Block *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->memory, self->size, 1, flags);
}

static Py_ssize_t block_length(Block *self) { return self->size; }

static PyBufferProcs block_buffer = {(getbufferproc)block_getbuffer, NULL};
static PySequenceMethods block_sequence = {.sq_length = (lenfunc)block_length};

static PyTypeObject BlockType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gateway._rows.Block",
    .tp_doc = "Rows written by rows(): read-only bytes, through the buffer protocol.",
    .tp_basicsize = sizeof(Block),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)block_dealloc,
    .tp_as_buffer = &block_buffer,
    .tp_as_sequence = &block_sequence,
};

/* Where rows() writes: the block's memory, the next byte, the end of the room, and the open
 * message's head. */
typedef struct {
    char *base, *at;
    const char *limit;
    char *head;
} Out;

/* Makes room for `more` bytes in the block, which doubled quotes or escapes have filled: half as much
 * again. Needs no GIL. -1 when memory ran out. */
static int grow(Block *block, Out *w, Py_ssize_t more) {
    Py_ssize_t used = w->at - w->base, opened = w->head ? w->head - w->base : -1;
    Py_ssize_t size = (w->limit - w->base) + (w->limit - w->base) / 2 + more;
    char *memory = PyMem_RawRealloc(block->memory, (size_t)(size + SLACK));
    if (memory == NULL) return -1;
    block->memory = memory, block->capacity = size + SLACK;
    w->base = memory, w->at = memory + used, w->limit = memory + size;
    w->head = opened < 0 ? NULL : memory + opened;
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
        total += bound(&pieces[p], n);
    }
    Py_DECREF(fast);
    Block *out = PyObject_New(Block, &BlockType);
    if (out != NULL && (out->memory = take_memory(total + SLACK, &out->capacity)) == NULL) {
        Py_DECREF(out);  /* a Block without memory frees nothing */
        PyErr_NoMemory();
        out = NULL;
    }
    if (out == NULL) {
        release(pieces, count);
        return NULL;
    }
    out->size = 0;
    Out w = {out->memory, out->memory, out->memory + total, NULL};
    int quoting = 0, bad = 0;
    for (Py_ssize_t p = 0; p < count; p++) quoting |= pieces[p].quoting;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t p = 0; p < count; p++)
        if (pieces[p].quoting) pieces[p].plain = plain_rows(&pieces[p], n);
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        w.head = NULL;  /* the open message's head, its length patched in at the row's end */
        for (Py_ssize_t p = 0; p < count; p++) {
            const Piece *q = &pieces[p];
            /* The bound holds every fixed part, but for what doubled quotes took from it; values
             * are checked as they are written, since a NULL's slot may span any bytes and let
             * the valid values overrun their share */
            Py_ssize_t fixed = q->kind == HEAD ? 5 : q->width;
            if (q->kind <= BLOCK && fixed > w.limit - w.at) {
                if (!quoting || grow(out, &w, fixed) < 0) {
                    bad = quoting ? 2 : 1;
                    break;
                }
            }
            switch (q->kind) {
            case HEAD:
                if (w.head) put_word(w.head + 1, (int32_t)(w.at - w.head - 1));
                w.head = w.at;
                *w.at = q->head;
                w.at += 5;
                break;
            case SAME:
                memcpy(w.at, q->same, SHORT);
                w.at += q->width;
                break;
            case BLOCK:
                w.at = q->width ? put(w.at, q->base + i * q->stride, (size_t)q->width, q->end) : w.at;
                break;
            default: {
                char *next = put_value(q, i, w.at, w.limit);
                Py_ssize_t most;
                if (next == NULL && quoting && (most = value_most(q, i)) >= 0) {
                    if (grow(out, &w, most) < 0) {
                        bad = 2;
                        p = count;
                        break;
                    }
                    next = put_value(q, i, w.at, w.limit);
                }
                if (next == NULL) {
                    bad = 1;
                    p = count;
                } else {
                    w.at = next;
                }
            }
            }
        }
        if (w.head && !bad) put_word(w.head + 1, (int32_t)(w.at - w.head - 1));
    }
    Py_END_ALLOW_THREADS
    release(pieces, count);
    if (bad) {
        Py_DECREF(out);
        if (bad == 2)
            PyErr_NoMemory();
        else  /* offsets that do not match the data, or more bytes than they said */
            PyErr_SetString(PyExc_ValueError, "offsets outside the data");
        return NULL;
    }
    out->size = w.at - w.base;
    return (PyObject *)out;
}

/* -- dates and timestamps as PostgreSQL's text ----------------------------------------------- */

/* The proleptic Gregorian date of a day count from 1970-01-01 (H. Hinnant's civil_from_days). */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static inline char *digits(char *at, unsigned value, int width) {
    for (int k = width - 1; k >= 0; k--, value /= 10) at[k] = (char)('0' + value % 10);
    return at + width;
}

/* How a formatter writes its values: the unit (datetimes: microseconds per unit, 0 for days;
 * numbers: digits after the point), the bytes of one value, and a suffix after each; floats()
 * also reads Arrow's text of each value (int32 offsets and data, value v's at v + shift). */
typedef struct {
    int64_t scale;
    Py_ssize_t width;
    const char *suffix;
    Py_ssize_t suffix_len;
    const int32_t *text_offsets;
    const char *text;
    Py_ssize_t text_len, text_shift;
} How;

/* Writes value v of `values` at `at`: the byte after it, or NULL to decline the whole column
 * (the casts format it then). */
typedef char *(*Format)(const char *values, Py_ssize_t v, char *at, const How *how);

/* The string array a formatter makes of n values (width bytes each, from `start`), NULL slots
 * empty: (offsets, data), or None when it declined a value. At most `widest` bytes a value. */
static inline PyObject *formatted(const Py_buffer *values, Py_ssize_t n, Py_ssize_t start, PyObject *validity_obj,
                           Py_ssize_t widest, Format format, const How *how) {
    Py_buffer validity = {0};
    int has_validity = 0;
    PyObject *result = NULL, *offsets = NULL, *data = NULL;
    if (view(validity_obj, &validity, &has_validity) < 0) return NULL;
    if (n < 0 || start < 0 || values->len < (start + n) * how->width
            || (has_validity && validity.len * 8 < start + n)) {
        PyErr_SetString(PyExc_ValueError, "values or validity do not fit the rows");
        goto out;
    }
    if (n > (INT32_MAX - 1) / widest) {
        PyErr_SetString(PyExc_ValueError, "too many rows for one string array");
        goto out;
    }
    offsets = PyBytes_FromStringAndSize(NULL, (n + 1) * 4);
    data = PyBytes_FromStringAndSize(NULL, n * widest);
    if (offsets == NULL || data == NULL) goto out;
    int32_t *off = (int32_t *)PyBytes_AS_STRING(offsets);
    char *base = PyBytes_AS_STRING(data), *at = base;
    const uint8_t *bits = has_validity ? (const uint8_t *)validity.buf : NULL;
    int declined = 0;
    Py_BEGIN_ALLOW_THREADS
    off[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t v = start + i;
        if (!bits || (bits[v >> 3] >> (v & 7)) & 1) {
            char *next = format((const char *)values->buf, v, at, how);
            if (next == NULL) {
                declined = 1;
                break;
            }
            at = next;
        }
        off[i + 1] = (int32_t)(at - base);
    }
    Py_END_ALLOW_THREADS
    if (declined)
        result = Py_NewRef(Py_None);
    else if (_PyBytes_Resize(&data, at - base) == 0)
        result = PyTuple_Pack(2, offsets, data);
out:
    Py_XDECREF(offsets);
    Py_XDECREF(data);
    if (has_validity) PyBuffer_Release(&validity);
    return result;
}

/* A date32 (scale 0: days) or timestamp (scale: microseconds per unit) value as ISO text. */
static inline char *datetime_value(const char *values, Py_ssize_t v, char *at, const How *how) {
    int64_t days, micros = 0, scale = how->scale;
    if (scale) {
        int64_t raw = ((const int64_t *)values)[v];
        if (raw > INT64_MAX / scale || raw < INT64_MIN / scale) return NULL;
        int64_t us = raw * scale;
        days = us / 86400000000LL;
        micros = us % 86400000000LL;
        if (micros < 0) micros += 86400000000LL, days -= 1;
    } else {
        days = ((const int32_t *)values)[v];
    }
    int64_t y;
    unsigned m, d;
    civil(days, &y, &m, &d);
    if (y < 1 || y > 9999) return NULL;
    at = digits(at, (unsigned)y, 4);
    *at++ = '-';
    at = digits(at, m, 2);
    *at++ = '-';
    at = digits(at, d, 2);
    if (scale) {
        unsigned secs = (unsigned)(micros / 1000000), frac = (unsigned)(micros % 1000000);
        *at++ = ' ';
        at = digits(at, secs / 3600, 2);
        *at++ = ':';
        at = digits(at, secs / 60 % 60, 2);
        *at++ = ':';
        at = digits(at, secs % 60, 2);
        if (frac) {
            int width = 6;
            while (frac % 10 == 0) frac /= 10, width--;
            *at++ = '.';
            at = digits(at, frac, width);
        }
    }
    memcpy(at, how->suffix, how->suffix_len);
    return at + how->suffix_len;
}

/* datetimes(values, n, start, validity, micros_per_unit, suffix) -> (offsets, data) | None
 *
 * Arrow date32 (micros_per_unit 0: values are days) or int64 timestamps (values times
 * micros_per_unit are microseconds since 1970) as PostgreSQL's ISO text: "YYYY-MM-DD", or
 * "YYYY-MM-DD HH:MM:SS" with ".ffffff" less its trailing zeros when there is a fraction, then
 * `suffix` ("+00" for timestamptz in UTC). The buffers of an Arrow string array, NULL slots
 * empty; None when a value falls outside years 1-9999 (PostgreSQL writes those otherwise). */
static PyObject *datetimes(PyObject *self, PyObject *args) {
    Py_buffer values, suffix;
    Py_ssize_t n, start;
    long long scale;
    PyObject *validity, *result = NULL;
    if (!PyArg_ParseTuple(args, "y*nnOLy*", &values, &n, &start, &validity, &scale, &suffix)) return NULL;
    if (scale < 0 || scale > 1000000 || (scale && 1000000 % scale)) {
        PyErr_SetString(PyExc_ValueError, "the unit is not a whole share of a second's microseconds");
    } else {
        How how = {scale, scale ? 8 : 4, suffix.buf, suffix.len};
        result = formatted(&values, n, start, validity, (scale ? 26 : 10) + suffix.len, datetime_value, &how);
    }
    PyBuffer_Release(&values);
    PyBuffer_Release(&suffix);
    return result;
}

/* -- integers and decimals as text ------------------------------------------------------------ */

static const char PAIRS[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495"
    "05152535455565758596061626364656667686970717273747576777879808182838485868788899091929394959697989"
    "9";

/* A signed integer or decimal128 value as text, `how->scale` digits after the point; NULL for
 * a decimal past 64 bits. */
static inline char *number_value(const char *values, Py_ssize_t v, char *at, const How *how) {
    const int64_t scale = how->scale;  /* read once: the stores through `at` may alias *how */
    int64_t x;
    switch (how->width) {
    case 1: x = ((const int8_t *)values)[v]; break;
    case 2: { int16_t y; memcpy(&y, values + v * 2, 2); x = y; break; }
    case 4: { int32_t y; memcpy(&y, values + v * 4, 4); x = y; break; }
    case 8: memcpy(&x, values + v * 8, 8); break;
    default: {  /* little-endian 128 bits: the high word must extend the low one's sign */
        int64_t high;
        memcpy(&x, values + v * 16, 8);
        memcpy(&high, values + v * 16 + 8, 8);
        if (high != (x < 0 ? -1 : 0)) return NULL;
    }
    }
    uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    char digits_[24];  /* least significant first */
    int k = 0;
    for (; u >= 100; u /= 100) {  /* two digits a step */
        const char *pair = PAIRS + 2 * (u % 100);
        digits_[k++] = pair[1], digits_[k++] = pair[0];
    }
    if (u >= 10)
        digits_[k++] = PAIRS[2 * u + 1], digits_[k++] = PAIRS[2 * u];
    else
        digits_[k++] = (char)('0' + u);
    while (k <= scale) digits_[k++] = '0';  /* a digit before the point, always */
    if (x < 0) *at++ = '-';
    while (k > 0) {
        if (k == scale) *at++ = '.';
        *at++ = digits_[--k];
    }
    return at;
}

/* numbers(values, n, start, validity, width, scale) -> (offsets, data) | None
 *
 * Signed integers of `width` bytes (1, 2, 4 or 8), or Arrow decimal128 values (width 16) with
 * `scale` digits after the point, as PostgreSQL's text: "-12", "1234.50", "0.05", "-0.50".
 * The buffers of an Arrow string array, NULL slots empty; None for a decimal128 value that does
 * not fit 64 bits (the casts write those). */
static PyObject *numbers(PyObject *self, PyObject *args) {
    Py_buffer values;
    Py_ssize_t n, start, width, scale;
    PyObject *validity, *result = NULL;
    if (!PyArg_ParseTuple(args, "y*nnOnn", &values, &n, &start, &validity, &width, &scale)) return NULL;
    if (!(width == 1 || width == 2 || width == 4 || width == 8 || width == 16) || scale < 0 || scale > 18
            || (width < 16 && scale)) {
        PyErr_SetString(PyExc_ValueError, "width or scale is not one numbers() takes");
    } else {
        How how = {scale, width, NULL, 0};
        result = formatted(&values, n, start, validity, 22, number_value, &how);  /* "-", 19 digits, ".", "0" */
    }
    PyBuffer_Release(&values);
    return result;
}

/* -- decimals in PostgreSQL's binary form (numeric_send) ------------------------------------- */

static const uint64_t TENS[19] = {1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
                                  100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL,
                                  1000000000000ULL, 10000000000000ULL, 100000000000000ULL,
                                  1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
                                  1000000000000000000ULL};

static inline char *put_half(char *to, unsigned value) {
    to[0] = (char)(value >> 8), to[1] = (char)value;
    return to + 2;
}

/* A decimal128 value with `how->scale` digits after the point as numeric_send writes it: the
 * count of base-10000 digits, the weight of the first (in groups of four decimal digits from
 * the point), the sign (0x4000: negative), the scale, then the digits, leading and trailing
 * zero digits left out (zero: no digits, weight 0); every field big-endian 16 bits. NULL for
 * a value past 64 bits. */
static inline char *numeric_value(const char *values, Py_ssize_t v, char *at, const How *how) {
    const int scale = (int)how->scale;
    int64_t x, high;
    memcpy(&x, values + v * 16, 8);
    memcpy(&high, values + v * 16 + 8, 8);
    if (high != (x < 0 ? -1 : 0)) return NULL;
    uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    uint64_t integer = u / TENS[scale], fraction = u % TENS[scale];
    unsigned group[12];  /* least significant first: the fraction's groups, then the integer's */
    int count = 0, fraction_groups = (scale + 3) / 4;
    if (fraction_groups) {  /* the last group is padded with zeros on its right */
        int pad = fraction_groups * 4 - scale;
        group[count++] = (unsigned)(fraction % TENS[4 - pad] * TENS[pad]);
        fraction /= TENS[4 - pad];
        for (int k = 1; k < fraction_groups; k++, fraction /= 10000) group[count++] = (unsigned)(fraction % 10000);
    }
    int weight = -1;
    for (; integer; integer /= 10000, weight++) group[count++] = (unsigned)(integer % 10000);
    int top = count - 1, bottom = 0;
    for (; top >= 0 && group[top] == 0; top--) weight--;  /* only fraction groups can be zero on top */
    if (top < 0) weight = 0;
    while (bottom < top && group[bottom] == 0) bottom++;
    at = put_half(at, (unsigned)(top - bottom + 1));
    at = put_half(at, (unsigned)weight & 0xFFFF);
    at = put_half(at, x < 0 ? 0x4000 : 0);
    at = put_half(at, (unsigned)scale);
    for (int k = top; k >= bottom; k--) at = put_half(at, group[k]);
    return at;
}

/* numerics(values, n, start, validity, scale) -> (offsets, data) | None
 *
 * Arrow decimal128 values with `scale` (0-18) digits after the point in PostgreSQL's binary
 * form, as numeric_send writes them. The buffers of an Arrow binary array, NULL slots empty;
 * None for a value that does not fit 64 bits. */
static PyObject *numerics(PyObject *self, PyObject *args) {
    Py_buffer values;
    Py_ssize_t n, start, scale;
    PyObject *validity, *result = NULL;
    if (!PyArg_ParseTuple(args, "y*nnOn", &values, &n, &start, &validity, &scale)) return NULL;
    if (scale < 0 || scale > 18) {
        PyErr_SetString(PyExc_ValueError, "the scale is not one numerics() takes (0-18)");
    } else {
        How how = {scale, 16, NULL, 0};
        /* 8 bytes of head, at most 5 integer and 5 fraction digits (64 bits: 19 decimal digits) */
        result = formatted(&values, n, start, validity, 8 + 2 * 10, numeric_value, &how);
    }
    PyBuffer_Release(&values);
    return result;
}

/* -- floats as PostgreSQL writes them ---------------------------------------------------------- */

/* PostgreSQL writes a float's shortest decimal digits (Ryu) strictly inside the interval of
 * values that read back as it: it never takes a bound (its f2s.c and d2s.c set acceptBounds
 * false). Arrow's cast, like repr(), takes a bound when the float's mantissa is even, so where
 * its shortest digits lie exactly halfway to a neighbouring float (about 2% of doubles above
 * 1e16, and reals such as 1.5e10), PostgreSQL writes more digits: 3.6616721015910224e+16, not
 * 3.661672101591022e+16. So floats() takes Arrow's digits, checks them against the two
 * midpoints exactly, and only for a value on one looks for the digits PostgreSQL writes. */

typedef struct {
    uint64_t mantissa;  /* m2: the value is m2 * 2^e2 */
    int e2, power_of_two, single;
    double value;       /* the magnitude */
} Float;

static Float float_at(const char *values, Py_ssize_t v, int single) {
    Float f = {0};
    f.single = single;
    if (single) {
        float x;
        uint32_t bits;
        memcpy(&x, values + v * 4, 4);
        memcpy(&bits, &x, 4);
        uint32_t field = (bits >> 23) & 0xFF, m = bits & 0x7FFFFF;
        f.mantissa = field ? m | (1u << 23) : m, f.e2 = (field ? (int)field : 1) - 150;
        f.power_of_two = field > 1 && m == 0;
        f.value = x < 0 ? -(double)x : (double)x;
    } else {
        double x;
        uint64_t bits;
        memcpy(&x, values + v * 8, 8);
        memcpy(&bits, &x, 8);
        uint64_t field = (bits >> 52) & 0x7FF, m = bits & 0xFFFFFFFFFFFFFULL;
        f.mantissa = field ? m | (1ULL << 52) : m, f.e2 = (field ? (int)field : 1) - 1075;
        f.power_of_two = field > 1 && m == 0;
        f.value = x < 0 ? -x : x;
    }
    return f;
}

/* Whether k * 10^e is exactly odd * 2^f (odd odd). */
static int dyadic_equal(uint64_t k, int e, uint64_t odd, int f) {
    if (k == 0) return 0;
    for (int i = 0; i < -e; i++) {  /* 10^e = 2^e 5^e: the 5s must divide k */
        if (k % 5) return 0;
        k /= 5;
    }
    int t = __builtin_ctzll(k);
    k >>= t;
    for (int i = 0; i < e; i++) {
        if (k > odd / 5) return 0;
        k *= 5;
    }
    return k == odd && t + e == f;
}

/* Whether k * 10^e lies exactly halfway between the float and a neighbour. */
static int on_bound(const Float *f, uint64_t k, int e) {
    if (dyadic_equal(k, e, 2 * f->mantissa + 1, f->e2 - 1)) return 1;
    if (f->power_of_two) return dyadic_equal(k, e, 4 * f->mantissa - 1, f->e2 - 2);  /* the gap below is half */
    return f->mantissa > 0 && dyadic_equal(k, e, 2 * f->mantissa - 1, f->e2 - 1);
}

/* Whether k * 10^e reads back as the float without being a midpoint: strictly inside. */
static int inside(const Float *f, uint64_t k, int e) {
    char text[48];
    snprintf(text, sizeof text, "%llue%d", (unsigned long long)k, e);
    int reads = f->single ? (double)strtof(text, NULL) == f->value : strtod(text, NULL) == f->value;
    return reads && !on_bound(f, k, e);
}

/* The shortest digits strictly inside the float's interval, nearest the float, from `least`
 * digits up (PostgreSQL's Ryu without bounds): k * 10^e; 0 when none (cannot happen for a
 * finite nonzero float by 17 digits). */
static uint64_t unbounded_digits(const Float *f, int least, int *e) {
    for (int p = least; p <= 17; p++) {
        char text[48];
        snprintf(text, sizeof text, "%.*e", p - 1, f->value);  /* correctly rounded: d.ddde+XX */
        uint64_t k = 0;
        const char *c = text;
        for (; *c && *c != 'e'; c++)
            if (*c >= '0' && *c <= '9') k = k * 10 + (uint64_t)(*c - '0');
        int exp10 = *c == 'e' ? atoi(c + 1) : 0;
        *e = exp10 - (p - 1);
        if (inside(f, k, *e)) return k;
        /* the nearest is out (on a bound, or past the narrow gap below a power of two): the
         * next one on the float's other side */
        double near = strtod(text, NULL);
        uint64_t other = near > f->value || (near == f->value && dyadic_equal(k, *e, 2 * f->mantissa + 1, f->e2 - 1))
                         ? k - 1 : k + 1;
        if (other > 0 && inside(f, other, *e)) return other;
    }
    return 0;
}

/* One float's Arrow text ("-0.00015", "1.5e+10", "inf") as PostgreSQL writes the float
 * (float8out, float4out): fixed-point when the decimal exponent of the first digit is from -4
 * to below `fixed_below` (15 for double, 6 for real), else one digit, the rest after a point,
 * and an exponent of at least two digits ("1.5e-05"); "Infinity", "-Infinity", "NaN". NULL for
 * text it does not read. `f`: the float itself, for the digits' check against its bounds. */
static char *float_layout(const char *s, Py_ssize_t len, char *at, int fixed_below, const Float *f) {
    int negative = len > 0 && s[0] == '-';
    const char *p = s + negative, *end = s + len;
    if (end - p == 3 && memcmp(p, "inf", 3) == 0) {
        memcpy(at, negative ? "-Infinity" : "Infinity", 8 + negative);
        return at + 8 + negative;
    }
    if (end - p == 3 && memcmp(p, "nan", 3) == 0) {
        memcpy(at, "NaN", 3);
        return at + 3;
    }
    char digits[40];
    int count = 0, whole = -1;
    for (; p < end && *p != 'e' && *p != 'E'; p++) {
        if (*p == '.' && whole < 0)
            whole = count;
        else if (*p >= '0' && *p <= '9' && count < (int)sizeof digits)
            digits[count++] = *p;
        else
            return NULL;
    }
    if (count == 0) return NULL;
    long exponent = (whole < 0 ? count : whole) - 1;
    if (p < end) {  /* the exponent: e, a sign, digits */
        int minus = 0;
        long e = 0;
        if (++p < end && (*p == '+' || *p == '-')) minus = *p++ == '-';
        if (p == end) return NULL;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9' || e > 100000) return NULL;
            e = e * 10 + (*p - '0');
        }
        exponent += minus ? -e : e;
    }
    int first = 0;
    while (first < count && digits[first] == '0') first++, exponent--;
    while (count > first && digits[count - 1] == '0') count--;
    if (negative) *at++ = '-';
    if (first == count) {  /* zero */
        *at++ = '0';
        return at;
    }
    char *d = digits + first;
    int n = count - first;
    if (n <= 17) {
        uint64_t k = 0;
        for (int i = 0; i < n; i++) k = k * 10 + (uint64_t)(d[i] - '0');
        int e;
        if (on_bound(f, k, (int)(exponent - (n - 1))) && (k = unbounded_digits(f, n, &e)) != 0) {
            char text[24];
            n = snprintf(text, sizeof text, "%llu", (unsigned long long)k);
            exponent = e + n - 1;
            while (n > 1 && text[n - 1] == '0') n--;
            memcpy(d, text, (size_t)n);
        }
    }
    if (exponent >= -4 && exponent < fixed_below) {
        if (exponent < 0) {
            *at++ = '0', *at++ = '.';
            for (long k = -1; k > exponent; k--) *at++ = '0';
            memcpy(at, d, (size_t)n);
            return at + n;
        }
        for (long k = 0; k <= exponent; k++) *at++ = k < n ? d[k] : '0';
        if (n > exponent + 1) {
            *at++ = '.';
            memcpy(at, d + exponent + 1, (size_t)(n - exponent - 1));
            at += n - exponent - 1;
        }
        return at;
    }
    *at++ = d[0];
    if (n > 1) {
        *at++ = '.';
        memcpy(at, d + 1, (size_t)(n - 1));
        at += n - 1;
    }
    *at++ = 'e', *at++ = exponent < 0 ? '-' : '+';
    unsigned e = (unsigned)(exponent < 0 ? -exponent : exponent);
    if (e >= 100) *at++ = (char)('0' + e / 100);
    *at++ = (char)('0' + e / 10 % 10), *at++ = (char)('0' + e % 10);
    return at;
}

/* Value v of a float column (how->width 4: float32) from Arrow's text of it, as float_layout
 * writes it; NULL for text it does not read. */
static inline char *float_value(const char *values, Py_ssize_t v, char *at, const How *how) {
    Py_ssize_t t = v + how->text_shift;
    int32_t first = how->text_offsets[t], last = how->text_offsets[t + 1];
    if (first < 0 || last < first || last > how->text_len || last - first > 30) return NULL;
    int single = how->width == 4;
    Float f = float_at(values, v, single);
    return float_layout(how->text + first, last - first, at, single ? 6 : 15, &f);
}

/* floats(values, n, start, validity, offsets, data, text_start, single) -> (offsets, data) | None
 *
 * n floats (float64, or float32 when `single`: `values` their buffer, `validity` their bitmap,
 * from `start`; the arguments datetimes() and numbers() take first) as PostgreSQL's text, from
 * Arrow's cast of them (a string array's int32 `offsets` and `data`, its values from
 * `text_start`). The buffers of an Arrow string array,
 * NULL slots empty; None for text it does not read. */
static PyObject *floats(PyObject *self, PyObject *args) {
    Py_buffer values, offsets, data;
    Py_ssize_t n, start, text_start;
    int single;
    PyObject *validity, *result = NULL;
    if (!PyArg_ParseTuple(args, "y*nnOy*y*np", &values, &n, &start, &validity, &offsets, &data, &text_start, &single))
        return NULL;
    if (text_start < 0 || n < 0 || offsets.len < (text_start + n + 1) * 4) {
        PyErr_SetString(PyExc_ValueError, "the text's offsets do not fit the rows");
    } else {
        How how = {0, single ? 4 : 8, NULL, 0, (const int32_t *)offsets.buf, data.buf, data.len, text_start - start};
        result = formatted(&values, n, start, validity, 32, float_value, &how);  /* "-1.2345678901234567e-308": 24 */
    }
    PyBuffer_Release(&values);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"rows", rows, METH_VARARGS, "rows(n, pieces) -> Block: every row's pieces back to back, row after row."},
    {"datetimes", datetimes, METH_VARARGS,
     "datetimes(values, n, start, validity, micros_per_unit, suffix) -> (offsets, data) | None: PostgreSQL's ISO text."},
    {"numbers", numbers, METH_VARARGS,
     "numbers(values, n, start, validity, width, scale) -> (offsets, data) | None: integers and decimals as text."},
    {"floats", floats, METH_VARARGS,
     "floats(values, n, start, validity, offsets, data, text_start, single) -> (offsets, data) | None: "
     "floats as PostgreSQL writes them."},
    {"numerics", numerics, METH_VARARGS,
     "numerics(values, n, start, validity, scale) -> (offsets, data) | None: decimals in PostgreSQL's binary form."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rows", NULL, -1, methods};

PyMODINIT_FUNC PyInit__rows(void) {
    if (PyType_Ready(&BlockType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddObjectRef(m, "Block", (PyObject *)&BlockType) < 0) Py_CLEAR(m);
    return m;
}
