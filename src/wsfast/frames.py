"""WebSocket frames and close payloads (RFC 6455 §5 and §7), as in ``websockets.frames``.

Header parsing, masking and serialisation go through the codec chosen by
:mod:`wsfast.speedups`, so the same code runs on the Cython extension and on the pure-Python
twin.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

from .exceptions import PayloadTooBig, ProtocolError
from .utils import generate_mask

if TYPE_CHECKING:
    from .extensions import Extension

__all__ = [
    "BytesLike",
    "CLOSE_CODE_EXPLANATIONS",
    "CTRL_OPCODES",
    "Close",
    "CloseCode",
    "DATA_OPCODES",
    "EXTERNAL_CLOSE_CODES",
    "Frame",
    "OK_CLOSE_CODES",
    "Opcode",
]

BytesLike = bytes | bytearray | memoryview


class Opcode(enum.IntEnum):
    """Opcode values for WebSocket frames (RFC 6455 §5.2)."""

    CONT, TEXT, BINARY = 0x00, 0x01, 0x02
    CLOSE, PING, PONG = 0x08, 0x09, 0x0A


CONT = Opcode.CONT
TEXT = Opcode.TEXT
BINARY = Opcode.BINARY
CLOSE = Opcode.CLOSE
PING = Opcode.PING
PONG = Opcode.PONG

DATA_OPCODES = CONT, TEXT, BINARY
CTRL_OPCODES = CLOSE, PING, PONG


class CloseCode(enum.IntEnum):
    """Close code values for WebSocket close frames (RFC 6455 §7.4.1)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved and has no name.
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


CLOSE_CODE_EXPLANATIONS: dict[int, str] = {
    CloseCode.NORMAL_CLOSURE: "OK",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_DATA: "unsupported data",
    CloseCode.NO_STATUS_RCVD: "no status received [internal]",
    CloseCode.ABNORMAL_CLOSURE: "abnormal closure [internal]",
    CloseCode.INVALID_DATA: "invalid frame payload data",
    CloseCode.POLICY_VIOLATION: "policy violation",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.MANDATORY_EXTENSION: "mandatory extension",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "service restart",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.BAD_GATEWAY: "bad gateway",
    CloseCode.TLS_HANDSHAKE: "TLS handshake failure [internal]",
}

# Codes an endpoint may put on the wire (RFC 6455 §7.4.1): 1005, 1006 and 1015 are reserved
# for reporting and 1004 is reserved outright.
EXTERNAL_CLOSE_CODES = {
    CloseCode.NORMAL_CLOSURE,
    CloseCode.GOING_AWAY,
    CloseCode.PROTOCOL_ERROR,
    CloseCode.UNSUPPORTED_DATA,
    CloseCode.INVALID_DATA,
    CloseCode.POLICY_VIOLATION,
    CloseCode.MESSAGE_TOO_BIG,
    CloseCode.MANDATORY_EXTENSION,
    CloseCode.INTERNAL_ERROR,
    CloseCode.SERVICE_RESTART,
    CloseCode.TRY_AGAIN_LATER,
    CloseCode.BAD_GATEWAY,
}

OK_CLOSE_CODES = {
    CloseCode.NORMAL_CLOSURE,
    CloseCode.GOING_AWAY,
    CloseCode.NO_STATUS_RCVD,
}


def _hex(data: bytes | bytearray | memoryview) -> str:
    return " ".join(f"{byte:02x}" for byte in data)


def _is_space_or_printable_ascii(data: bytes) -> bool:
    return all(0x20 <= byte < 0x7F or byte in b"\t\n\r\x0b\x0c" for byte in data)


def _sequence_length(lead: int) -> int:
    """Bytes in the UTF-8 sequence that ``lead`` announces (0 if it announces none)."""
    if lead < 0x80:
        return 1
    for length, prefix_mask, prefix in ((2, 0xE0, 0xC0), (3, 0xF0, 0xE0), (4, 0xF8, 0xF0)):
        if lead & prefix_mask == prefix:
            return length
    return 0


def _is_utf8_fragment(data: bytes, starts_clean: bool, ends_clean: bool) -> bool:
    """Guess whether ``data``, possibly cut out of a longer text, is UTF-8 text (for logs)."""
    start, end = 0, len(data)
    if not starts_clean:
        # A fragment may begin with the continuation bytes of a character begun earlier.
        while start < min(3, len(data)) and data[start] & 0xC0 == 0x80:
            start += 1
    if not ends_clean:
        # It may also end inside a character: cut an unfinished sequence off the end.
        lowest = max(len(data) - 4, start)
        lead = len(data) - 1
        while lead >= lowest and data[lead] & 0xC0 == 0x80:
            lead -= 1
        if lead < lowest or _sequence_length(data[lead]) > len(data) - lead:
            end = lead
    try:
        text = data[start:end].decode()
    except UnicodeDecodeError:
        return False
    # Characters that repr() must escape as \xNN (controls, Latin-1 non-printables) mean
    # binary data that happens to decode.
    return "\\x" not in repr(text)


# Slots: a frame per control frame or fragment is built at a high rate, and the extension
# builds it by storing the fields straight into their slots (a dict-backed instance costs it
# a key lookup per field); a slotted frame is also a third smaller.
@dataclasses.dataclass(slots=True)
class Frame:
    """A WebSocket frame: opcode, payload and the FIN and RSV bits (RFC 6455 §5.2)."""

    opcode: Opcode
    data: BytesLike
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    # How much of the payload str() shows; it's for logs, not for round trips.
    MAX_LOG_SIZE = int(75)

    # Whether a payload of this opcode is expected to be text, for str().
    DEFAULT_IS_TEXT = {Opcode.TEXT: True, Opcode.BINARY: False, Opcode.CLOSE: True}

    def __str__(self) -> str:
        """Human-readable summary for logging: the start and end of the payload."""
        data_repr, is_text = self._data_repr()
        expected_text = self.DEFAULT_IS_TEXT.get(self.opcode)
        size = len(self.data)
        details = [
            "" if is_text == expected_text else ("text" if is_text else "binary"),
            f"{size} byte{'' if size == 1 else 's'}",
            "" if self.fin else "continued",
        ]
        return f"{self.opcode.name} {data_repr} [{', '.join(d for d in details if d)}]"

    def _data_repr(self) -> tuple[str, bool | None]:
        if not self.data:
            return "''", self.DEFAULT_IS_TEXT.get(self.opcode)
        limit = self.MAX_LOG_SIZE
        if self.opcode is CLOSE:
            try:
                text, is_text = str(Close.parse(self.data)), True
            except (ProtocolError, UnicodeDecodeError):
                text, is_text = _hex(self.data), False
        elif self.opcode in CTRL_OPCODES:
            payload = bytes(self.data)
            if _is_space_or_printable_ascii(payload):
                text, is_text = repr(payload.decode("ascii")), True
            else:
                text, is_text = _hex(payload), False
        else:
            if len(self.data) > 4 * limit:
                # Only the ends survive elision; don't decode a megabyte to log 75 chars.
                head = bytes(self.data[: 8 * limit // 3])
                tail = bytes(self.data[-4 * limit // 3 :])
                is_text = _is_utf8_fragment(head, self.opcode != CONT, False)
                is_text = is_text and _is_utf8_fragment(tail, False, self.fin)
                payload = head + tail
            else:
                payload = bytes(self.data)
                is_text = _is_utf8_fragment(payload, self.opcode != CONT, self.fin)
            if is_text:
                text = repr(payload.decode(errors="replace"))
            else:
                binary = bytes(self.data)
                cut = (limit // 3 - 1) // 3
                if len(binary) > limit // 3:
                    # Two filler bytes make the hex long enough to be elided below.
                    binary = binary[: 2 * cut] + b"\x00\x00" + binary[-cut:]
                text = _hex(binary)
        if len(text) > limit:
            cut = limit // 3 - 1
            text = text[: 2 * cut] + "..." + text[-cut:]
        return text, is_text

    @classmethod
    def parse(
        cls,
        read_exact: Callable[[int], Generator[None, None, bytes | bytearray]],
        *,
        mask: bool,
        max_size: int | None = None,
        extensions: Sequence[Extension] | None = None,
    ) -> Generator[None, None, Frame]:
        """Read one frame with ``read_exact`` (a generator-based reader), as websockets does.

        Raises ProtocolError for a malformed frame, PayloadTooBig when the payload exceeds
        ``max_size``, and whatever the extensions' ``decode`` raises.
        """
        head = yield from read_exact(2)
        first, second = head[0], head[1]
        try:
            opcode = Opcode(first & 0x0F)
        except ValueError as exc:
            raise ProtocolError("invalid opcode") from exc
        # §5.1: clients must mask, servers must not.
        if mask != bool(second & 0x80):
            raise ProtocolError("incorrect masking")
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes((yield from read_exact(2)), "big")
        elif length == 127:
            length = int.from_bytes((yield from read_exact(8)), "big")
            if length >> 63:
                raise ProtocolError(
                    "invalid payload length: most significant bit of 64-bit length is set"
                )
        if max_size is not None and length > max_size:
            raise PayloadTooBig(length, max_size)
        key = (yield from read_exact(4)) if mask else None
        data = yield from read_exact(length)
        if key is not None:
            from . import speedups  # the codec imports this module: reached at call time

            data = speedups.apply_mask(data, key)
        frame = cls(
            opcode, bytes(data), bool(first & 0x80), bool(first & 0x40),
            bool(first & 0x20), bool(first & 0x10),
        )
        for extension in reversed(extensions or ()):
            frame = extension.decode(frame, max_size=max_size)
        frame.check()
        return frame

    def serialize(self, *, mask: bool, extensions: Sequence[Extension] | None = None) -> bytes:
        """Return the frame's bytes, masked with a fresh random key when ``mask`` is set."""
        self.check()
        frame = self
        for extension in extensions or ():
            frame = extension.encode(frame)
        from . import speedups  # the codec imports this module: reached at call time

        return speedups.serialize_frame(
            frame.opcode, frame.data, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3,
            generate_mask() if mask else None,
        )

    def check(self) -> None:
        """Raise ProtocolError if the RSV bits are set or a control frame is invalid (§5.5)."""
        if self.rsv1 or self.rsv2 or self.rsv3:
            raise ProtocolError("reserved bits must be 0")
        if self.opcode in CTRL_OPCODES:
            if len(self.data) > 125:
                raise ProtocolError("control frame too long")
            if not self.fin:
                raise ProtocolError("fragmented control frame")


@dataclasses.dataclass
class Close:
    """The code and reason of a close frame (RFC 6455 §5.5.1, §7.4)."""

    code: int
    reason: str

    def __str__(self) -> str:
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = CLOSE_CODE_EXPLANATIONS.get(self.code, "unknown")
        text = f"{self.code} ({explanation})"
        return f"{text} {self.reason}" if self.reason else text

    @classmethod
    def parse(cls, data: BytesLike) -> Close:
        """Parse a close frame's payload; an empty one means 1005 (§7.1.5).

        Raises ProtocolError for a truncated payload or a code that may not appear on the
        wire, and InvalidUTF8 (a UnicodeDecodeError) for a reason that is not UTF-8 (§5.5.1).
        """
        if len(data) >= 2:
            code = int.from_bytes(data[:2], "big")
            reason_bytes = bytes(data[2:])
            from . import speedups  # the codec imports this module: reached at call time

            speedups.validate_utf8(reason_bytes)
            close = cls(code, reason_bytes.decode())
            close.check()
            return close
        if len(data) == 0:
            return cls(CloseCode.NO_STATUS_RCVD, "")
        raise ProtocolError("close frame too short")

    def serialize(self) -> bytes:
        """Return the close frame's payload."""
        self.check()
        return self.code.to_bytes(2, "big") + self.reason.encode()

    def check(self) -> None:
        """Raise ProtocolError if the code may not be sent on the wire (§7.4)."""
        if not (self.code in EXTERNAL_CLOSE_CODES or 3000 <= self.code < 5000):
            raise ProtocolError("invalid status code")


# websockets' names for the two helpers of Frame.__str__, which some code imports.

#: Match ``data`` if it holds only printable ASCII and whitespace (HT, LF, VT, FF, CR).
is_space_or_printable_ascii = re.compile(rb"[\x09-\x0D\x20-\x7E]*").fullmatch


def is_utf8_fragment(
    data: bytes,
    must_start_clean: bool = False,
    must_end_clean: bool = False,
) -> bool:
    """Guess whether ``data`` is UTF-8 text, possibly cut out of a longer text: unless
    ``must_start_clean``, it may begin inside a character, unless ``must_end_clean``, end
    inside one."""
    return _is_utf8_fragment(data, must_start_clean, must_end_clean)


def prepare_data(data: Any) -> tuple[int, bytes]:
    """Return the opcode and payload for a message: str is text, bytes-like is binary."""
    if isinstance(data, str):
        return TEXT, data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return BINARY, bytes(data)
    raise TypeError("data must be str or bytes-like")


def prepare_ctrl(data: Any) -> bytes:
    """Return the payload for a control frame: str is encoded as UTF-8."""
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError("data must be str or bytes-like")

