# cython: language_level=3
"""A listener written in Cython: it calls the engine through picows's public .pxd files, without Python calls."""

from picows._frame cimport WSFrame, OP_BINARY, OP_CLOSE
from picows._transport cimport WSListener, WSTransport


cdef class EchoCountingClient(WSListener):
    """Sends a binary message, echoes every reply back until `rounds` replies arrived, then closes."""

    cdef public long rounds
    cdef public long received
    cdef bytes payload

    def __init__(self, long rounds, bytes payload):
        self.rounds = rounds
        self.received = 0
        self.payload = payload

    cpdef on_ws_connected(self, WSTransport transport):
        transport.send_frame(OP_BINARY, self.payload, len(self.payload), True, False)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        if frame.opcode == OP_CLOSE:
            return
        self.received += 1
        if self.received >= self.rounds:
            transport.send_close(1000)
            transport.disconnect()
            return
        # The payload pointer is the read buffer itself: the reply is built from it without a Python object.
        transport.send_frame(OP_BINARY, frame.payload_ptr, frame.payload_size, True, False)
