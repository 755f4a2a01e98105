# Compiles _listener.py as a cdef subclass of the engine's WSListener (Cython pure-Python mode): the engine then
# calls on_ws_frame through its C vtable, and the listener reads frame fields and feeds the assembler in C.

from picows._frame cimport WSFrame
from picows._transport cimport WSListener, WSTransport
from picows.highlevel.messages cimport Assembler

cdef class Listener(WSListener):
    cdef public object connection
    cdef public Assembler assembler
