"""FrameReader, encode_frame and WSFrame driven with byte strings: every RFC 6455 framing rule and its close code.

``FrameReader(is_client=True)`` is the client's reader: it must get unmasked frames. ``is_client=False`` is the
server's reader: it must get masked frames. Frames are built by ``tests.utils.build_frame``, a pure-Python
builder independent of the engine's encoder.
"""

from __future__ import annotations

import random
import struct

import pytest

from picows import WSCloseCode, WSMsgType
from picows._frame import FrameReader, encode_frame, make_test_frame
from tests.utils import apply_mask, build_frame, close_payload

TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10
KEY = b"\x37\xfa\x21\x3d"

Frames = list[tuple[WSMsgType, bool, bool, bytes]]


def client_reader(max_frame_size: int = 10 * 1024 * 1024, init_capacity: int = 16 * 1024) -> FrameReader:
    """The reader a client uses (server frames are unmasked)."""
    return FrameReader(True, max_frame_size=max_frame_size, init_capacity=init_capacity)


def server_reader(max_frame_size: int = 10 * 1024 * 1024, init_capacity: int = 16 * 1024) -> FrameReader:
    """The reader a server uses (client frames are masked)."""
    return FrameReader(False, max_frame_size=max_frame_size, init_capacity=init_capacity)


def frame_for(is_client: bool, opcode: int, payload: bytes = b"", **kwargs: object) -> bytes:
    """A frame as the peer of a reader with ``is_client`` sends it."""
    if not is_client:
        kwargs.setdefault("mask_key", KEY)
    return build_frame(opcode, payload, **kwargs)  # type: ignore[arg-type]


def assert_failed(reader: FrameReader, code: int) -> None:
    assert reader.error_code == code, (reader.error_code, reader.error_message)
    assert isinstance(reader.error_message, str) and reader.error_message


SIDES = pytest.mark.parametrize("is_client", [True, False], ids=["client", "server"])


# ---- RFC 6455 section 5.7 examples ---------------------------------------------------------------------------


def test_rfc_single_frame_unmasked_text() -> None:
    r = client_reader()
    assert r.feed(bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])) == [(WSMsgType.TEXT, True, False, b"Hello")]
    assert r.error_code == 0


def test_rfc_single_frame_masked_text() -> None:
    r = server_reader()
    data = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert r.feed(data) == [(WSMsgType.TEXT, True, False, b"Hello")]
    assert r.error_code == 0


def test_rfc_fragmented_unmasked_text() -> None:
    r = client_reader()
    assert r.feed(bytes([0x01, 0x03, 0x48, 0x65, 0x6C])) == [(WSMsgType.TEXT, False, False, b"Hel")]
    assert r.feed(bytes([0x80, 0x02, 0x6C, 0x6F])) == [(WSMsgType.CONTINUATION, True, False, b"lo")]
    assert r.error_code == 0


def test_rfc_unmasked_ping_and_masked_pong() -> None:
    client = client_reader()
    assert client.feed(bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])) == [(WSMsgType.PING, True, False, b"Hello")]
    server = server_reader()
    pong = bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert server.feed(pong) == [(WSMsgType.PONG, True, False, b"Hello")]


def test_rfc_256_byte_binary_uses_16_bit_length() -> None:
    payload = bytes(range(256))
    data = bytes([0x82, 0x7E, 0x01, 0x00]) + payload
    assert client_reader().feed(data) == [(WSMsgType.BINARY, True, False, payload)]


def test_rfc_64kib_binary_uses_64_bit_length() -> None:
    payload = random.Random(1).randbytes(65536)
    data = bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]) + payload
    assert client_reader().feed(data) == [(WSMsgType.BINARY, True, False, payload)]


@SIDES
@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 100_000])
def test_length_boundaries(is_client: bool, size: int) -> None:
    payload = random.Random(size).randbytes(size)
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, BINARY, payload)) == [(WSMsgType.BINARY, True, False, payload)]


@pytest.mark.parametrize("form", [126, 127])
def test_non_minimal_length_encoding_is_accepted(form: int) -> None:
    # RFC 6455 5.2 asks senders for the minimal encoding but gives no failure rule for receivers.
    r = client_reader()
    assert r.feed(build_frame(BINARY, b"abc", length_form=form)) == [(WSMsgType.BINARY, True, False, b"abc")]
    assert r.error_code == 0


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 4099])
@pytest.mark.parametrize("key", [KEY, b"\x00\x00\x00\x00", b"\xff\x01\x80\x7f"])
def test_unmasking_matches_reference(size: int, key: bytes) -> None:
    payload = random.Random(size).randbytes(size)
    r = server_reader()
    assert r.feed(build_frame(BINARY, payload, mask_key=key)) == [(WSMsgType.BINARY, True, False, payload)]


# ---- feeding patterns -------------------------------------------------------------------------------------


def _mixed_stream(is_client: bool) -> tuple[bytes, Frames]:
    rng = random.Random(7)
    parts: list[bytes] = []
    expected: Frames = []

    def add(opcode: int, payload: bytes, fin: bool = True) -> None:
        parts.append(frame_for(is_client, opcode, payload, fin=fin))
        expected.append((WSMsgType(opcode), fin, False, payload))

    add(TEXT, "héllo wörld €".encode())
    add(BINARY, rng.randbytes(300))
    add(PING, b"p")
    add(TEXT, "a€".encode()[:2], fin=False)  # the euro sign split across fragments
    add(PONG, b"")
    add(CONT, "a€".encode()[2:] + b"b", fin=False)
    add(CONT, b"", fin=True)
    add(BINARY, rng.randbytes(70_000))
    add(TEXT, b"")
    add(CLOSE, close_payload(1000, "bye ✓".encode()))
    return b"".join(parts), expected


@SIDES
def test_whole_stream_in_one_feed(is_client: bool) -> None:
    data, expected = _mixed_stream(is_client)
    r = FrameReader(is_client)
    assert r.feed(data) == expected
    assert r.error_code == 0
    assert r.close_received


@SIDES
def test_byte_by_byte_gives_the_same_frames(is_client: bool) -> None:
    data, expected = _mixed_stream(is_client)
    r = FrameReader(is_client)
    out: Frames = []
    for i in range(len(data)):
        out.extend(r.feed(data[i:i + 1]))
    assert out == expected
    assert r.error_code == 0


@SIDES
@pytest.mark.parametrize("seed", range(5))
def test_random_chunks_give_the_same_frames(is_client: bool, seed: int) -> None:
    data, expected = _mixed_stream(is_client)
    rng = random.Random(seed)
    r = FrameReader(is_client, init_capacity=256)
    out: Frames = []
    pos = 0
    while pos < len(data):
        n = rng.choice([1, 2, 3, 7, 13, 100, 1000, 5000])
        out.extend(r.feed(data[pos:pos + n]))
        pos += n
    assert out == expected
    assert r.error_code == 0


def test_several_frames_in_one_feed() -> None:
    r = client_reader()
    data = b"".join(build_frame(TEXT, str(i).encode()) for i in range(50))
    assert r.feed(data) == [(WSMsgType.TEXT, True, False, str(i).encode()) for i in range(50)]


def test_partial_frame_yields_nothing_until_complete() -> None:
    r = client_reader()
    data = build_frame(BINARY, b"x" * 200)
    assert r.feed(data[:1]) == []
    assert r.feed(data[1:3]) == []
    assert r.feed(data[3:150]) == []
    assert r.feed(data[150:]) == [(WSMsgType.BINARY, True, False, b"x" * 200)]


def test_empty_feed_is_harmless() -> None:
    r = client_reader()
    assert r.feed(b"") == []
    assert r.feed(build_frame(TEXT, b"a")) == [(WSMsgType.TEXT, True, False, b"a")]


# ---- masking per side ------------------------------------------------------------------------------------


def test_client_rejects_masked_frame_1002() -> None:
    r = client_reader()
    assert r.feed(build_frame(TEXT, b"hi", mask_key=KEY)) == []
    assert_failed(r, 1002)


def test_server_rejects_unmasked_frame_1002() -> None:
    r = server_reader()
    assert r.feed(build_frame(TEXT, b"hi")) == []
    assert_failed(r, 1002)


def test_server_rejects_unmasked_control_frame_1002() -> None:
    r = server_reader()
    assert r.feed(build_frame(PING, b"")) == []
    assert_failed(r, 1002)


# ---- reserved bits and opcodes ---------------------------------------------------------------------------


@SIDES
@pytest.mark.parametrize("bit", ["rsv1", "rsv2", "rsv3"])
@pytest.mark.parametrize("opcode", [TEXT, BINARY, PING])
def test_rsv_bits_without_extension_1002(is_client: bool, bit: str, opcode: int) -> None:
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, opcode, b"x", **{bit: True})) == []
    assert_failed(r, 1002)


def test_rsv1_allowed_on_data_frame_when_extension_negotiated() -> None:
    r = client_reader()
    r.allow_rsv1 = True
    # Compressed payloads are not UTF-8: the reader must not validate them as text.
    assert r.feed(build_frame(TEXT, b"\xff\xfe", rsv1=True)) == [(WSMsgType.TEXT, True, True, b"\xff\xfe")]
    assert r.error_code == 0


@pytest.mark.parametrize("bit", ["rsv2", "rsv3"])
def test_rsv2_rsv3_rejected_even_with_rsv1_allowed(bit: str) -> None:
    r = client_reader()
    r.allow_rsv1 = True
    assert r.feed(build_frame(BINARY, b"x", **{bit: True})) == []  # type: ignore[arg-type]
    assert_failed(r, 1002)


def test_rsv1_on_control_frame_rejected_even_with_extension() -> None:
    r = client_reader()
    r.allow_rsv1 = True
    assert r.feed(build_frame(PING, b"x", rsv1=True)) == []
    assert_failed(r, 1002)


def test_rsv1_on_continuation_rejected_even_with_extension() -> None:
    r = client_reader()
    r.allow_rsv1 = True
    assert r.feed(build_frame(BINARY, b"a", fin=False, rsv1=True)) == [(WSMsgType.BINARY, False, True, b"a")]
    assert r.feed(build_frame(CONT, b"b", rsv1=True)) == []
    assert_failed(r, 1002)


@SIDES
@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_1002(is_client: bool, opcode: int) -> None:
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, opcode, b"")) == []
    assert_failed(r, 1002)


# ---- control frames ----------------------------------------------------------------------------------------


@SIDES
@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG])
def test_control_frame_over_125_bytes_1002(is_client: bool, opcode: int) -> None:
    payload = close_payload(1000, b"x" * 124) if opcode == CLOSE else b"x" * 126
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, opcode, payload)) == []
    assert_failed(r, 1002)


def test_control_frame_over_125_detected_from_header() -> None:
    r = client_reader()
    assert r.feed(build_frame(PING, b"", length=126)[:4]) == []
    assert_failed(r, 1002)


@SIDES
@pytest.mark.parametrize("opcode", [PING, PONG])
def test_control_frame_of_125_bytes_is_fine(is_client: bool, opcode: int) -> None:
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, opcode, b"y" * 125)) == [(WSMsgType(opcode), True, False, b"y" * 125)]


@SIDES
@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG])
def test_fragmented_control_frame_1002(is_client: bool, opcode: int) -> None:
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, opcode, b"", fin=False)) == []
    assert_failed(r, 1002)


def test_control_frames_between_fragments_are_fine() -> None:
    r = client_reader()
    data = (build_frame(TEXT, b"a", fin=False) + build_frame(PING, b"1") + build_frame(CONT, b"b", fin=False)
            + build_frame(PONG, b"2") + build_frame(CONT, b"c"))
    assert r.feed(data) == [
        (WSMsgType.TEXT, False, False, b"a"), (WSMsgType.PING, True, False, b"1"),
        (WSMsgType.CONTINUATION, False, False, b"b"), (WSMsgType.PONG, True, False, b"2"),
        (WSMsgType.CONTINUATION, True, False, b"c")]
    assert r.error_code == 0


# ---- fragmentation order ------------------------------------------------------------------------------------


@SIDES
def test_continuation_without_start_1002(is_client: bool) -> None:
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, CONT, b"x")) == []
    assert_failed(r, 1002)


@SIDES
def test_continuation_after_finished_message_1002(is_client: bool) -> None:
    r = FrameReader(is_client)
    data = frame_for(is_client, BINARY, b"a", fin=False) + frame_for(is_client, CONT, b"b") \
        + frame_for(is_client, CONT, b"c")
    assert r.feed(data) == [(WSMsgType.BINARY, False, False, b"a"), (WSMsgType.CONTINUATION, True, False, b"b")]
    assert_failed(r, 1002)


@SIDES
@pytest.mark.parametrize("first", [TEXT, BINARY])
@pytest.mark.parametrize("second", [TEXT, BINARY])
def test_data_frame_inside_unfinished_message_1002(is_client: bool, first: int, second: int) -> None:
    r = FrameReader(is_client)
    data = frame_for(is_client, first, b"a", fin=False) + frame_for(is_client, second, b"b")
    assert r.feed(data) == [(WSMsgType(first), False, False, b"a")]
    assert_failed(r, 1002)


# ---- size limits ------------------------------------------------------------------------------------------------


@SIDES
def test_frame_over_max_frame_size_1009(is_client: bool) -> None:
    r = FrameReader(is_client, max_frame_size=1000)
    assert r.feed(frame_for(is_client, BINARY, b"x" * 1001)) == []
    assert_failed(r, 1009)


@SIDES
def test_frame_of_exactly_max_frame_size_is_fine(is_client: bool) -> None:
    r = FrameReader(is_client, max_frame_size=1000)
    assert r.feed(frame_for(is_client, BINARY, b"x" * 1000)) == [(WSMsgType.BINARY, True, False, b"x" * 1000)]


@pytest.mark.parametrize("length", [70_000, 2**40])
def test_oversized_frame_detected_from_header_alone(length: int) -> None:
    r = client_reader(max_frame_size=65536)
    header = build_frame(BINARY, b"", length=length)
    assert len(header) == 10
    assert r.feed(header) == []
    assert_failed(r, 1009)


def test_oversized_masked_frame_detected_before_mask_key() -> None:
    r = server_reader(max_frame_size=100)
    header = build_frame(BINARY, b"", length=50_000, mask_key=KEY)[:4]  # 16-bit length, no mask key yet
    assert r.feed(header) == []
    assert_failed(r, 1009)


def test_64_bit_length_with_top_bit_set_1002() -> None:
    r = client_reader()
    header = bytes([0x82, 0x7F]) + struct.pack("!Q", (1 << 63) | 5)
    assert r.feed(header + b"hello") == []
    assert_failed(r, 1002)


# ---- close frames -------------------------------------------------------------------------------------------


@SIDES
def test_close_with_one_byte_payload_1002(is_client: bool) -> None:
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, CLOSE, b"\x03")) == []
    assert_failed(r, 1002)
    assert not r.close_received


@SIDES
def test_empty_close_is_fine(is_client: bool) -> None:
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, CLOSE, b"")) == [(WSMsgType.CLOSE, True, False, b"")]
    assert r.error_code == 0
    assert r.close_received


@SIDES
@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_close_codes_not_allowed_1002(is_client: bool, code: int) -> None:
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, CLOSE, close_payload(code))) == []
    assert_failed(r, 1002)


@SIDES
@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                                  3000, 3999, 4000, 4999])
def test_close_codes_allowed(is_client: bool, code: int) -> None:
    r = FrameReader(is_client)
    payload = close_payload(code, b"reason")
    assert r.feed(frame_for(is_client, CLOSE, payload)) == [(WSMsgType.CLOSE, True, False, payload)]
    assert r.error_code == 0
    assert r.close_received


@SIDES
@pytest.mark.parametrize("reason", [b"\xff", b"ok\xc0\x80", b"\xed\xa0\x80", b"trunc\xe2\x82"])
def test_close_reason_invalid_utf8_1007(is_client: bool, reason: bytes) -> None:
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, CLOSE, close_payload(1000, reason))) == []
    assert_failed(r, 1007)


def test_two_close_frames_in_one_feed_deliver_one_close() -> None:
    r = client_reader()
    data = build_frame(CLOSE, close_payload(1000, b"a")) + build_frame(CLOSE, close_payload(1001, b"b"))
    assert r.feed(data) == [(WSMsgType.CLOSE, True, False, close_payload(1000, b"a"))]
    assert r.error_code == 0
    assert r.close_received


def test_nothing_after_close_is_delivered() -> None:
    r = client_reader()
    data = build_frame(CLOSE, close_payload(1000)) + build_frame(TEXT, b"late")
    assert r.feed(data) == [(WSMsgType.CLOSE, True, False, close_payload(1000))]
    assert r.feed(build_frame(TEXT, b"later")) == []
    assert r.error_code == 0


# ---- UTF-8 ----------------------------------------------------------------------------------------------------------

INVALID_UTF8 = [
    b"\xff",                  # never valid
    b"\xc0\x80",              # overlong NUL
    b"\xe0\x80\xaf",          # overlong
    b"\xed\xa0\x80",          # UTF-16 surrogate
    b"\xf4\x90\x80\x80",      # above U+10FFFF
    b"abc\x80",               # stray continuation byte
    b"\xce\xba\xe1\xbd",      # truncated at the end of a final frame
]


@SIDES
@pytest.mark.parametrize("payload", INVALID_UTF8)
def test_text_invalid_utf8_1007(is_client: bool, payload: bytes) -> None:
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, TEXT, payload)) == []
    assert_failed(r, 1007)


@SIDES
@pytest.mark.parametrize("payload", INVALID_UTF8)
def test_binary_is_not_validated(is_client: bool, payload: bytes) -> None:
    r = FrameReader(is_client)
    assert r.feed(frame_for(is_client, BINARY, payload)) == [(WSMsgType.BINARY, True, False, payload)]


@SIDES
def test_invalid_utf8_in_continuation_1007(is_client: bool) -> None:
    r = FrameReader(is_client)
    data = frame_for(is_client, TEXT, b"good", fin=False) + frame_for(is_client, CONT, b"bad\xff")
    assert r.feed(data) == [(WSMsgType.TEXT, False, False, b"good")]
    assert_failed(r, 1007)


@SIDES
def test_invalid_sequence_split_across_fragments_1007(is_client: bool) -> None:
    # E0 must be followed by A0..BF: the first fragment is a valid prefix, the second breaks it.
    r = FrameReader(is_client)
    data = frame_for(is_client, TEXT, b"x\xe0", fin=False) + frame_for(is_client, CONT, b"\x80\x80")
    assert r.feed(data) == [(WSMsgType.TEXT, False, False, b"x\xe0")]
    assert_failed(r, 1007)


@SIDES
def test_message_ending_mid_code_point_1007(is_client: bool) -> None:
    r = FrameReader(is_client)
    data = frame_for(is_client, TEXT, b"\xe2\x82", fin=False) + frame_for(is_client, CONT, b"", fin=True)
    assert r.feed(data) == [(WSMsgType.TEXT, False, False, b"\xe2\x82")]
    assert_failed(r, 1007)


@SIDES
@pytest.mark.parametrize("text", ["€", "𝄞", "é", "日本"])
def test_code_point_split_across_fragments_is_fine(is_client: bool, text: str) -> None:
    raw = text.encode()
    for cut in range(1, len(raw)):
        r = FrameReader(is_client)
        data = frame_for(is_client, TEXT, raw[:cut], fin=False) + frame_for(is_client, CONT, raw[cut:])
        assert r.feed(data) == [(WSMsgType.TEXT, False, False, raw[:cut]),
                                (WSMsgType.CONTINUATION, True, False, raw[cut:])]
        assert r.error_code == 0


def test_code_point_split_across_fragments_with_ping_between() -> None:
    r = client_reader()
    raw = "𝄞".encode()
    data = build_frame(TEXT, raw[:2], fin=False) + build_frame(PING, b"\xff") + build_frame(CONT, raw[2:])
    assert len(r.feed(data)) == 3
    assert r.error_code == 0


def test_utf8_state_resets_between_messages() -> None:
    # A message that ends cleanly must not leak validator state into the next one.
    r = client_reader()
    data = build_frame(TEXT, "é".encode()) + build_frame(TEXT, b"\xa9")
    assert r.feed(data) == [(WSMsgType.TEXT, True, False, "é".encode())]
    assert_failed(r, 1007)


@SIDES
def test_invalid_utf8_fails_fast_inside_incomplete_frame(is_client: bool) -> None:
    payload = b"abc\xff" + b"z" * 996
    data = frame_for(is_client, TEXT, payload)
    r = FrameReader(is_client)
    header_len = len(data) - len(payload)
    # Only the header and the first 10 payload bytes arrive; the rest of the frame never comes.
    assert r.feed(data[:header_len + 10]) == []
    assert_failed(r, 1007)


@SIDES
def test_invalid_utf8_fails_fast_in_incomplete_continuation(is_client: bool) -> None:
    r = FrameReader(is_client)
    first = frame_for(is_client, TEXT, b"ok", fin=False)
    cont = frame_for(is_client, CONT, b"\xc3" + b"(" + b"z" * 500)
    assert r.feed(first + cont[:20]) == [(WSMsgType.TEXT, False, False, b"ok")]
    assert_failed(r, 1007)


@SIDES
def test_incomplete_frame_with_valid_prefix_does_not_fail(is_client: bool) -> None:
    payload = "aé€".encode() * 50
    data = frame_for(is_client, TEXT, payload)
    r = FrameReader(is_client)
    out: Frames = []
    pos = 0
    for end in (9, 10, 11, 57, len(data)):  # cuts land in the middle of multi-byte characters
        out.extend(r.feed(data[pos:end]))
        pos = end
        if end < len(data):
            assert r.error_code == 0
    assert out == [(WSMsgType.TEXT, True, False, payload)]


@SIDES
def test_validate_utf8_false_lets_invalid_text_through(is_client: bool) -> None:
    r = FrameReader(is_client, validate_utf8=False)
    data = frame_for(is_client, TEXT, b"\xff\xfe", fin=False) + frame_for(is_client, CONT, b"\xc0")
    assert r.feed(data) == [(WSMsgType.TEXT, False, False, b"\xff\xfe"),
                            (WSMsgType.CONTINUATION, True, False, b"\xc0")]
    assert r.error_code == 0


# ---- failure semantics ------------------------------------------------------------------------------------------


@SIDES
def test_frames_before_a_bad_frame_are_returned_and_nothing_after(is_client: bool) -> None:
    r = FrameReader(is_client)
    data = (frame_for(is_client, TEXT, b"one") + frame_for(is_client, BINARY, b"two")
            + frame_for(is_client, 5, b"") + frame_for(is_client, TEXT, b"three"))
    assert r.feed(data) == [(WSMsgType.TEXT, True, False, b"one"), (WSMsgType.BINARY, True, False, b"two")]
    assert_failed(r, 1002)
    assert r.feed(frame_for(is_client, TEXT, b"four")) == []
    assert_failed(r, 1002)


def test_first_error_wins() -> None:
    r = client_reader()
    r.feed(build_frame(TEXT, b"\xff"))
    r.feed(build_frame(5, b""))
    assert_failed(r, 1007)


# ---- read buffer --------------------------------------------------------------------------------------------


@SIDES
def test_buffer_grows_for_big_frame_and_shrinks_back(is_client: bool) -> None:
    # Frames below 32 KiB that do not fit grow the read buffer to their size.
    init = 1024
    r = FrameReader(is_client, init_capacity=init)
    assert r.buffer_capacity == init
    payload = random.Random(3).randbytes(24 * 1024)
    data = frame_for(is_client, BINARY, payload)
    out: Frames = []
    pos = 0
    grown = 0
    while pos < len(data):
        out.extend(r.feed(data[pos:pos + 4 * 1024]))
        pos += 4 * 1024
        if pos < len(data):
            grown = max(grown, r.buffer_capacity)
    assert grown >= len(data)
    assert out == [(WSMsgType.BINARY, True, False, payload)]
    # The grown buffer is kept for a while (a stream of large messages must not pay a realloc pair each) and
    # shrinks back to its initial size after 32 reads without a large frame.
    assert r.buffer_capacity >= len(data)
    for _ in range(32):
        assert r.feed(frame_for(is_client, TEXT, b"after")) == [(WSMsgType.TEXT, True, False, b"after")]
    assert r.buffer_capacity == init


@SIDES
@pytest.mark.parametrize("opcode", [BINARY, TEXT])
def test_large_frame_is_received_into_its_own_bytes_and_the_buffer_stays_small(is_client: bool, opcode: int) -> None:
    # From 32 KiB on, a frame that does not arrive whole is read into the bytes object handed to the listener.
    init = 16 * 1024
    r = FrameReader(is_client, init_capacity=init)
    rng = random.Random(5)
    payload = ("é" * 60_000).encode() if opcode == TEXT else rng.randbytes(1024 * 1024)
    data = frame_for(is_client, opcode, payload) + frame_for(is_client, BINARY, b"next")
    out: Frames = []
    for pos in range(0, len(data), 10_000):
        out.extend(r.feed(data[pos:pos + 10_000]))
        assert r.buffer_capacity == init
    assert out == [(WSMsgType(opcode), True, False, payload), (WSMsgType.BINARY, True, False, b"next")]
    assert r.error_code == 0


@SIDES
def test_the_read_after_a_large_frame_is_short(is_client: bool) -> None:
    # After a frame received into its own bytes, the next read into the empty buffer is offered 1 KiB: if another
    # large frame follows, only that much of it is copied from the read buffer into its bytes. One read later
    # the whole buffer is offered again.
    init = 16 * 1024
    r = FrameReader(is_client, init_capacity=init)
    payload = random.Random(7).randbytes(100_000)
    data = frame_for(is_client, BINARY, payload)
    out = r.feed(data[:init]) + r.feed(data[init:])
    assert out == [(WSMsgType.BINARY, True, False, payload)]
    assert r.feed(frame_for(is_client, TEXT, b"small")) == [(WSMsgType.TEXT, True, False, b"small")]
    assert r.offered == 1024
    assert r.feed(frame_for(is_client, TEXT, b"again")) == [(WSMsgType.TEXT, True, False, b"again")]
    assert r.offered == init
    # Large frames back to back: each read that starts one is offered 1 KiB, and the frames come out whole.
    assert r.feed(data[:init]) + r.feed(data[init:]) == [(WSMsgType.BINARY, True, False, payload)]
    assert r.feed(data[:1024]) == [] and r.offered == 1024
    assert r.feed(data[1024:]) == [(WSMsgType.BINARY, True, False, payload)]
    assert r.buffer_capacity == init


@SIDES
def test_large_fragments_continue_a_message_across_spilled_frames(is_client: bool) -> None:
    first = ("ab" * 20_000).encode()
    second = ("é" * 20_000).encode()
    data = frame_for(is_client, TEXT, first, fin=False) + frame_for(is_client, CONT, second)
    out: Frames = []
    r = FrameReader(is_client)
    for pos in range(0, len(data), 7_000):
        out.extend(r.feed(data[pos:pos + 7_000]))
    assert out == [(WSMsgType.TEXT, False, False, first), (WSMsgType.CONTINUATION, True, False, second)]
    assert r.error_code == 0


@SIDES
@pytest.mark.parametrize("bad_at", [1_000, 20_000], ids=["in-first-read", "in-later-read"])
def test_invalid_utf8_in_a_large_text_frame_fails_before_the_frame_ends(is_client: bool, bad_at: int) -> None:
    # The first read (16 KiB) carries the header and the start of the payload, which is moved (and unmasked,
    # server side) into the frame's own bytes; a bad byte there or in a later read fails at once.
    payload = b"a" * bad_at + b"\xff" + b"b" * 80_000
    data = frame_for(is_client, TEXT, payload)
    r = FrameReader(is_client)
    assert r.feed(data[:30_000]) == []
    assert_failed(r, WSCloseCode.INVALID_TEXT)


@SIDES
def test_large_text_frame_ending_mid_character_fails(is_client: bool) -> None:
    payload = b"a" * 50_000 + "é".encode()[:1]
    data = frame_for(is_client, TEXT, payload)
    r = FrameReader(is_client)
    out: Frames = []
    for pos in range(0, len(data), 20_000):
        out.extend(r.feed(data[pos:pos + 20_000]))
    assert out == []
    assert_failed(r, WSCloseCode.INVALID_TEXT)


def test_buffer_grows_for_a_burst_of_small_frames_and_shrinks_back() -> None:
    # A read that fills the whole buffer means more is waiting: the next read gets twice the room (fewer system
    # calls for pipelined messages), up to 256 KiB; the buffer shrinks back after 32 reads that did not fill it.
    r = client_reader(init_capacity=1024)
    burst = b"".join(build_frame(BINARY, bytes([i]) * 100) for i in range(200))
    assert r.feed(burst) == [(WSMsgType.BINARY, True, False, bytes([i]) * 100) for i in range(200)]
    assert r.buffer_capacity >= 8 * 1024
    huge = build_frame(BINARY, b"y" * 100) * 10_000  # 1 MiB of small frames
    assert len(r.feed(huge)) == 10_000
    assert r.buffer_capacity <= 256 * 1024
    for _ in range(32):
        assert r.feed(build_frame(BINARY, b"x")) == [(WSMsgType.BINARY, True, False, b"x")]
    assert r.buffer_capacity == 1024


def test_buffer_stays_small_for_small_frames() -> None:
    r = client_reader(init_capacity=1024)
    for _ in range(2000):
        assert r.feed(build_frame(BINARY, b"x" * 100)) == [(WSMsgType.BINARY, True, False, b"x" * 100)]
    assert r.buffer_capacity == 1024


# ---- encode_frame -----------------------------------------------------------------------------------------------


def test_encode_frame_rfc_examples() -> None:
    assert encode_frame(WSMsgType.TEXT, b"Hello") == bytes([0x81, 0x05]) + b"Hello"
    assert encode_frame(WSMsgType.TEXT, b"Hello", mask_key=KEY) == bytes(
        [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert encode_frame(WSMsgType.TEXT, b"Hel", fin=False) == bytes([0x01, 0x03]) + b"Hel"
    assert encode_frame(WSMsgType.CONTINUATION, b"lo") == bytes([0x80, 0x02]) + b"lo"


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
@pytest.mark.parametrize("masked", [False, True])
def test_encode_frame_matches_reference(size: int, masked: bool) -> None:
    payload = random.Random(size).randbytes(size)
    key = KEY if masked else None
    assert encode_frame(WSMsgType.BINARY, payload, rsv1=True, mask_key=key) == build_frame(
        BINARY, payload, rsv1=True, mask_key=key)


def test_encode_then_read_roundtrip() -> None:
    r = server_reader()
    assert r.feed(encode_frame(WSMsgType.TEXT, "héllo", mask_key=b"abcd")) == [
        (WSMsgType.TEXT, True, False, "héllo".encode())]
    assert apply_mask(b"\x00\x00\x00\x00\x00", b"abcd") == b"abcda"


# ---- WSFrame API ---------------------------------------------------------------------------------------------


def test_wsframe_data_accessors() -> None:
    f = make_test_frame(WSMsgType.TEXT, "héllo".encode(), fin=False, rsv1=True)
    assert f.msg_type is WSMsgType.TEXT
    assert not f.fin
    assert f.rsv1
    assert f.payload_size == len("héllo".encode())
    assert f.get_payload_as_bytes() == "héllo".encode()
    assert f.get_payload_as_utf8_text() == "héllo"
    mv = f.get_payload_as_memoryview()
    assert isinstance(mv, memoryview)
    assert bytes(mv) == "héllo".encode()
    assert mv.readonly
    with pytest.raises(UnicodeDecodeError):
        f.get_payload_as_ascii_text()
    assert make_test_frame(WSMsgType.BINARY, b"abc").get_payload_as_ascii_text() == "abc"
    assert "TEXT" in str(f)


def test_wsframe_close_accessors() -> None:
    f = make_test_frame(WSMsgType.CLOSE, close_payload(1001, "bye ✓".encode()))
    assert f.msg_type is WSMsgType.CLOSE
    assert f.get_close_code() is WSCloseCode.GOING_AWAY
    assert f.get_close_message() == "bye ✓".encode()
    assert f.get_close_reason() == "bye ✓"


def test_wsframe_empty_close_is_no_info() -> None:
    f = make_test_frame(WSMsgType.CLOSE, b"")
    assert f.get_close_code() is WSCloseCode.NO_INFO
    assert f.get_close_message() is None
    assert f.get_close_reason() is None


def test_wsframe_close_without_reason() -> None:
    f = make_test_frame(WSMsgType.CLOSE, close_payload(1000))
    assert f.get_close_code() == WSCloseCode.OK
    assert f.get_close_message() is None
    assert f.get_close_reason() is None


@pytest.mark.parametrize("code", [3000, 4999, 4321])
def test_wsframe_application_close_codes(code: int) -> None:
    value = make_test_frame(WSMsgType.CLOSE, close_payload(code)).get_close_code()
    assert isinstance(value, WSCloseCode)
    assert value == code
    assert int(value) == code
    assert value is WSCloseCode(code)


def test_wsframe_empty_payload() -> None:
    f = make_test_frame(WSMsgType.BINARY, b"")
    assert f.payload_size == 0
    assert f.get_payload_as_bytes() == b""
    assert bytes(f.get_payload_as_memoryview()) == b""
    assert f.fin
    assert not f.rsv1
