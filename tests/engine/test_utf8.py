"""The incremental UTF-8 validator of picows._utf8, against tests/reference.py and Python's codec.

The engine validates text messages frame by frame, so a character may arrive split across feeds;
and it must fail fast (close with 1007 on the first impossible byte, as Autobahn 6.x checks).
"""

from __future__ import annotations

import itertools
import random

import pytest

from picows._kernels import Utf8Validator, validate_utf8
from tests.reference import utf8_first_error, utf8_is_valid

VALID: list[bytes] = [
    b"",
    b"a",
    b"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",  # "kosme", Autobahn 6.2
    b"\x00",  # U+0000
    b"\x7f",  # U+007F, last 1-byte
    b"\xc2\x80",  # U+0080, first 2-byte
    b"\xdf\xbf",  # U+07FF, last 2-byte
    b"\xe0\xa0\x80",  # U+0800, first 3-byte
    b"\xed\x9f\xbf",  # U+D7FF, just below the surrogates
    b"\xee\x80\x80",  # U+E000, just above them
    b"\xef\xbf\xbd",  # U+FFFD
    b"\xef\xbf\xbf",  # U+FFFF (a noncharacter, but well-formed)
    b"\xf0\x90\x80\x80",  # U+10000, first 4-byte
    b"\xf3\xbf\xbf\xbf",
    b"\xf4\x8f\xbf\xbf",  # U+10FFFF, the last code point
    "日本語のテキスト, emoji \U0001f600, ascii".encode(),
]

# (bytes, index of the first byte that makes the sequence impossible)
INVALID: list[tuple[bytes, int]] = [
    (b"\x80", 0),  # stray continuation bytes
    (b"\xbf", 0),
    (b"a\x80b", 1),
    (b"\xc2\x80\x80", 2),
    (b"\xc0\x80", 0),  # C0/C1 can only start overlong 2-byte forms
    (b"\xc1\xbf", 0),
    (b"\xe0\x80\x80", 1),  # overlong 3-byte
    (b"\xe0\x9f\xbf", 1),
    (b"\xf0\x80\x80\x80", 1),  # overlong 4-byte
    (b"\xf0\x8f\xbf\xbf", 1),
    (b"\xed\xa0\x80", 1),  # U+D800, a surrogate (Autobahn 6.19.x)
    (b"\xed\xbf\xbf", 1),  # U+DFFF
    (b"\xed\xa0\x80\xed\xb0\x80", 1),  # a surrogate pair encoded CESU-8 style
    (b"\xf4\x90\x80\x80", 1),  # U+110000
    (b"\xf4\xbf\xbf\xbf", 1),
    (b"\xf5\x80\x80\x80", 0),  # F5..FF can never appear
    (b"\xf7\xbf\xbf\xbf", 0),
    (b"\xf8\x88\x80\x80\x80", 0),  # 5-byte and 6-byte forms of the old RFC 2279
    (b"\xfc\x84\x80\x80\x80\x80", 0),
    (b"\xfe", 0),
    (b"\xff", 0),
    (b"\xc2a", 1),  # lead byte followed by a non-continuation
    (b"\xe1\x80a", 2),
    (b"\xf1\x80\x80a", 3),
    (b"\xc2\xc2\x80", 1),
    (b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", 12),  # Autobahn 6.4.x
]

# Valid prefixes of a character cut short: invalid as a message, but never rejected early.
TRUNCATED: list[bytes] = [
    b"\xc2",
    b"\xe0\xa0",
    b"\xed\x9f",
    b"\xf0\x90\x80",
    b"\xf4\x8f\xbf",
    b"ab\xe1",
]


def _padded(data: bytes) -> list[bytes]:
    """data alone and inside ASCII runs of several lengths, so that it meets the 16-byte
    ASCII fast path and the block loop at every phase, not only the short-input tail."""
    return [b"x" * before + data + b"y" * after for before in range(0, 40, 3) for after in (0, 17)]


def _first_false_bytewise(data: bytes) -> int | None:
    """Feed one byte at a time; the index of the byte at which feed() first said False."""
    v = Utf8Validator()
    for i in range(len(data)):
        if not v.feed(data[i : i + 1]):
            return i
    return None


def test_reference_agrees_with_the_vectors() -> None:
    """Guard the oracle itself before trusting it for the random tests."""
    for data in VALID:
        assert utf8_is_valid(data) and data.decode("utf-8") is not None
    for data, pos in INVALID:
        assert utf8_first_error(data) == pos
    for data in TRUNCATED:
        assert utf8_first_error(data) is None and not utf8_is_valid(data)


@pytest.mark.parametrize("data", VALID, ids=repr)
def test_valid(data: bytes) -> None:
    for padded in _padded(data):
        assert validate_utf8(padded)
        v = Utf8Validator()
        assert v.feed(padded)
        assert v.is_complete


@pytest.mark.parametrize(("data", "pos"), INVALID, ids=lambda x: repr(x))
def test_invalid(data: bytes, pos: int) -> None:
    for before in range(0, 40, 3):
        padded = b"x" * before + data + b"y" * 20
        assert not validate_utf8(padded)
        v = Utf8Validator()
        assert not v.feed(padded)
        assert not v.is_complete


@pytest.mark.parametrize("data", TRUNCATED, ids=repr)
def test_truncated_is_incomplete_not_rejected(data: bytes) -> None:
    for padded in (data, b"z" * 33 + data):
        assert not validate_utf8(padded)
        v = Utf8Validator()
        assert v.feed(padded)  # still a possible prefix
        assert not v.is_complete


@pytest.mark.parametrize(("data", "pos"), INVALID, ids=lambda x: repr(x))
def test_fails_fast_at_first_impossible_byte(data: bytes, pos: int) -> None:
    # Byte by byte: feed() turns False exactly on the offending byte, not later.
    assert _first_false_bytewise(data) == pos
    # Prefixes in one piece each (the block loop): accepted up to pos, rejected from pos + 1.
    for padded, shift in ((data, 0), (b"p" * 37 + data, 37)):
        for end in range(len(padded) + 1):
            v = Utf8Validator()
            assert v.feed(padded[:end]) == (end <= pos + shift), (padded, end)


def test_reject_is_sticky() -> None:
    v = Utf8Validator()
    assert not v.feed(b"\xff")
    assert not v.feed(b"plain ascii that would otherwise be fine")
    assert not v.feed(b"")
    states = [v.is_complete]
    v.reset()
    states.append(v.is_complete)
    assert v.feed(b"fine again")
    states.append(v.is_complete)
    assert states == [False, True, True]


@pytest.mark.parametrize("data", VALID + [d for d, _ in INVALID] + TRUNCATED, ids=lambda d: repr(d))
def test_every_split_point(data: bytes) -> None:
    """Two feeds split anywhere, and one byte per feed, all give the one-shot verdict."""
    for padded in (data, b"q" * 20 + data + b"r" * 20):
        expected = utf8_is_valid(padded)
        assert validate_utf8(padded) == expected
        for cut in range(len(padded) + 1):
            v = Utf8Validator()
            ok = v.feed(padded[:cut])
            ok = v.feed(padded[cut:]) and ok
            assert (ok and v.is_complete) == expected, (padded, cut)
        v = Utf8Validator()
        for i in range(len(padded)):
            v.feed(padded[i : i + 1])
        assert v.is_complete == expected


def test_bytes_like_inputs() -> None:
    data = "κόσμε".encode()
    assert validate_utf8(bytearray(data))
    assert validate_utf8(memoryview(data))
    assert not validate_utf8(memoryview(data)[:-1])
    assert Utf8Validator().feed(memoryview(data)[1:]) is False


def _python_accepts(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _random_messy_bytes(rng: random.Random) -> bytes:
    """Mostly plausible UTF-8 with occasional damage, so both verdicts are common."""
    parts: list[bytes] = []
    for _ in range(rng.randrange(0, 30)):
        r = rng.random()
        if r < 0.4:
            parts.append(bytes([rng.randrange(0x20, 0x7F)]) * rng.randrange(1, 20))
        elif r < 0.8:
            cp = rng.choice(
                [
                    rng.randrange(0x80, 0x800),
                    rng.randrange(0x800, 0xD800),
                    rng.randrange(0xE000, 0x10000),
                    rng.randrange(0x10000, 0x110000),
                ]
            )
            parts.append(chr(cp).encode())
        elif r < 0.9:
            parts.append(bytes([rng.randrange(0x80, 0x100)]))
        else:
            enc = chr(rng.randrange(0x80, 0x110000)).encode("utf-8", "surrogatepass")
            parts.append(enc[: rng.randrange(0, len(enc) + 1)])
    return b"".join(parts)


def test_random_against_python_codec_and_reference() -> None:
    rng = random.Random(20240612)
    verdicts = {True: 0, False: 0}
    for _ in range(2000):
        data = _random_messy_bytes(rng)
        expected = _python_accepts(data)
        verdicts[expected] += 1
        assert validate_utf8(data) == expected == utf8_is_valid(data), data
        assert _first_false_bytewise(data) == utf8_first_error(data), data
        cut = rng.randrange(len(data) + 1)
        v = Utf8Validator()
        ok = v.feed(data[:cut])
        ok = v.feed(data[cut:]) and ok
        assert (ok and v.is_complete) == expected, (data, cut)
    # The generator must exercise both outcomes for the comparison to mean anything.
    assert min(verdicts.values()) > 300, verdicts


def test_random_uniform_bytes() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        data = rng.randbytes(rng.randrange(0, 40))
        assert validate_utf8(data) == _python_accepts(data), data


def test_random_valid_text_mixed() -> None:
    rng = random.Random(99)
    alphabet = "aZ \néßΩй中文€\u2028\U0001f600\U0010fffd\ud7ff\ue000"
    for _ in range(300):
        text = "".join(
            rng.choice(alphabet) if rng.random() < 0.3 else "x"
            for _ in range(rng.randrange(0, 400))
        )
        data = text.encode()
        assert validate_utf8(data)
        v = Utf8Validator()
        pos = 0
        while pos < len(data):
            step = rng.randrange(1, 40)
            assert v.feed(data[pos : pos + step])
            pos += step
        assert v.is_complete
        # Breaking the last character must be noticed.
        if data and data[-1] >= 0x80:
            assert not validate_utf8(data[:-1])


def test_all_one_and_two_byte_sequences() -> None:
    for a in range(256):
        assert validate_utf8(bytes([a])) == _python_accepts(bytes([a]))
        for b in range(256):
            data = bytes([a, b])
            assert validate_utf8(data) == _python_accepts(data), data


def test_boundary_bytes_up_to_four() -> None:
    """Every 3- and 4-byte sequence built from the bytes at the edges of Table 3-7's ranges."""
    edges = bytes.fromhex("00 7f 80 8f 90 9f a0 bf c0 c1 c2 df e0 e1 ec ed ee ef f0 f1 f3 f4 f5 ff")
    for n in (3, 4):
        for combo in itertools.product(edges, repeat=n):
            data = bytes(combo)
            assert validate_utf8(data) == _python_accepts(data), data
