# cython: annotation_typing=False
"""Turn incoming data frames into messages for ``recv()``, with a bounded queue.

:class:`Assembler` knows nothing about sockets: the listener feeds it complete
messages (:meth:`Assembler.put`) or fragments (:meth:`Assembler.put_fragment`),
and consumers take them with :meth:`Assembler.get` or
:meth:`Assembler.get_streaming`.  Flow control is delegated to two injected
callables, ``pause`` and ``resume``, which the connection wires to the socket's
``pause_reading``/``resume_reading``; tests pass plain functions.

Speed matters here, because every message goes through this class:

* a message that arrives while a consumer waits resolves the consumer's waiter
  directly and never touches the queue, and resumes the consumer at once
  (see ``_Waiter._finish``) instead of on the next loop pass;
* ``get()`` returns one object (``_Waiter``) that is both the coroutine and what
  its task waits on, finishing with the message through ``am_send`` (``_slots.h``)
  instead of a ``StopIteration``; the task itself parks on one reused
  ``asyncio.Future`` per connection;
* a consumer that finds a message queued gets it at the coroutine's first step;
* a message is stored exactly as it will be returned (``str`` or ``bytes``);
  converting only happens when ``decode`` asks for the other type.
"""

from __future__ import annotations

import asyncio
import codecs
import contextvars
import sys
from collections import deque
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, NoReturn, cast

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

_context_run = contextvars.Context.run
_Future = asyncio.Future
_done = asyncio.Future.done
_remove_done_callback = asyncio.Future.remove_done_callback
_set_result = asyncio.Future.set_result
_copy_context = contextvars.copy_context
_CancelledError = asyncio.CancelledError

# The task's wake-up reads the result of the future it is called with, and for an exact asyncio.Future it
# reads it in C; for any other object it calls ``result()`` by a C-string method name (3.11: ~1,400
# instructions). So a waiter that finished with a result wakes the task with an already finished Future
# (one per connection) instead of itself. CPython's Task only reads that future's result (3.9-3.14 checked).
_WAKE_WITH_DONE_FUTURE = sys.implementation.name == "cpython" and (3, 9) <= sys.version_info < (3, 15)

# Compiled by Cython (pure-Python mode), or running as plain Python.
_COMPILED = not __file__.endswith(".py")
# Whether picows_future_callback0() can read a parked task's wake-up in C (_slots.h), found out by
# _probe_future_layout() on the first connection's loop.
_FAST_CALLBACK0 = False
_callback0_probed = False


def _probe_future_layout(loop: asyncio.AbstractEventLoop) -> None:
    # Locate a future's first callback and its context (_slots.h), then check through the public API that
    # taking them in C does what remove_done_callback() does; anything unexpected leaves the Python path on.
    global _FAST_CALLBACK0, _callback0_probed
    _callback0_probed = True
    future: asyncio.Future[None] = _Future(loop=loop)
    context = contextvars.copy_context()
    future.add_done_callback(_noop_callback, context=context)
    ok = False
    if type(future).__module__ == "_asyncio" and picows_probe_future_layout(future, _noop_callback, context):  # type: ignore[name-defined]  # noqa: F821
        found = picows_future_callback0(future)  # type: ignore[name-defined]  # noqa: F821
        if found is _noop_callback and picows_future_take0(future) is context:  # type: ignore[name-defined]  # noqa: F821
            ok = not future._callbacks and future.remove_done_callback(_noop_callback) == 0
    if not ok:
        picows_forget_future_layout()  # type: ignore[name-defined]  # noqa: F821
    future.cancel()
    _FAST_CALLBACK0 = ok


def _noop_callback(future: object) -> None:
    pass


def _callback0_in_c() -> bool:
    """Whether a parked task's wake-up is read in C (for tests: it is on CPython 3.10-3.14, compiled)."""
    return _FAST_CALLBACK0


# _Waiter states, as a future.
_PENDING = 0
_RESULT = 1
_EXCEPTION = 2
_CANCELLED = 3

# _Waiter steps, as a coroutine.
_CREATED = 0
_STARTED = 1
_FINISHED = 2

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


class _Waiter:
    """The coroutine ``recv()`` returns, and the one-shot future its task waits on: one object for both.

    Per message, ``recv()`` used to cost a coroutine (plus its locals, plus the wrapper Cython creates when
    Python code awaits a Cython coroutine) and an ``asyncio.Future`` (~1,600 instructions to create: keyword
    parsing, a ``loop.get_debug()`` call, a keyword dict), and the eager hand-over had to dig the task's
    wake-up out of the future's callback list. This object is all of that in one allocation from a free
    list:

    * as a coroutine (``__await__``, ``send``, ``throw``, ``close``; so ``asyncio.create_task(ws.recv())``
      works), nothing happens until it is first stepped, as with ``async def``: then it takes a queued
      message at once, or registers with the assembler and suspends;
    * as a future, it implements what asyncio's Task uses of one (``_asyncio_future_blocking``, ``_loop``,
      ``add_done_callback``, ``cancel``, ``result``) and keeps the one callback, the task's wake-up, in a
      field. There is no ``get_loop()`` on purpose: the Task then reads ``_loop`` (as
      ``asyncio.futures._get_loop`` does), a plain attribute read instead of a bound method and a call.
      Where the Task's C path for its own futures is known (``_WAKE_WITH_DONE_FUTURE``), a suspending
      ``recv()`` yields the assembler's parking future instead (``_waiter_yielded``), and ``_finish`` takes
      the task's wake-up back off it.

    Created without an assembler (``_create_future``) it is only the future, for ``get_streaming``.
    """

    # Declared for mypy; compiled, the .pxd declares them as C fields.
    _asyncio_future_blocking: bool | None
    _loop: asyncio.AbstractEventLoop
    _callback: Callable[[Any], object] | None
    _context: contextvars.Context | None
    _more: list[tuple[Callable[[Any], object], contextvars.Context]] | None
    _state: int
    _result: Any
    _cancel_msg: Any
    _done_future: asyncio.Future[None] | None
    _parking: asyncio.Future[None] | None
    _assembler: Assembler | None
    _decode: bool | None
    _for_next: bool
    _step: int

    def __await__(self) -> Generator[Any, None, None]:
        return self  # an iterator is all await needs

    def __iter__(self) -> _Waiter:
        return self

    def __next__(self) -> Any:
        # Compiled, `await` and the Task use am_send (_slots.h) instead, which returns the message without
        # a StopIteration; this is the iterator protocol's path, for everything else.
        result = _waiter_step(self)
        if result is self:
            return _waiter_yielded(self)
        raise StopIteration(result)

    def send(self, value: Any) -> Any:
        """Step the coroutine (the coroutine protocol's ``send``); ``value`` must be ``None``."""
        if value is not None:
            raise TypeError("can't send non-None value to the recv() coroutine")
        return self.__next__()

    def throw(self, typ: Any, val: Any = None, tb: TracebackType | None = None) -> Any:
        """Raise the exception thrown in at the point of waiting (cancellation, mostly)."""
        if val is None:
            val = typ() if isinstance(typ, type) else typ
        if tb is not None:
            val = val.with_traceback(tb)
        self._abandon()
        self._raise_as(val)

    def close(self) -> None:
        """Stop waiting: give up the assembler's slot, keeping a message that already arrived."""
        self._abandon()

    def _abandon(self) -> None:
        # The coroutine ends without returning its message: cancelled, closed or thrown into.
        step = self._step
        self._step = _FINISHED
        assembler = self._assembler
        if assembler is None or step != _STARTED:
            return
        if assembler._waiter is self:
            assembler._waiter = None
        if self._state == _PENDING:
            self._state = _CANCELLED
        elif self._state == _RESULT:
            # The message arrived as we were cancelled: don't lose it.
            assembler._queue.appendleft(self._result)
            self._result = None

    def _raise(self) -> NoReturn:
        # The outcome of a waiter that did not get a message: the close exception, or CancelledError.
        if self._state == _EXCEPTION:
            self._raise_as(self._result)
        msg = self._cancel_msg
        raise _CancelledError() if msg is None else _CancelledError(msg)

    def _raise_as(self, exc: BaseException) -> NoReturn:
        # ``async for`` ends on a clean close: the iteration's coroutine raises StopAsyncIteration for it.
        assembler = self._assembler
        if self._for_next and assembler is not None and exc is assembler._closed and assembler._clean_close:
            raise StopAsyncIteration
        raise exc

    def done(self) -> bool:
        """``True`` once a result, an exception or a cancellation is set."""
        return self._state != _PENDING

    def cancelled(self) -> bool:
        """``True`` if the waiter was cancelled."""
        return self._state == _CANCELLED

    def result(self) -> Any:
        """The message; raises the exception set, or ``CancelledError``."""
        state = self._state
        if state == _RESULT:
            return self._result
        if state == _EXCEPTION:
            raise self._result
        if state == _CANCELLED:
            msg = self._cancel_msg
            raise _CancelledError() if msg is None else _CancelledError(msg)
        raise asyncio.InvalidStateError("Result is not set.")

    def exception(self) -> BaseException | None:
        """The exception set, or ``None``; raises ``CancelledError`` if cancelled."""
        state = self._state
        if state == _EXCEPTION:
            return cast("BaseException", self._result)
        if state == _RESULT:
            return None
        return cast("BaseException | None", self.result())  # raises

    def add_done_callback(self, fn: Callable[[Any], object], *, context: contextvars.Context | None = None) -> None:
        """Call ``fn(self)`` once done, through the loop (the waiting task's wake-up)."""
        if context is None:
            context = _copy_context()
        if self._state != _PENDING:
            self._loop.call_soon(fn, self, context=context)
        elif self._callback is None:
            self._callback = fn
            self._context = context
        else:
            if self._more is None:
                self._more = []
            self._more.append((fn, context))

    def remove_done_callback(self, fn: Callable[[Any], object]) -> int:
        """Forget the callbacks equal to ``fn``; return how many were removed."""
        removed = 0
        if self._callback is not None and self._callback == fn:
            self._callback = self._context = None
            removed = 1
        if self._more:
            kept = [(f, c) for f, c in self._more if f != fn]
            removed += len(self._more) - len(kept)
            self._more = kept
        return removed

    def cancel(self, msg: Any = None) -> bool:
        """Cancel the waiter (the Task does, when it is cancelled); ``False`` if already done."""
        if self._state != _PENDING:
            return False
        self._cancel_msg = msg
        self._finish(_CANCELLED, None, False)
        return True

    def set_result(self, result: Any) -> None:
        """Finish with ``result``, waking the task through the loop."""
        if self._state != _PENDING:
            raise asyncio.InvalidStateError("the waiter is already done")
        self._finish(_RESULT, result, False)

    def set_exception(self, exc: BaseException) -> None:
        """Finish with ``exc``, waking the task through the loop."""
        if self._state != _PENDING:
            raise asyncio.InvalidStateError("the waiter is already done")
        self._finish(_EXCEPTION, exc, False)

    def _finish(self, state: int, value: Any, eager: bool) -> None:
        # Eager: called from a loop callback (the engine handling a read) with no task running, so the task's
        # wake-up can run right here, as an eager task would: the task resumes now and what it sends joins the
        # engine's gathered write, instead of a handle and a loop pass per message. Inside a running task
        # asyncio cannot step another one, so the wake-up goes through the loop as usual.
        self._state = state
        self._result = value
        callback = self._callback
        context = self._context
        more = self._more
        self._callback = self._context = self._more = None
        parking = self._parking
        from_parking = False
        if parking is not None:
            # The task waits on the assembler's parking future (see _waiter_yielded): take its wake-up off
            # that future, which stays pending for the next recv(). No callbacks: it was cancelled with the
            # task meanwhile, and the task is already being woken with CancelledError.
            self._parking = None
            parked = picows_future_callback0(parking) if _FAST_CALLBACK0 else None  # type: ignore[name-defined]  # noqa: F821
            parked_context = None
            parked_rest = None
            if parked is not None:  # its only callback, read in C (see _slots.h)
                parked_context = picows_future_take0(parking)  # type: ignore[name-defined]  # noqa: F821
            else:
                callbacks = parking._callbacks
                if callbacks:
                    for fn, _ctx in callbacks:
                        _remove_done_callback(parking, fn)
                    parked, parked_context = callbacks[0]
                    parked_rest = callbacks[1:]
            if parked is not None:
                # The task's wake-up goes first; the coroutine's own callbacks, if any, after it.
                if callback is not None and context is not None:
                    more = [(callback, context), *(more or ())]
                if parked_rest:
                    more = [*parked_rest, *(more or ())]
                callback, context = parked, parked_context
                from_parking = True
        if callback is None and more is None:
            return
        loop = self._loop
        if callback is not None and context is not None:
            # The task's wake-up reads the result of what it is called with: in C for a finished asyncio.Future,
            # by a method call for anything else (see _WAKE_WITH_DONE_FUTURE). Other callbacks get the waiter.
            done_future = self._done_future
            arg = done_future if from_parking and state == _RESULT and done_future is not None else self
            if eager and more is None:
                try:
                    _context_run(context, callback, arg)
                    return
                except RuntimeError:
                    pass  # the context or the task could not be entered, so nothing ran: let the loop do it
            if parking is not None and not _done(parking):
                # The task stays parked until the loop runs its wake-up, and cancelling it meanwhile cancels
                # the future it waits on: finish that future (so cancel() answers False and the task
                # injects CancelledError itself, as with any finished future); the next recv() makes another.
                _set_result(parking, None)
            loop.call_soon(callback, arg, context=context)
        if more is not None:
            for fn, ctx in more:
                loop.call_soon(fn, self, context=ctx)


def _waiter_step(obj: object) -> Any:
    # One step of the coroutine: returns the waiter itself to suspend (_waiter_yielded then gives the future
    # to yield), or the coroutine's return value; raises its exception. Takes an object: C calls it
    # through a plain PyObject* function pointer (_slots.h).
    waiter: _Waiter = obj  # type: ignore[assignment]
    if waiter._step == _FINISHED:
        raise RuntimeError("cannot reuse already awaited coroutine")
    state = waiter._state
    if state == _PENDING:
        if waiter._step == _CREATED:
            waiter._step = _STARTED
            if waiter._assembler is not None:
                result = waiter._assembler._start(waiter)
                if result is not waiter:
                    return result  # a message was queued
        return waiter
    waiter._step = _FINISHED
    if state != _RESULT:
        waiter._raise()
    if waiter._assembler is None:
        return None
    message = waiter._result
    waiter._result = None
    decode = waiter._decode
    return message if decode is None else _convert(message, decode)


def _waiter_yielded(obj: object) -> Any:
    # What a suspending coroutine yields to its task: the assembler's parking future if it has one, else
    # itself. The parking future is an asyncio.Future that is never finished, only reused: for one of its
    # own futures the Task takes its C path (~1,700 instructions fewer than the attribute lookups and calls
    # of the generic path for a foreign future), and _finish takes the task's wake-up back off it.
    waiter: _Waiter = obj  # type: ignore[assignment]
    parking = waiter._parking
    if parking is None:
        waiter._asyncio_future_blocking = True
        return waiter
    parking._asyncio_future_blocking = True
    return parking


def _blank_waiter() -> _Waiter:
    # No __init__ call: compiled, this is the type's allocation from a free list, which already sets every
    # field to None, 0 or False; the stores below are for the plain-Python class.
    waiter = _Waiter.__new__(_Waiter)
    if _COMPILED:
        return waiter
    waiter._loop = None  # type: ignore[assignment]  # set before it is yielded to a task
    waiter._done_future = None
    waiter._parking = None
    waiter._state = _PENDING
    waiter._callback = None
    waiter._context = None
    waiter._more = None
    waiter._result = None
    waiter._cancel_msg = None
    waiter._assembler = None
    waiter._decode = None
    waiter._for_next = False
    return waiter


def _new_waiter(loop: asyncio.AbstractEventLoop, done_future: asyncio.Future[None] | None) -> _Waiter:
    # A plain future (get_streaming), already started as a coroutine.
    waiter = _blank_waiter()
    waiter._loop = loop
    waiter._done_future = done_future
    waiter._asyncio_future_blocking = False
    waiter._step = _STARTED
    return waiter


def _new_recv(assembler: Assembler, decode: bool | None, for_next: bool) -> _Waiter:
    # The coroutine get()/get_next() return; its loop is set when it starts (Assembler._start).
    waiter = _blank_waiter()
    # None, not False: asyncio.isfuture() is false until it is yielded as a future, so ensure_future(),
    # wait_for() and gather() wrap ws.recv() in a task like any coroutine instead of taking it for a future.
    waiter._asyncio_future_blocking = None
    waiter._assembler = assembler
    waiter._decode = decode
    waiter._for_next = for_next
    waiter._step = _CREATED
    return waiter


def _new_waiter_for_tests(loop: asyncio.AbstractEventLoop) -> _Waiter:
    """A pending waiter outside any assembler (for tests of its future protocol)."""
    return _new_waiter(loop, None)


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
        self._waiter: _Waiter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done_future: asyncio.Future[None] | None = None
        self._parking: asyncio.Future[None] | None = None
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
        if waiter is not None and waiter._state == _PENDING:
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

    def _resolve(self, waiter: _Waiter, message: Data) -> None:
        # Eager wake-up (see _Waiter._finish) only when no task is running: we are then in a loop callback.
        loop = self._loop
        tasks = _current_tasks
        eager = loop is not None and (tasks.get(loop) if tasks is not None else _current_task(loop)) is None
        waiter._finish(_RESULT, message, eager)

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
        if waiter is not None and waiter._state == _PENDING:
            self._waiter = None
            waiter._finish(_EXCEPTION, exc, False)

    # -- consumer side ------------------------------------------------------

    def get(self, decode: bool | None = None) -> Coroutine[Any, Any, Data]:
        """Return the next message, waiting for it if needed (a coroutine).

        Args:
            decode: ``None`` returns text as ``str`` and binary as ``bytes``;
                ``True`` always returns ``str``, ``False`` always ``bytes``.

        Raises:
            ConcurrencyError: another coroutine is already waiting.
            BaseException: the exception given to :meth:`close`, once the
                queue is drained.
        """
        return _new_recv(self, decode, False)  # type: ignore[return-value]  # a coroutine by protocol

    def get_next(self) -> Coroutine[Any, Any, Data]:
        """Like :meth:`get`, for ``async for``: after a clean close, raise :class:`StopAsyncIteration`."""
        return _new_recv(self, None, True)  # type: ignore[return-value]  # a coroutine by protocol

    def _start(self, waiter: _Waiter) -> Any:
        # The first step of a get()/get_next() coroutine: the message if one is queued, else the waiter,
        # registered as the one waiting.
        if self._queue:
            waiter._step = _FINISHED
            message = self._pop()
            decode = waiter._decode
            return message if decode is None else _convert(message, decode)
        try:
            loop = self._new_waiter()
        except BaseException as exc:
            waiter._step = _FINISHED
            waiter._raise_as(exc)
        self._waiter = waiter
        waiter._loop = loop
        waiter._done_future = done_future = self._done_future
        if done_future is not None:  # the Task's C path is known to be taken (_WAKE_WITH_DONE_FUTURE)
            parking = self._parking
            if parking is None or _done(parking):  # first use, or cancelled with a task
                parking = self._parking = _Future(loop=loop)
            waiter._parking = parking
        return waiter

    def _new_waiter(self) -> asyncio.AbstractEventLoop:
        # May a new consumer wait? Returns the loop, learnt once per connection.
        if self._waiter is not None or self._stream is not None:
            raise ConcurrencyError("another coroutine is already waiting for the next message")
        if self._closed is not None:
            raise self._closed
        loop = self._loop
        return self._init_loop() if loop is None else loop

    def _init_loop(self) -> asyncio.AbstractEventLoop:
        # Once per connection: on Python 3.11 finding the running loop costs a getpid() system call.
        loop = self._loop = asyncio.get_running_loop()
        if _COMPILED and not _callback0_probed:
            _probe_future_layout(loop)
        if _WAKE_WITH_DONE_FUTURE:
            done_future: asyncio.Future[None] = asyncio.Future(loop=loop)
            done_future.set_result(None)
            self._done_future = done_future
        return loop

    def _create_future(self) -> _Waiter:
        loop = self._loop
        if loop is None:
            loop = self._init_loop()
        return _new_waiter(loop, self._done_future)

    def _pop(self) -> Data:
        # The next queued message; reading resumes once the queue is down to the low-water mark.
        queue = self._queue
        message: Data = queue.popleft()
        if self.paused and len(queue) <= self._low:
            self.paused = False
            self._resume()
        return message

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
        if waiter is not None and waiter._state == _PENDING:
            self._waiter = None
            self._resolve(waiter, b"")


if _COMPILED:
    # Compiled: give _Waiter an am_send slot (see _slots.h), so that `await ws.recv()` returns the message
    # without raising StopIteration. Both names are C-level, declared in messages.pxd.
    picows_install_am_send(_Waiter, _waiter_step, _waiter_yielded)  # type: ignore[name-defined]  # noqa: F821
else:
    # asyncio.isfuture() looks for the attribute on the class (compiled, the C field's descriptor is there).
    _Waiter._asyncio_future_blocking = None
