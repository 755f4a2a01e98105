"""picows._deflate: Deflater/Inflater round trips, RFC 7692 7.2.3 vectors, zlib interop, limits."""

from __future__ import annotations

import gc
import json
import random
import tracemalloc
import zlib

import pytest

from picows._deflate import Deflater, InflateError, InflateLimitError, Inflater

TAIL = b"\x00\x00\xff\xff"
SIZES = [0, 1, 100, 64 * 1024, 1024 * 1024]


def random_data(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def text_data(size: int) -> bytes:
    # JSON-like text: compressible but not trivially so.
    rng = random.Random(size)
    out = bytearray()
    while len(out) < size:
        row = {"id": rng.randrange(10**6), "sym": rng.choice(["BTCUSD", "ETHUSD", "SOLUSD"]), "px": rng.random()}
        out += json.dumps(row).encode() + b","
    return bytes(out[:size])


class TestRfc7692Examples:
    """RFC 7692 section 7.2.3: the byte-exact examples."""

    def test_hello_is_f2_48_cd_c9_c9_07_00(self) -> None:
        assert Deflater().compress_message(b"Hello") == bytes.fromhex("f248cdc9c90700")
        assert Inflater().decompress_message(bytes.fromhex("f248cdc9c90700")) == b"Hello"

    def test_second_hello_with_context_takeover_is_f2_00_11_00_00(self) -> None:
        deflater = Deflater()
        deflater.compress_message(b"Hello")
        assert deflater.compress_message(b"Hello") == bytes.fromhex("f200110000")
        inflater = Inflater()
        assert inflater.decompress_message(bytes.fromhex("f248cdc9c90700")) == b"Hello"
        assert inflater.decompress_message(bytes.fromhex("f200110000")) == b"Hello"

    def test_second_hello_without_context_takeover_repeats_the_first(self) -> None:
        deflater = Deflater(no_context_takeover=True)
        assert (
            deflater.compress_message(b"Hello")
            == deflater.compress_message(b"Hello")
            == bytes.fromhex("f248cdc9c90700")
        )

    def test_empty_message_is_a_single_zero_byte(self) -> None:
        # 7.2.3.6: an empty message's payload is 0x00 (an empty stored block with the tail).
        assert Deflater().compress_message(b"") == b"\x00"
        assert Inflater().decompress_message(b"\x00") == b""

    def test_empty_message_after_context_is_still_a_zero_byte(self) -> None:
        deflater, inflater = Deflater(), Inflater()
        for message in [b"Hello", b"", b"Hello", b""]:
            payload = deflater.compress_message(message)
            assert payload
            assert inflater.decompress_message(payload) == message

    def test_uncompressed_stored_block(self) -> None:
        # 7.2.3.2: "Hello" in a stored block (BFINAL 0, no compression), tail stripped.
        assert Inflater().decompress_message(bytes.fromhex("0005 00fa ff48656c6c6f00".replace(" ", ""))) == b"Hello"

    def test_bfinal_block_then_next_message(self) -> None:
        # 7.2.3.3: a peer may end a message with BFINAL=1; "Hello" as a final fixed-Huffman block.
        inflater = Inflater()
        assert inflater.decompress_message(bytes.fromhex("f348cdc9c90700")) == b"Hello"
        assert inflater.decompress_message(bytes.fromhex("f248cdc9c90700")) == b"Hello"
        # Split across frames, with bytes after the final block that a DEFLATE decoder ignores.
        assert inflater.decompress_frame(bytes.fromhex("f348cd"), fin=False) == b"He"
        assert inflater.decompress_frame(bytes.fromhex("c9c90700"), fin=False) == b"llo"
        assert inflater.decompress_frame(b"\xff\xff", fin=True) == b""
        assert inflater.decompress_message(bytes.fromhex("f248cdc9c90700")) == b"Hello"


class TestRoundTrip:
    @pytest.mark.parametrize("size", SIZES)
    @pytest.mark.parametrize("make", [random_data, text_data], ids=["random", "text"])
    @pytest.mark.parametrize("no_context_takeover", [False, True], ids=["takeover", "no-takeover"])
    def test_messages(self, size: int, make: object, no_context_takeover: bool) -> None:
        assert callable(make)
        data: bytes = make(size)
        deflater = Deflater(no_context_takeover=no_context_takeover)
        inflater = Inflater(no_context_takeover=no_context_takeover)
        for _ in range(3):
            payload = deflater.compress_message(data)
            assert inflater.decompress_message(payload) == data
        if make is text_data and size >= 100:
            assert len(payload) < len(data)

    def test_context_takeover_shrinks_a_repeated_message(self) -> None:
        data = text_data(2000)
        with_context = Deflater()
        first = with_context.compress_message(data)
        second = with_context.compress_message(data)
        assert len(second) < len(first) // 10
        without = Deflater(no_context_takeover=True)
        assert without.compress_message(data) == without.compress_message(data) == first

    def test_no_context_takeover_output_decodes_with_fresh_inflaters(self) -> None:
        deflater = Deflater(no_context_takeover=True)
        data = text_data(5000)
        for _ in range(3):
            assert Inflater().decompress_message(deflater.compress_message(data)) == data

    def test_context_takeover_output_needs_the_previous_message(self) -> None:
        deflater = Deflater()
        data = text_data(5000)
        deflater.compress_message(data)
        second = deflater.compress_message(data)
        with pytest.raises(InflateError, match="distance"):
            Inflater().decompress_message(second)

    @pytest.mark.parametrize("no_context_takeover", [False, True])
    def test_fragmented_message_decoded_frame_by_frame(self, no_context_takeover: bool) -> None:
        deflater = Deflater(no_context_takeover=no_context_takeover)
        inflater = Inflater(no_context_takeover=no_context_takeover)
        for message in range(3):
            data = text_data(100_000 + message)
            pieces = [data[i : i + 7_000] for i in range(0, len(data), 7_000)] + [b""]
            frames = [deflater.compress_frame(piece, fin=False) for piece in pieces[:-1]]
            frames.append(deflater.compress_frame(pieces[-1], fin=True))
            assert frames[-1] == b"\x00"  # the empty last fragment still carries a payload
            out = b"".join(
                inflater.decompress_frame(frame, fin=index == len(frames) - 1) for index, frame in enumerate(frames)
            )
            assert out == data

    def test_fragments_with_empty_middles(self) -> None:
        deflater, inflater = Deflater(), Inflater()
        frames = [
            deflater.compress_frame(b"", fin=False),
            deflater.compress_frame(b"abc", fin=False),
            deflater.compress_frame(b"", fin=False),
            deflater.compress_frame(b"def", fin=True),
        ]
        assert b"".join(inflater.decompress_frame(f, fin=i == 3) for i, f in enumerate(frames)) == b"abcdef"
        assert inflater.decompress_message(deflater.compress_message(b"next")) == b"next"

    def test_frames_split_anywhere(self) -> None:
        # The engine may hand the inflater any split of the compressed bytes across frames.
        data = text_data(20_000)
        payload = Deflater().compress_message(data)
        inflater = Inflater()
        chunks = [payload[i : i + 13] for i in range(0, len(payload), 13)]
        out = b"".join(inflater.decompress_frame(c, fin=i == len(chunks) - 1) for i, c in enumerate(chunks))
        assert out == data

    @pytest.mark.parametrize("bits", range(8, 16))
    def test_window_bits(self, bits: int) -> None:
        data = text_data(50_000)
        deflater = Deflater(window_bits=bits)
        inflater = Inflater(window_bits=bits)
        assert deflater.window_bits == bits
        for _ in range(2):
            assert inflater.decompress_message(deflater.compress_message(data)) == data

    @pytest.mark.parametrize("level", [0, 1, 9])
    @pytest.mark.parametrize("mem_level", [1, 5, 9])
    def test_levels(self, level: int, mem_level: int) -> None:
        data = text_data(30_000)
        assert Inflater().decompress_message(Deflater(level=level, mem_level=mem_level).compress_message(data)) == data

    def test_memoryview_and_bytearray_inputs(self) -> None:
        data = bytearray(text_data(1000))
        payload = Deflater().compress_message(memoryview(data))
        assert Inflater().decompress_message(bytearray(payload)) == data


def inflate_in_small_steps(payload: bytes, wbits: int) -> bytes:
    # zlib's inflate may copy from the caller's output buffer beyond its window; 16-byte output
    # steps force every back-reference through the window, so its size is really checked.
    decoder = zlib.decompressobj(wbits=wbits)
    out = [decoder.decompress(payload + TAIL, 16)]
    while decoder.unconsumed_tail:
        out.append(decoder.decompress(decoder.unconsumed_tail, 16))
    return b"".join(out)


class TestWindowBits8:
    def test_deflater_8_output_fits_a_256_byte_window(self) -> None:
        # A 300-byte random block repeated: a 9-bit zlib window could match it 300 bytes back,
        # but zlib caps distances at window - 262 = 250, so a real 8-bit inflater decodes it.
        data = random_data(300) * 40 + text_data(20_000)
        payload = Deflater(window_bits=8).compress_message(data)
        assert inflate_in_small_steps(payload, -8) == data

    def test_a_15_bit_window_does_not_fit_8(self) -> None:
        # The control for the test above: with a large window the 300-byte matches appear.
        data = random_data(300) * 40
        payload = Deflater(window_bits=15).compress_message(data)
        with pytest.raises(zlib.error, match="too far back"):
            inflate_in_small_steps(payload, -8)

    def test_inflater_8_decodes_python_zlib_output(self) -> None:
        data = text_data(10_000)
        compressor = zlib.compressobj(wbits=-9)
        payload = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert Inflater(window_bits=8).decompress_message(payload[:-4]) == data


class TestZlibInterop:
    @pytest.mark.parametrize("size", [0, 1, 100, 64 * 1024])
    def test_python_zlib_to_inflater(self, size: int) -> None:
        compressor = zlib.compressobj(wbits=-15)
        inflater = Inflater()
        for index in range(3):
            data = text_data(size + index)
            payload = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
            assert payload.endswith(TAIL)
            assert inflater.decompress_message(payload[:-4]) == data

    @pytest.mark.parametrize("size", [0, 1, 100, 64 * 1024])
    def test_deflater_to_python_zlib(self, size: int) -> None:
        deflater = Deflater()
        decompressor = zlib.decompressobj(wbits=-15)
        for index in range(3):
            data = text_data(size + index)
            assert decompressor.decompress(deflater.compress_message(data) + TAIL) == data

    def test_python_zlib_fragments_to_inflater(self) -> None:
        data = text_data(40_000)
        compressor = zlib.compressobj(wbits=-15)
        frames = [compressor.compress(data[:15_000]) + compressor.flush(zlib.Z_SYNC_FLUSH)]
        frames.append(compressor.compress(data[15_000:]) + compressor.flush(zlib.Z_SYNC_FLUSH))
        frames[-1] = frames[-1][:-4]
        inflater = Inflater()
        assert inflater.decompress_frame(frames[0], fin=False) + inflater.decompress_frame(frames[1]) == data


class TestErrors:
    @pytest.mark.parametrize("payload", [b"\xff\xff\xff\xff", b"\x07", bytes.fromhex("f248cdc9c907ff")])
    def test_corrupt_input(self, payload: bytes) -> None:
        inflater = Inflater()
        with pytest.raises(InflateError, match="corrupt compressed data"):
            inflater.decompress_message(payload)
        # The stream was reset: the next valid message decodes.
        assert inflater.decompress_message(bytes.fromhex("f248cdc9c90700")) == b"Hello"

    @pytest.mark.parametrize("bits", [7, 16, -15, 0])
    def test_bad_window_bits(self, bits: int) -> None:
        with pytest.raises(ValueError, match="window_bits must be between 8 and 15"):
            Inflater(window_bits=bits)
        with pytest.raises(ValueError, match="window_bits must be between 8 and 15"):
            Deflater(window_bits=bits)

    def test_bad_level_and_mem_level(self) -> None:
        with pytest.raises(ValueError, match="level must be between 0 and 9"):
            Deflater(level=10)
        with pytest.raises(ValueError, match="mem_level must be between 1 and 9"):
            Deflater(mem_level=0)

    def test_reinit_is_a_fresh_stream(self) -> None:
        deflater = Deflater()
        deflater.compress_message(b"Hello")
        deflater.__init__()  # type: ignore[misc]
        assert deflater.compress_message(b"Hello") == bytes.fromhex("f248cdc9c90700")


class TestLimit:
    def test_exact_limit_passes_one_more_fails(self) -> None:
        data = text_data(10_000)
        payload = Deflater().compress_message(data)
        assert Inflater().decompress_message(payload, limit=10_000) == data
        with pytest.raises(InflateLimitError):
            Inflater().decompress_message(payload, limit=9_999)

    def test_zero_limit(self) -> None:
        assert Inflater().decompress_message(b"\x00", limit=0) == b""
        with pytest.raises(InflateLimitError):
            Inflater().decompress_message(Deflater().compress_message(b"x"), limit=0)

    def test_limit_applies_per_frame(self) -> None:
        deflater, inflater = Deflater(), Inflater()
        first = deflater.compress_frame(b"a" * 1000, fin=False)
        second = deflater.compress_frame(b"b" * 1000, fin=True)
        assert inflater.decompress_frame(first, fin=False, limit=1000) == b"a" * 1000
        with pytest.raises(InflateLimitError):
            inflater.decompress_frame(second, fin=True, limit=999)

    def test_decompression_bomb_allocates_about_the_limit(self) -> None:
        bomb_size = 100 * 1024 * 1024
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        payload = compressor.compress(bytes(bomb_size)) + compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
        assert len(payload) < 200_000
        limit = 1024 * 1024
        gc.collect()
        tracemalloc.start()
        try:
            inflater = Inflater()
            with pytest.raises(InflateLimitError):
                inflater.decompress_message(payload, limit=limit)
            _, peak = tracemalloc.get_traced_memory()
            assert inflater.output_buffer_size <= limit + 1
        finally:
            tracemalloc.stop()
        # zlib's state (~40 KiB) and the output buffer, never the 100 MiB.
        assert peak < limit + 512 * 1024

    def test_large_buffer_is_released_before_the_next_message(self) -> None:
        inflater = Inflater()
        inflater.decompress_message(Deflater().compress_message(bytes(4 * 1024 * 1024)))
        assert inflater.output_buffer_size >= 4 * 1024 * 1024
        assert inflater.decompress_message(bytes.fromhex("f248cdc9c90700")) == b"Hello"
        assert inflater.output_buffer_size <= 256 * 1024
