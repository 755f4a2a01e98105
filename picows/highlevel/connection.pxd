# Compiles Connection as a cdef class (Cython pure-Python mode) so that send() and recv(), called once per
# message, read the connection's state from C fields instead of the instance dict. Everything else lives in
# __dict__ as before, so subclasses and the rest of the class are plain Python.

from picows._transport cimport WSTransport
from picows.highlevel.messages cimport Assembler

cdef extern from "highlevel/_slots.h":
    int picows_inherit_am_anext(object subtype, object basetype) except -1

cdef class Connection:
    cdef dict __dict__
    cdef object __weakref__
    cdef public object state
    cdef public WSTransport _transport
    cdef public bint _write_paused
    cdef public object _fragmenting
    cdef public Assembler _assembler
