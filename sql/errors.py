"""Every refusal egress makes, as one hierarchy keyed by PostgreSQL SQLSTATE.

    EgressError                      XX000  (never raised bare: the fallback)
    ├── SyntaxError_                 42601  the text does not parse
    ├── UndefinedTable               42P01  relation unknown (or not visible: same answer)
    ├── UndefinedColumn              42703
    ├── UndefinedFunction            42883  function not on the allowlist
    ├── InsufficientPrivilege        42501  hidden column, engine statement, file access
    ├── ReadOnly                     25006  INSERT / UPDATE / DELETE / DDL
    ├── FeatureNotSupported          0A000
    ├── ProgramLimitExceeded         54000  row limits, sizes
    ├── InvalidParameterValue        22023  bad option values (export options, filters)
    ├── DataException                22000  a value failed at run time, more precisely:
    │   ├── InvalidTextRepresentation  22P02  text that does not read as the type
    │   ├── NumericValueOutOfRange     22003
    │   ├── DivisionByZero             22012
    │   ├── InvalidDatetimeFormat      22007
    │   └── DatetimeFieldOverflow      22008
    ├── CannotCoerce                 42846  no cast between the two types
    ├── UndefinedParameter           42P02  $n without a value
    ├── QueryCanceled                57014
    ├── InvalidPassword              28P01
    ├── InvalidAuthorization         28000  unknown user
    ├── ConfigurationError           F0000  config file problems
    └── InternalError                XX000

Messages are short and lowercase in PostgreSQL's style; detail and hint are separate fields.
``position`` is 1-based, in characters of the SQL text as the client sent it (PostgreSQL's P field).
Subclasses register their code with ``class X(EgressError, code="...")`` and ``for_sqlstate``
finds the class for a code, falling back on the SQLSTATE class (first two characters).
"""

from __future__ import annotations

from typing import ClassVar

_BY_CODE: dict[str, type[EgressError]] = {}


class EgressError(Exception):
    sqlstate: ClassVar[str] = "XX000"

    def __init_subclass__(cls, code: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.sqlstate = code
            _BY_CODE.setdefault(code, cls)

    def __init__(
        self,
        message: str,
        *,
        position: int | None = None,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.message} (SQLSTATE {self.sqlstate})"
        if self.position is not None:
            text += f" at position {self.position}"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "sqlstate": self.sqlstate,
            "message": self.message,
            "position": self.position,
            "detail": self.detail,
            "hint": self.hint,
        }


class SyntaxError_(EgressError, code="42601"):
    pass


class UndefinedTable(EgressError, code="42P01"):
    pass


class UndefinedColumn(EgressError, code="42703"):
    pass


class UndefinedFunction(EgressError, code="42883"):
    pass


class InsufficientPrivilege(EgressError, code="42501"):
    pass


class ReadOnly(EgressError, code="25006"):
    pass


class FeatureNotSupported(EgressError, code="0A000"):
    pass


class ProgramLimitExceeded(EgressError, code="54000"):
    pass


class InvalidParameterValue(EgressError, code="22023"):
    pass


class DataException(EgressError, code="22000"):
    pass


class InvalidTextRepresentation(DataException, code="22P02"):
    pass


class InvalidEscapeSequence(DataException, code="22025"):
    pass


class NumericValueOutOfRange(DataException, code="22003"):
    pass


class DivisionByZero(DataException, code="22012"):
    pass


class InvalidDatetimeFormat(DataException, code="22007"):
    pass


class DatetimeFieldOverflow(DataException, code="22008"):
    pass


class CannotCoerce(EgressError, code="42846"):
    pass


class UndefinedParameter(EgressError, code="42P02"):
    pass


class QueryCanceled(EgressError, code="57014"):
    pass


class ConfigurationLimitExceeded(EgressError, code="53400"):
    """A quota (exports per day, rows per day, concurrent jobs) is used up."""


class ObjectNotFound(EgressError, code="42704"):
    """An egress object (job, schedule, template, destination) that does not exist for the caller."""


class DiskFull(EgressError, code="53100"):
    pass


class InvalidPassword(EgressError, code="28P01"):
    pass


class InvalidAuthorization(EgressError, code="28000"):
    pass


class ConfigurationError(EgressError, code="F0000"):
    pass


class InternalError(EgressError, code="XX000"):
    pass


def for_sqlstate(code: str) -> type[EgressError]:
    """The class registered for ``code``, else one of its SQLSTATE class, else EgressError."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    for known, cls in _BY_CODE.items():
        if known[:2] == code[:2]:
            return cls
    return EgressError
