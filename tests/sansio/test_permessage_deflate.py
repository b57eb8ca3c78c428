"""Tests for permessage-deflate (RFC 7692) and the DEFLATE engine registry.

websockets 17 is the reference: negotiation is checked outcome for outcome against its
factories (every client offer against every server configuration, then random parameter
lists), and frames are exchanged with its PerMessageDeflate in both directions, with the
stdlib engine byte for byte. Then come what websockets doesn't guarantee: decompression
bounded by ``max_size`` (a 100 MB bomb inflates no more than the limit), and the optional
engines, each skipped with a reason when its package isn't installed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import os
import random
import sys
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets_support import HAVE_WEBSOCKETS, needs_websockets, websockets_module

from wsfast import deflate_backends
from wsfast.deflate_backends import BackendUnavailable, get_backend
from wsfast.exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from wsfast.extensions import ClientExtensionFactory, Extension, ServerExtensionFactory
from wsfast.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from wsfast.frames import Frame, Opcode

ws_exceptions = websockets_module("websockets.exceptions")
ws_pmd = websockets_module("websockets.extensions.permessage_deflate")
ws_frames = websockets_module("websockets.frames")

TAIL = b"\x00\x00\xff\xff"

# backend name -> (top-level module, package to install)
OPTIONAL_BACKENDS = {"zlib-ng": ("zlib_ng", "zlib-ng"), "isal": ("isal", "isal")}


def _backend_param(name: str) -> Any:
    module, package = OPTIONAL_BACKENDS.get(name, (None, None))
    if module is not None and importlib.util.find_spec(module) is None:
        reason = f"deflate backend {name!r} needs the {package!r} package, not installed"
        return pytest.param(name, marks=pytest.mark.skip(reason=reason), id=name)
    return pytest.param(name, id=name)


ALL_BACKENDS = [_backend_param(name) for name in ("zlib", "zlib-ng", "isal")]
OPTIONAL = [_backend_param(name) for name in OPTIONAL_BACKENDS]


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def to_theirs(frame: Frame) -> Any:
    return ws_frames.Frame(
        ws_frames.Opcode(int(frame.opcode)),
        bytes(frame.data),
        frame.fin,
        frame.rsv1,
        frame.rsv2,
        frame.rsv3,
    )


def to_ours(frame: Any) -> Frame:
    return Frame(
        Opcode(int(frame.opcode)),
        bytes(frame.data),
        frame.fin,
        frame.rsv1,
        frame.rsv2,
        frame.rsv3,
    )


def describe(extension: Any) -> tuple[Any, ...]:
    return (
        type(extension).__name__,
        extension.remote_no_context_takeover,
        extension.local_no_context_takeover,
        extension.remote_max_window_bits,
        extension.local_max_window_bits,
        extension.compress_settings,
    )


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call did, comparable across the two implementations."""
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome being compared
        return ("raised", type(exc).__name__, str(exc), exc.args)
    if isinstance(result, tuple):  # server: (response params, extension)
        params, extension = result
        return ("ok", list(params), describe(extension))
    if isinstance(result, list):
        return ("ok", result)
    return ("ok", describe(result))


def fragments(message: bytes, cuts: list[int], opcode: Opcode = Opcode.BINARY) -> list[Frame]:
    """Split a message into frames at the given offsets (duplicates make empty fragments)."""
    bounds = [0, *sorted(min(cut, len(message)) for cut in cuts), len(message)]
    parts = [message[a:b] for a, b in itertools.pairwise(bounds)]
    return [
        Frame(opcode if i == 0 else Opcode.CONT, part, fin=i == len(parts) - 1)
        for i, part in enumerate(parts)
    ]


def make_messages(rng: random.Random, count: int, max_len: int) -> list[bytes]:
    """Messages of several shapes: random (stored blocks), text-like, long-range repeats
    (which exercise the window size) and empty ones."""
    words = [b"alpha", b"beta", b"gamma", b"delta", b"websocket", b"deflate", b"\x00\xff"]
    messages = []
    for _ in range(count):
        kind = rng.randrange(5)
        size = rng.randrange(max_len)
        if kind == 0:
            message = rng.randbytes(size)
        elif kind == 1:
            message = b" ".join(rng.choice(words) for _ in range(size // 6 + 1))[:size]
        elif kind == 2:
            chunk = rng.randbytes(rng.randrange(1, 400))
            gap = rng.randbytes(rng.choice([100, 600, 3000, 20000]))
            message = (chunk + gap + chunk) * (1 + size // 40000)
        elif kind == 3:
            message = b""
        else:
            message = bytes(size)
        messages.append(message)
    return messages


# ---------------------------------------------------------------------------------------
# Base classes
# ---------------------------------------------------------------------------------------


class TestBase:
    def test_methods_are_abstract(self) -> None:
        frame = Frame(Opcode.TEXT, b"")
        with pytest.raises(NotImplementedError):
            Extension().decode(frame, max_size=None)
        with pytest.raises(NotImplementedError):
            Extension().encode(frame)
        with pytest.raises(NotImplementedError):
            ClientExtensionFactory().get_request_params()
        with pytest.raises(NotImplementedError):
            ClientExtensionFactory().process_response_params([], [])
        with pytest.raises(NotImplementedError):
            ServerExtensionFactory().process_request_params([], [])

    def test_subclasses(self) -> None:
        assert issubclass(PerMessageDeflate, Extension)
        assert issubclass(ClientPerMessageDeflateFactory, ClientExtensionFactory)
        assert issubclass(ServerPerMessageDeflateFactory, ServerExtensionFactory)
        for cls in (PerMessageDeflate, ClientPerMessageDeflateFactory,
                    ServerPerMessageDeflateFactory):
            assert cls.name == "permessage-deflate"

    @needs_websockets
    def test_package_exports(self) -> None:
        import websockets.extensions as theirs

        import wsfast.extensions as ours
        import wsfast.extensions.permessage_deflate as ours_pmd

        assert sorted(ours.__all__) == sorted(theirs.__all__)
        assert sorted(ours_pmd.__all__) == sorted(ws_pmd.__all__)


# ---------------------------------------------------------------------------------------
# Negotiation, against websockets
# ---------------------------------------------------------------------------------------

CLIENT_CONFIGS = [
    dict(
        server_no_context_takeover=snct,
        client_no_context_takeover=cnct,
        server_max_window_bits=smwb,
        client_max_window_bits=cmwb,
    )
    for snct in (False, True)
    for cnct in (False, True)
    for smwb in (None, 8, 9, 12, 15)
    for cmwb in (None, True, 9, 12, 15)
]

SERVER_CONFIGS = [
    dict(
        server_no_context_takeover=snct,
        client_no_context_takeover=cnct,
        server_max_window_bits=smwb,
        client_max_window_bits=cmwb,
        require_client_max_window_bits=require,
    )
    for snct in (False, True)
    for cnct in (False, True)
    for smwb in (None, 9, 12, 15)
    for cmwb in (None, 8, 9, 12, 15)
    for require in (False, True)
    if not (require and cmwb is None)
]


def _config_id(config: dict[str, Any]) -> str:
    short = {"server_no_context_takeover": "snct", "client_no_context_takeover": "cnct",
             "server_max_window_bits": "smwb", "client_max_window_bits": "cmwb"}
    return "-".join(f"{short[k]}={v}" for k, v in config.items())


class TestNegotiationMatrix:
    @needs_websockets
    @pytest.mark.parametrize("client_config", CLIENT_CONFIGS, ids=_config_id)
    def test_offer_against_every_server_config(self, client_config: dict[str, Any]) -> None:
        ours_client = ClientPerMessageDeflateFactory(**client_config)
        theirs_client = ws_pmd.ClientPerMessageDeflateFactory(**client_config)
        offer = ours_client.get_request_params()
        assert offer == theirs_client.get_request_params()

        for server_config in SERVER_CONFIGS:
            ours_server = ServerPerMessageDeflateFactory(**server_config)
            theirs_server = ws_pmd.ServerPerMessageDeflateFactory(**server_config)
            expected = outcome(lambda: theirs_server.process_request_params(offer, []))
            actual = outcome(lambda: ours_server.process_request_params(offer, []))
            assert actual == expected, server_config
            if expected[0] != "ok":
                continue
            response = expected[1]
            expected = outcome(lambda: theirs_client.process_response_params(response, []))
            actual = outcome(lambda: ours_client.process_response_params(response, []))
            assert actual == expected, (server_config, response)
            if actual[0] == "ok":
                # Both ends of a successful negotiation agree on what each side compresses.
                server_ext = ours_server.process_request_params(offer, [])[1]
                client_ext = ours_client.process_response_params(response, [])
                assert client_ext.local_max_window_bits <= server_ext.remote_max_window_bits
                assert server_ext.local_max_window_bits <= client_ext.remote_max_window_bits
                assert client_ext.local_no_context_takeover or not (
                    server_ext.remote_no_context_takeover
                )
                assert server_ext.local_no_context_takeover or not (
                    client_ext.remote_no_context_takeover
                )

    def test_negotiated_extensions_interoperate(self) -> None:
        # One full exchange per (client, server) pair that negotiates, with distinct windows.
        rng = random.Random(7)
        message = b"abc" * 5000 + rng.randbytes(3000) * 3
        for client_config, server_config in [
            (CLIENT_CONFIGS[i], SERVER_CONFIGS[j])
            for i, j in [(0, 0), (7, 11), (24, 33), (61, 80), (99, 5), (45, 140)]
        ]:
            client = ClientPerMessageDeflateFactory(**client_config)
            server = ServerPerMessageDeflateFactory(**server_config)
            try:
                response, server_ext = server.process_request_params(
                    client.get_request_params(), []
                )
                client_ext = client.process_response_params(response, [])
            except NegotiationError:
                continue
            for sender, receiver in ((client_ext, server_ext), (server_ext, client_ext)):
                for _ in range(3):
                    frame = sender.encode(Frame(Opcode.BINARY, message))
                    assert receiver.decode(frame, max_size=None).data == message


class TestNegotiationDetails:
    def test_default_offer(self) -> None:
        assert ClientPerMessageDeflateFactory().get_request_params() == [
            ("client_max_window_bits", None)
        ]

    def test_default_server_accepts_default_offer(self) -> None:
        response, extension = ServerPerMessageDeflateFactory().process_request_params(
            [("client_max_window_bits", None)], []
        )
        assert response == []
        assert repr(extension) == (
            "PerMessageDeflate(remote_no_context_takeover=False, "
            "local_no_context_takeover=False, remote_max_window_bits=15, "
            "local_max_window_bits=15)"
        )

    def test_duplicate_extension(self) -> None:
        accepted = [PerMessageDeflate(False, False, 15, 15)]
        with pytest.raises(NegotiationError, match="^skipped duplicate permessage-deflate$"):
            ServerPerMessageDeflateFactory().process_request_params([], accepted)
        with pytest.raises(NegotiationError, match="^received duplicate permessage-deflate$"):
            ClientPerMessageDeflateFactory().process_response_params([], accepted)

    @pytest.mark.parametrize(
        ("params", "error", "message"),
        [
            ([("server_no_context_takeover", None)] * 2, DuplicateParameter,
             "duplicate parameter: server_no_context_takeover"),
            ([("client_no_context_takeover", "1")], InvalidParameterValue,
             "invalid value for parameter client_no_context_takeover: 1"),
            ([("server_max_window_bits", None)], InvalidParameterValue,
             "missing value for parameter server_max_window_bits"),
            ([("server_max_window_bits", "7")], InvalidParameterValue,
             "invalid value for parameter server_max_window_bits: 7"),
            ([("server_max_window_bits", "08")], InvalidParameterValue,
             "invalid value for parameter server_max_window_bits: 08"),
            ([("client_max_window_bits", "16")], InvalidParameterValue,
             "invalid value for parameter client_max_window_bits: 16"),
            ([("client_max_window_bits", "")], InvalidParameterValue,
             "empty value for parameter client_max_window_bits"),
            ([("client_max_window_bits", None), ("client_max_window_bits", "9")],
             DuplicateParameter, "duplicate parameter: client_max_window_bits"),
            ([("x_max_window_bits", "9")], InvalidParameterName,
             "invalid parameter name: x_max_window_bits"),
            ([("server_max_window_bits", "8")], NegotiationError,
             "unsupported server_max_window_bits = 8, use 9"),
        ],
    )
    def test_server_rejects(self, params: Any, error: type, message: str) -> None:
        with pytest.raises(error) as info:
            ServerPerMessageDeflateFactory().process_request_params(params, [])
        assert str(info.value) == message

    @pytest.mark.parametrize(
        ("config", "params", "message"),
        [
            ({}, [("client_max_window_bits", None)],
             "missing value for parameter client_max_window_bits"),
            ({"server_no_context_takeover": True}, [], "expected server_no_context_takeover"),
            ({"server_max_window_bits": 10}, [], "expected server_max_window_bits"),
            ({"server_max_window_bits": 10}, [("server_max_window_bits", "11")],
             "unsupported server_max_window_bits"),
            ({"client_max_window_bits": None}, [("client_max_window_bits", "10")],
             "unexpected client_max_window_bits"),
            ({"client_max_window_bits": 10}, [("client_max_window_bits", "11")],
             "unsupported client_max_window_bits"),
            ({}, [("client_max_window_bits", "8")],
             "unsupported client_max_window_bits = 8, use 9"),
        ],
    )
    def test_client_rejects(self, config: Any, params: Any, message: str) -> None:
        with pytest.raises(NegotiationError) as info:
            ClientPerMessageDeflateFactory(**config).process_response_params(params, [])
        assert str(info.value) == message

    def test_window_8_is_fine_for_decompressing(self) -> None:
        # 8 bits is refused only for our own compressor. A server may still configure the
        # client's window as 8 (its decompressor copes), as websockets allows.
        server = ServerPerMessageDeflateFactory(client_max_window_bits=8)
        response, extension = server.process_request_params(
            [("client_max_window_bits", None)], []
        )
        assert response == [("client_max_window_bits", "8")]
        assert extension.remote_max_window_bits == 8
        # Client side: a server window of 8 is accepted, it only sizes our decompressor.
        client_ext = ClientPerMessageDeflateFactory(
            server_max_window_bits=8
        ).process_response_params([("server_max_window_bits", "8")], [])
        assert client_ext.remote_max_window_bits == 8
        # Compressed with a 512-byte window but short enough to fit in 256 bytes.
        compressor = zlib.compressobj(wbits=-9)
        data = compressor.compress(b"x" * 200) + compressor.flush(zlib.Z_SYNC_FLUSH)
        frame = Frame(Opcode.TEXT, data[:-4], rsv1=True)
        assert client_ext.decode(frame).data == b"x" * 200

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"server_max_window_bits": 7},
            {"server_max_window_bits": 16},
            {"server_max_window_bits": True},
            {"client_max_window_bits": 8},
            {"client_max_window_bits": 16},
            {"client_max_window_bits": False},
            {"compress_settings": {"wbits": 9}},
        ],
    )
    def test_client_factory_validation(self, kwargs: dict[str, Any]) -> None:
        actual = outcome(lambda: ClientPerMessageDeflateFactory(**kwargs))
        assert actual[0] == "raised"
        if HAVE_WEBSOCKETS:
            assert actual == outcome(lambda: ws_pmd.ClientPerMessageDeflateFactory(**kwargs))

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"server_max_window_bits": 8},
            {"server_max_window_bits": 16},
            {"client_max_window_bits": 7},
            {"client_max_window_bits": 16},
            {"compress_settings": {"wbits": 9}},
            {"require_client_max_window_bits": True},
        ],
    )
    def test_server_factory_validation(self, kwargs: dict[str, Any]) -> None:
        actual = outcome(lambda: ServerPerMessageDeflateFactory(**kwargs))
        assert actual[0] == "raised"
        if HAVE_WEBSOCKETS:
            assert actual == outcome(lambda: ws_pmd.ServerPerMessageDeflateFactory(**kwargs))

    def test_extension_validation(self) -> None:
        with pytest.raises(ValueError, match="local_max_window_bits"):
            PerMessageDeflate(False, False, 15, 8)
        with pytest.raises(ValueError, match="remote_max_window_bits"):
            PerMessageDeflate(False, False, 7, 15)
        with pytest.raises(ValueError, match="wbits"):
            PerMessageDeflate(False, False, 15, 15, {"wbits": 9})
        with pytest.raises(ValueError, match="no_context_takeover"):
            PerMessageDeflate(None, False, 15, 15)  # type: ignore[arg-type]
        PerMessageDeflate(False, False, 8, 9)

    def test_enable_client(self) -> None:
        (ours,) = enable_client_permessage_deflate(None)
        assert ours.compress_settings == {"memLevel": 5}
        existing = [ClientPerMessageDeflateFactory(server_max_window_bits=10)]
        assert enable_client_permessage_deflate(existing) is existing
        assert enable_client_permessage_deflate([]) != []
        if HAVE_WEBSOCKETS:
            (theirs,) = ws_pmd.enable_client_permessage_deflate(None)
            assert vars(theirs).items() <= vars(ours).items()
            other = [ws_pmd.ClientPerMessageDeflateFactory()]
            assert enable_client_permessage_deflate(other) is other

    def test_enable_server(self) -> None:
        (ours,) = enable_server_permessage_deflate(None)
        if HAVE_WEBSOCKETS:
            (theirs,) = ws_pmd.enable_server_permessage_deflate(None)
            assert vars(theirs).items() <= vars(ours).items()
        assert (ours.server_max_window_bits, ours.client_max_window_bits) == (12, 12)
        assert ours.compress_settings == {"memLevel": 5}
        existing = (ServerPerMessageDeflateFactory(),)
        assert enable_server_permessage_deflate(existing) is existing
        extended = enable_server_permessage_deflate([object_with_name("other")])
        assert [factory.name for factory in extended] == ["other", "permessage-deflate"]


def object_with_name(name: str) -> Any:
    factory = ServerExtensionFactory()
    factory.name = name  # type: ignore[assignment]
    return factory


PARAM_NAMES = [
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
    "unknown",
]
PARAM_VALUES = [None, "", "7", "8", "9", "10", "12", "15", "16", "09", "x"]
params_strategy = st.lists(
    st.tuples(st.sampled_from(PARAM_NAMES), st.sampled_from(PARAM_VALUES)), max_size=5
)


class TestNegotiationFuzz:
    @settings(max_examples=400, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(
        params=params_strategy,
        server_config=st.sampled_from(SERVER_CONFIGS),
        client_config=st.sampled_from(CLIENT_CONFIGS),
    )
    @needs_websockets
    def test_same_outcome_as_websockets(
        self, params: list[Any], server_config: dict[str, Any], client_config: dict[str, Any]
    ) -> None:
        ours_server = ServerPerMessageDeflateFactory(**server_config)
        theirs_server = ws_pmd.ServerPerMessageDeflateFactory(**server_config)
        assert outcome(lambda: ours_server.process_request_params(params, [])) == outcome(
            lambda: theirs_server.process_request_params(params, [])
        )
        ours_client = ClientPerMessageDeflateFactory(**client_config)
        theirs_client = ws_pmd.ClientPerMessageDeflateFactory(**client_config)
        assert outcome(lambda: ours_client.process_response_params(params, [])) == outcome(
            lambda: theirs_client.process_response_params(params, [])
        )

    def test_exception_types_line_up(self) -> None:
        # outcome() compares names; make sure the names denote the same hierarchy.
        for name in ("DuplicateParameter", "InvalidParameterName", "InvalidParameterValue"):
            assert issubclass(
                getattr(sys.modules["wsfast.exceptions"], name), NegotiationError
            )
            if HAVE_WEBSOCKETS:
                assert issubclass(getattr(ws_exceptions, name), ws_exceptions.NegotiationError)


# ---------------------------------------------------------------------------------------
# Frames, against websockets
# ---------------------------------------------------------------------------------------


def _pair(
    window: int, no_context_takeover: bool, backend: str = "zlib",
    compress_settings: dict[str, Any] | None = None,
) -> tuple[PerMessageDeflate, Any, Any, PerMessageDeflate]:
    """Our encoder, their decoder, their encoder, our decoder, all agreeing on parameters."""
    settings_ = dict(compress_settings or {})
    ours_enc = PerMessageDeflate(False, no_context_takeover, 15, window, dict(settings_),
                                 backend=backend)
    theirs_dec = ws_pmd.PerMessageDeflate(no_context_takeover, False, window, 15)
    theirs_enc = ws_pmd.PerMessageDeflate(False, no_context_takeover, 15, window,
                                          dict(settings_))
    ours_dec = PerMessageDeflate(no_context_takeover, False, window, 15, backend=backend)
    return ours_enc, theirs_dec, theirs_enc, ours_dec


def _exchange(
    messages: list[bytes], rng: random.Random, ours_enc: PerMessageDeflate, theirs_dec: Any,
    theirs_enc: Any, ours_dec: PerMessageDeflate, *, same_bytes: bool,
) -> None:
    for message in messages:
        cuts = [rng.randrange(len(message) + 1) for _ in range(rng.choice([0, 0, 1, 3]))]
        frames = fragments(message, cuts, rng.choice([Opcode.TEXT, Opcode.BINARY]))
        # Ours -> theirs.
        received = []
        for frame in frames:
            encoded = ours_enc.encode(frame)
            assert encoded.rsv1 == (frame.opcode != Opcode.CONT)
            assert (encoded.opcode, encoded.fin) == (frame.opcode, frame.fin)
            their_encoded = theirs_enc.encode(to_theirs(frame))
            if same_bytes:
                assert bytes(encoded.data) == bytes(their_encoded.data)
                assert encoded.rsv1 == their_encoded.rsv1
            received.append(theirs_dec.decode(to_theirs(encoded), max_size=None).data)
            # Theirs -> ours.
            decoded = ours_dec.decode(to_ours(their_encoded), max_size=len(message))
            assert decoded.rsv1 is False
            assert (decoded.opcode, decoded.fin) == (frame.opcode, frame.fin)
            assert decoded.data == frame.data
        assert b"".join(bytes(chunk) for chunk in received) == message


class TestInterop:
    @pytest.mark.parametrize("no_context_takeover", [False, True],
                             ids=["takeover", "no_takeover"])
    @needs_websockets
    @pytest.mark.parametrize("window", range(9, 16))
    def test_byte_for_byte_with_websockets(self, window: int, no_context_takeover: bool) -> None:
        rng = random.Random(window * 2 + no_context_takeover)
        messages = make_messages(rng, 40, 70000)
        _exchange(messages, rng, *_pair(window, no_context_takeover), same_bytes=True)

    @pytest.mark.parametrize(
        "compress_settings",
        [
            {"level": 0},
            {"level": 1},
            {"level": 9},
            {"memLevel": 1},
            {"memLevel": 9},
            {"memLevel": 5, "level": 3},
            {"strategy": zlib.Z_FILTERED},
            {"strategy": zlib.Z_HUFFMAN_ONLY},
            {"strategy": zlib.Z_RLE},
        ],
        ids=repr,
    )
    @needs_websockets
    def test_compress_settings_byte_for_byte(self, compress_settings: dict[str, Any]) -> None:
        rng = random.Random(str(compress_settings))
        messages = make_messages(rng, 20, 30000)
        _exchange(messages, rng, *_pair(12, False, compress_settings=compress_settings),
                  same_bytes=True)

    @settings(max_examples=60, deadline=None)
    @given(
        messages=st.lists(st.binary(max_size=3000) | st.text(max_size=500).map(str.encode),
                          max_size=8),
        seed=st.integers(0, 2**32),
        window=st.integers(9, 15),
        no_context_takeover=st.booleans(),
    )
    @needs_websockets
    def test_random_messages(
        self, messages: list[bytes], seed: int, window: int, no_context_takeover: bool
    ) -> None:
        _exchange(messages, random.Random(seed), *_pair(window, no_context_takeover),
                  same_bytes=True)

    @pytest.mark.parametrize("backend", OPTIONAL)
    @pytest.mark.parametrize("no_context_takeover", [False, True],
                             ids=["takeover", "no_takeover"])
    @needs_websockets
    @pytest.mark.parametrize("window", range(9, 16))
    def test_optional_backend_with_websockets(
        self, backend: str, window: int, no_context_takeover: bool
    ) -> None:
        # Other engines emit other (valid) DEFLATE: compare what is decoded, not the bytes.
        rng = random.Random(window)
        messages = make_messages(rng, 25, 70000)
        _exchange(messages, rng, *_pair(window, no_context_takeover, backend=backend),
                  same_bytes=False)

    @pytest.mark.parametrize("backend", ALL_BACKENDS)
    def test_backend_honours_small_window(self, backend: str) -> None:
        # Repeats 300 to 30000 bytes apart: a compressor ignoring its window limit would
        # reference data that a zlib decoder with that window no longer has.
        rng = random.Random(3)
        chunk = rng.randbytes(200)
        message = b"".join(chunk + rng.randbytes(gap) + chunk for gap in (300, 3000, 30000))
        for window in range(9, 16):
            encoder = PerMessageDeflate(False, True, 15, window, backend=backend)
            frame = encoder.encode(Frame(Opcode.BINARY, message))
            decoder = zlib.decompressobj(wbits=-window)
            assert decoder.decompress(bytes(frame.data) + TAIL) == message

    @pytest.mark.parametrize("backend", ALL_BACKENDS)
    def test_compress_settings_on_every_backend(self, backend: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for level in range(-1, 10):
                for strategy in (zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED):
                    extension = PerMessageDeflate(
                        False, False, 15, 12,
                        {"level": level, "memLevel": 5, "strategy": strategy},
                        backend=backend,
                    )
                    frame = extension.encode(Frame(Opcode.TEXT, b"settings " * 100))
                    inflater = zlib.decompressobj(wbits=-12)
                    assert inflater.decompress(bytes(frame.data) + TAIL) == b"settings " * 100


# ---------------------------------------------------------------------------------------
# Frame handling
# ---------------------------------------------------------------------------------------


class TestEncode:
    @pytest.mark.parametrize("backend", ALL_BACKENDS)
    def test_empty_message_is_one_zero_byte(self, backend: str) -> None:
        # RFC 7692 §7.2.3.6, and what websockets sends.
        extension = PerMessageDeflate(False, False, 15, 15, backend=backend)
        for opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.TEXT):
            frame = extension.encode(Frame(opcode, b""))
            assert frame == Frame(opcode, b"\x00", rsv1=True)
        first = extension.encode(Frame(Opcode.TEXT, b"", fin=False))
        assert first == Frame(Opcode.TEXT, b"\x00" + TAIL, fin=False, rsv1=True)
        last = extension.encode(Frame(Opcode.CONT, b""))
        assert last == Frame(Opcode.CONT, b"\x00")

    def test_rfc7692_examples(self) -> None:
        # Exact bytes are zlib's; other engines may choose other (valid) blocks.
        extension = PerMessageDeflate(False, False, 15, 15, backend="zlib")
        # §7.2.3.1: "Hello" in one compressed block.
        assert extension.encode(Frame(Opcode.TEXT, b"Hello")).data == bytes.fromhex(
            "f248cdc9c90700"
        )
        # §7.2.3.2: the same message again, referring back into the shared window.
        assert extension.encode(Frame(Opcode.TEXT, b"Hello")).data == bytes.fromhex(
            "f200110000"
        )
        # §7.2.3.3: a stored block, as level 0 writes it.
        stored = PerMessageDeflate(False, False, 15, 15, {"level": 0}, backend="zlib")
        assert stored.encode(Frame(Opcode.TEXT, b"Hello")).data == bytes.fromhex(
            "000500faff48656c6c6f00"
        )

    def test_no_context_takeover_restarts_each_message(self) -> None:
        message = b"restart " * 50
        fresh = PerMessageDeflate(False, True, 15, 15)
        shared = PerMessageDeflate(False, False, 15, 15)
        first = fresh.encode(Frame(Opcode.TEXT, message)).data
        assert fresh.encode(Frame(Opcode.TEXT, message)).data == first
        assert shared.encode(Frame(Opcode.TEXT, message)).data == first
        assert len(shared.encode(Frame(Opcode.TEXT, message)).data) < len(first)
        # No compressor is kept between messages.
        assert fresh.encoder is None

    def test_control_frames_untouched(self) -> None:
        extension = PerMessageDeflate(False, False, 15, 15)
        for opcode in (Opcode.PING, Opcode.PONG, Opcode.CLOSE):
            frame = Frame(opcode, b"\x03\xe8ping")
            assert extension.encode(frame) is frame
            assert extension.decode(frame) is frame

    def test_fragments_keep_rsv_bits_and_flags(self) -> None:
        extension = PerMessageDeflate(False, False, 15, 15)
        first = extension.encode(Frame(Opcode.TEXT, b"caf\xc3", fin=False, rsv2=True))
        assert (first.rsv1, first.rsv2, first.fin) == (True, True, False)
        assert first.data.endswith(TAIL)
        last = extension.encode(Frame(Opcode.CONT, b"\xa9", rsv3=True))
        assert (last.rsv1, last.rsv3, last.fin) == (False, True, True)
        assert not last.data.endswith(TAIL)

    def test_accepts_bytes_like(self) -> None:
        extension = PerMessageDeflate(False, True, 15, 15)
        expected = extension.encode(Frame(Opcode.BINARY, b"bytes-like" * 10)).data
        for data in (bytearray(b"bytes-like" * 10), memoryview(b"bytes-like" * 10)):
            assert extension.encode(Frame(Opcode.BINARY, data)).data == expected


class TestDecode:
    def encode(self, message: bytes, **kwargs: Any) -> Frame:
        return PerMessageDeflate(False, False, 15, 15).encode(
            Frame(Opcode.BINARY, message, **kwargs)
        )

    def test_uncompressed_message_untouched(self) -> None:
        extension = PerMessageDeflate(False, False, 15, 15)
        first = Frame(Opcode.TEXT, b"plain", fin=False)
        assert extension.decode(first) is first
        cont = Frame(Opcode.CONT, b" text")
        assert extension.decode(cont) is cont

    def test_rsv1_on_continuation(self) -> None:
        extension = PerMessageDeflate(False, False, 15, 15)
        encoder = PerMessageDeflate(False, False, 15, 15)
        extension.decode(encoder.encode(Frame(Opcode.TEXT, b"a", fin=False)))
        cont = dataclasses.replace(encoder.encode(Frame(Opcode.CONT, b"b")), rsv1=True)
        with pytest.raises(ProtocolError, match="^RSV1 bit set in continuation frame$"):
            extension.decode(cont)

    def test_corrupt_data(self) -> None:
        extension = PerMessageDeflate(False, False, 15, 15)
        with pytest.raises(ProtocolError, match="^decompression failed$") as info:
            extension.decode(Frame(Opcode.TEXT, b"\xff\xff\xff", rsv1=True))
        assert isinstance(info.value.__cause__, extension.backend.error)

    def test_rfc7692_fragmented_example(self) -> None:
        # §7.2.3.1: "Hello" compressed, then split across two frames.
        extension = PerMessageDeflate(False, False, 15, 15)
        first = extension.decode(Frame(Opcode.TEXT, bytes.fromhex("f248cd"), False, True))
        last = extension.decode(Frame(Opcode.CONT, bytes.fromhex("c9c90700")))
        assert first.data + last.data == b"Hello"
        assert (first.rsv1, last.rsv1) == (False, False)

    def test_bfinal_block_then_more_messages(self) -> None:
        # §7.2.3.4: a sender may end a message with a final block, plus one byte (00) that
        # turns the appended tail into an empty stored block.
        extension = PerMessageDeflate(False, False, 15, 15)
        hello = bytes.fromhex("f348cdc9c9070000")
        for _ in range(2):
            assert extension.decode(Frame(Opcode.TEXT, hello, rsv1=True)).data == b"Hello"
        # The next stream may be an ordinary sync-flushed one.
        assert extension.decode(Frame(Opcode.TEXT, bytes.fromhex("f248cdc9c90700"),
                                      rsv1=True)).data == b"Hello"
        if not HAVE_WEBSOCKETS:
            return
        theirs = ws_pmd.PerMessageDeflate(False, False, 15, 15)
        theirs.decode(ws_frames.Frame(ws_frames.Opcode.TEXT, hello, rsv1=True))
        # websockets decodes what follows a final block as empty; wsfast doesn't.
        assert theirs.decode(
            ws_frames.Frame(ws_frames.Opcode.TEXT, hello, rsv1=True)
        ).data == b""

    def test_no_context_takeover_drops_decoder(self) -> None:
        encoder = PerMessageDeflate(False, True, 15, 15)
        decoder = PerMessageDeflate(True, False, 15, 15)
        for _ in range(3):
            frame = encoder.encode(Frame(Opcode.TEXT, b"again " * 20))
            assert decoder.decode(frame).data == b"again " * 20
            assert decoder.decoder is None

    def test_exact_max_size_accepted(self) -> None:
        for message in (b"a" * 1000, random.Random(0).randbytes(5000), bytes(100000)):
            frame = self.encode(message)
            decoder = PerMessageDeflate(False, False, 15, 15)
            assert decoder.decode(frame, max_size=len(message)).data == message
            decoder = PerMessageDeflate(False, False, 15, 15)
            with pytest.raises(PayloadTooBig) as info:
                decoder.decode(frame, max_size=len(message) - 1)
            assert (info.value.size, info.value.max_size) == (None, len(message) - 1)

    def test_zero_budget(self) -> None:
        # websockets treats max_size=0 as "no limit" here; wsfast as no room left.
        assert PerMessageDeflate(False, False, 15, 15).decode(
            self.encode(b""), max_size=0
        ).data == b""
        with pytest.raises(PayloadTooBig):
            PerMessageDeflate(False, False, 15, 15).decode(self.encode(b"x"), max_size=0)

    def test_budget_per_fragment(self) -> None:
        # The caller passes the room left in the message; each fragment is held to it.
        encoder = PerMessageDeflate(False, False, 15, 15)
        decoder = PerMessageDeflate(False, False, 15, 15)
        first = encoder.encode(Frame(Opcode.BINARY, bytes(6000), fin=False))
        last = encoder.encode(Frame(Opcode.CONT, bytes(5000)))
        assert len(decoder.decode(first, max_size=10000).data) == 6000
        with pytest.raises(PayloadTooBig) as info:
            decoder.decode(last, max_size=10000 - 6000)
        info.value.set_current_size(6000)
        assert str(info.value) == "frame after reading 6000 bytes exceeds limit of 10000 bytes"

    @pytest.mark.parametrize("size", [0, 1, 2043, 2044, 2047, 2048, 2049, 70000])
    def test_sizes_around_the_tail_threshold(self, size: int) -> None:
        # Payloads just below and above the size where the tail is decompressed separately.
        rng = random.Random(size)
        message = rng.randbytes(size)
        encoder = PerMessageDeflate(False, False, 15, 15, {"level": 0})
        decoder = PerMessageDeflate(False, False, 15, 15)
        for _ in range(2):
            frame = encoder.encode(Frame(Opcode.BINARY, message))
            assert decoder.decode(frame, max_size=size).data == message
            frame = encoder.encode(Frame(Opcode.BINARY, message))
            assert decoder.decode(frame, max_size=None).data == message

    def test_accepts_bytes_like(self) -> None:
        frame = self.encode(b"payload" * 10)
        for wrap in (bytearray, memoryview):
            decoder = PerMessageDeflate(False, False, 15, 15)
            wrapped = dataclasses.replace(frame, data=wrap(frame.data))
            assert decoder.decode(wrapped, max_size=70).data == b"payload" * 10


# ---------------------------------------------------------------------------------------
# Decompression bombs
# ---------------------------------------------------------------------------------------

BOMB_SIZE = 100 * 2**20
LIMIT = 2**20


def _bomb_chunks(total: int = BOMB_SIZE) -> Iterator[bytes]:
    """Raw DEFLATE of ``total`` zero bytes, produced without holding them in memory."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(2**20)
    for _ in range(total // len(block)):
        yield compressor.compress(block)
    yield compressor.flush(zlib.Z_SYNC_FLUSH)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = b"".join(_bomb_chunks())
    assert data.endswith(TAIL)
    return data[:-4]


class TestDecompressionBomb:
    @pytest.mark.parametrize("backend", ALL_BACKENDS)
    def test_single_frame(self, bomb: bytes, backend: str) -> None:
        extension = PerMessageDeflate(False, False, 15, 15, backend=backend)
        frame = Frame(Opcode.BINARY, bomb, rsv1=True)
        assert len(bomb) < 200_000  # 100 MB inflates from a ~100 KB frame
        tracemalloc.start()
        start = time.perf_counter()
        try:
            with pytest.raises(PayloadTooBig) as info:
                extension.decode(frame, max_size=LIMIT)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        elapsed = time.perf_counter() - start
        assert info.value.max_size == LIMIT
        assert peak < 4 * LIMIT, f"peak {peak} bytes"
        assert elapsed < 2.0, f"{elapsed:.2f}s"

    @pytest.mark.parametrize("backend", ALL_BACKENDS)
    def test_fragmented(self, bomb: bytes, backend: str) -> None:
        extension = PerMessageDeflate(False, False, 15, 15, backend=backend)
        step = 1000
        pieces = [bomb[i:i + step] for i in range(0, len(bomb), step)]
        received = 0
        tracemalloc.start()
        try:
            with pytest.raises(PayloadTooBig):
                for i, piece in enumerate(pieces):
                    frame = Frame(Opcode.BINARY if i == 0 else Opcode.CONT, piece,
                                  fin=i == len(pieces) - 1, rsv1=i == 0)
                    received += len(extension.decode(frame, max_size=LIMIT - received).data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert received <= LIMIT
        assert peak < 4 * LIMIT, f"peak {peak} bytes"

    @needs_websockets
    def test_same_result_as_websockets_under_the_limit(self) -> None:
        # Well under the limit, both implementations return the same bytes.
        small = b"".join(_bomb_chunks(2**20))[:-4]
        ours = PerMessageDeflate(False, False, 15, 15)
        theirs = ws_pmd.PerMessageDeflate(False, False, 15, 15)
        expected = theirs.decode(ws_frames.Frame(ws_frames.Opcode.BINARY, small, rsv1=True),
                                 max_size=LIMIT).data
        assert ours.decode(Frame(Opcode.BINARY, small, rsv1=True), max_size=LIMIT).data == (
            expected
        )


# ---------------------------------------------------------------------------------------
# Engine registry
# ---------------------------------------------------------------------------------------


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deflate_backends, "_loaded", {})
    monkeypatch.delenv(deflate_backends.ENV_VAR, raising=False)


class TestBackends:
    def test_default_is_zlib_ng_when_installed(self, fresh_registry: None) -> None:
        pytest.importorskip("zlib_ng", reason="zlib-ng isn't installed")
        backend = get_backend()
        assert backend.name == deflate_backends.default_backend_name() == "zlib-ng"
        assert PerMessageDeflate(False, False, 15, 15).backend is backend
        assert ServerPerMessageDeflateFactory().backend is backend
        assert deflate_backends.available_backends()[0] == "zlib-ng"

    def test_default_is_stdlib_without_zlib_ng(self, fresh_registry: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
        specs = dict(deflate_backends._SPECS)
        specs["zlib-ng"] = ("wsfast_tests_no_such_module", "zlib-ng", specs["zlib-ng"][2])
        monkeypatch.setattr(deflate_backends, "_SPECS", specs)
        backend = get_backend()
        assert backend.name == deflate_backends.default_backend_name() == "zlib"
        assert backend.module is zlib
        assert PerMessageDeflate(False, False, 15, 15).backend is backend
        assert deflate_backends.available_backends()[0] == "zlib"
        assert "zlib-ng" not in deflate_backends.available_backends()

    @pytest.mark.parametrize("backend", ALL_BACKENDS)
    def test_env_var(self, backend: str, fresh_registry: None,
                     monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(deflate_backends.ENV_VAR, backend)
        assert get_backend().name == backend
        assert ClientPerMessageDeflateFactory().backend.name == backend
        assert ServerPerMessageDeflateFactory().backend.name == backend
        (factory,) = enable_server_permessage_deflate(None)
        assert factory.backend.name == backend
        # An explicit argument wins over the environment.
        assert ClientPerMessageDeflateFactory(backend="zlib").backend.name == "zlib"

    @pytest.mark.parametrize("backend", ALL_BACKENDS)
    def test_negotiated_extension_uses_factory_backend(self, backend: str) -> None:
        server = ServerPerMessageDeflateFactory(backend=backend)
        client = ClientPerMessageDeflateFactory(backend=backend)
        response, server_ext = server.process_request_params(client.get_request_params(), [])
        client_ext = client.process_response_params(response, [])
        assert server_ext.backend.name == client_ext.backend.name == backend
        frame = client_ext.encode(Frame(Opcode.TEXT, b"engine " * 30))
        assert server_ext.decode(frame).data == b"engine " * 30

    def test_spellings(self, fresh_registry: None) -> None:
        assert get_backend(" ZLIB ").name == "zlib"
        assert get_backend(get_backend("zlib")) is get_backend("zlib")
        with pytest.raises(ValueError, match="unknown deflate backend 'brotli'"):
            get_backend("brotli")
        with pytest.raises(ValueError, match="zlib, zlib-ng, isal"):
            ServerPerMessageDeflateFactory(backend="lz4")

    def test_empty_env_var_means_default(self, fresh_registry: None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(deflate_backends.ENV_VAR, "")
        assert get_backend().name == deflate_backends.default_backend_name()

    @pytest.mark.parametrize(
        ("name", "module", "package"),
        [("zlib-ng", "zlib_ng.zlib_ng", "zlib-ng"), ("isal", "isal.isal_zlib", "isal")],
    )
    def test_unavailable(self, name: str, module: str, package: str, fresh_registry: None,
                         monkeypatch: pytest.MonkeyPatch) -> None:
        # None in sys.modules makes the import fail as if the package were missing.
        monkeypatch.setitem(sys.modules, module, None)
        with pytest.raises(BackendUnavailable) as info:
            get_backend(name)
        assert isinstance(info.value, ImportError)
        assert info.value.name == module
        assert f"pip install {package}" in str(info.value)
        with pytest.raises(ImportError):
            ClientPerMessageDeflateFactory(backend=name)
        monkeypatch.setenv(deflate_backends.ENV_VAR, name)
        with pytest.raises(BackendUnavailable):
            ServerPerMessageDeflateFactory()
        assert name not in deflate_backends.available_backends()

    @pytest.mark.parametrize("backend", OPTIONAL)
    def test_installed_backend_roundtrip(self, backend: str) -> None:
        rng = random.Random(11)
        messages = make_messages(rng, 30, 50000)
        for no_context_takeover in (False, True):
            encoder = PerMessageDeflate(False, no_context_takeover, 15, 11, backend=backend)
            decoder = PerMessageDeflate(no_context_takeover, False, 11, 15, backend=backend)
            for message in messages:
                cuts = [rng.randrange(len(message) + 1) for _ in range(rng.randrange(3))]
                out = b"".join(
                    decoder.decode(encoder.encode(frame), max_size=len(message)).data
                    for frame in fragments(message, cuts)
                )
                assert out == message

    def test_isal_level_mapping(self) -> None:
        assert deflate_backends._isal_settings({"level": 9, "strategy": 1, "memLevel": 5}) == {
            "level": 3, "memLevel": 5
        }
        assert deflate_backends._isal_settings({"level": -1})["level"] == 2
        assert deflate_backends._isal_settings({"level": 1})["level"] == 0
        assert deflate_backends._isal_settings({}) == {}
        with pytest.raises(ValueError, match="compression level"):
            deflate_backends._isal_settings({"level": 10})


def test_tail_constant_matches_zlib() -> None:
    # The premise of RFC 7692 §7.2.1: a sync flush ends with 00 00 ff ff.
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(os.urandom(100)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data[-4:] == TAIL
