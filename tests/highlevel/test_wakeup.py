"""How a waiting recv() is resumed (at once from a loop callback, through the loop inside a running task), and
the object recv() returns: a coroutine that is also the future its task waits on (``messages._Waiter``).

Each test runs twice: against the compiled module and against the plain ``messages.py`` source, which is
what runs when the extension is not built.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib.util
import pathlib
from types import ModuleType
from typing import Any, cast

import pytest

import picows.highlevel.messages as compiled
from picows.highlevel.exceptions import ConcurrencyError, ConnectionClosedOK

SOURCE = pathlib.Path(compiled.__file__).with_name("messages.py")


def _load_source() -> ModuleType:
    spec = importlib.util.spec_from_file_location("picows.highlevel._messages_source", SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["compiled", "source"])
def messages(request: pytest.FixtureRequest) -> ModuleType:
    if request.param == "source":
        return _load_source()
    return compiled


async def _waiting_consumer(asm: Any) -> tuple[asyncio.Future[None], list[object]]:
    """Start a task that appends the next message to the returned list; return once it waits in get()."""
    got: list[object] = []

    async def consumer() -> None:
        got.append(await asm.get())

    task = asyncio.ensure_future(consumer())
    await asyncio.sleep(0)
    return task, got


async def test_put_from_a_loop_callback_resumes_the_waiting_task_before_put_returns(messages: Any) -> None:
    asm = messages.Assembler(4, 1)
    task, got = await _waiting_consumer(asm)
    seen_after_put: list[list[object]] = []

    def producer() -> None:  # as the engine does: from a loop callback, no task running
        asm.put("now")
        seen_after_put.append(list(got))

    asyncio.get_running_loop().call_soon(producer)
    await task
    assert seen_after_put == [["now"]]


async def test_put_while_a_task_runs_wakes_the_consumer_through_the_loop(messages: Any) -> None:
    asm = messages.Assembler(4, 1)
    task, got = await _waiting_consumer(asm)
    asm.put("later")  # this test is a task: asyncio cannot step another one inside it
    assert got == []
    await task
    assert got == ["later"]


async def test_resumed_task_runs_in_its_own_context(messages: Any) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    asm = messages.Assembler(4, 1)
    seen: list[str] = []

    async def consumer() -> None:
        var.set("consumer")
        await asm.get()
        seen.append(var.get())

    task = asyncio.ensure_future(consumer())
    await asyncio.sleep(0)
    other = contextvars.Context()
    asyncio.get_running_loop().call_soon(asm.put, "x", context=other)
    await task
    assert seen == ["consumer"]
    assert other.get(var, "unset") == "unset"


async def test_wait_for_timeout_then_the_next_message_is_not_lost(messages: Any) -> None:
    asm = messages.Assembler(4, 1)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asm.get(), 0.01)
    asyncio.get_running_loop().call_soon(asm.put, "after")
    assert await asyncio.wait_for(asm.get(), 1) == "after"


async def test_cancelled_wait_frees_the_slot_for_the_next_recv(messages: Any) -> None:
    asm = messages.Assembler(4, 1)
    task = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    task.cancel("stop")
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    asyncio.get_running_loop().call_soon(asm.put, "next")
    assert await asm.get() == "next"


async def test_close_wakes_a_waiting_task_through_the_loop_with_the_exception(messages: Any) -> None:
    asm = messages.Assembler(4, 1)
    task = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    error = ConnectionResetError("gone")
    asyncio.get_running_loop().call_soon(asm.close, error)
    with pytest.raises(ConnectionResetError):
        await task


# -- recv()'s coroutine and future (_Waiter) ------------------------------------


async def test_waiter_implements_the_future_protocol(messages: Any) -> None:
    waiter = messages._new_waiter_for_tests(asyncio.get_running_loop())  # as get_streaming() uses it
    task = asyncio.ensure_future(_await(waiter))
    await asyncio.sleep(0)
    assert asyncio.isfuture(cast(object, waiter))
    assert not waiter.done() and not waiter.cancelled()
    with pytest.raises(asyncio.InvalidStateError):
        waiter.result()
    calls: list[str] = []
    waiter.add_done_callback(lambda w: calls.append("a"))
    extra = lambda w: calls.append("b")  # noqa: E731
    waiter.add_done_callback(extra)
    waiter.add_done_callback(extra)
    assert waiter.remove_done_callback(extra) == 2
    waiter.add_done_callback(lambda w: calls.append("c"))
    waiter.set_result("r")  # from a task: every callback goes through the loop
    with pytest.raises(asyncio.InvalidStateError):
        waiter.set_result("again")
    assert not waiter.cancel()
    assert waiter.result() == "r" and waiter.exception() is None
    await task
    await asyncio.sleep(0)
    assert calls == ["a", "c"]
    late: list[object] = []
    waiter.add_done_callback(late.append)  # already done: scheduled at once
    await asyncio.sleep(0)
    assert late == [waiter]


async def _await(awaitable: object) -> None:
    await awaitable  # type: ignore[misc]


async def test_get_parks_its_task_on_one_reused_future(messages: Any) -> None:
    asm = messages.Assembler(4, 1)
    parked: list[object] = []
    for n in range(3):
        task = asyncio.ensure_future(asm.get())
        await asyncio.sleep(0)
        parked.append(asm._parking)
        assert asyncio.isfuture(parked[-1]) and not parked[-1].done()
        asyncio.get_running_loop().call_soon(asm.put, str(n))  # from a loop callback, as the engine does
        assert await task == str(n)
    assert parked[0] is parked[1] is parked[2]
    # Put from inside a task, the wake-up goes through the loop and the future is finished (then replaced), so
    # that cancelling the task meanwhile still ends it with CancelledError.
    task = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    asm.put("in a task")
    assert parked[0].done()  # type: ignore[attr-defined]
    assert await task == "in a task"
    task = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    assert asm._parking is not parked[0]
    task.cancel()


async def test_waiter_cancel_and_exception_states(messages: Any) -> None:
    loop = asyncio.get_running_loop()
    cancelled = messages._new_waiter_for_tests(loop)
    assert cancelled.cancel("why")
    assert cancelled.cancelled() and cancelled.done()
    with pytest.raises(asyncio.CancelledError, match="why"):
        cancelled.result()
    with pytest.raises(asyncio.CancelledError):
        cancelled.exception()
    failed = messages._new_waiter_for_tests(loop)
    exc = ValueError("bad")
    failed.set_exception(exc)
    assert failed.exception() is exc
    with pytest.raises(ValueError, match="bad"):
        failed.result()


async def test_get_is_a_coroutine_not_a_future(messages: Any) -> None:
    asm = messages.Assembler(4, 1)
    coro = asm.get()
    assert asyncio.iscoroutine(coro)
    assert not asyncio.isfuture(cast(object, coro))  # so ensure_future() wraps it in a task
    task = asyncio.ensure_future(coro)
    await asyncio.sleep(0)
    asm.put("via task")
    assert await task == "via task"


async def test_nothing_happens_until_the_coroutine_is_stepped(messages: Any) -> None:
    asm = messages.Assembler(4, 1)
    unstarted = asm.get()  # not registered: another get() may wait, a put() queues
    asm.put("a")
    assert await asm.get() == "a"
    unstarted.close()
    asm.put("b")
    assert await asm.get() == "b"


async def test_iterator_protocol_path(messages: Any) -> None:
    # What a driver without am_send uses: __next__ raising StopIteration(message), send(), throw().
    asm = messages.Assembler(4, 1)
    asm.put("queued")
    it = asm.get(decode=False).__await__()
    with pytest.raises(StopIteration) as stop:
        next(it)
    assert stop.value.value == b"queued"
    with pytest.raises(RuntimeError, match="reuse"):
        next(it)

    coro = asm.get()
    it = coro.__await__()
    yielded = it.send(None)  # no message: suspends, yielding the future its task is to wait on
    assert yielded is asm._parking and asyncio.isfuture(yielded)
    with pytest.raises(TypeError):
        it.send("not None")
    asm.put("later")
    with pytest.raises(StopIteration) as stop:
        it.send(None)
    assert stop.value.value == "later"

    coro = asm.get()
    coro.send(None)
    with pytest.raises(ConcurrencyError):
        asm.get().send(None)
    with pytest.raises(KeyError):
        coro.throw(KeyError("thrown in"))
    asm.put("kept")  # the thrown-in coroutine gave its slot up
    assert await asm.get() == "kept"


async def test_closed_coroutine_keeps_a_message_that_already_arrived(messages: Any) -> None:
    asm = messages.Assembler(4, 1)
    coro = asm.get()
    coro.send(None)
    asm.put("arrived")  # resolves the suspended coroutine ...
    coro.close()  # ... which is closed before it returns it
    assert await asm.get() == "arrived"


async def test_async_for_ends_through_the_iterator_protocol_too(messages: Any) -> None:
    asm = messages.Assembler(4, 1)
    coro = asm.get_next()
    coro.send(None)
    closed = ConnectionClosedOK(None, None)
    asm.close(closed, clean=True)
    with pytest.raises(StopAsyncIteration):
        coro.throw(closed)  # what the task does once woken: the close, thrown in
    with pytest.raises(StopAsyncIteration):
        asm.get_next().send(None)


async def test_without_the_done_future_shortcut_the_waiter_is_the_future() -> None:
    # Where the Task's C path is not known (_WAKE_WITH_DONE_FUTURE false: other Pythons), a waiting recv() yields
    # itself and the task is woken with it: the generic path, exercised here on the source module.
    messages = _load_source()
    messages.__dict__["_WAKE_WITH_DONE_FUTURE"] = False
    asm = messages.Assembler(4, 1)
    task = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    assert asm._parking is None
    asyncio.get_running_loop().call_soon(asm.put, "eager")
    assert await task == "eager"
    task = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    task = asyncio.ensure_future(asm.get_next())
    await asyncio.sleep(0)
    asm.close(ConnectionClosedOK(None, None), clean=True)
    with pytest.raises(StopAsyncIteration):
        await task


async def test_parked_wake_up_is_read_in_c_when_compiled() -> None:
    # The compiled module takes the task's wake-up off the parking future through its C fields (_slots.h),
    # once the layout probe on the first connection's loop agreed with the public API; the source module
    # uses _callbacks. Both must leave the parking future without callbacks and reusable.
    import sys

    asm = compiled.Assembler(4, 1)
    for n in range(3):
        task = asyncio.ensure_future(asm.get())
        await asyncio.sleep(0)
        asyncio.get_running_loop().call_soon(asm.put, str(n))
        assert await task == str(n)
        parking = asm._parking
        assert parking is not None and not parking.done() and parking._callbacks is None
    if sys.implementation.name == "cpython" and sys.version_info < (3, 15):
        assert compiled._callback0_in_c()


async def test_callbacks_added_to_the_recv_coroutine_get_the_coroutine(messages: Any) -> None:
    # Nobody needs to, but the coroutine is also a future: a callback added to it runs with it, beside the
    # task's wake-up, whatever the task's parking future went through (here: cancelled with the task).
    asm = messages.Assembler(4, 1)
    coro = asm.get()
    task = asyncio.ensure_future(coro)
    await asyncio.sleep(0)
    seen: list[object] = []
    coro.add_done_callback(seen.append)
    task.cancel()  # cancels the parking future; the task wakes with CancelledError on the next pass
    asm.put("late")  # still registered until then: resolves the coroutine, keeps nothing from the task
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert seen == [coro]
    assert await asm.get() == "late"  # the message was not lost
