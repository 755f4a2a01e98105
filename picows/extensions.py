"""permessage-deflate negotiation (RFC 7692 sections 5-7), I/O-free.

A client sends :func:`client_offer` in ``Sec-WebSocket-Extensions`` and checks the server's answer
with :func:`client_accept`; a server picks an offer with :func:`server_negotiate`. Both sides end
with a :class:`DeflateParams`, seen from their own point of view ("local" is the direction we
compress, "remote" the direction we decompress), which configures the engine's
``picows._deflate.Deflater`` and ``Inflater``.

Window bits 8 are negotiated like any other value: the engine's Deflater runs zlib with 9 for it,
whose back-references never reach beyond 250 bytes and so fit the 256-byte window the peer asked
for (see ``picows._deflate``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from picows._handshake import parse_extension_header
from picows.errors import WSInvalidHeaderError

__all__ = [
    "EXTENSION_NAME",
    "DeflateParams",
    "WSDeflateOptions",
    "client_accept",
    "client_offer",
    "server_negotiate",
]

EXTENSION_NAME = "permessage-deflate"
_HEADER = "Sec-WebSocket-Extensions"
_KNOWN_PARAMS = frozenset(
    {
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    }
)
_DIGITS = re.compile(r"[0-9]{1,2}")
_MIN_BITS = 8
_MAX_BITS = 15


def _check_bits(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not _MIN_BITS <= value <= _MAX_BITS):
        raise ValueError(f"{name} must be an integer between 8 and 15 or None, got {value!r}")


@dataclass(frozen=True)
class WSDeflateOptions:
    """What this endpoint asks for when it negotiates permessage-deflate (RFC 7692).

    The defaults compress at zlib level 1 (about 4x faster than zlib's default level 6 for 80% of
    its size reduction on JSON-like text; see ``docs/topics/compression.rst``) with 15-bit windows and
    context takeover, which compresses repeated content best and costs roughly 270 KiB per
    connection; smaller windows, ``mem_level`` and no context takeover trade compression ratio for
    memory.

    Attributes:
        server_no_context_takeover: the server resets its compressor after every message. A client
            asks for it in its offer (and fails the handshake if the server does not agree); a
            server always grants it in its answer.
        client_no_context_takeover: the client resets its compressor after every message. A client
            offers it and then keeps to it; a server requires it in its answer.
        server_max_window_bits: limit (8..15) for the server's LZ77 window, ``None`` for no limit
            (15). A client asks for it; a server uses it for its own compressor.
        client_max_window_bits: limit for the client's window. On a client: ``True`` offers the
            parameter without a value (we accept any limit the server picks), an int 8..15 offers
            that value (and we keep to it), ``None`` or ``False`` does not offer it. On a server:
            an int asks clients that offered the parameter to keep to that window (clients that did
            not offer it cannot be limited); ``True``, ``False`` and ``None`` ask for nothing.
        compress_level: zlib level 0..9 for our compressor (1 fastest, 9 smallest).
        mem_level: zlib memLevel 1..9 for our compressor; its hash tables take
            ``2 ** (mem_level + 9)`` bytes, so lower values save memory per connection.
        min_size: messages shorter than this many bytes are sent uncompressed (RSV1 clear):
            below it deflate's block overhead and CPU cost outweigh the saving.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None | bool = True
    compress_level: int = 1
    mem_level: int = 8
    min_size: int = 32

    def __post_init__(self) -> None:
        _check_bits("server_max_window_bits", self.server_max_window_bits)
        if not isinstance(self.client_max_window_bits, bool):
            _check_bits("client_max_window_bits", self.client_max_window_bits)
        if isinstance(self.compress_level, bool) or not 0 <= self.compress_level <= 9:
            raise ValueError(f"compress_level must be between 0 and 9, got {self.compress_level!r}")
        if isinstance(self.mem_level, bool) or not 1 <= self.mem_level <= 9:
            raise ValueError(f"mem_level must be between 1 and 9, got {self.mem_level!r}")
        if isinstance(self.min_size, bool) or self.min_size < 0:
            raise ValueError(f"min_size must be a non-negative integer, got {self.min_size!r}")


@dataclass(frozen=True)
class DeflateParams:
    """The agreed permessage-deflate parameters, from this endpoint's point of view.

    Attributes:
        local_no_context_takeover: reset our compressor after every message.
        remote_no_context_takeover: the peer resets its compressor after every message, so we
            reset our decompressor too.
        local_max_window_bits: window bits (8..15) for our compressor.
        remote_max_window_bits: window bits (8..15) the peer's compressor keeps to; 15 when not
            negotiated.
        compress_level: zlib level for our compressor (from the options).
        mem_level: zlib memLevel for our compressor (from the options).
        min_size: messages shorter than this are sent uncompressed (from the options).
    """

    local_no_context_takeover: bool
    remote_no_context_takeover: bool
    local_max_window_bits: int
    remote_max_window_bits: int
    compress_level: int
    mem_level: int
    min_size: int


class _Invalid(Exception):
    """An extension element breaks a negotiation rule; the message says which."""


def _params_dict(params: list[tuple[str, str | None]]) -> dict[str, str | None]:
    # RFC 7692 7: unknown parameters and repeated parameters make an offer or answer invalid.
    result: dict[str, str | None] = {}
    for name, value in params:
        if name not in _KNOWN_PARAMS:
            raise _Invalid(f"unknown parameter {name!r}")
        if name in result:
            raise _Invalid(f"parameter {name!r} appears twice")
        result[name] = value
    return result


def _flag(params: dict[str, str | None], name: str) -> bool:
    if name not in params:
        return False
    if params[name] is not None:
        raise _Invalid(f"parameter {name!r} takes no value, got {params[name]!r}")
    return True


def _bits(value: str | None, name: str) -> int:
    # 1*DIGIT (also inside a quoted string, which the header parser already unquoted), 8..15.
    if value is None:
        raise _Invalid(f"parameter {name!r} needs a value between 8 and 15")
    if not _DIGITS.fullmatch(value) or not _MIN_BITS <= int(value) <= _MAX_BITS:
        raise _Invalid(f"parameter {name!r} must be between 8 and 15, got {value!r}")
    return int(value)


def client_offer(options: WSDeflateOptions) -> str:
    """Return the ``Sec-WebSocket-Extensions`` value a client sends to offer permessage-deflate.

    For example the default options give ``"permessage-deflate; client_max_window_bits"``.
    """
    parts = [EXTENSION_NAME]
    if options.server_no_context_takeover:
        parts.append("server_no_context_takeover")
    if options.client_no_context_takeover:
        parts.append("client_no_context_takeover")
    if options.server_max_window_bits is not None:
        parts.append(f"server_max_window_bits={options.server_max_window_bits}")
    if options.client_max_window_bits is True:
        parts.append("client_max_window_bits")
    elif not isinstance(options.client_max_window_bits, bool) and options.client_max_window_bits is not None:
        parts.append(f"client_max_window_bits={options.client_max_window_bits}")
    return "; ".join(parts)


def client_accept(response_value: str, options: WSDeflateOptions) -> DeflateParams:
    """Check the server's ``Sec-WebSocket-Extensions`` answer to :func:`client_offer`.

    Pass all the response's ``Sec-WebSocket-Extensions`` values joined with ``", "``; call this
    only when the response has the header (without it, the connection is uncompressed).

    Raises:
        WSInvalidHeaderError: the answer is malformed, names an extension other than one
            permessage-deflate, repeats or invents a parameter, has a value outside 8..15, or
            does not match what we offered (RFC 7692 5 and 7.1: the client must then fail the
            connection).
    """
    try:
        return _client_accept(response_value, options)
    except (_Invalid, ValueError) as exc:
        raise WSInvalidHeaderError(
            f"the server's permessage-deflate answer is invalid: {exc}", name=_HEADER, value=response_value
        ) from None


def _client_accept(response_value: str, options: WSDeflateOptions) -> DeflateParams:
    elements = parse_extension_header(response_value)
    if not elements:
        raise _Invalid("no extension in the answer")
    names = [name for name, _ in elements]
    if names != [EXTENSION_NAME]:
        raise _Invalid(f"expected exactly one {EXTENSION_NAME!r}, the only extension offered; got {names}")
    params = _params_dict(elements[0][1])

    remote_no_context_takeover = _flag(params, "server_no_context_takeover")
    if options.server_no_context_takeover and not remote_no_context_takeover:
        raise _Invalid("we offered server_no_context_takeover, the server did not accept it")
    # The server may require client_no_context_takeover even if we did not offer it (7.1.1.2).
    local_no_context_takeover = _flag(params, "client_no_context_takeover") or options.client_no_context_takeover

    offered_server_bits = options.server_max_window_bits
    if "server_max_window_bits" in params:
        # The server may limit its own window even when we asked for nothing (7.1.2.1).
        remote_bits = _bits(params["server_max_window_bits"], "server_max_window_bits")
        if offered_server_bits is not None and remote_bits > offered_server_bits:
            raise _Invalid(f"server_max_window_bits={remote_bits} exceeds the {offered_server_bits} we offered")
    elif offered_server_bits is not None:
        raise _Invalid(f"we offered server_max_window_bits={offered_server_bits}, the server did not accept it")
    else:
        remote_bits = _MAX_BITS

    offered_client = options.client_max_window_bits
    offered_client_bits = None if isinstance(offered_client, bool) else offered_client
    if "client_max_window_bits" in params:
        if offered_client is None or offered_client is False:
            raise _Invalid("client_max_window_bits in the answer, but we did not offer it (7.1.2.2)")
        local_bits = _bits(params["client_max_window_bits"], "client_max_window_bits")
        if offered_client_bits is not None and local_bits > offered_client_bits:
            raise _Invalid(f"client_max_window_bits={local_bits} exceeds the {offered_client_bits} we offered")
    else:
        # We keep to a limit we offered ourselves even if the server did not repeat it.
        local_bits = offered_client_bits if offered_client_bits is not None else _MAX_BITS

    return DeflateParams(
        local_no_context_takeover=local_no_context_takeover,
        remote_no_context_takeover=remote_no_context_takeover,
        local_max_window_bits=local_bits,
        remote_max_window_bits=remote_bits,
        compress_level=options.compress_level,
        mem_level=options.mem_level,
        min_size=options.min_size,
    )


def server_negotiate(header_values: list[str], options: WSDeflateOptions) -> tuple[str, DeflateParams] | None:
    """Pick the first permessage-deflate offer of a client that this server can honour.

    Args:
        header_values: every ``Sec-WebSocket-Extensions`` value of the request, in order; each
            may hold several comma-separated offers, in the client's order of preference.
        options: what this server wants.

    Returns:
        ``(response_value, params)``: the ``Sec-WebSocket-Extensions`` value to answer with and
        the agreed parameters; or ``None`` when no offer is acceptable (the connection then runs
        uncompressed). Offers with unknown or repeated parameters or invalid values are skipped,
        as is a header value that does not parse.
    """
    for value in header_values:
        try:
            elements = parse_extension_header(value)
        except ValueError:
            continue
        for name, params in elements:
            if name != EXTENSION_NAME:
                continue
            try:
                return _server_accept(params, options)
            except _Invalid:
                continue
    return None


def _server_accept(raw_params: list[tuple[str, str | None]], options: WSDeflateOptions) -> tuple[str, DeflateParams]:
    params = _params_dict(raw_params)
    local_no_context_takeover = _flag(params, "server_no_context_takeover") or options.server_no_context_takeover
    # Echo the client's hint too, so that resetting our decompressor is agreed by both sides.
    remote_no_context_takeover = _flag(params, "client_no_context_takeover") or options.client_no_context_takeover

    own_limit = options.server_max_window_bits or _MAX_BITS
    if "server_max_window_bits" in params:
        local_bits = min(_bits(params["server_max_window_bits"], "server_max_window_bits"), own_limit)
        answer_server_bits = True
    else:
        local_bits = own_limit
        answer_server_bits = local_bits < _MAX_BITS

    wanted_client = options.client_max_window_bits
    wanted_client_bits = None if isinstance(wanted_client, bool) else wanted_client
    answer_client_bits = False
    remote_bits = _MAX_BITS
    if "client_max_window_bits" in params:
        offered = params["client_max_window_bits"]
        offered_bits = _MAX_BITS if offered is None else _bits(offered, "client_max_window_bits")
        if wanted_client_bits is not None:
            remote_bits = min(offered_bits, wanted_client_bits)
            answer_client_bits = True
        elif offered is not None:
            # Repeating the client's own limit makes it binding, so our inflater may use it.
            remote_bits = offered_bits
            answer_client_bits = True
    # Without the parameter in the offer the answer must not limit the client (7.1.2.2).

    parts = [EXTENSION_NAME]
    if local_no_context_takeover:
        parts.append("server_no_context_takeover")
    if remote_no_context_takeover:
        parts.append("client_no_context_takeover")
    if answer_server_bits:
        parts.append(f"server_max_window_bits={local_bits}")
    if answer_client_bits:
        parts.append(f"client_max_window_bits={remote_bits}")
    agreed = DeflateParams(
        local_no_context_takeover=local_no_context_takeover,
        remote_no_context_takeover=remote_no_context_takeover,
        local_max_window_bits=local_bits,
        remote_max_window_bits=remote_bits,
        compress_level=options.compress_level,
        mem_level=options.mem_level,
        min_size=options.min_size,
    )
    return "; ".join(parts), agreed
