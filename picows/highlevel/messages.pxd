# Compiles messages.py as a cdef class (Cython pure-Python mode): put() and get() run once per message, and
# the listener calls them through C, not through attribute lookups and bound methods.

cimport cython

cdef dict _current_tasks
cdef object _current_task
cdef object _context_run
cdef object _CancelledError
cdef object _Future, _done, _remove_done_callback, _set_result
cdef int _PENDING, _RESULT, _EXCEPTION, _CANCELLED
cdef int _CREATED, _STARTED, _FINISHED
cdef bint _WAKE_WITH_DONE_FUTURE
cdef bint _COMPILED, _FAST_CALLBACK0, _callback0_probed


cdef class Assembler


@cython.final
@cython.freelist(4)
cdef class _Waiter:
    cdef:
        public object _asyncio_future_blocking
        readonly object _loop
        object _callback
        object _context
        list _more
        int _state
        object _result
        object _cancel_msg
        object _done_future
        object _parking
        Assembler _assembler
        object _decode
        bint _for_next
        int _step

    @cython.locals(from_parking=bint)
    cdef _finish(self, int state, value, bint eager)
    @cython.locals(assembler=Assembler)
    cdef _abandon(self)
    cdef _raise(self)
    @cython.locals(assembler=Assembler)
    cdef _raise_as(self, exc)


cdef extern from "highlevel/_slots.h":
    ctypedef object (*picows_step_fn)(object)
    int picows_install_am_send(object tp, picows_step_fn step, picows_step_fn yielded) except -1
    int picows_probe_future_layout(object fut, object fn, object ctx)
    void picows_forget_future_layout()
    object picows_future_callback0(object fut)
    object picows_future_take0(object fut)

@cython.locals(waiter=_Waiter)
cdef object _waiter_step(object obj)
@cython.locals(waiter=_Waiter)
cdef object _waiter_yielded(object obj)

@cython.locals(waiter=_Waiter)
cdef _Waiter _blank_waiter()
@cython.locals(waiter=_Waiter)
cdef _Waiter _new_waiter(loop, done_future)
@cython.locals(waiter=_Waiter)
cdef _Waiter _new_recv(Assembler assembler, decode, bint for_next)


cdef class Assembler:
    cdef:
        object _queue
        double _high
        double _low
        object _pause
        object _resume
        public bint paused
        public object max_size
        public list fragments
        bint _text
        Py_ssize_t _size
        readonly _Waiter _waiter
        object _loop
        object _done_future
        readonly object _parking
        object _closed
        bint _clean_close
        object _stream
        bint _stream_done
        bint _stream_discard

    cpdef put(self, message)
    cpdef put_fragment(self, bytes data, text, bint fin)
    cpdef close(self, exc, bint clean=*)
    cpdef _Waiter _create_future(self)
    cpdef _pop(self)
    cpdef _new_waiter(self)
    cdef _init_loop(self)
    cpdef get(self, decode=*)
    cpdef get_next(self)
    cdef object _start(self, _Waiter waiter)
    cdef _resolve(self, _Waiter waiter, message)
