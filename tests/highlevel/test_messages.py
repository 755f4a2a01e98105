"""The Assembler alone: no sockets, pause/resume are recording callables."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from picows.highlevel.exceptions import ConcurrencyError, ConnectionClosedOK, PayloadTooBig
from picows.highlevel.messages import Assembler, parse_limits


class Flow:
    """Records the pause/resume calls the assembler makes."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")


def make(high: int = 4, low: int = 1, max_size: int | None = None) -> tuple[Assembler, Flow]:
    flow = Flow()
    return Assembler(high, low, flow.pause, flow.resume, max_size), flow


def in_progress(asm: Assembler) -> bool:
    return asm.fragments is not None


async def test_queued_message_is_returned_as_is() -> None:
    asm, _ = make()
    asm.put("text")
    asm.put(b"bin")
    assert await asm.get() == "text"
    assert await asm.get() == b"bin"


async def test_decode_overrides_type() -> None:
    asm, _ = make()
    asm.put("é")
    asm.put(b"\xc3\xa9")
    assert await asm.get(decode=False) == "é".encode()
    assert await asm.get(decode=True) == "é"


async def test_waiting_consumer_gets_message_without_queue() -> None:
    asm, _ = make()
    task = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    asm.put("hello")
    assert len(asm) == 0  # handed over directly, never queued
    assert await task == "hello"


async def test_pause_at_high_resume_at_low() -> None:
    asm, flow = make(high=3, low=1)
    for i in range(3):
        asm.put(str(i))
    assert flow.calls == ["pause"]
    asm.put("3")  # a full queue still accepts data already read
    assert flow.calls == ["pause"]
    assert await asm.get() == "0"
    assert await asm.get() == "1"
    assert flow.calls == ["pause"]  # 2 left, low is 1
    assert await asm.get() == "2"
    assert flow.calls == ["pause", "resume"]
    assert await asm.get() == "3"
    assert flow.calls == ["pause", "resume"]


async def test_fragments_are_joined() -> None:
    asm, _ = make()
    asm.put_fragment("hé".encode()[:2], True, False)
    assert in_progress(asm)
    asm.put_fragment("hé".encode()[2:], None, False)
    asm.put_fragment(b"!", None, True)
    assert not in_progress(asm)
    assert await asm.get() == "hé!"
    asm.put_fragment(b"\x00", False, False)
    asm.put_fragment(b"\x01", None, True)
    assert await asm.get() == b"\x00\x01"


async def test_fragmented_text_must_be_utf8() -> None:
    asm, _ = make()
    asm.put_fragment(b"\xff", True, False)
    with pytest.raises(UnicodeDecodeError):
        asm.put_fragment(b"a", None, True)


async def test_max_size_counts_all_fragments() -> None:
    asm, _ = make(max_size=4)
    asm.put_fragment(b"ab", False, False)
    asm.put_fragment(b"cd", None, False)
    with pytest.raises(PayloadTooBig):
        asm.put_fragment(b"e", None, True)


async def test_concurrent_get_raises() -> None:
    asm, _ = make()
    first = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    with pytest.raises(ConcurrencyError):
        await asm.get()
    asm.put(b"x")
    assert await first == b"x"


async def test_close_drains_queue_then_raises() -> None:
    asm, _ = make()
    asm.put("last")
    exc = ConnectionClosedOK(None, None)
    asm.close(exc)
    assert await asm.get() == "last"
    with pytest.raises(ConnectionClosedOK):
        await asm.get()


async def test_close_wakes_waiter() -> None:
    asm, _ = make()
    task = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    asm.close(ConnectionClosedOK(None, None))
    with pytest.raises(ConnectionClosedOK):
        await task


async def test_cancelled_get_does_not_lose_message() -> None:
    asm, _ = make()
    task = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    asm.put("keep me")  # resolves the waiter ...
    task.cancel()  # ... but the task is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asm.get() == "keep me"


async def test_streaming_yields_fragments_as_they_arrive() -> None:
    asm, _ = make()
    got: list[str | bytes] = []

    async def consume() -> None:
        async for piece in asm.get_streaming():
            got.append(piece)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    data = "aé".encode()
    asm.put_fragment(data[:2], True, False)  # ends mid-character
    await asyncio.sleep(0)
    assert got == ["a"]
    asm.put_fragment(data[2:], None, False)
    await asyncio.sleep(0)
    assert got == ["a", "é"]
    asm.put_fragment(b"", None, True)
    await task
    assert "".join(map(str, got)) == "aé"
    asm.put(b"next")  # the following message goes to the queue
    assert await asm.get() == b"next"


async def test_streaming_complete_message_is_one_piece() -> None:
    asm, _ = make()
    asm.put(b"whole")
    assert [p async for p in asm.get_streaming()] == [b"whole"]
    asm.put("text")
    assert [p async for p in asm.get_streaming(decode=False)] == [b"text"]


async def test_streaming_starts_mid_message() -> None:
    asm, _ = make()
    asm.put_fragment(b"ab", False, False)
    task = asyncio.ensure_future(_collect(asm))
    await asyncio.sleep(0)
    asm.put_fragment(b"cd", None, True)
    assert await task == [b"ab", b"cd"]


async def test_abandoned_stream_drops_rest_of_message() -> None:
    asm, _ = make()
    asm.put_fragment(b"ab", False, False)
    async for piece in asm.get_streaming():
        assert piece == b"ab"
        break
    asm.put_fragment(b"cd", None, False)
    asm.put_fragment(b"ef", None, True)
    asm.put(b"next")
    assert await asm.get() == b"next"
    assert len(asm) == 0


async def test_streaming_pauses_when_pieces_pile_up() -> None:
    asm, flow = make(high=2, low=0)
    gen = asm.get_streaming()
    first = asyncio.ensure_future(gen.__anext__())
    await asyncio.sleep(0)
    asm.put_fragment(b"1", False, False)
    asm.put_fragment(b"2", None, False)
    asm.put_fragment(b"3", None, False)
    assert flow.calls == ["pause"]
    assert await first == b"1"
    assert await gen.__anext__() == b"2"
    assert await gen.__anext__() == b"3"
    assert flow.calls == ["pause", "resume"]
    await gen.aclose()


async def _collect(asm: Assembler) -> list[str | bytes]:
    return [p async for p in asm.get_streaming()]


def test_parse_limits() -> None:
    assert parse_limits(16, "max_queue") == (16, 4)
    assert parse_limits((10, 5), "max_queue") == (10, 5)
    assert parse_limits((10, None), "max_queue") == (10, 2)
    assert parse_limits(None, "max_queue") == (float("inf"), float("inf"))
    with pytest.raises(ValueError, match="max_queue"):
        parse_limits((1, 5), "max_queue")


async def test_queued_message_is_returned_without_suspending() -> None:
    asm, _ = make()
    asm.put("ready")
    coro = asm.get()
    # One step runs get() to completion: no future, no trip through the event loop.
    with pytest.raises(StopIteration) as info:
        coro.send(None)
    assert info.value.value == "ready"


# -- the assembler's own future (_Waiter) ------------------------------------


async def test_get_timed_out_by_wait_for_leaves_the_assembler_usable() -> None:
    asm, _ = make()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asm.get(), 0.01)
    asm.put("after")  # no waiter left behind: queued, not lost
    assert await asyncio.wait_for(asm.get(), 1) == "after"


async def test_cancelled_waiting_get_frees_the_slot() -> None:
    asm, _ = make()
    task = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    task.cancel("stop")
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    waiter = asyncio.ensure_future(asm.get())
    await asyncio.sleep(0)
    asm.put(b"next")
    assert await waiter == b"next"


async def test_message_put_from_a_task_resumes_the_consumer_through_the_loop() -> None:
    asm, _ = make()
    got: list[object] = []

    async def consume() -> None:
        got.append(await asm.get())

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    asm.put("x")  # a task is running (this one): the wake-up cannot run inline
    assert got == []
    await task
    assert got == ["x"]


async def test_waiter_implements_the_future_protocol() -> None:
    from picows.highlevel.messages import _new_waiter_for_tests

    waiter = _new_waiter_for_tests(asyncio.get_running_loop())  # as get_streaming() uses it
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


async def test_get_parks_its_task_on_one_reused_future() -> None:
    asm, _ = make()
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


async def test_waiter_cancel_and_exception_states() -> None:
    from picows.highlevel.messages import _new_waiter_for_tests

    loop = asyncio.get_running_loop()
    cancelled = _new_waiter_for_tests(loop)
    assert cancelled.cancel("why")
    assert cancelled.cancelled() and cancelled.done()
    with pytest.raises(asyncio.CancelledError, match="why"):
        cancelled.result()
    with pytest.raises(asyncio.CancelledError):
        cancelled.exception()
    failed = _new_waiter_for_tests(loop)
    exc = ValueError("bad")
    failed.set_exception(exc)
    assert failed.exception() is exc
    with pytest.raises(ValueError, match="bad"):
        failed.result()


def test_pure_python_assembler_works(tmp_path: object) -> None:
    # messages.py runs uncompiled where the extension is not built: load the source as its own module.
    import importlib.util

    import picows.highlevel

    path = picows.highlevel.__path__[0] + "/messages.py"
    spec = importlib.util.spec_from_file_location("picows.highlevel._messages_source", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert str(module.__file__).endswith(".py")

    async def scenario() -> list[object]:
        asm = module.Assembler(4, 1)
        out: list[object] = [await asyncio.wait_for(_put_later(asm, "a"), 1)]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asm.get(), 0.01)
        asm.put(b"b")
        out.append(await asm.get())
        task = asyncio.ensure_future(asm.get_next())
        await asyncio.sleep(0)
        asm.close(ConnectionClosedOK(None, None), clean=True)
        with pytest.raises(StopAsyncIteration):
            await task
        return out

    async def _put_later(asm: object, message: str) -> object:
        getter = asyncio.ensure_future(asm.get())  # type: ignore[attr-defined]
        await asyncio.sleep(0)
        asm.put(message)  # type: ignore[attr-defined]
        return await getter

    assert asyncio.run(scenario()) == ["a", b"b"]


async def test_get_is_a_coroutine_not_a_future() -> None:
    asm, _ = make()
    coro = asm.get()
    assert asyncio.iscoroutine(coro)
    assert not asyncio.isfuture(cast(object, coro))  # so ensure_future() wraps it in a task
    task = asyncio.ensure_future(coro)
    await asyncio.sleep(0)
    asm.put("via task")
    assert await task == "via task"


async def test_nothing_happens_until_the_coroutine_is_stepped() -> None:
    asm, _ = make()
    unstarted = asm.get()  # not registered: another get() may wait, a put() queues
    asm.put("a")
    assert await asm.get() == "a"
    unstarted.close()
    asm.put("b")
    assert await asm.get() == "b"


async def test_iterator_protocol_path() -> None:
    # What a driver without am_send uses: __next__ raising StopIteration(message), send(), throw().
    asm, _ = make()
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


async def test_closed_coroutine_keeps_a_message_that_already_arrived() -> None:
    asm, _ = make()
    coro = asm.get()
    coro.send(None)
    asm.put("arrived")  # resolves the suspended coroutine ...
    coro.close()  # ... which is closed before it returns it
    assert await asm.get() == "arrived"


async def test_async_for_ends_through_the_iterator_protocol_too() -> None:
    asm, _ = make()
    coro = asm.get_next()
    coro.send(None)
    closed = ConnectionClosedOK(None, None)
    asm.close(closed, clean=True)
    with pytest.raises(StopAsyncIteration):
        coro.throw(closed)  # what the task does once woken: the close, thrown in
    with pytest.raises(StopAsyncIteration):
        asm.get_next().send(None)
