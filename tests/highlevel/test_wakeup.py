"""How a waiting recv() is resumed: at once from a loop callback, through the loop inside a running task.

Each test runs twice: against the compiled module and against the plain ``messages.py`` source, which is
what runs when the extension is not built.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib.util
import pathlib
from types import ModuleType
from typing import Any

import pytest

import picows.highlevel.messages as compiled

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
