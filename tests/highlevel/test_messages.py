"""The Assembler alone: no sockets, pause/resume are recording callables."""

from __future__ import annotations

import asyncio

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
