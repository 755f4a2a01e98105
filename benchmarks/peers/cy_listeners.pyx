# cython: language_level=3
"""Cython listeners for the ``picows-cy`` row: the engine called through its public .pxd.

The same protocol as peer_picows_ll.py's listeners, but every call on the hot path is a C
call: the echo is built from the frame's pointer into the read buffer, with no Python object
per message.
"""

from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from picows._frame cimport OP_BINARY, OP_CLOSE, WSFrame
from picows._transport cimport WSListener, WSTransport


cdef double monotonic() noexcept:
    # time.perf_counter() reads CLOCK_MONOTONIC on Linux too, so the driver's deadlines compare.
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef class CyEchoServer(WSListener):
    """Echo every data frame with its opcode; answer a CLOSE and disconnect."""

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        if frame.opcode == OP_CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        transport.send_frame(frame.opcode, frame.payload_ptr, frame.payload_size, frame.fin, False)


cdef class CyClient(WSListener):
    """Sends ``window`` messages, and the next window when their echoes are back."""

    cdef WSTransport transport
    cdef bytes payload
    cdef public long count
    cdef long target
    cdef long window
    cdef long in_window
    cdef double deadline
    cdef public object done

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport

    def start(self, loop, bytes payload, long target, double deadline, long window):
        """Begin a run of ``target`` echoes (or until ``deadline``); return a future for its end."""
        self.payload = payload
        self.count = 0
        self.target = target
        self.deadline = deadline
        self.window = window
        self.in_window = 0
        self.done = loop.create_future()
        self._send_window()
        return self.done

    cdef _send_window(self):
        cdef long i
        for i in range(self.window):
            self.transport.send_frame(OP_BINARY, self.payload, len(self.payload), True, False)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        if frame.opcode != OP_BINARY:
            if frame.opcode == OP_CLOSE and self.done is not None and not self.done.done():
                self.done.set_exception(RuntimeError("the server closed the connection mid-run"))
            return
        if self.done is None or self.done.done():
            return
        if self.count == 0 and frame.payload_size != len(self.payload):
            self.done.set_exception(RuntimeError("the echo's size differs from the message sent"))
            return
        self.count += 1
        self.in_window += 1
        if self.in_window < self.window:
            return
        self.in_window = 0
        if self.count >= self.target or monotonic() >= self.deadline:
            self.done.set_result(None)
            return
        self._send_window()
