# Compiles _listener.py as a cdef subclass of the engine's WSListener (Cython pure-Python mode): the engine then
# calls on_ws_frame through its C vtable, and the listener reads frame fields and feeds the assembler in C.

cimport cython

from picows._frame cimport WSFrame
from picows._transport cimport WSListener, WSTransport
from picows.highlevel.messages cimport Assembler

# C ints: frame.opcode is compared without creating a Python int per frame.
cdef int _TEXT, _BINARY, _CONTINUATION, _CLOSE, _PONG

cdef class Listener(WSListener):
    cdef public object connection
    cdef public Assembler assembler

    @cython.locals(msg_type=int)
    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame)
