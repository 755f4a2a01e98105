# Compiled so that awaiting READY is two C slot calls (am_await, tp_iternext) and no Python frame.
cdef class Ready:
    pass
