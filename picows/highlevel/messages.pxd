# Compiles messages.py as a cdef class (Cython pure-Python mode): put() and get() run once per message, and
# the listener calls them through C, not through attribute lookups and bound methods.

cdef dict _current_tasks


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
        object _waiter
        object _loop
        object _closed
        bint _clean_close
        object _stream
        bint _stream_done
        bint _stream_discard

    cpdef put(self, message)
    cpdef put_fragment(self, bytes data, text, bint fin)
    cpdef close(self, exc, bint clean=*)
    cpdef _create_future(self)
    cpdef _pop(self)
    cpdef _new_waiter(self)
    cdef _resolve(self, waiter, message)
