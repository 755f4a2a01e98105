/* Type slots Cython cannot declare or keep.
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
#ifndef PICOWS_AM_SEND_H
#define PICOWS_AM_SEND_H

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

#endif
