"""picows.extensions: permessage-deflate negotiation rules (RFC 7692 sections 5-7)."""

from __future__ import annotations

import dataclasses

import pytest

from picows.errors import WSInvalidHeaderError
from picows.extensions import DeflateParams, WSDeflateOptions, client_accept, client_offer, server_negotiate

DEFAULT = WSDeflateOptions()


def params(
    *,
    local_nct: bool = False,
    remote_nct: bool = False,
    local_bits: int = 15,
    remote_bits: int = 15,
    options: WSDeflateOptions = DEFAULT,
) -> DeflateParams:
    return DeflateParams(
        local_no_context_takeover=local_nct,
        remote_no_context_takeover=remote_nct,
        local_max_window_bits=local_bits,
        remote_max_window_bits=remote_bits,
        compress_level=options.compress_level,
        mem_level=options.mem_level,
        min_size=options.min_size,
    )


class TestOptions:
    def test_defaults(self) -> None:
        assert DEFAULT.client_max_window_bits is True
        assert DEFAULT.server_max_window_bits is None
        assert (DEFAULT.compress_level, DEFAULT.mem_level, DEFAULT.min_size) == (1, 8, 32)

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("server_max_window_bits", 7, "server_max_window_bits must be"),
            ("server_max_window_bits", 16, "server_max_window_bits must be"),
            ("server_max_window_bits", True, "server_max_window_bits must be"),
            ("client_max_window_bits", 16, "client_max_window_bits must be"),
            ("compress_level", 10, "compress_level must be"),
            ("compress_level", -1, "compress_level must be"),
            ("mem_level", 0, "mem_level must be"),
            ("min_size", -1, "min_size must be"),
        ],
    )
    def test_invalid(self, field: str, value: object, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            WSDeflateOptions(**{field: value})  # type: ignore[arg-type]

    def test_frozen(self) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            DEFAULT.mem_level = 1  # type: ignore[misc]


class TestClientOffer:
    def test_default_offers_valueless_client_max_window_bits(self) -> None:
        assert client_offer(DEFAULT) == "permessage-deflate; client_max_window_bits"

    def test_every_parameter(self) -> None:
        options = WSDeflateOptions(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=10,
            client_max_window_bits=12,
        )
        assert client_offer(options) == (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=12"
        )

    @pytest.mark.parametrize("value", [None, False])
    def test_no_client_max_window_bits(self, value: bool | None) -> None:
        assert client_offer(WSDeflateOptions(client_max_window_bits=value)) == "permessage-deflate"

    def test_offer_is_accepted_by_our_server(self) -> None:
        # Our own offer, answered by our own server, agrees on mirrored parameters.
        options = WSDeflateOptions(
            server_max_window_bits=11, client_max_window_bits=10, client_no_context_takeover=True
        )
        result = server_negotiate([client_offer(options)], DEFAULT)
        assert result is not None
        answer, server_side = result
        client_side = client_accept(answer, options)
        assert client_side.local_max_window_bits == server_side.remote_max_window_bits == 10
        assert client_side.remote_max_window_bits == server_side.local_max_window_bits == 11
        assert client_side.local_no_context_takeover == server_side.remote_no_context_takeover is True
        assert client_side.remote_no_context_takeover == server_side.local_no_context_takeover is False


class TestClientAccept:
    def test_plain_answer(self) -> None:
        assert client_accept("permessage-deflate", DEFAULT) == params()

    def test_case_and_spacing(self) -> None:
        answer = "Permessage-Deflate ;  Client_Max_Window_Bits = 10"
        assert client_accept(answer, DEFAULT) == params(local_bits=10)

    def test_quoted_value(self) -> None:
        assert client_accept('permessage-deflate; client_max_window_bits="10"', DEFAULT) == params(local_bits=10)

    def test_server_may_add_server_no_context_takeover(self) -> None:
        # 7.1.1.1: the server may use it even if we did not ask.
        assert client_accept("permessage-deflate; server_no_context_takeover", DEFAULT) == params(remote_nct=True)

    def test_server_may_require_client_no_context_takeover(self) -> None:
        # 7.1.1.2: the server may include it even if the offer did not.
        assert client_accept("permessage-deflate; client_no_context_takeover", DEFAULT) == params(local_nct=True)

    def test_our_client_no_context_takeover_holds_without_echo(self) -> None:
        options = WSDeflateOptions(client_no_context_takeover=True)
        assert client_accept("permessage-deflate", options) == params(local_nct=True, options=options)

    def test_server_may_limit_its_window_unasked(self) -> None:
        # 7.1.2.1: server_max_window_bits may appear in the answer to an offer without it.
        assert client_accept("permessage-deflate; server_max_window_bits=9", DEFAULT) == params(remote_bits=9)

    def test_server_window_at_most_what_we_asked(self) -> None:
        options = WSDeflateOptions(server_max_window_bits=10)
        answer = "permessage-deflate; server_max_window_bits=10"
        assert client_accept(answer, options) == params(remote_bits=10, options=options)
        answer = "permessage-deflate; server_max_window_bits=8"
        assert client_accept(answer, options) == params(remote_bits=8, options=options)

    def test_client_window_from_valueless_offer(self) -> None:
        for bits in range(8, 16):
            answer = f"permessage-deflate; client_max_window_bits={bits}"
            assert client_accept(answer, DEFAULT).local_max_window_bits == bits

    def test_client_keeps_its_own_offered_limit(self) -> None:
        options = WSDeflateOptions(client_max_window_bits=11)
        assert client_accept("permessage-deflate", options).local_max_window_bits == 11
        answer = "permessage-deflate; client_max_window_bits=9"
        assert client_accept(answer, options).local_max_window_bits == 9

    def test_all_parameters(self) -> None:
        options = WSDeflateOptions(server_no_context_takeover=True, server_max_window_bits=12)
        answer = (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=12; client_max_window_bits=9"
        )
        expected = params(local_nct=True, remote_nct=True, local_bits=9, remote_bits=12, options=options)
        assert client_accept(answer, options) == expected

    def test_options_carried_through(self) -> None:
        options = WSDeflateOptions(compress_level=1, mem_level=4, min_size=100)
        agreed = client_accept("permessage-deflate", options)
        assert (agreed.compress_level, agreed.mem_level, agreed.min_size) == (1, 4, 100)

    @pytest.mark.parametrize(
        ("answer", "options", "reason"),
        [
            ("", DEFAULT, "no extension"),
            ("x-webkit-deflate-frame", DEFAULT, "expected exactly one"),
            ("permessage-deflate, permessage-deflate", DEFAULT, "expected exactly one"),
            ("permessage-deflate, x-foo", DEFAULT, "expected exactly one"),
            ("permessage-deflate; foo", DEFAULT, "unknown parameter 'foo'"),
            ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", DEFAULT, "twice"),
            ("permessage-deflate; client_max_window_bits=9; client_max_window_bits=9", DEFAULT, "twice"),
            ("permessage-deflate; server_no_context_takeover=1", DEFAULT, "takes no value"),
            ("permessage-deflate; client_no_context_takeover=x", DEFAULT, "takes no value"),
            ("permessage-deflate; server_max_window_bits", DEFAULT, "needs a value"),
            ("permessage-deflate; server_max_window_bits=7", DEFAULT, "between 8 and 15"),
            ("permessage-deflate; server_max_window_bits=16", DEFAULT, "between 8 and 15"),
            ("permessage-deflate; server_max_window_bits=abc", DEFAULT, "between 8 and 15"),
            ("permessage-deflate; server_max_window_bits=-9", DEFAULT, "between 8 and 15"),
            ("permessage-deflate; server_max_window_bits=009", DEFAULT, "between 8 and 15"),
            ("permessage-deflate; client_max_window_bits", DEFAULT, "needs a value"),
            ('permessage-deflate; client_max_window_bits="1 0"', DEFAULT, "between 8 and 15"),
            ("permessage-deflate; client_max_window_bits=10", WSDeflateOptions(client_max_window_bits=None), "did not"),
            (
                "permessage-deflate; client_max_window_bits=10",
                WSDeflateOptions(client_max_window_bits=False),
                "did not",
            ),
            ("permessage-deflate; client_max_window_bits=12", WSDeflateOptions(client_max_window_bits=11), "exceeds"),
            ("permessage-deflate; server_max_window_bits=11", WSDeflateOptions(server_max_window_bits=10), "exceeds"),
            ("permessage-deflate", WSDeflateOptions(server_max_window_bits=10), "did not accept"),
            ("permessage-deflate", WSDeflateOptions(server_no_context_takeover=True), "did not accept"),
            ("permessage-deflate; =1", DEFAULT, "invalid parameter"),
            ("per message", DEFAULT, "invalid extension name"),
        ],
    )
    def test_rejected(self, answer: str, options: WSDeflateOptions, reason: str) -> None:
        with pytest.raises(WSInvalidHeaderError, match=reason) as info:
            client_accept(answer, options)
        assert info.value.name == "Sec-WebSocket-Extensions"
        assert info.value.value == answer


class TestServerNegotiate:
    def test_no_header(self) -> None:
        assert server_negotiate([], DEFAULT) is None

    def test_other_extensions_only(self) -> None:
        assert server_negotiate(["x-webkit-deflate-frame", "foo; bar=1"], DEFAULT) is None

    def test_plain_offer(self) -> None:
        assert server_negotiate(["permessage-deflate"], DEFAULT) == ("permessage-deflate", params())

    def test_browser_offer(self) -> None:
        # What Chromium and Firefox send: valueless client_max_window_bits, which we do not use.
        assert server_negotiate(["permessage-deflate; client_max_window_bits"], DEFAULT) == (
            "permessage-deflate",
            params(),
        )

    def test_server_no_context_takeover_offered(self) -> None:
        result = server_negotiate(["permessage-deflate; server_no_context_takeover"], DEFAULT)
        assert result == ("permessage-deflate; server_no_context_takeover", params(local_nct=True))

    def test_server_no_context_takeover_by_option(self) -> None:
        options = WSDeflateOptions(server_no_context_takeover=True)
        result = server_negotiate(["permessage-deflate"], options)
        assert result == ("permessage-deflate; server_no_context_takeover", params(local_nct=True, options=options))

    def test_client_no_context_takeover_hint_is_echoed(self) -> None:
        result = server_negotiate(["permessage-deflate; client_no_context_takeover"], DEFAULT)
        assert result == ("permessage-deflate; client_no_context_takeover", params(remote_nct=True))

    def test_client_no_context_takeover_required_by_option(self) -> None:
        options = WSDeflateOptions(client_no_context_takeover=True)
        result = server_negotiate(["permessage-deflate"], options)
        assert result == ("permessage-deflate; client_no_context_takeover", params(remote_nct=True, options=options))

    @pytest.mark.parametrize("bits", range(8, 16))
    def test_server_max_window_bits_offered(self, bits: int) -> None:
        result = server_negotiate([f"permessage-deflate; server_max_window_bits={bits}"], DEFAULT)
        assert result == (f"permessage-deflate; server_max_window_bits={bits}", params(local_bits=bits))

    def test_server_max_window_bits_smaller_of_offer_and_option(self) -> None:
        options = WSDeflateOptions(server_max_window_bits=10)
        result = server_negotiate(["permessage-deflate; server_max_window_bits=12"], options)
        assert result == ("permessage-deflate; server_max_window_bits=10", params(local_bits=10, options=options))
        result = server_negotiate(["permessage-deflate; server_max_window_bits=9"], options)
        assert result == ("permessage-deflate; server_max_window_bits=9", params(local_bits=9, options=options))

    def test_server_max_window_bits_by_option_unasked(self) -> None:
        options = WSDeflateOptions(server_max_window_bits=11)
        result = server_negotiate(["permessage-deflate"], options)
        assert result == ("permessage-deflate; server_max_window_bits=11", params(local_bits=11, options=options))

    def test_client_max_window_bits_value_echoed(self) -> None:
        result = server_negotiate(['permessage-deflate; client_max_window_bits="10"'], DEFAULT)
        assert result == ("permessage-deflate; client_max_window_bits=10", params(remote_bits=10))

    def test_client_max_window_bits_limited_by_option(self) -> None:
        options = WSDeflateOptions(client_max_window_bits=9)
        result = server_negotiate(["permessage-deflate; client_max_window_bits"], options)
        assert result == ("permessage-deflate; client_max_window_bits=9", params(remote_bits=9, options=options))
        result = server_negotiate(["permessage-deflate; client_max_window_bits=12"], options)
        assert result == ("permessage-deflate; client_max_window_bits=9", params(remote_bits=9, options=options))
        result = server_negotiate(["permessage-deflate; client_max_window_bits=8"], options)
        assert result == ("permessage-deflate; client_max_window_bits=8", params(remote_bits=8, options=options))

    def test_client_cannot_be_limited_without_the_parameter(self) -> None:
        # 7.1.2.2: no client_max_window_bits in the offer -> none in the answer.
        options = WSDeflateOptions(client_max_window_bits=9)
        assert server_negotiate(["permessage-deflate"], options) == ("permessage-deflate", params(options=options))

    def test_first_acceptable_offer_wins(self) -> None:
        header = "permessage-deflate; client_max_window_bits=10, permessage-deflate"
        assert server_negotiate([header], DEFAULT) == (
            "permessage-deflate; client_max_window_bits=10",
            params(remote_bits=10),
        )

    @pytest.mark.parametrize(
        "bad_offer",
        [
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=yes",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=0",
            "permessage-deflate; client_max_window_bits=ten",
            "permessage-deflate; client_max_window_bits=10; client_max_window_bits=11",
        ],
    )
    def test_invalid_offer_is_skipped_for_the_next(self, bad_offer: str) -> None:
        header = f"x-foo, {bad_offer}, permessage-deflate; server_no_context_takeover"
        assert server_negotiate([header], DEFAULT) == (
            "permessage-deflate; server_no_context_takeover",
            params(local_nct=True),
        )
        assert server_negotiate([bad_offer], DEFAULT) is None

    def test_several_header_values(self) -> None:
        values = ["x-foo", "permessage-deflate; bad_param", "permessage-deflate; server_max_window_bits=12"]
        assert server_negotiate(values, DEFAULT) == (
            "permessage-deflate; server_max_window_bits=12",
            params(local_bits=12),
        )

    def test_unparsable_header_value_is_skipped(self) -> None:
        values = ["permessage-deflate; =bad", "permessage-deflate"]
        assert server_negotiate(values, DEFAULT) == ("permessage-deflate", params())

    def test_answer_is_accepted_by_our_client(self) -> None:
        for offer_options in [
            DEFAULT,
            WSDeflateOptions(server_no_context_takeover=True, server_max_window_bits=9),
            WSDeflateOptions(client_max_window_bits=8, client_no_context_takeover=True),
        ]:
            for server_options in [DEFAULT, WSDeflateOptions(client_max_window_bits=10, server_max_window_bits=8)]:
                result = server_negotiate([client_offer(offer_options)], server_options)
                assert result is not None
                answer, server_side = result
                client_side = client_accept(answer, offer_options)
                assert client_side.local_max_window_bits == server_side.remote_max_window_bits
                assert client_side.remote_max_window_bits == server_side.local_max_window_bits
                assert client_side.local_no_context_takeover == server_side.remote_no_context_takeover
                assert client_side.remote_no_context_takeover == server_side.local_no_context_takeover
