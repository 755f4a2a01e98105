# cython: annotation_typing=False
"""Turn incoming data frames into messages for ``recv()``, with a bounded queue.

:class:`Assembler` knows nothing about sockets: the listener feeds it complete
messages (:meth:`Assembler.put`) or fragments (:meth:`Assembler.put_fragment`),
and consumers take them with :meth:`Assembler.get` or
:meth:`Assembler.get_streaming`.  Flow control is delegated to two injected
callables, ``pause`` and ``resume``, which the connection wires to the socket's
``pause_reading``/``resume_reading``; tests pass plain functions.

Speed matters here, because every message goes through this class:

* a message that arrives while a consumer waits resolves the consumer's future
  directly and never touches the queue, and resumes the consumer at once
  (see ``Assembler._resolve``) instead of on the next loop pass;
* a consumer that finds a message queued gets it without creating a future;
* a message is stored exactly as it will be returned (``str`` or ``bytes``);
  converting only happens when ``decode`` asks for the other type.
"""

from __future__ import annotations

import asyncio
import codecs
import contextvars
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import cast

from .exceptions import ConcurrencyError, PayloadTooBig

__all__ = ["Assembler", "Data", "parse_limits"]


def _find_current_task() -> tuple[
    Callable[[asyncio.AbstractEventLoop], object], dict[asyncio.AbstractEventLoop, object] | None
]:
    # asyncio.current_task(loop) without a Python frame: it is C on 3.12+. Python 3.11 has only a Python
    # function, but also the dict it reads, and a C-level lookup in that dict costs less than any call.
    import _asyncio

    current_task = getattr(_asyncio, "current_task", None)
    if current_task is not None:
        return cast("Callable[[asyncio.AbstractEventLoop], object]", current_task), None
    current_tasks = getattr(_asyncio, "_current_tasks", None)
    return asyncio.current_task, cast("dict[asyncio.AbstractEventLoop, object] | None", current_tasks)


_current_task, _current_tasks = _find_current_task()

# The methods the per-message path calls, looked up once: a call through the method descriptor skips the
# lookup by name that ``waiter.set_result(...)`` costs each time. The assembler creates its futures itself
# (_create_future), always of exactly this type.
_Future = asyncio.Future
_set_result = asyncio.Future.set_result
_done = asyncio.Future.done
_remove_done_callback = asyncio.Future.remove_done_callback
_context_run = contextvars.Context.run

#: A message: ``str`` for a text message, ``bytes`` for a binary one.
Data = str | bytes


def _noop() -> None:
    pass


def parse_limits(limit: int | tuple[int, int | None] | None, name: str) -> tuple[float, float]:
    """Normalise a ``max_queue``/``write_limit`` style option into ``(high, low)``.

    An int means ``(high, high // 4)``; ``None`` means no limit.
    """
    if limit is None:
        return float("inf"), float("inf")
    if isinstance(limit, tuple):
        high, low = limit
        if low is None:
            low = high // 4
    else:
        high, low = limit, limit // 4
    if high < 0 or low < 0 or low > high:
        raise ValueError(f"{name}={limit!r}: need 0 <= low <= high (got high={high}, low={low})")
    return high, low


def _convert(message: Data, decode: bool | None) -> Data:
    if decode is None:
        return message
    if decode:
        return message if isinstance(message, str) else message.decode()
    return message.encode() if isinstance(message, str) else message


class Assembler:
    """Bounded queue of incoming messages, with fragment reassembly.

    Args:
        high: pause reading when this many messages are queued.
        low: resume reading when the queue drains down to this many.
        pause: called (once) when the queue reaches ``high``.
        resume: called (once) when it drains down to ``low`` after a pause.
        max_size: largest message accepted, in bytes; ``None`` for no limit.
            :meth:`put_fragment` raises :class:`PayloadTooBig` beyond it
            (complete messages are checked by the caller, before they are built).
    """

    def __init__(
        self,
        high: float = 16,
        low: float | None = None,
        pause: Callable[[], None] = _noop,
        resume: Callable[[], None] = _noop,
        max_size: int | None = None,
    ) -> None:
        self._queue: deque[Data] = deque()
        self._high = high
        self._low = high // 4 if low is None else low
        self._pause = pause
        self._resume = resume
        #: ``True`` while reading is paused because the queue is full.
        self.paused = False
        self.max_size = max_size
        #: The fragments of the message being received, or ``None`` between
        #: messages.  The listener reads it to take the single-frame fast path.
        self.fragments: list[bytes] | None = None
        self._text = False
        self._size = 0
        self._waiter: asyncio.Future[Data] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed: BaseException | None = None
        self._clean_close = False
        # Streaming state: a deque of raw pieces while get_streaming() runs.
        self._stream: deque[Data] | None = None
        self._stream_done = False
        self._stream_discard = False

    def __len__(self) -> int:
        """Number of complete messages waiting in the queue."""
        return len(self._queue)

    # -- producer side (called by the listener) ---------------------------

    def put(self, message: Data) -> None:
        """Deliver a complete message."""
        if self._stream is not None:
            self._text = isinstance(message, str)
            self._stream_put(message, True)
            return
        waiter = self._waiter
        if waiter is not None and not _done(waiter):
            # A consumer is waiting: hand it over, no queue round trip.
            self._waiter = None
            self._resolve(waiter, message)
            return
        queue = self._queue
        queue.append(message)
        if len(queue) >= self._high and not self.paused:
            self.paused = True
            self._pause()

    def put_fragment(self, data: bytes, text: bool | None, fin: bool) -> None:
        """Deliver one frame of a fragmented message.

        Args:
            data: the frame's payload (a copy: frames don't outlive the callback).
            text: ``True``/``False`` for the first frame (TEXT/BINARY),
                ``None`` for a CONTINUATION frame.
            fin: ``True`` on the last frame of the message.

        Raises:
            PayloadTooBig: the message exceeds ``max_size``.
            UnicodeDecodeError: a text message is not valid UTF-8.
        """
        if text is not None:
            self.fragments = []
            self._text = text
            self._size = len(data)
        else:
            self._size += len(data)
        if self.max_size is not None and self._size > self.max_size:
            self.fragments = None
            raise PayloadTooBig(f"message of at least {self._size} bytes exceeds max_size={self.max_size}")
        if self._stream is not None or self._stream_discard:
            if fin:
                self.fragments = None
            if self._stream_discard:
                self._stream_discard = not fin
                return
            self._stream_put(data, fin)
            return
        fragments = self.fragments
        assert fragments is not None, "CONTINUATION frame without a message in progress"
        fragments.append(data)
        if fin:
            self.fragments = None
            payload = b"".join(fragments)
            self.put(payload.decode() if self._text else payload)

    def _resolve(self, waiter: asyncio.Future[Data], message: Data) -> None:
        # set_result() would schedule the waiting task's wake-up for the next loop pass: a handle and a
        # loop pass per message, most of what the high-level API cost over the listener API. Called
        # from a loop callback (the engine handling a read), no task is running, so the wake-up can run
        # right here, as an eager task would: the task resumes now, and what it sends joins the
        # engine's gathered write. Inside a running task asyncio cannot step another one, so the wake-up
        # goes through the loop as usual. The one callback on the future is the task's wake-up: nothing
        # else ever sees this future.
        loop = self._loop
        tasks = _current_tasks
        if loop is not None and (tasks.get(loop) if tasks is not None else _current_task(loop)) is None:
            callbacks = waiter._callbacks
            if callbacks and len(callbacks) == 1:
                wakeup, context = callbacks[0]
                _remove_done_callback(waiter, wakeup)
                _set_result(waiter, message)
                try:
                    _context_run(context, wakeup, waiter)
                except RuntimeError:
                    # The context or the task could not be entered, so nothing ran: let the loop do it.
                    loop.call_soon(wakeup, waiter, context=context)
                return
        waiter.set_result(message)

    def close(self, exc: BaseException, clean: bool = False) -> None:
        """End the stream of messages: once the queue is drained, consumers get ``exc``.

        ``clean`` marks a normal end: :meth:`get_next` then raises
        :class:`StopAsyncIteration` instead of ``exc``.
        """
        if self._closed is not None:
            return
        self._closed = exc
        self._clean_close = clean
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_exception(exc)

    # -- consumer side ------------------------------------------------------

    async def get(self, decode: bool | None = None) -> Data:
        """Return the next message, waiting for it if needed.

        Args:
            decode: ``None`` returns text as ``str`` and binary as ``bytes``;
                ``True`` always returns ``str``, ``False`` always ``bytes``.

        Raises:
            ConcurrencyError: another coroutine is already waiting.
            BaseException: the exception given to :meth:`close`, once the
                queue is drained.
        """
        if self._queue:
            message = self._pop()
        else:
            waiter = self._new_waiter()
            try:
                message = await waiter
            except asyncio.CancelledError:
                self._cancelled(waiter)
                raise
        if decode is None:
            return message
        return _convert(message, decode)

    async def get_next(self) -> Data:
        """Like :meth:`get`, for ``async for``: after a clean close, raise :class:`StopAsyncIteration`."""
        if self._queue:
            return self._pop()
        try:
            waiter = self._new_waiter()
            try:
                message: Data = await waiter
                return message
            except asyncio.CancelledError:
                self._cancelled(waiter)
                raise
        except BaseException as exc:
            if exc is self._closed and self._clean_close:
                raise StopAsyncIteration from None
            raise

    def _new_waiter(self) -> asyncio.Future[Data]:
        if self._waiter is not None or self._stream is not None:
            raise ConcurrencyError("another coroutine is already waiting for the next message")
        if self._closed is not None:
            raise self._closed
        waiter = self._create_future()
        self._waiter = waiter
        return waiter

    def _create_future(self) -> asyncio.Future[Data]:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        # Not asyncio.Future() without a loop: on Python 3.11 finding the running loop costs a getpid() system
        # call per message. Nor uvloop's create_future(), which looks up the Future type and builds the loop=
        # keyword dict each time, or a functools.partial, which copies its keyword dict per call: compiled,
        # this call passes loop= with a constant keyword-names tuple.
        return _Future(loop=loop)

    def _pop(self) -> Data:
        # The next queued message; reading resumes once the queue is down to the low-water mark.
        queue = self._queue
        message: Data = queue.popleft()
        if self.paused and len(queue) <= self._low:
            self.paused = False
            self._resume()
        return message

    def _cancelled(self, waiter: asyncio.Future[Data]) -> None:
        if self._waiter is waiter:
            self._waiter = None
        elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
            # The message arrived as we were cancelled: don't lose it.
            self._queue.appendleft(waiter.result())

    def get_streaming(self, decode: bool | None = None) -> AsyncGenerator[Data, None]:
        """Yield the pieces of the next message as they arrive.

        A message that is already complete comes as one piece.  Text pieces
        are decoded incrementally (a piece may end mid-character: the bytes
        carry over to the next one).  If the consumer stops early, the rest
        of the message is dropped.
        """
        return self._streaming(decode)

    async def _streaming(self, decode: bool | None) -> AsyncGenerator[Data, None]:
        queue = self._queue
        if queue:
            yield _convert(await self.get(), decode)
            return
        if self._waiter is not None or self._stream is not None:
            raise ConcurrencyError("another coroutine is already waiting for the next message")
        if self._closed is not None:
            raise self._closed
        stream: deque[Data] = deque(self.fragments or ())
        self._stream = stream
        self._stream_done = False
        decoder: codecs.IncrementalDecoder | None = None
        want_text: bool | None = None
        try:
            while True:
                while stream:
                    piece = stream.popleft()
                    if self.paused and len(stream) <= self._low:
                        self.paused = False
                        self._resume()
                    if want_text is None:
                        is_text = isinstance(piece, str) or self._text
                        want_text = is_text if decode is None else decode
                        if want_text and not isinstance(piece, str):
                            decoder = codecs.getincrementaldecoder("utf-8")()
                    if isinstance(piece, str):
                        yield piece if want_text else piece.encode()
                    elif decoder is not None:
                        yield decoder.decode(piece)
                    else:
                        yield piece
                if self._stream_done:
                    if decoder is not None:
                        decoder.decode(b"", True)  # raises on a truncated character
                    return
                if self._closed is not None:
                    raise self._closed
                waiter = self._create_future()
                self._waiter = waiter
                try:
                    await waiter
                finally:
                    self._waiter = None
        finally:
            self._stream = None
            if not self._stream_done and self.fragments is not None:
                self._stream_discard = True
            if self.paused and len(queue) <= self._low:
                self.paused = False
                self._resume()

    def _stream_put(self, piece: Data, last: bool) -> None:
        stream = self._stream
        assert stream is not None
        stream.append(piece)
        if last:
            self._stream_done = True
            # Later messages go to the queue, even before the consumer resumes.
            self._stream = None
        if len(stream) >= self._high and not self.paused:
            self.paused = True
            self._pause()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            self._resolve(waiter, b"")
