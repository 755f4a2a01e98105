"""The I/O-free opening handshake (RFC 6455 section 4), driven with byte strings."""

from __future__ import annotations

import base64
import http
import pickle

import pytest

from picows._handshake import (
    DEFAULT_MAX_HEAD_SIZE,
    GUID,
    HandshakeRejection,
    accept_key,
    build_101_response,
    build_request,
    check_upgrade_request,
    check_upgrade_response,
    complete_101_response,
    find_head_end,
    generate_key,
    parse_extension_header,
    parse_header_tokens,
    parse_request,
    parse_response,
    response_body_length,
)
from picows.errors import (
    WSInvalidHeaderError,
    WSInvalidMessageError,
    WSInvalidStatusError,
    WSInvalidUpgradeError,
)
from picows.headers import WSHeaders
from picows.upgrade import WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from picows.url import parse_url

# RFC 6455 section 1.3 / 4.2.2 example.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

GOOD_REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)

GOOD_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)


def request_with(*lines: bytes, request_line: bytes = b"GET / HTTP/1.1") -> bytes:
    return request_line + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


UPGRADE_HEADERS = (
    b"Host: h",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Key: " + RFC_KEY.encode(),
    b"Sec-WebSocket-Version: 13",
)


def upgrade_request_without(name: bytes, *replacements: bytes, method: bytes = b"GET") -> bytes:
    lines = [line for line in UPGRADE_HEADERS if not line.lower().startswith(name.lower() + b":")]
    return request_with(*lines, *replacements, request_line=method + b" / HTTP/1.1")


# -- keys and constants ----------------------------------------------------------


def test_constants() -> None:
    assert DEFAULT_MAX_HEAD_SIZE == 16 * 1024
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def test_accept_key_rfc_vector() -> None:
    assert accept_key(RFC_KEY) == RFC_ACCEPT


def test_generate_key() -> None:
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert len(key) == 24
        assert len(base64.b64decode(key, validate=True)) == 16


# -- find_head_end -------------------------------------------------------------


def test_find_head_end_whole() -> None:
    data = GOOD_REQUEST + b"\x81\x00"
    assert find_head_end(data) == len(GOOD_REQUEST)
    assert find_head_end(bytearray(data)) == len(GOOD_REQUEST)
    assert find_head_end(memoryview(data)) == len(GOOD_REQUEST)
    assert find_head_end(b"GET / HTTP/1.1\r\nHost: h\r\n") == -1
    assert find_head_end(b"") == -1


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7])
def test_find_head_end_incremental(chunk: int) -> None:
    buf = bytearray()
    searched = 0
    found = -1
    for i in range(0, len(GOOD_REQUEST), chunk):
        buf += GOOD_REQUEST[i : i + chunk]
        found = find_head_end(buf, searched)
        if found >= 0:
            break
        searched = len(buf)
    assert found == len(GOOD_REQUEST)


def test_find_head_end_start_beyond_terminator_misses_it() -> None:
    # Documents the contract: start is how much was already searched.
    assert find_head_end(b"\r\n\r\nabcdefgh", start=10) == -1
    assert find_head_end(b"ab\r\n\r\n", start=5) == 6


# -- parse_header_tokens / extensions --------------------------------------------


def test_parse_header_tokens() -> None:
    assert parse_header_tokens("keep-alive, Upgrade") == ["keep-alive", "upgrade"]
    assert parse_header_tokens(" WebSocket ") == ["websocket"]
    assert parse_header_tokens("a,,  ,b") == ["a", "b"]
    assert parse_header_tokens("") == []


def test_parse_extension_header() -> None:
    assert parse_extension_header(
        'permessage-deflate; client_max_window_bits; server_max_window_bits="10", x-foo'
    ) == [
        (
            "permessage-deflate",
            [("client_max_window_bits", None), ("server_max_window_bits", "10")],
        ),
        ("x-foo", []),
    ]
    assert parse_extension_header("") == []
    with pytest.raises(ValueError):
        parse_extension_header("; x=1")
    with pytest.raises(ValueError):
        parse_extension_header("bad name")
    with pytest.raises(ValueError):
        parse_extension_header("ok; bad param=1")


# -- parse_request ------------------------------------------------------------------


def test_parse_good_request() -> None:
    request = parse_request(GOOD_REQUEST)
    assert request.method == b"GET"
    assert request.path == b"/chat?room=1"
    assert request.version == b"HTTP/1.1"
    assert request.headers["host"] == "server.example.com"
    assert request.headers["sec-websocket-protocol"] == "chat, superchat"
    assert list(request.headers)[0] == "Host"
    assert request.to_bytes() == GOOD_REQUEST
    assert "WSUpgradeRequest(method=b'GET'" in repr(request)


def test_parse_request_trims_ows_and_keeps_empty_values() -> None:
    request = parse_request(request_with(b"Host:   h  ", b"X-Empty:", b"X-Tab:\tv\t"))
    assert request.headers["Host"] == "h"
    assert request.headers["X-Empty"] == ""
    assert request.headers["X-Tab"] == "v"


def test_parse_request_obs_text_round_trips() -> None:
    request = parse_request(request_with(b"Host: h", "X-Name: ünï".encode(), b"X-Raw: \xff\xfe"))
    assert request.headers["X-Name"] == "ünï"
    assert request.to_bytes().endswith(b"X-Raw: \xff\xfe\r\n\r\n")


def test_parse_request_accepts_http_1_1_and_later_minor() -> None:
    assert parse_request(request_with(b"Host: h", request_line=b"GET / HTTP/1.2")).version == (
        b"HTTP/1.2"
    )


@pytest.mark.parametrize(
    ("head", "status", "fragment"),
    [
        (b"GET / HTTP/1.1\r\nHost: h\r\n", 400, "empty line"),
        (b"GET / HTTP/1.1\nHost: h\n\n", 400, "empty line"),
        (b"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400, "bare LF"),
        (request_with(b"Host: h", request_line=b"GET /"), 400, "request line"),
        (request_with(b"Host: h", request_line=b"GET  / HTTP/1.1"), 400, "request line"),
        (request_with(b"Host: h", request_line=b"GET / HTTP/1.1 extra"), 400, "request line"),
        (request_with(b"Host: h", request_line=b"G(T / HTTP/1.1"), 400, "method"),
        (request_with(b"Host: h", request_line=b"GET /\x7f HTTP/1.1"), 400, "target"),
        (request_with(b"Host: h", request_line="GET /ü HTTP/1.1".encode()), 400, "target"),
        (request_with(b"Host: h", request_line=b"GET / HTTP/1"), 400, "version"),
        (request_with(b"Host: h", request_line=b"GET / http/1.1"), 400, "version"),
        (request_with(b"Host: h", request_line=b"GET / HTTP/1.0"), 400, "HTTP/1.1"),
        (request_with(b"Host: h", request_line=b"GET / HTTP/2.0"), 505, "not supported"),
        (request_with(b"Host: h", request_line=b"GET / HTTP/0.9"), 505, "not supported"),
        (request_with(b"Host: h", b"NoColon"), 400, "no colon"),
        (request_with(b"Host: h", b"X-Name : v"), 400, "whitespace before the colon"),
        (request_with(b"Host: h", b"X-Name\t: v"), 400, "whitespace before the colon"),
        (request_with(b"Host: h", b"X-Name: v", b" folded"), 400, "folding"),
        (request_with(b"Host: h", b"X-Name: v", b"\tfolded"), 400, "folding"),
        (request_with(b"Host: h", b": v"), 400, "header name"),
        (request_with(b"Host: h", "Näme: v".encode()), 400, "header name"),
        (request_with(b"Host: h", b"Na\x01me: v"), 400, "header name"),
        (request_with(b"Host: h", b"X: a\x00b"), 400, "control character"),
        (request_with(b"Host: h", b"X: a\x7fb"), 400, "control character"),
        (request_with(b"Host: h", b"X: a\rb"), 400, "bare LF or CR"),
        (request_with(b"X: y"), 400, "Host header is missing"),
        (request_with(b"Host: h", b"host: h2"), 400, "Host header is repeated"),
        (b"\r\n\r\n", 400, "request line"),
    ],
)
def test_parse_malformed_request(head: bytes, status: int, fragment: str) -> None:
    with pytest.raises(HandshakeRejection) as info:
        parse_request(head)
    assert info.value.status == status
    assert fragment.lower() in info.value.reason.lower()
    assert str(info.value) == info.value.reason


# -- check_upgrade_request --------------------------------------------------------


def test_check_good_request() -> None:
    assert check_upgrade_request(parse_request(GOOD_REQUEST)) == RFC_KEY
    assert check_upgrade_request(parse_request(request_with(*UPGRADE_HEADERS))) == RFC_KEY


@pytest.mark.parametrize(
    "extra",
    [
        (b"Upgrade: WebSocket", b"Connection: keep-alive, Upgrade"),
        (b"Upgrade: h2c, websocket", b"Connection: keep-alive", b"Connection: upgrade"),
        (b"Upgrade: websocket", b"Connection: UPGRADE", b"Content-Length: 0"),
    ],
)
def test_check_request_token_lists(extra: tuple[bytes, ...]) -> None:
    head = request_with(
        b"Host: h", *extra, b"Sec-WebSocket-Key: " + RFC_KEY.encode(), b"Sec-WebSocket-Version: 13"
    )
    assert check_upgrade_request(parse_request(head)) == RFC_KEY


def rejection(head: bytes) -> HandshakeRejection:
    with pytest.raises(HandshakeRejection) as info:
        check_upgrade_request(parse_request(head))
    return info.value


@pytest.mark.parametrize("method", [b"POST", b"HEAD", b"get"])
def test_check_request_method(method: bytes) -> None:
    exc = rejection(upgrade_request_without(b"X-None", method=method))
    assert exc.status == 405
    assert ("Allow", "GET") in exc.headers


@pytest.mark.parametrize("upgrade", [None, b"Upgrade: h2c", b"Upgrade: websocket2", b"Upgrade: "])
def test_check_request_upgrade(upgrade: bytes | None) -> None:
    replacements = () if upgrade is None else (upgrade,)
    exc = rejection(upgrade_request_without(b"Upgrade", *replacements))
    assert exc.status == 426
    assert ("Upgrade", "websocket") in exc.headers
    assert ("Connection", "Upgrade") in exc.headers


@pytest.mark.parametrize("connection", [None, b"Connection: keep-alive", b"Connection: upgrades"])
def test_check_request_connection(connection: bytes | None) -> None:
    replacements = () if connection is None else (connection,)
    exc = rejection(upgrade_request_without(b"Connection", *replacements))
    assert exc.status == 400
    assert "Connection" in exc.reason


@pytest.mark.parametrize(
    ("replacements", "fragment"),
    [
        ((), "missing"),
        ((b"Sec-WebSocket-Key: " + RFC_KEY.encode(),) * 2, "repeated"),
        ((b"Sec-WebSocket-Key: not base64!",), "16 bytes"),
        ((b"Sec-WebSocket-Key: " + base64.b64encode(b"x" * 15),), "16 bytes"),
        ((b"Sec-WebSocket-Key: " + base64.b64encode(b"x" * 17),), "16 bytes"),
        ((b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ",), "16 bytes"),
        ((b"Sec-WebSocket-Key: ",), "16 bytes"),
        (("Sec-WebSocket-Key: ü".encode(),), "16 bytes"),
    ],
)
def test_check_request_key(replacements: tuple[bytes, ...], fragment: str) -> None:
    exc = rejection(upgrade_request_without(b"Sec-WebSocket-Key", *replacements))
    assert exc.status == 400
    assert fragment in exc.reason


@pytest.mark.parametrize(
    "replacements",
    [
        (),
        (b"Sec-WebSocket-Version: 8",),
        (b"Sec-WebSocket-Version: 13, 8",),
        (b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 13"),
    ],
)
def test_check_request_version(replacements: tuple[bytes, ...]) -> None:
    exc = rejection(upgrade_request_without(b"Sec-WebSocket-Version", *replacements))
    assert exc.status == 426
    assert exc.headers == [("Sec-WebSocket-Version", "13")]


@pytest.mark.parametrize("body_header", [b"Content-Length: 5", b"Transfer-Encoding: chunked"])
def test_check_request_with_body(body_header: bytes) -> None:
    exc = rejection(upgrade_request_without(b"X-None", body_header))
    assert exc.status == 400
    assert "body" in exc.reason


# -- HandshakeRejection.to_response -------------------------------------------------


def test_rejection_to_response() -> None:
    exc = HandshakeRejection(426, "send Upgrade: websocket", [("Upgrade", "websocket")])
    response = exc.to_response()
    assert response.status == http.HTTPStatus.UPGRADE_REQUIRED
    assert response.headers["Upgrade"] == "websocket"
    assert response.body == b"426 Upgrade Required: send Upgrade: websocket\n"
    wire = response.to_bytes()
    assert wire.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nContent-Type: text/plain; charset=utf-8\r\n" in wire
    assert b"\r\nContent-Length: 46\r\n" in wire
    assert b"\r\nConnection: close\r\n" in wire
    assert wire.endswith(b"\r\n\r\n" + response.body)
    assert parse_response(wire[: find_head_end(wire)]).status == 426


def test_rejection_pickles() -> None:
    exc = pickle.loads(pickle.dumps(HandshakeRejection(405, "use GET", [("Allow", "GET")])))
    assert (exc.status, exc.reason, exc.headers) == (405, "use GET", [("Allow", "GET")])


# -- build_101_response / complete_101_response --------------------------------------


def test_build_101_response() -> None:
    response = build_101_response(RFC_KEY)
    assert response.status == 101
    assert response.to_bytes() == GOOD_RESPONSE


def test_build_101_response_extra_headers() -> None:
    response = build_101_response(
        RFC_KEY, [("Sec-WebSocket-Protocol", "chat"), ("connection", "upgrade"), ("X-A", "1")]
    )
    assert list(response.headers.items()) == [
        ("Upgrade", "websocket"),
        ("connection", "upgrade"),
        ("Sec-WebSocket-Accept", RFC_ACCEPT),
        ("Sec-WebSocket-Protocol", "chat"),
        ("X-A", "1"),
    ]
    with pytest.raises(ValueError):
        build_101_response(RFC_KEY, {"X": "a\r\nb"})


def test_complete_101_response() -> None:
    response = WSUpgradeResponse.create_101_response({"Sec-WebSocket-Protocol": "chat"})
    complete_101_response(response, RFC_KEY)
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["Connection"] == "Upgrade"
    assert response.headers["Sec-WebSocket-Accept"] == RFC_ACCEPT
    assert response.headers["Sec-WebSocket-Protocol"] == "chat"
    # Present headers are left alone and not duplicated.
    custom = WSUpgradeResponse.create_101_response(
        {"upgrade": "WebSocket", "Connection": "keep-alive, Upgrade"}
    )
    complete_101_response(custom, RFC_KEY)
    assert custom.headers.getall("Upgrade") == ["WebSocket"]
    assert custom.headers.getall("Connection") == ["keep-alive, Upgrade"]
    assert custom.headers.getall("Sec-WebSocket-Accept") == [RFC_ACCEPT]


# -- build_request --------------------------------------------------------------------


def test_build_request_minimal() -> None:
    request = build_request(parse_url("ws://example.com:9001/chat?x=1"), RFC_KEY)
    assert request.to_bytes() == (
        b"GET /chat?x=1 HTTP/1.1\r\n"
        b"Host: example.com:9001\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"\r\n"
    )


def test_build_request_full() -> None:
    request = build_request(
        parse_url("wss://alice:secret@[::1]/"),
        RFC_KEY,
        [
            ("Origin", "https://example.com"),
            ("Sec-WebSocket-Protocol", "chat"),
            ("host", "virtual.example.com"),
        ],
        user_agent="picows-test/1",
    )
    headers = request.headers
    assert headers.getall("Host") == ["virtual.example.com"]
    assert list(headers)[0] == "host"  # overridden in place
    expected_auth = "Basic " + base64.b64encode(b"alice:secret").decode()
    assert headers["Authorization"] == expected_auth
    assert headers["User-Agent"] == "picows-test/1"
    assert headers["Origin"] == "https://example.com"
    assert headers["Sec-WebSocket-Protocol"] == "chat"
    # The server side accepts what the client side builds.
    parsed = parse_request(request.to_bytes())
    assert check_upgrade_request(parsed) == RFC_KEY
    assert parsed.headers == headers


def test_build_request_host_for_ipv6_and_default_port() -> None:
    assert build_request(parse_url("ws://[::1]/"), RFC_KEY).headers["Host"] == "[::1]"
    assert build_request(parse_url("wss://h:443/"), RFC_KEY).headers["Host"] == "h"


def test_build_request_refuses_key_and_injection() -> None:
    url = parse_url("ws://h/")
    with pytest.raises(ValueError, match="Sec-WebSocket-Key"):
        build_request(url, RFC_KEY, {"sec-websocket-key": "x"})
    with pytest.raises(ValueError):
        build_request(url, RFC_KEY, {"Cookie": "a\r\nEvil: 1"})
    with pytest.raises(ValueError):
        build_request(url, RFC_KEY, user_agent="ua\r\nEvil: 1")


# -- parse_response ---------------------------------------------------------------------


def test_parse_good_response() -> None:
    response = parse_response(GOOD_RESPONSE)
    assert response.version == b"HTTP/1.1"
    assert response.status is http.HTTPStatus.SWITCHING_PROTOCOLS
    assert response.headers["sec-websocket-accept"] == RFC_ACCEPT
    assert response.body is None


@pytest.mark.parametrize(
    ("status_line", "code"),
    [
        (b"HTTP/1.1 101", 101),
        (b"HTTP/1.1 101 ", 101),
        (b"HTTP/1.1 404 Not Found Here", 404),
        (b"HTTP/1.0 200 OK", 200),
        (b"HTTP/1.1 599 Custom", 599),
    ],
)
def test_parse_response_status_lines(status_line: bytes, code: int) -> None:
    response = parse_response(status_line + b"\r\n\r\n")
    assert response.status == code
    assert isinstance(response.status, http.HTTPStatus)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 101 Switching Protocols\r\n",
        b"HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 1O1 Switching\r\n\r\n",
        b"HTTP/1.1 1010 Switching\r\n\r\n",
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"HTTP/1.1  101 Switching\r\n\r\n",
        b"HTTP/11 101 Switching\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 101 Bad\x01Reason\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nUpgrade : websocket\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n folded\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nX: a\x00b\r\n\r\n",
        b"HTTP/1.1 101 OK\nUpgrade: websocket\r\n\r\n",
    ],
)
def test_parse_malformed_response(head: bytes) -> None:
    with pytest.raises(WSInvalidMessageError) as info:
        parse_response(head)
    assert info.value.raw_header == head
    assert "malformed HTTP response" in str(info.value)


# -- response_body_length ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "length"),
    [
        ([], None),
        ([("Content-Length", "12")], 12),
        ([("Content-Length", " 0 ")], 0),
        ([("Content-Length", "5"), ("content-length", "5")], 5),
        ([("Content-Length", "5, 5")], 5),
        ([("Content-Length", "5"), ("Content-Length", "6")], None),
        ([("Content-Length", "-1")], None),
        ([("Content-Length", "12a")], None),
        ([("Content-Length", "١٢")], None),  # non-ASCII digits
        ([("Content-Length", "3"), ("Transfer-Encoding", "chunked")], None),
    ],
)
def test_response_body_length(headers: list[tuple[str, str]], length: int | None) -> None:
    assert response_body_length(WSUpgradeResponse(b"HTTP/1.1", 200, headers)) == length


# -- check_upgrade_response ---------------------------------------------------------------


def client_request(*extra: tuple[str, str]) -> WSUpgradeRequest:
    return build_request(parse_url("ws://server.example.com/chat"), RFC_KEY, list(extra))


def response_with(*lines: bytes, status_line: bytes = b"HTTP/1.1 101 Switching Protocols") -> bytes:
    return status_line + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


OK_LINES = (
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Accept: " + RFC_ACCEPT.encode(),
)


def check(request: WSUpgradeRequest, head: bytes) -> None:
    check_upgrade_response(request, parse_response(head), RFC_KEY, head)


def test_check_good_response() -> None:
    check(client_request(), GOOD_RESPONSE)
    check(
        client_request(),
        response_with(
            b"Upgrade: WebSocket",
            b"Connection: keep-alive, upgrade",
            b"Sec-WebSocket-Accept: " + RFC_ACCEPT.encode(),
        ),
    )


def test_check_response_status() -> None:
    head = response_with(b"Content-Length: 9", status_line=b"HTTP/1.1 403 Forbidden")
    response = parse_response(head)
    response.body = b"forbidden"
    with pytest.raises(WSInvalidStatusError) as info:
        check_upgrade_response(client_request(), response, RFC_KEY, head)
    exc = info.value
    assert str(exc) == "server rejected WebSocket connection: HTTP 403 Forbidden"
    assert exc.raw_header == head
    assert exc.raw_body == b"forbidden"
    assert exc.response is response
    assert exc.response.status == 403
    assert exc.response.headers["Content-Length"] == "9"


def test_check_response_unknown_status_message() -> None:
    with pytest.raises(WSInvalidStatusError, match=r"HTTP 599$"):
        check(client_request(), response_with(status_line=b"HTTP/1.1 599 Whatever"))


@pytest.mark.parametrize(
    ("lines", "name"),
    [
        (OK_LINES[1:], "Upgrade"),
        ((b"Upgrade: h2c",) + OK_LINES[1:], "Upgrade"),
        ((OK_LINES[0], OK_LINES[2]), "Connection"),
        ((OK_LINES[0], b"Connection: keep-alive", OK_LINES[2]), "Connection"),
    ],
)
def test_check_response_upgrade(lines: tuple[bytes, ...], name: str) -> None:
    head = response_with(*lines)
    with pytest.raises(WSInvalidUpgradeError) as info:
        check(client_request(), head)
    assert info.value.name == name
    assert info.value.raw_header == head
    assert info.value.response is not None


@pytest.mark.parametrize(
    ("accept_lines", "value"),
    [
        ((), None),
        ((b"Sec-WebSocket-Accept: wrong",), "wrong"),
        ((b"Sec-WebSocket-Accept: " + RFC_ACCEPT.encode(),) * 2, f"{RFC_ACCEPT}, {RFC_ACCEPT}"),
        ((b"Sec-WebSocket-Accept: " + accept_key(generate_key()).encode(),), None),
    ],
)
def test_check_response_accept(accept_lines: tuple[bytes, ...], value: str | None) -> None:
    with pytest.raises(WSInvalidHeaderError) as info:
        check(client_request(), response_with(*OK_LINES[:2], *accept_lines))
    assert info.value.name == "Sec-WebSocket-Accept"
    assert not isinstance(info.value, WSInvalidUpgradeError)
    if value is not None:
        assert info.value.value == value
    elif not accept_lines:
        assert info.value.value is None


def test_check_response_extensions() -> None:
    offered = client_request(
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
    )
    check(offered, response_with(*OK_LINES, b"Sec-WebSocket-Extensions: permessage-deflate"))
    check(offered, response_with(*OK_LINES))  # declining is fine

    with pytest.raises(WSInvalidHeaderError, match="offered none") as info:
        check(client_request(), response_with(*OK_LINES, b"Sec-WebSocket-Extensions: x-foo"))
    assert info.value.name == "Sec-WebSocket-Extensions"
    assert info.value.value == "x-foo"

    with pytest.raises(WSInvalidHeaderError, match="x-foo"):
        check(
            offered,
            response_with(*OK_LINES, b"Sec-WebSocket-Extensions: permessage-deflate, x-foo"),
        )
    with pytest.raises(WSInvalidHeaderError, match="malformed"):
        check(offered, response_with(*OK_LINES, b"Sec-WebSocket-Extensions: ; a=1"))


def test_check_response_protocol() -> None:
    offered = client_request(("Sec-WebSocket-Protocol", "chat, superchat"))
    check(offered, response_with(*OK_LINES, b"Sec-WebSocket-Protocol: superchat"))
    check(offered, response_with(*OK_LINES))

    cases = [
        (client_request(), b"Sec-WebSocket-Protocol: chat", "did not offer"),
        (offered, b"Sec-WebSocket-Protocol: other", "did not offer"),
        (offered, b"Sec-WebSocket-Protocol: Chat", "did not offer"),  # case-sensitive
        (offered, b"Sec-WebSocket-Protocol: chat, superchat", "more than one"),
    ]
    for request, line, fragment in cases:
        with pytest.raises(WSInvalidHeaderError, match=fragment) as info:
            check(request, response_with(*OK_LINES, line))
        assert info.value.name == "Sec-WebSocket-Protocol"
    with pytest.raises(WSInvalidHeaderError, match="more than one"):
        check(
            offered,
            response_with(
                *OK_LINES, b"Sec-WebSocket-Protocol: chat", b"Sec-WebSocket-Protocol: chat"
            ),
        )


# -- upgrade.py types ---------------------------------------------------------------------


def test_response_factories() -> None:
    r101 = WSUpgradeResponse.create_101_response({"X": "1"})
    assert r101.status == 101 and r101.headers == {"X": "1"} and r101.body is None
    # a 101 carries neither Connection: close nor Content-Length
    assert r101.to_bytes() == b"HTTP/1.1 101 Switching Protocols\r\nX: 1\r\n\r\n"

    ok = WSUpgradeResponse.create_ok_response(b"healthy")
    assert ok.to_bytes() == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nhealthy"
    )
    typed = WSUpgradeResponse.create_ok_response(b"{}", {"content-type": "application/json"})
    assert b"content-type: application/json\r\n" in typed.to_bytes()
    assert b"text/plain" not in typed.to_bytes()
    assert b"Content-Length: 0\r\n" in WSUpgradeResponse.create_ok_response().to_bytes()

    err = WSUpgradeResponse.create_error_response(http.HTTPStatus.FORBIDDEN, b"no")
    assert err.status is http.HTTPStatus.FORBIDDEN
    with pytest.raises(ValueError):
        WSUpgradeResponse.create_error_response(302)
    with pytest.raises(ValueError):
        WSUpgradeResponse.create_error_response(200)

    redirect = WSUpgradeResponse.create_redirect_response(307, "ws://other/")
    assert redirect.headers["Location"] == "ws://other/"
    assert redirect.to_bytes().startswith(
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: ws://other/"
    )
    for bad_status in (200, 404, 101):
        with pytest.raises(ValueError):
            WSUpgradeResponse.create_redirect_response(bad_status, "ws://x/")
    with pytest.raises(ValueError):
        WSUpgradeResponse.create_redirect_response(302, "ws://x/\r\nSet-Cookie: a")


def test_response_status_validation() -> None:
    with pytest.raises(ValueError):
        WSUpgradeResponse(b"HTTP/1.1", 42)
    with pytest.raises(ValueError):
        WSUpgradeResponse(b"HTTP/1.1", 1000)


def test_response_does_not_mutate_headers_when_serializing() -> None:
    response = WSUpgradeResponse.create_error_response(500, b"x")
    response.to_bytes()
    assert "Content-Length" not in response.headers
    assert "Connection" not in response.headers


def test_request_to_bytes_rejects_bad_request_line() -> None:
    with pytest.raises(ValueError):
        WSUpgradeRequest(b"GET", b"/a b", b"HTTP/1.1", WSHeaders()).to_bytes()
    with pytest.raises(ValueError):
        WSUpgradeRequest(b"GET", b"/\r\n", b"HTTP/1.1", None).to_bytes()


def test_response_with_listener() -> None:
    listener = object()
    r101 = WSUpgradeResponse.create_101_response()
    pair = WSUpgradeResponseWithListener(r101, listener)
    assert pair.response is r101 and pair.listener is listener
    with pytest.raises(ValueError, match="needs a listener"):
        WSUpgradeResponseWithListener(r101, None)
    err = WSUpgradeResponse.create_error_response(404)
    assert WSUpgradeResponseWithListener(err, None).listener is None
    with pytest.raises(ValueError, match="must not come with a listener"):
        WSUpgradeResponseWithListener(err, listener)
    # 200/3xx may go either way
    WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(), None)
    WSUpgradeResponseWithListener(WSUpgradeResponse.create_redirect_response(302, "/x"), None)


def test_response_pickles_with_unknown_status() -> None:
    response = WSUpgradeResponse(b"HTTP/1.1", 599, [("A", "b")], b"x")
    copy = pickle.loads(pickle.dumps(response))
    assert (int(copy.status), copy.headers, copy.body) == (599, response.headers, b"x")
    assert copy.status is response.status  # pseudo-members are cached
