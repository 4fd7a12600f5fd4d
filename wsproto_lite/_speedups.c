/* wsproto_lite._speedups: the optional compiled accelerator of wsproto_lite.frames.
 *
 * Three functions with exactly the semantics of their pure-Python twins in frames.py
 * (_pure_mask, _pure_mask_append, _pure_encode); frames.py picks these at import unless
 * WSPROTO_LITE_NO_SPEEDUPS is set. tests/test_speedups.py checks that both give the same
 * bytes, and refuse the same inputs with the same exception types.
 *
 * Masking XORs 16 bytes at a time with SSE2 where the compiler targets it (every
 * x86-64), else 8 bytes at a time through memcpy'd 64-bit words (which compilers turn
 * into plain unaligned loads and often vectorise). Nothing here holds the GIL's
 * protection across Python calls or keeps a buffer past its call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

/* dst[i] = src[i] ^ key[i % 4] for i < n; key already rotated to the starting offset.
 * dst may be src (in place). */
static void
xor_mask(unsigned char *dst, const unsigned char *src, Py_ssize_t n, const unsigned char key[4])
{
    Py_ssize_t i = 0;
    unsigned char k8[8];
    uint64_t w;

    memcpy(k8, key, 4);
    memcpy(k8 + 4, key, 4);
    memcpy(&w, k8, 8);
#ifdef HAVE_SSE2
    if (n >= 16) {
        __m128i k = _mm_set1_epi64x((long long)w);
        for (; i + 64 <= n; i += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k));
            _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, k));
            _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, k));
            _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, k));
        }
        for (; i + 16 <= n; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k));
        }
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= w;
        memcpy(dst + i, &v, 8);
    }
    /* i is a multiple of 4 here, so the key's phase is i & 3 = 0 */
    for (; i < n; i++) {
        dst[i] = src[i] ^ key[i & 3];
    }
}

static int get_data(PyObject *obj, Py_buffer *view, PyObject **tmp);
static void release_data(Py_buffer *view, PyObject *tmp);

/* The 4 bytes of any bytes-like key; ValueError unless it has 4 bytes. */
static int
get_key(PyObject *obj, unsigned char out[4])
{
    Py_buffer view;
    PyObject *tmp;

    if (get_data(obj, &view, &tmp) < 0) {
        return -1;
    }
    if (view.len != 4) {
        release_data(&view, tmp);
        PyErr_SetString(PyExc_ValueError, "a masking key is 4 bytes");
        return -1;
    }
    memcpy(out, view.buf, 4);
    release_data(&view, tmp);
    return 0;
}

/* The key rotated to start `offset` (already & 3) bytes into its cycle. */
static void
rotate_key(unsigned char key[4], Py_ssize_t offset)
{
    unsigned char k[4];
    int r;

    memcpy(k, key, 4);
    for (r = 0; r < 4; r++) {
        key[r] = k[(r + offset) & 3];
    }
}

/* A contiguous view of any bytes-like object. A non-contiguous memoryview is copied
 * into *tmp (a new bytes object the caller releases) first; anything else that is not
 * a buffer raises TypeError, as int.from_bytes() does on the pure path. */
static int
get_data(PyObject *obj, Py_buffer *view, PyObject **tmp)
{
    *tmp = NULL;
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) == 0) {
        return 0;
    }
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "a bytes-like object is required, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyErr_Clear();
    *tmp = PyBytes_FromObject(obj);
    if (*tmp == NULL) {
        return -1;
    }
    if (PyObject_GetBuffer(*tmp, view, PyBUF_SIMPLE) < 0) {
        Py_CLEAR(*tmp);
        return -1;
    }
    return 0;
}

static void
release_data(Py_buffer *view, PyObject *tmp)
{
    PyBuffer_Release(view);
    Py_XDECREF(tmp);
}

/* offset & 3 of any int, as Python computes it (negative and huge offsets included). */
static int
get_offset(PyObject *obj, Py_ssize_t *out)
{
    PyObject *low;
    Py_ssize_t v;

    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "offset is an int, not %.100s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    v = PyLong_AsSsize_t(obj);
    if (v == -1 && PyErr_Occurred()) {
        /* beyond Py_ssize_t: let Python compute obj & 3 */
        PyObject *three = PyLong_FromLong(3);
        PyErr_Clear();
        if (three == NULL) {
            return -1;
        }
        low = PyNumber_And(obj, three);
        Py_DECREF(three);
        if (low == NULL) {
            return -1;
        }
        v = PyLong_AsSsize_t(low);
        Py_DECREF(low);
    }
    *out = v & 3;
    return 0;
}

PyDoc_STRVAR(mask_doc,
"mask($module, data, key, offset=0, /)\n--\n\n"
"XOR data with a 4-byte key, starting offset bytes into the key cycle; return bytes.");

static PyObject *
speedups_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    PyObject *tmp, *out;
    unsigned char key[4];
    Py_ssize_t offset = 0;

    if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "mask() takes data, key and an optional offset");
        return NULL;
    }
    /* Checked in the pure path's order: data, key, offset. */
    if (get_data(args[0], &data, &tmp) < 0) {
        return NULL;
    }
    if (get_key(args[1], key) < 0 || (nargs == 3 && get_offset(args[2], &offset) < 0)) {
        release_data(&data, tmp);
        return NULL;
    }
    rotate_key(key, offset);
    out = PyBytes_FromStringAndSize(NULL, data.len);
    if (out != NULL) {
        xor_mask((unsigned char *)PyBytes_AS_STRING(out), (const unsigned char *)data.buf,
                 data.len, key);
    }
    release_data(&data, tmp);
    return out;
}

PyDoc_STRVAR(mask_append_doc,
"mask_append($module, dest, data, key, offset=0, /)\n--\n\n"
"Append data XORed with the key (from offset into its cycle) to the bytearray dest.");

static PyObject *
speedups_mask_append(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    PyObject *tmp, *dest;
    unsigned char key[4];
    Py_ssize_t offset = 0, size;

    if (nargs < 3 || nargs > 4) {
        PyErr_SetString(PyExc_TypeError,
                        "mask_append() takes dest, data, key and an optional offset");
        return NULL;
    }
    dest = args[0];
    if (!PyByteArray_Check(dest)) {
        PyErr_Format(PyExc_TypeError, "mask_append() appends to a bytearray, not %.100s",
                     Py_TYPE(dest)->tp_name);
        return NULL;
    }
    /* Checked in the pure path's order: dest, data, key, offset. dest appended to itself
     * is read from a copy (its buffer moves when it grows). */
    if (args[1] == dest) {
        PyObject *copy = PyBytes_FromObject(dest);
        if (copy == NULL) {
            return NULL;
        }
        if (get_data(copy, &data, &tmp) < 0) {
            Py_DECREF(copy);
            return NULL;
        }
        Py_XDECREF(tmp);
        tmp = copy;
    }
    else if (get_data(args[1], &data, &tmp) < 0) {
        return NULL;
    }
    if (get_key(args[2], key) < 0 || (nargs == 4 && get_offset(args[3], &offset) < 0)) {
        release_data(&data, tmp);
        return NULL;
    }
    rotate_key(key, offset);
    size = PyByteArray_GET_SIZE(dest);
    if (data.len > PY_SSIZE_T_MAX - size) {
        release_data(&data, tmp);
        return PyErr_NoMemory();
    }
    /* Resizing fails with BufferError while dest is exported (data may be dest itself,
     * or a memoryview of it): the same refusal as `dest += ...` on the pure path. The
     * unmasked bytes go straight into dest's new tail, with no temporary. */
    if (PyByteArray_Resize(dest, size + data.len) < 0) {
        release_data(&data, tmp);
        return NULL;
    }
    xor_mask((unsigned char *)PyByteArray_AS_STRING(dest) + size,
             (const unsigned char *)data.buf, data.len, key);
    release_data(&data, tmp);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(encode_doc,
"encode($module, b0, payload, key=None, /)\n--\n\n"
"One frame: first byte b0, the minimal length field, then the payload (masked, with\n"
"the MASK bit and the key, when a 4-byte key is given), built in one buffer.");

static PyObject *
speedups_encode(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    PyObject *tmp, *out;
    unsigned char key[4];
    unsigned char *p;
    long b0;
    int masked;
    Py_ssize_t n, head;

    if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "encode() takes b0, payload and an optional key");
        return NULL;
    }
    b0 = PyLong_AsLong(args[0]);
    if (b0 == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return NULL;
        }
        PyErr_Clear();
        b0 = -1; /* far outside a byte */
    }
    if (b0 < 0 || b0 > 255) {
        PyErr_SetString(PyExc_ValueError, "b0 is a byte, 0-255");
        return NULL;
    }
    masked = nargs == 3 && args[2] != Py_None;
    if (masked && get_key(args[2], key) < 0) {
        return NULL;
    }
    if (get_data(args[1], &data, &tmp) < 0) {
        return NULL;
    }
    n = data.len;
    head = (n < 126 ? 2 : n < 65536 ? 4 : 10) + (masked ? 4 : 0);
    if (n > PY_SSIZE_T_MAX - head) {
        release_data(&data, tmp);
        return PyErr_NoMemory();
    }
    out = PyBytes_FromStringAndSize(NULL, head + n);
    if (out == NULL) {
        release_data(&data, tmp);
        return NULL;
    }
    p = (unsigned char *)PyBytes_AS_STRING(out);
    *p++ = (unsigned char)b0;
    if (n < 126) {
        *p++ = (unsigned char)((masked ? 0x80 : 0) | n);
    }
    else if (n < 65536) {
        *p++ = (unsigned char)((masked ? 0x80 : 0) | 126);
        *p++ = (unsigned char)(n >> 8);
        *p++ = (unsigned char)n;
    }
    else {
        uint64_t len = (uint64_t)n;
        int shift;
        *p++ = (unsigned char)((masked ? 0x80 : 0) | 127);
        for (shift = 56; shift >= 0; shift -= 8) {
            *p++ = (unsigned char)(len >> shift);
        }
    }
    if (masked) {
        memcpy(p, key, 4);
        xor_mask(p + 4, (const unsigned char *)data.buf, n, key);
    }
    else if (n) {
        memcpy(p, data.buf, (size_t)n);
    }
    release_data(&data, tmp);
    return out;
}

/* Builder: one message's bytes, unmasked straight into a bytes object that nothing
 * else sees until take() hands it out (so growing it with _PyBytes_Resize, which the C
 * API documents for building a new bytes object, is sound). It grows by half again
 * (at least to what is appended), so it holds at most about 1.5x what arrived, never
 * what a header only announced; take() trims it to size and gives it away: no final
 * copy. The pure twin is frames._PureBuilder. */
typedef struct {
    PyObject_HEAD
    PyObject *buf; /* a bytes object of capacity >= len, or NULL */
    Py_ssize_t len;
} Builder;

static void
builder_dealloc(Builder *self)
{
    Py_XDECREF(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
builder_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Builder *self;

    if (PyTuple_GET_SIZE(args) || (kwds != NULL && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "Builder() takes no arguments");
        return NULL;
    }
    self = (Builder *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->buf = NULL;
        self->len = 0;
    }
    return (PyObject *)self;
}

/* Room for `need` bytes in self->buf. */
static int
builder_reserve(Builder *self, Py_ssize_t need)
{
    Py_ssize_t cap = self->buf == NULL ? 0 : PyBytes_GET_SIZE(self->buf);
    Py_ssize_t want;

    if (need <= cap) {
        return 0;
    }
    want = cap + (cap >> 1);
    if (want < need || want < 0) {
        want = need;
    }
    if (self->buf == NULL) {
        self->buf = PyBytes_FromStringAndSize(NULL, want);
        return self->buf == NULL ? -1 : 0;
    }
    /* On failure _PyBytes_Resize frees the object and sets buf to NULL: what arrived
     * is gone, and the connection is failing with MemoryError anyway. */
    if (_PyBytes_Resize(&self->buf, want) < 0) {
        self->len = 0;
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(builder_append_doc,
"append($self, data, key=None, offset=0, /)\n--\n\n"
"Append data, XORed with the 4-byte key from offset into its cycle when a key is given.");

static PyObject *
builder_append(Builder *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    PyObject *tmp;
    unsigned char key[4];
    Py_ssize_t offset = 0;
    int masked;

    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "append() takes data, an optional key and offset");
        return NULL;
    }
    /* Checked in the pure path's order: data, key, offset; no key, no offset. */
    masked = nargs >= 2 && args[1] != Py_None;
    if (get_data(args[0], &data, &tmp) < 0) {
        return NULL;
    }
    if (masked) {
        if (get_key(args[1], key) < 0 || (nargs == 3 && get_offset(args[2], &offset) < 0)) {
            release_data(&data, tmp);
            return NULL;
        }
        rotate_key(key, offset);
    }
    if (data.len > PY_SSIZE_T_MAX - self->len) {
        release_data(&data, tmp);
        return PyErr_NoMemory();
    }
    if (data.len) {
        unsigned char *dst;
        if (builder_reserve(self, self->len + data.len) < 0) {
            release_data(&data, tmp);
            return NULL;
        }
        dst = (unsigned char *)PyBytes_AS_STRING(self->buf) + self->len;
        if (masked) {
            xor_mask(dst, (const unsigned char *)data.buf, data.len, key);
        }
        else {
            memcpy(dst, data.buf, (size_t)data.len);
        }
        self->len += data.len;
    }
    release_data(&data, tmp);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(builder_take_doc,
"take($self, /)\n--\n\n"
"The bytes appended so far, as one bytes object; the builder is empty afterwards.");

static PyObject *
builder_take(Builder *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *out = self->buf;

    if (out == NULL) {
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    self->buf = NULL;
    if (PyBytes_GET_SIZE(out) != self->len && _PyBytes_Resize(&out, self->len) < 0) {
        self->len = 0;
        return NULL;
    }
    self->len = 0;
    return out;
}

static Py_ssize_t
builder_length(Builder *self)
{
    return self->len;
}

static PyMethodDef builder_methods[] = {
    {"append", (PyCFunction)(void (*)(void))builder_append, METH_FASTCALL, builder_append_doc},
    {"take", (PyCFunction)builder_take, METH_NOARGS, builder_take_doc},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods builder_as_sequence = {
    (lenfunc)builder_length,
};

static PyTypeObject BuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    "wsproto_lite._speedups.Builder",
    sizeof(Builder),
    0,
    (destructor)builder_dealloc,
};

static PyMethodDef speedups_methods[] = {
    {"mask", (PyCFunction)(void (*)(void))speedups_mask, METH_FASTCALL, mask_doc},
    {"mask_append", (PyCFunction)(void (*)(void))speedups_mask_append, METH_FASTCALL,
     mask_append_doc},
    {"encode", (PyCFunction)(void (*)(void))speedups_encode, METH_FASTCALL, encode_doc},
    {NULL, NULL, 0, NULL},
};

static int speedups_exec(PyObject *module);

static struct PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, speedups_exec},
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "wsproto_lite._speedups",
    "The optional compiled accelerator of wsproto_lite.frames (masking, frame encoding).",
    0,
    speedups_methods,
    speedups_slots,
    NULL,
    NULL,
    NULL,
};

static int
speedups_exec(PyObject *module)
{
    BuilderType.tp_flags = Py_TPFLAGS_DEFAULT;
    BuilderType.tp_doc = "One message's bytes, unmasked as they arrive into one bytes object.";
    BuilderType.tp_new = builder_new;
    BuilderType.tp_methods = builder_methods;
    BuilderType.tp_as_sequence = &builder_as_sequence;
    if (PyType_Ready(&BuilderType) < 0) {
        return -1;
    }
    Py_INCREF(&BuilderType);
    if (PyModule_AddObject(module, "Builder", (PyObject *)&BuilderType) < 0) {
        Py_DECREF(&BuilderType);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
