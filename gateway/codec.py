"""Bytes <-> messages for protocol v3. Pure: no sockets, no state beyond the receive buffer.

    parser = FrontendParser()
    parser.receive(data)            # any slicing of the stream, one byte at a time included
    for msg in parser: ...          # complete messages only
    wire = encode(ReadyForQuery(TxStatus.IDLE))

Malformed input raises ProtocolViolation (SQLSTATE 08P01); the server answers it and closes that
one connection.
"""

from __future__ import annotations

import struct
from typing import Callable, Iterator

from gateway import messages as m
from sql.errors import EgressError

MAX_MESSAGE = 64 * 1024 * 1024  # default maximum message size (config: server.max_message_bytes)
_I32 = struct.Struct("!i")
_I16 = struct.Struct("!h")


class ProtocolViolation(EgressError, code="08P01"):
    pass


class _Reader:
    def __init__(self, body: bytes) -> None:
        self.body, self.pos = body, 0

    def int32(self) -> int:
        if self.pos + 4 > len(self.body):
            raise ProtocolViolation("message too short")
        (v,) = _I32.unpack_from(self.body, self.pos)
        self.pos += 4
        return int(v)

    def int16(self) -> int:
        if self.pos + 2 > len(self.body):
            raise ProtocolViolation("message too short")
        (v,) = _I16.unpack_from(self.body, self.pos)
        self.pos += 2
        return int(v)

    def byte(self) -> str:
        if self.pos >= len(self.body):
            raise ProtocolViolation("message too short")
        b = self.body[self.pos : self.pos + 1]
        self.pos += 1
        return b.decode("latin-1")

    def cstring(self) -> str:
        end = self.body.find(b"\x00", self.pos)
        if end < 0:
            raise ProtocolViolation("unterminated string")
        raw = self.body[self.pos : end]
        self.pos = end + 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation("invalid UTF-8 in message") from None

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.body):
            raise ProtocolViolation("message too short")
        raw = self.body[self.pos : self.pos + n]
        self.pos += n
        return raw

    def rest(self) -> bytes:
        raw = self.body[self.pos :]
        self.pos = len(self.body)
        return raw

    def end(self) -> None:
        if self.pos != len(self.body):
            raise ProtocolViolation("trailing bytes in message")


def _startup(body: bytes) -> m.FrontendMessage:
    r = _Reader(body)
    code = r.int32()
    if code == m.Code.SSL_REQUEST:
        r.end()
        return m.SSLRequest()
    if code == m.Code.GSSENC_REQUEST:
        r.end()
        return m.GSSENCRequest()
    if code == m.Code.CANCEL_REQUEST:
        pid, key = r.int32(), r.int32()
        r.end()
        return m.CancelRequest(pid, key)
    if code >> 16 != 3:
        raise ProtocolViolation(f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}")
    params: dict[str, str] = {}
    while True:
        key = r.cstring()
        if not key:
            break
        params[key] = r.cstring()
    r.end()
    return m.StartupMessage(code, params)


def _parse(r: _Reader) -> m.Parse:
    name, sql = r.cstring(), r.cstring()
    n = r.int16()
    if n < 0:
        raise ProtocolViolation("negative parameter count")
    oids = tuple(r.int32() & 0xFFFFFFFF for _ in range(n))
    r.end()
    return m.Parse(name, sql, oids)


def _bind(r: _Reader) -> m.Bind:
    portal, statement = r.cstring(), r.cstring()
    nf = r.int16()
    formats = tuple(r.int16() for _ in range(max(nf, 0)))
    n = r.int16()
    if nf < 0 or n < 0:
        raise ProtocolViolation("negative count in Bind")
    params: list[bytes | None] = []
    for _ in range(n):
        size = r.int32()
        params.append(None if size == -1 else r.take(size))
    nr = r.int16()
    if nr < 0:
        raise ProtocolViolation("negative count in Bind")
    result_formats = tuple(r.int16() for _ in range(nr))
    r.end()
    for f in formats + result_formats:
        if f not in (0, 1):
            raise ProtocolViolation(f"unsupported format code {f}")
    return m.Bind(portal, statement, formats, tuple(params), result_formats)


def _kind_name(r: _Reader, cls: type) -> m.FrontendMessage:
    kind = r.byte()
    if kind not in ("S", "P"):
        raise ProtocolViolation(f"invalid {cls.__name__} target {kind!r}")
    name = r.cstring()
    r.end()
    return cls(kind, name)  # type: ignore[no-any-return]


def _execute(r: _Reader) -> m.Execute:
    portal = r.cstring()
    max_rows = r.int32()
    r.end()
    return m.Execute(portal, max(max_rows, 0))


def _query(r: _Reader) -> m.Query:
    sql = r.cstring()
    r.end()
    return m.Query(sql)


def _empty(cls: type) -> Callable[[_Reader], m.FrontendMessage]:
    def read(r: _Reader) -> m.FrontendMessage:
        r.end()
        return cls()  # type: ignore[no-any-return]

    return read


# Frontend message readers keyed by type byte (a table, not an if/elif chain).
READERS: dict[bytes, Callable[[_Reader], m.FrontendMessage]] = {
    b"Q": _query,
    b"P": _parse,
    b"B": _bind,
    b"D": lambda r: _kind_name(r, m.Describe),
    b"E": _execute,
    b"C": lambda r: _kind_name(r, m.Close),
    b"S": _empty(m.Sync),
    b"H": _empty(m.Flush),
    b"X": _empty(m.Terminate),
    b"p": lambda r: m.PasswordMessage(r.rest()),
    b"f": lambda r: m.CopyFail(r.cstring()),
    b"d": lambda r: m.CopyDataIn(r.rest()),
    b"c": _empty(m.CopyDoneIn),
}


class FrontendParser:
    """Incremental parser. Starts in the startup phase (untyped packets) until told otherwise."""

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self.buffer = bytearray()
        self.startup = True
        self.max_message = max_message

    def receive(self, data: bytes) -> None:
        self.buffer += data

    def end_startup(self) -> None:
        self.startup = False

    def next(self) -> m.FrontendMessage | None:
        buf = self.buffer
        if self.startup:
            if len(buf) < 4:
                return None
            (size,) = _I32.unpack_from(buf, 0)
            if size < 8 or size > 10_000:
                raise ProtocolViolation("invalid startup packet length")
            if len(buf) < size:
                return None
            body = bytes(buf[4:size])
            del buf[:size]
            return _startup(body)
        if len(buf) < 5:
            return None
        kind = bytes(buf[0:1])
        (size,) = _I32.unpack_from(buf, 1)
        if size < 4 or size > self.max_message:
            raise ProtocolViolation(f"invalid message length {size}")
        if len(buf) < 1 + size:
            return None
        body = bytes(buf[5 : 1 + size])
        del buf[: 1 + size]
        reader = READERS.get(kind)
        if reader is None:
            raise ProtocolViolation(f"invalid frontend message type {kind!r}")
        return reader(_Reader(body))

    def __iter__(self) -> Iterator[m.FrontendMessage]:
        while (msg := self.next()) is not None:
            yield msg


# -- backend encoding ---------------------------------------------------------------------------
def _frame(kind: bytes, body: bytes) -> bytes:
    return kind + _I32.pack(len(body) + 4) + body


def _cstr(text: str) -> bytes:
    return text.encode("utf-8").replace(b"\x00", b"") + b"\x00"


def _error_fields(severity: str, code: str, message: str, position: int | None,
                  detail: str | None, hint: str | None) -> bytes:
    parts = [b"S" + _cstr(severity), b"V" + _cstr(severity), b"C" + _cstr(code), b"M" + _cstr(message)]
    if detail:
        parts.append(b"D" + _cstr(detail))
    if hint:
        parts.append(b"H" + _cstr(hint))
    if position is not None:
        parts.append(b"P" + _cstr(str(position)))
    return b"".join(parts) + b"\x00"


def _row_description(msg: m.RowDescription) -> bytes:
    parts = [_I16.pack(len(msg.fields))]
    for f in msg.fields:
        parts.append(_cstr(f.name) + struct.pack("!ihihih", f.table_oid, f.column, f.type_oid,
                                                 f.type_size, f.type_modifier, f.format))
    return _frame(b"T", b"".join(parts))


ENCODERS: dict[type, Callable[..., bytes]] = {
    m.Authentication: lambda x: _frame(b"R", _I32.pack(int(x.kind)) + x.data),
    m.ParameterStatus: lambda x: _frame(b"S", _cstr(x.name) + _cstr(x.value)),
    m.BackendKeyData: lambda x: _frame(b"K", struct.pack("!ii", x.pid, x.key)),
    m.ReadyForQuery: lambda x: _frame(b"Z", x.status.value),
    m.RowDescription: _row_description,
    m.CommandComplete: lambda x: _frame(b"C", _cstr(x.tag)),
    m.ErrorResponse: lambda x: _frame(b"E", _error_fields(x.severity, x.code, x.message, x.position,
                                                          x.detail, x.hint)),
    m.NoticeResponse: lambda x: _frame(b"N", _error_fields(x.severity, x.code, x.message, None,
                                                           x.detail, None)),
    m.ParseComplete: lambda x: _frame(b"1", b""),
    m.BindComplete: lambda x: _frame(b"2", b""),
    m.CloseComplete: lambda x: _frame(b"3", b""),
    m.NoData: lambda x: _frame(b"n", b""),
    m.PortalSuspended: lambda x: _frame(b"s", b""),
    m.EmptyQueryResponse: lambda x: _frame(b"I", b""),
    m.ParameterDescription: lambda x: _frame(b"t", _I16.pack(len(x.oids)) + b"".join(
        struct.pack("!I", o) for o in x.oids)),
    m.CopyOutResponse: lambda x: _frame(b"H", struct.pack("!bh", x.format, len(x.column_formats))
                                        + b"".join(_I16.pack(f) for f in x.column_formats)),
    m.CopyDone: lambda x: _frame(b"c", b""),
}


def encode(msg: m.BackendMessage) -> bytes:
    return ENCODERS[type(msg)](msg)


def copy_data(payload: bytes) -> bytes:
    return _frame(b"d", payload)
