"""PostgreSQL protocol v3 messages as frozen dataclasses, and the wire constants as enums.

Frontend messages are what clients send (parsed by codec.FrontendParser); backend messages are
what egress sends (encoded by codec.encode). Nothing here touches a socket.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Code(enum.IntEnum):
    """The 32-bit codes that take the place of a protocol version in special startup packets."""

    PROTOCOL_3 = 196608  # 3.0
    SSL_REQUEST = 80877103
    GSSENC_REQUEST = 80877104
    CANCEL_REQUEST = 80877102


class Auth(enum.IntEnum):
    OK = 0
    CLEARTEXT = 3
    MD5 = 5
    SASL = 10
    SASL_CONTINUE = 11
    SASL_FINAL = 12


class TxStatus(bytes, enum.Enum):
    IDLE = b"I"
    IN_TRANSACTION = b"T"
    FAILED = b"E"


# -- frontend -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SSLRequest:
    pass


@dataclass(frozen=True)
class GSSENCRequest:
    pass


@dataclass(frozen=True)
class CancelRequest:
    pid: int
    key: int


@dataclass(frozen=True)
class StartupMessage:
    version: int
    params: dict[str, str]


@dataclass(frozen=True)
class PasswordMessage:
    """'p': a password, a SASLInitialResponse or a SASLResponse; which one depends on the state."""

    data: bytes


@dataclass(frozen=True)
class Query:
    sql: str


@dataclass(frozen=True)
class Parse:
    name: str
    sql: str
    param_oids: tuple[int, ...]


@dataclass(frozen=True)
class Bind:
    portal: str
    statement: str
    param_formats: tuple[int, ...]
    params: tuple[bytes | None, ...]
    result_formats: tuple[int, ...]


@dataclass(frozen=True)
class Describe:
    kind: str  # "S" statement or "P" portal
    name: str


@dataclass(frozen=True)
class Execute:
    portal: str
    max_rows: int


@dataclass(frozen=True)
class Close:
    kind: str
    name: str


@dataclass(frozen=True)
class Sync:
    pass


@dataclass(frozen=True)
class Flush:
    pass


@dataclass(frozen=True)
class Terminate:
    pass


@dataclass(frozen=True)
class CopyFail:
    message: str


@dataclass(frozen=True)
class CopyDataIn:
    data: bytes


@dataclass(frozen=True)
class CopyDoneIn:
    pass


FrontendMessage = (SSLRequest | GSSENCRequest | CancelRequest | StartupMessage | PasswordMessage
                   | Query | Parse | Bind | Describe | Execute | Close | Sync | Flush | Terminate
                   | CopyFail | CopyDataIn | CopyDoneIn)


# -- backend ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Authentication:
    kind: Auth
    data: bytes = b""


@dataclass(frozen=True)
class ParameterStatus:
    name: str
    value: str


@dataclass(frozen=True)
class BackendKeyData:
    pid: int
    key: int


@dataclass(frozen=True)
class ReadyForQuery:
    status: TxStatus


@dataclass(frozen=True)
class Field:
    name: str
    type_oid: int
    type_size: int = -1
    type_modifier: int = -1
    format: int = 0
    table_oid: int = 0
    column: int = 0


@dataclass(frozen=True)
class RowDescription:
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class CommandComplete:
    tag: str


@dataclass(frozen=True)
class ErrorResponse:
    severity: str
    code: str
    message: str
    position: int | None = None
    detail: str | None = None
    hint: str | None = None


@dataclass(frozen=True)
class NoticeResponse:
    severity: str
    code: str
    message: str
    detail: str | None = None


@dataclass(frozen=True)
class ParseComplete:
    pass


@dataclass(frozen=True)
class BindComplete:
    pass


@dataclass(frozen=True)
class CloseComplete:
    pass


@dataclass(frozen=True)
class NoData:
    pass


@dataclass(frozen=True)
class PortalSuspended:
    pass


@dataclass(frozen=True)
class EmptyQueryResponse:
    pass


@dataclass(frozen=True)
class ParameterDescription:
    oids: tuple[int, ...]


@dataclass(frozen=True)
class CopyOutResponse:
    format: int
    column_formats: tuple[int, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CopyDone:
    pass


BackendMessage = (Authentication | ParameterStatus | BackendKeyData | ReadyForQuery
                  | RowDescription | CommandComplete | ErrorResponse | NoticeResponse
                  | ParseComplete | BindComplete | CloseComplete | NoData | PortalSuspended
                  | EmptyQueryResponse | ParameterDescription | CopyOutResponse | CopyDone)
