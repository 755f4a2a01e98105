# cython: freethreading_compatible = False
"""The read side of a connection and the only engine module besides _transport that touches asyncio and logging.

_WSProtocol owns the connection's FrameReader: the transport (picows' own SocketTransport, or an asyncio
BufferedProtocol transport) reads straight into its buffer, and the frames parsed there are handed to the user's
WSListener as views, without copying. It also runs the opening handshake, the close handshake and auto-ping.
"""

import asyncio
from inspect import isawaitable as _isawaitable
from types import FunctionType as _FunctionType

from cpython.bytes cimport PyBytes_FromStringAndSize

from picows._frame cimport WSFrame, FrameReader, OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG
from picows._deflate cimport Deflater, Inflater
from picows._socket cimport StreamProtocol
from picows._transport cimport WSListener, WSTransport, new_transport, _monotonic, CLOSE_TIMEOUT_S

from picows.enums import WSCloseCode, WSAutoPingStrategy
from picows.errors import WSError, WSHandshakeError, WSInvalidStatusError, WSProtocolError
from picows.upgrade import WSUpgradeResponse, WSUpgradeResponseWithListener
from picows._transport import WSCloseInfo
from picows import _handshake
from picows import extensions as _extensions

__all__ = ["WSProtocol"]

# The largest response body kept from a refused handshake.
cdef Py_ssize_t MAX_ERROR_BODY = 64 * 1024

cdef enum:
    STATE_HANDSHAKE = 0
    STATE_OPEN = 1
    STATE_CLOSED = 2

cdef object _WSCloseCode = WSCloseCode


cdef class _WSProtocol(StreamProtocol):
    """The engine's asyncio protocol for one connection (client or server side)."""

    def __init__(self, listener_factory, bint is_client, *, logger, bint disconnect_on_exception=True,
                 handshake_timeout=5.0, bint enable_auto_ping=False, double auto_ping_idle_timeout=10.0,
                 double auto_ping_reply_timeout=10.0, auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE,
                 bint enable_auto_pong=True, Py_ssize_t max_frame_size=10 * 1024 * 1024,
                 Py_ssize_t read_buffer_init_size=16 * 1024, bint validate_utf8=True,
                 Py_ssize_t max_head_size=16 * 1024, extra_headers=None, url=None, request=None, key=None,
                 deflate_options=None):
        self.listener_factory = listener_factory
        self.is_client = is_client
        self.logger = logger
        self.disconnect_on_exception = disconnect_on_exception
        self.handshake_timeout = handshake_timeout if handshake_timeout is not None else -1.0
        self.enable_auto_ping = enable_auto_ping
        self.auto_ping_idle_timeout = auto_ping_idle_timeout
        self.auto_ping_reply_timeout = auto_ping_reply_timeout
        self.auto_ping_strategy = auto_ping_strategy
        self.enable_auto_pong = enable_auto_pong
        self.max_head_size = max_head_size
        self.extra_headers = extra_headers
        self.deflate_options = deflate_options
        self.url = url
        self.client_request = request
        self.key = key
        self.reader = FrameReader(is_client, max_frame_size, read_buffer_init_size, validate_utf8)
        self.state = STATE_HANDSHAKE
        self.loop = asyncio.get_running_loop()
        if is_client:
            self.handshake_future = self.loop.create_future()

    # ---- asyncio.BufferedProtocol -----------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = new_transport(self, transport, self.is_client, self.loop, self.logger)
        if self.handshake_timeout > 0:
            self.handshake_timer = self.loop.call_later(self.handshake_timeout, self._on_handshake_timeout)
        if self.is_client:
            transport.write(self.client_request.to_bytes())

    def get_buffer(self, Py_ssize_t sizehint):
        return self.reader.get_buffer_view(sizehint)

    def buffer_updated(self, Py_ssize_t nbytes):
        self.on_data(nbytes)

    # ---- StreamProtocol: the C-level interface of picows' SocketTransport -------------------------------------

    cdef char* get_read_ptr(self, Py_ssize_t* size) except NULL:
        return self.reader.get_write_ptr(0, size)

    cdef on_connection_made(self, transport):
        self.connection_made(transport)

    cdef on_eof(self):
        pass

    cdef on_connection_lost(self, exc):
        self.connection_lost(exc)

    cdef on_pause_writing(self):
        self.pause_writing()

    cdef on_resume_writing(self):
        self.resume_writing()

    cdef int on_data(self, Py_ssize_t nbytes) except -1:
        self.reader.data_added(nbytes)
        if self.state == STATE_OPEN:
            if self.enable_auto_ping:
                self.last_read_time = _monotonic()
            self._process_frames()
        elif self.state == STATE_HANDSHAKE:
            if self.is_client:
                self._client_handshake_data()
            else:
                self._server_handshake_data()
        else:
            # Data after we failed or closed the connection is dropped unread.
            self.reader.start = self.reader.end
            self.reader.compact()

    def eof_received(self):
        # Returning a false value lets asyncio close the transport: a peer that half-closes is gone for us.
        return None

    def pause_writing(self):
        if self.listener is not None:
            try:
                self.listener.pause_writing()
            except Exception as exc:
                self._on_listener_exception(exc)

    def resume_writing(self):
        if self.listener is not None:
            try:
                self.listener.resume_writing()
            except Exception as exc:
                self._on_listener_exception(exc)

    def connection_lost(self, exc):
        cdef WSTransport t = self.transport
        cdef bint was_open = self.listener is not None
        self.state = STATE_CLOSED
        for timer in (self.handshake_timer, self.ping_timer, self.pong_timer, t._close_timer):
            if timer is not None:
                timer.cancel()
        self.handshake_timer = self.ping_timer = self.pong_timer = t._close_timer = None
        t.is_disconnected = True
        if self.handshake_future is not None and not self.handshake_future.done():
            self._fail_client_handshake_on_eof(exc)
        if t._rtt_future is not None and not t._rtt_future.done():
            t._rtt_future.set_exception(WSError("the connection closed before the pong arrived"))
        if was_open and self.listener is not None:
            try:
                self.listener.on_ws_disconnected(t)
            except Exception as cb_exc:
                self.logger.exception("exception in on_ws_disconnected")
                if t._error is None:
                    t._error = cb_exc
        if not t._disconnected_future.done():
            t._disconnected_future.set_result(None)
        # Break the listener <-> transport cycles early; the frame reader's buffer goes with the protocol.
        t._protocol = None

    # ---- opening handshake ------------------------------------------------------------------------------

    def _on_handshake_timeout(self):
        self.handshake_timer = None
        if self.state != STATE_HANDSHAKE:
            return
        msg = f"the WebSocket handshake did not complete within {self.handshake_timeout} s"
        self.logger.info(msg)
        if self.is_client and not self.handshake_future.done():
            self.handshake_future.set_exception(_handshake_timeout_error(msg))
        self.state = STATE_CLOSED
        self.transport.underlying_transport.abort()

    cdef _find_head(self):
        # Returns the head as bytes once the blank line has arrived, else None. Scans only new bytes.
        cdef FrameReader r = self.reader
        cdef bytes data = PyBytes_FromStringAndSize(r.buf, r.end)
        cdef Py_ssize_t idx = _handshake.find_head_end(data, self.scanned)
        if idx < 0:
            self.scanned = r.end
            return None
        self.head_size = idx
        return data

    def _server_handshake_data(self):
        cdef FrameReader r = self.reader
        if self.factory_pending:
            return
        data = self._find_head()
        if data is None:
            if r.end > self.max_head_size:
                self._reject(_handshake.HandshakeRejection(
                    431, f"the request head is over {self.max_head_size} bytes"))
            return
        if self.head_size > self.max_head_size:
            self._reject(_handshake.HandshakeRejection(431, f"the request head is over {self.max_head_size} bytes"))
            return
        head = data[:self.head_size]
        try:
            request = _handshake.parse_request(head)
        except _handshake.HandshakeRejection as rejection:
            self._reject(rejection)
            return
        self.transport.request = request

        try:
            result = self.listener_factory(request)
        except Exception:
            self.logger.exception("exception in the listener factory")
            self._send_and_close(WSUpgradeResponse.create_error_response(
                500, b"500 Internal Server Error: the server failed to handle the request\n"))
            return
        if _isawaitable(result):
            # An async factory (an auth check against a database, say): answer once it is done. The handshake
            # timeout keeps running meanwhile.
            self.factory_pending = True
            task = asyncio.ensure_future(result)
            task.add_done_callback(self._on_factory_done)
            return
        self._answer_upgrade(request, result)

    def _on_factory_done(self, task):
        if self.state != STATE_HANDSHAKE:
            if not task.cancelled():
                task.exception()  # retrieved, so asyncio does not log it as never retrieved
            return
        try:
            result = task.result()
        except BaseException:
            self.logger.exception("exception in the listener factory")
            self._send_and_close(WSUpgradeResponse.create_error_response(
                500, b"500 Internal Server Error: the server failed to handle the request\n"))
            return
        self._answer_upgrade(self.transport.request, result)

    def _answer_upgrade(self, request, result):
        cdef FrameReader r = self.reader
        if result is None:
            self._send_and_close(WSUpgradeResponse.create_error_response(
                404, b"404 Not Found: no WebSocket endpoint at this path\n"))
            return
        if isinstance(result, WSUpgradeResponseWithListener):
            response = result.response
            listener = result.listener
            if int(response.status) != 101:
                self._send_and_close(response)
                return
        else:
            response = None
            listener = result
        if not isinstance(listener, WSListener):
            self.logger.error("the listener factory returned %s, expected a WSListener", type(listener).__name__)
            self._send_and_close(WSUpgradeResponse.create_error_response(
                500, b"500 Internal Server Error: the server failed to handle the request\n"))
            return

        try:
            key = _handshake.check_upgrade_request(request)
        except _handshake.HandshakeRejection as rejection:
            self._reject(rejection)
            return
        deflate_params = None
        if self.deflate_options is not None and (
                response is None or "Sec-WebSocket-Extensions" not in response.headers):
            negotiated = _extensions.server_negotiate(
                request.headers.getall("Sec-WebSocket-Extensions", []), self.deflate_options)
            if negotiated is not None:
                ext_value, deflate_params = negotiated
        if response is None:
            response = _handshake.build_101_response(key)
        else:
            _handshake.complete_101_response(response, key)
        if deflate_params is not None:
            response.headers["Sec-WebSocket-Extensions"] = ext_value
            self._enable_deflate(deflate_params)

        self.transport.response = response
        self.transport.underlying_transport.write(response.to_bytes())
        r.start = self.head_size
        self._open(listener)

    cdef _reject(self, rejection):
        self.logger.info("rejected a WebSocket handshake: %s %s", rejection.status, rejection.reason)
        self._send_and_close(rejection.to_response())

    cdef _send_and_close(self, response):
        self.transport.response = response
        self.state = STATE_CLOSED
        self.transport.underlying_transport.write(response.to_bytes())
        self.transport.underlying_transport.close()

    def _client_handshake_data(self):
        cdef FrameReader r = self.reader
        cdef Py_ssize_t body_len
        if self.pending_response is not None:
            self._collect_error_body(False)
            return
        data = self._find_head()
        if data is None:
            if r.end > self.max_head_size:
                self._fail_client_handshake(WSHandshakeError(
                    f"the server's response head is over {self.max_head_size} bytes",
                    raw_header=PyBytes_FromStringAndSize(r.buf, r.end)))
            return
        head = data[:self.head_size]
        try:
            response = _handshake.parse_response(head)
        except WSHandshakeError as exc:
            self._fail_client_handshake(exc)
            return
        self.transport.request = self.client_request
        self.transport.response = response
        if int(response.status) != 101:
            self.pending_response = (response, head)
            self._collect_error_body(False)
            return
        try:
            _handshake.check_upgrade_response(self.client_request, response, self.key, head)
            ext_value = response.headers.get("Sec-WebSocket-Extensions")
            if ext_value is not None and self.deflate_options is not None:
                self._enable_deflate(_extensions.client_accept(ext_value, self.deflate_options))
            listener = self.listener_factory(self.client_request, response)
            if not isinstance(listener, WSListener):
                raise TypeError(f"the listener factory returned {type(listener).__name__}, expected a WSListener")
        except Exception as exc:
            self._fail_client_handshake(exc)
            return
        r.start = self.head_size
        # The handshake succeeded: ws_connect returns the transport even if the first frames already failed the
        # connection (wait_disconnected() then says why).
        self.handshake_future.set_result((self.transport, listener))
        self._open(listener)

    cdef _collect_error_body(self, bint eof):
        # A refused upgrade: keep the body (up to Content-Length) so the error can show what the server said.
        cdef FrameReader r = self.reader
        response, head = self.pending_response
        length = _handshake.response_body_length(response)
        body_bytes = PyBytes_FromStringAndSize(r.buf + self.head_size, r.end - self.head_size)
        if not eof:
            if length is None or len(body_bytes) < min(length, MAX_ERROR_BODY):
                if len(body_bytes) < MAX_ERROR_BODY:
                    return
        if length is not None:
            body_bytes = body_bytes[:length]
        response.body = body_bytes[:MAX_ERROR_BODY]
        try:
            _handshake.check_upgrade_response(self.client_request, response, self.key, head)
            exc = WSInvalidStatusError(f"server rejected WebSocket connection: HTTP {int(response.status)}",
                                       raw_header=head, raw_body=response.body, response=response)
        except WSHandshakeError as err:
            exc = err
        self._fail_client_handshake(exc)

    cdef _fail_client_handshake(self, exc):
        self.state = STATE_CLOSED
        if not self.handshake_future.done():
            self.handshake_future.set_exception(exc)
        self.transport.underlying_transport.close()

    cdef _fail_client_handshake_on_eof(self, exc):
        cdef FrameReader r = self.reader
        if self.pending_response is not None:
            self._collect_error_body(True)
            return
        err = WSHandshakeError(
            "the connection closed during the WebSocket handshake" + (f": {exc}" if exc is not None else ""),
            raw_header=PyBytes_FromStringAndSize(r.buf, r.end) if r.end else None)
        if exc is not None:
            err.__cause__ = exc
        self.handshake_future.set_exception(err)

    async def wait_handshake(self):
        """Client side: wait for the handshake and return (transport, listener)."""
        return await self.handshake_future

    cdef _enable_deflate(self, params):
        self.reader.inflater = Inflater(params.remote_max_window_bits, params.remote_no_context_takeover)
        self.reader.allow_rsv1 = True
        self.transport._deflater = Deflater(params.local_max_window_bits, params.local_no_context_takeover,
                                            params.compress_level, params.mem_level)
        self.transport._compress_min_size = params.min_size

    cdef _open(self, listener):
        cdef WSTransport t = self.transport
        if self.handshake_timer is not None:
            self.handshake_timer.cancel()
            self.handshake_timer = None
        self.listener = listener
        # A listener written in Python overrides on_ws_frame with a plain function: calling that function directly
        # skips the attribute lookup and bound-method object that cpdef dispatch would pay for on every frame.
        # Cython listeners (cdef classes) keep the C-level call.
        on_frame = getattr(type(listener), "on_ws_frame", None)
        self.on_frame_func = on_frame if isinstance(on_frame, _FunctionType) else None
        self.state = STATE_OPEN
        try:
            self.listener.on_ws_connected(t)
        except Exception as exc:
            self._on_listener_exception(exc)
        if self.state != STATE_OPEN:
            return
        if self.enable_auto_ping:
            self._start_auto_ping()
        self._process_frames()
        # The handshake is done: an idle connection should hold no read buffer (see release_if_empty).
        self.reader.release_if_empty()

    # ---- frames --------------------------------------------------------------------------------------------

    cdef _process_frames(self):
        cdef FrameReader reader = self.reader
        cdef WSTransport t = self.transport
        cdef WSFrame frame
        while not t._disconnect_requested:
            frame = reader.next_frame()
            if frame is None:
                break
            if frame.opcode >= 8:
                if self._handle_control_frame(frame):
                    continue
            elif self.waiting_pong and self._is_pong(frame):
                continue
            self._deliver(frame)
        if reader.error_code != 0 and self.state == STATE_OPEN and not self.failure_scheduled:
            # Fail on the next loop iteration: coroutines woken by the valid frames that came before the bad one
            # (high-level recv()) then get to answer them first. The reader delivers nothing more meanwhile.
            self.failure_scheduled = True
            self.loop.call_soon(self._fail_from_reader)
        reader.compact()

    def _fail_from_reader(self):
        if self.state == STATE_OPEN:
            self._fail_connection(self.reader.error_code, self.reader.error_message)

    cdef bint _is_pong(self, WSFrame frame) except -1:
        try:
            matched = self.listener.is_user_specific_pong(frame)
        except Exception as exc:
            self._on_listener_exception(exc)
            return True
        if matched:
            self._pong_received()
            return True
        return False

    cdef _deliver(self, WSFrame frame):
        try:
            if self.on_frame_func is not None:
                self.on_frame_func(self.listener, self.transport, frame)
            else:
                self.listener.on_ws_frame(self.transport, frame)
        except Exception as exc:
            self._on_listener_exception(exc)

    cdef bint _handle_control_frame(self, WSFrame frame) except -1:
        # Returns True when the engine consumed the frame, False to pass it to the listener.
        cdef WSTransport t = self.transport
        if frame.opcode == OP_PING:
            if self.enable_auto_pong:
                t.send_frame(OP_PONG, frame.payload_ptr, frame.payload_size, True, False)
                return True
            return False
        if frame.opcode == OP_PONG:
            if t._rtt_future is not None:
                if not t._rtt_future.done():
                    t._rtt_future.set_result(None)
                t._rtt_future = None
                self._pong_received()
                return True
            return self.waiting_pong and self._is_pong(frame)
        # CLOSE: the listener sees it first (it may answer with its own code), then the engine completes the
        # close handshake.
        self._on_close_frame(frame)
        return True

    cdef _on_close_frame(self, WSFrame frame):
        cdef WSTransport t = self.transport
        cdef int code = frame.get_close_code_int()
        reason = frame.get_close_reason() or ""
        t._close_received = WSCloseInfo(_WSCloseCode(code), reason)
        t._close_received_first = not t.is_close_frame_sent
        self._deliver(frame)
        if self.state != STATE_OPEN:
            return
        if not t.is_close_frame_sent:
            t.send_close(code)
        if t._close_timer is not None:
            t._close_timer.cancel()
            t._close_timer = None
        if not self.is_client:
            # RFC 6455 7.1.1: the server closes the TCP connection first.
            t.disconnect()
        elif not t._disconnect_requested:
            # The client waits for the server to close TCP, but not forever.
            t._close_timer = self.loop.call_later(CLOSE_TIMEOUT_S, t._on_close_timeout)

    cdef _fail_connection(self, int code, str message):
        cdef WSTransport t = self.transport
        self.logger.info("failing the WebSocket connection with %d: %s", code, message)
        if t._error is None:
            t._error = WSProtocolError(_WSCloseCode(code), message)
        t.send_close(code, message)
        self.state = STATE_CLOSED
        t.disconnect()
        # A peer that stopped reading would keep a graceful close waiting forever.
        if t._close_timer is None:
            t._close_timer = self.loop.call_later(CLOSE_TIMEOUT_S, t._on_close_timeout)

    cdef _on_listener_exception(self, exc):
        cdef WSTransport t = self.transport
        self.logger.error("exception in a WSListener callback", exc_info=exc)
        if not self.disconnect_on_exception or self.state != STATE_OPEN:
            return
        if t._error is None:
            t._error = exc
        t.send_close(1011, "internal error")
        self.state = STATE_CLOSED
        t.disconnect()

    # ---- auto-ping -----------------------------------------------------------------------------------------

    cdef _start_auto_ping(self):
        self.last_read_time = _monotonic()
        self.ping_timer = self.loop.call_later(self.auto_ping_idle_timeout, self._on_ping_timer)

    def _on_ping_timer(self):
        cdef double idle
        self.ping_timer = None
        if self.state != STATE_OPEN or self.transport.is_close_frame_sent:
            return
        if self.auto_ping_strategy == WSAutoPingStrategy.PING_WHEN_IDLE:
            idle = _monotonic() - self.last_read_time
            if idle < self.auto_ping_idle_timeout:
                self.ping_timer = self.loop.call_later(self.auto_ping_idle_timeout - idle, self._on_ping_timer)
                return
        if self.waiting_pong:
            return
        self.waiting_pong = True
        self.pong_timer = self.loop.call_later(self.auto_ping_reply_timeout, self._on_pong_timeout)
        try:
            self.listener.send_user_specific_ping(self.transport)
        except Exception as exc:
            self._on_listener_exception(exc)

    def _on_pong_timeout(self):
        cdef WSTransport t = self.transport
        self.pong_timer = None
        if self.state != STATE_OPEN:
            return
        self.logger.info("no pong within %.1f s of the auto-ping: closing the connection",
                         self.auto_ping_reply_timeout)
        if t._error is None:
            t._error = WSError(f"no pong received within auto_ping_reply_timeout={self.auto_ping_reply_timeout} s")
        t.send_close(1011, "keepalive ping timeout")
        self.state = STATE_CLOSED
        t.disconnect(False)

    def notify_pong(self):
        """WSTransport.notify_user_specific_pong_received() lands here."""
        self._pong_received()

    cdef _pong_received(self):
        if not self.waiting_pong:
            return
        self.waiting_pong = False
        if self.pong_timer is not None:
            self.pong_timer.cancel()
            self.pong_timer = None
        if self.enable_auto_ping and self.ping_timer is None and self.state == STATE_OPEN:
            self.last_read_time = _monotonic()
            self.ping_timer = self.loop.call_later(self.auto_ping_idle_timeout, self._on_ping_timer)


def _handshake_timeout_error(msg):
    from picows.errors import WSHandshakeTimeoutError
    return WSHandshakeTimeoutError(msg)


class WSProtocol(_WSProtocol, asyncio.BufferedProtocol):
    """The asyncio protocol object asyncio drives for each picows connection (internal)."""

    __slots__ = ()
