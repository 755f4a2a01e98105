/* Type slots Cython cannot declare or keep, and one field of asyncio.Future it cannot reach.
 *
 * 1. am_send for messages._Waiter, the coroutine recv() returns.
 *
 * Without am_send, a coroutine-like object can only finish by raising StopIteration(value) from
 * tp_iternext: an exception object, a traceback entry and a frame per message (~2,500 instructions, more
 * than the rest of recv()). With am_send, `await ws.recv()` (the SEND opcode) and asyncio's Task
 * (PyIter_Send) receive the message as a plain return value. Cython has no way to declare am_send, so the
 * module installs it on its type at import, with two of the compiled module's functions: the step returns
 * the waiter itself to mean "suspend", anything else is the return value, NULL is an error; on "suspend",
 * the second one gives the future to yield to the task.
 */
#ifndef PICOWS_HIGHLEVEL_SLOTS_H
#define PICOWS_HIGHLEVEL_SLOTS_H

#include <Python.h>

typedef PyObject *(*picows_step_fn)(PyObject *);

static picows_step_fn picows_waiter_step = NULL;
static picows_step_fn picows_waiter_yielded = NULL;

static inline PySendResult picows_waiter_am_send(PyObject *self, PyObject *arg, PyObject **presult)
{
    PyObject *r;
    if (arg != Py_None) {
        PyErr_SetString(PyExc_TypeError, "can't send non-None value to the recv() coroutine");
        *presult = NULL;
        return PYGEN_ERROR;
    }
    r = picows_waiter_step(self);
    if (r == self) {
        Py_DECREF(r);
        r = picows_waiter_yielded(self);
        *presult = r;
        return r == NULL ? PYGEN_ERROR : PYGEN_NEXT;
    }
    *presult = r;
    return r == NULL ? PYGEN_ERROR : PYGEN_RETURN;
}

static inline int picows_install_am_send(PyObject *type, picows_step_fn step, picows_step_fn yielded)
{
    PyTypeObject *tp = (PyTypeObject *)type;
    if (tp->tp_as_async == NULL || tp->tp_as_async->am_await == NULL) {
        PyErr_SetString(PyExc_TypeError, "am_send needs a type with __await__");
        return -1;
    }
    picows_waiter_step = step;
    picows_waiter_yielded = yielded;
    tp->tp_as_async->am_send = picows_waiter_am_send;
    PyType_Modified(tp);
    return 0;
}

/* 2. am_anext for Python subclasses of connection.Connection (ServerConnection, ClientConnection).
 *
 * Cython puts a method descriptor for __anext__ in a cdef class's dict (METH_COEXIST), so a Python subclass
 * gets CPython's generic slot: a lookup of "__anext__" by name and a call through the descriptor per
 * message of `async for` (~400 instructions). The C function of the base's slot does the same work.
 */
static inline int picows_inherit_am_anext(PyObject *subtype, PyObject *basetype)
{
    PyTypeObject *sub = (PyTypeObject *)subtype, *base = (PyTypeObject *)basetype;
    if (sub->tp_as_async == NULL || base->tp_as_async == NULL || base->tp_as_async->am_anext == NULL) {
        return 0;
    }
    sub->tp_as_async->am_anext = base->tp_as_async->am_anext;
    return 0;
}

/* 3. The one callback of an asyncio.Future (a task's wake-up), taken off it without the `_callbacks` list.
 *
 * messages._Waiter parks a task on one reused asyncio.Future and, when a message arrives, takes the task's
 * wake-up back off it to run it at once. Through Python that is `_callbacks` (a new list of new tuples) and
 * remove_done_callback(): ~900 instructions per message, a tenth of a high-level round trip. The C future
 * keeps its first callback and its context in two adjacent fields, followed by the list of the others
 * (NULL while there are none). Their offset is not public, so it is found at run time
 * (picows_probe_future_layout, on a future given exactly one known callback) and the caller checks the
 * result through the public API before using it; unknown, these functions answer None and the caller uses
 * `_callbacks`.
 */
static Py_ssize_t picows_fut_cb0 = 0;

static inline int picows_probe_future_layout(PyObject *fut, PyObject *fn, PyObject *ctx)
{
    Py_ssize_t off, size = Py_TYPE(fut)->tp_basicsize;
    picows_fut_cb0 = 0;
    for (off = (Py_ssize_t)sizeof(PyObject); off + 3 * (Py_ssize_t)sizeof(PyObject *) <= size;
         off += (Py_ssize_t)sizeof(PyObject *)) {
        PyObject **p = (PyObject **)((char *)fut + off);
        if (p[0] == fn && p[1] == ctx && p[2] == NULL) {
            picows_fut_cb0 = off;
            return 1;
        }
    }
    return 0;
}

static inline void picows_forget_future_layout(void)
{
    picows_fut_cb0 = 0;
}

/* The future's only callback (new reference), or None if it has none, more than one, or the layout is
   unknown. */
static inline PyObject *picows_future_callback0(PyObject *fut)
{
    PyObject **p;
    if (picows_fut_cb0 == 0) {
        Py_RETURN_NONE;
    }
    p = (PyObject **)((char *)fut + picows_fut_cb0);
    if (p[0] == NULL || p[1] == NULL || p[2] != NULL) {
        Py_RETURN_NONE;
    }
    Py_INCREF(p[0]);
    return p[0];
}

/* After picows_future_callback0() gave a callback: remove it, as remove_done_callback() would, and return its
   context (the future's references move to the caller). */
static inline PyObject *picows_future_take0(PyObject *fut)
{
    PyObject **p = (PyObject **)((char *)fut + picows_fut_cb0);
    PyObject *ctx = p[1];
    Py_DECREF(p[0]);
    p[0] = NULL;
    p[1] = NULL;
    return ctx;
}

#endif
