"""COPY ... TO STDOUT in PostgreSQL's text, csv and binary formats, one CopyData message per row
(psycopg's copy.rows() reads each message as one row, as PostgreSQL sends them).

Rows are built column-wise like DataRows: values in PostgreSQL's text output (or binary) form,
escaped with kernels, then assembled row by row in one buffer with their message heads,
delimiters and CSV quotes (gateway/pgtypes.py, assembled).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exporters.encode import needs_quotes, quote_where
from gateway.pgtypes import CsvQuoting, Head, Part, TextEscaping, Values, assembled, field_rows, text_strings
from sql.copy import COLUMN_SEPARATOR
from sql.errors import FeatureNotSupported, InvalidParameterValue, SyntaxError_, UndefinedColumn

BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
END_MARKER = "\\."  # COPY's end-of-data line: CSV quotes a lone column's value that reads as it


def _truthy(value: str) -> bool:
    return value.strip("'").lower() in ("true", "on", "1", "yes", "")


@dataclass
class CopyEncoder:
    format: str = "text"
    delimiter: str = "\t"
    null: str = "\\N"
    with_header: bool = False
    quote: str = '"'
    escape: str = '"'
    force_quote: tuple[str, ...] | None = None  # FORCE_QUOTE: these columns ("*": all) always quoted

    @classmethod
    def for_options(cls, options: dict[str, str]) -> "CopyEncoder":
        """The encoder for COPY's options (values as the tokens read: quotes and escapes
        already taken off), checked in PostgreSQL's order (ProcessCopyOptions), so that a
        wrong combination fails with the same SQLSTATE and message as PostgreSQL's."""
        fmt = options.get("format", "text").lower()
        if fmt not in ("text", "csv", "binary"):
            raise InvalidParameterValue(f'COPY format "{fmt}" not recognized')
        known = {"format", "delimiter", "null", "header", "quote", "escape", "encoding", "force_quote"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise SyntaxError_(f'option "{unknown[0]}" not recognized')
        if "encoding" in options and options["encoding"].upper().replace("-", "").replace("_", "") not in ("UTF8",
                                                                                                     "UNICODE"):
            raise FeatureNotSupported("only UTF8 encoding is supported")
        csv, binary = fmt == "csv", fmt == "binary"
        for key in ("delimiter", "null"):
            if binary and key in options:
                raise SyntaxError_(f"cannot specify {key.upper()} in BINARY mode")
        delimiter = options.get("delimiter", "," if csv else "\t")
        null = options.get("null", "" if csv else "\\N")
        quote = options.get("quote", '"')
        escape = options.get("escape", quote)
        if len(delimiter.encode("utf-8")) != 1:
            raise FeatureNotSupported("COPY delimiter must be a single one-byte character")
        if delimiter in "\r\n":
            raise InvalidParameterValue("COPY delimiter cannot be newline or carriage return")
        if "\r" in null or "\n" in null:
            raise InvalidParameterValue("COPY null representation cannot use newline or carriage return")
        if not csv and delimiter in "\\.abcdefghijklmnopqrstuvwxyz0123456789":
            raise InvalidParameterValue(f'COPY delimiter cannot be "{delimiter}"')
        header = _truthy(options["header"]) if "header" in options else False
        if binary and header:
            raise FeatureNotSupported("cannot specify HEADER in BINARY mode")
        for key, value in (("quote", quote), ("escape", escape)):
            if not csv and key in options:
                raise FeatureNotSupported(f"COPY {key} available only in CSV mode")
            if csv and len(value.encode("utf-8")) != 1:
                raise FeatureNotSupported(f"COPY {key} must be a single one-byte character")
            if key == "quote" and csv and delimiter == quote:
                raise InvalidParameterValue("COPY delimiter and quote must be different")
        if not csv and "force_quote" in options:
            raise FeatureNotSupported("COPY force quote available only in CSV mode")
        if not binary and delimiter in null:
            raise FeatureNotSupported("COPY delimiter must not appear in the NULL specification")
        if csv and quote in null:
            raise FeatureNotSupported("CSV quote character must not appear in the NULL specification")
        enc = cls(format=fmt, delimiter=delimiter, null=null, with_header=header, quote=quote, escape=escape)
        if "force_quote" in options:
            names = options["force_quote"]
            enc.force_quote = ("*",) if names.strip() == "*" else tuple(names.split(COLUMN_SEPARATOR))
        return enc

    def check_columns(self, names: Sequence[str]) -> None:
        """FORCE_QUOTE's columns must be among the COPY's (42703), as PostgreSQL checks them."""
        for name in self.force_quote or ():
            if name != "*" and name not in names:
                raise UndefinedColumn(f'column "{name}" does not exist')

    @property
    def format_code(self) -> int:
        return 1 if self.format == "binary" else 0

    def header_bytes(self, schema: pa.Schema) -> bytes:
        if self.format == "binary":
            self._signature_due = True  # sent inside the first row's message, as PostgreSQL does
            return b""
        if not self.with_header:
            return b""
        if self.format == "csv":
            names = [self._quote_one(n, single=len(schema) == 1) for n in schema.names]
        else:
            names = TextEscaping(self.delimiter).applied(pa.array(schema.names, pa.string())).to_pylist()
        return (self.delimiter.join(names) + "\n").encode("utf-8")

    def trailer(self) -> bytes:
        if self.format != "binary":
            return b""
        if getattr(self, "_signature_due", False):  # no rows at all: header and trailer together
            self._signature_due = False
            return BINARY_SIGNATURE + struct.pack("!h", -1)
        return struct.pack("!h", -1)

    def _quote_one(self, value: str, single: bool = False) -> str:
        if value == self.null or any(c in value for c in (self.delimiter, self.quote, "\r", "\n")) or (
                single and value == END_MARKER):
            return self.quote + self._escaped(value) + self.quote
        return value

    def _escaped(self, value: str) -> str:
        """CSV's escaping inside quotes, as PostgreSQL writes it: ESCAPE before each QUOTE and
        each ESCAPE character."""
        if self.escape != self.quote:
            value = value.replace(self.escape, self.escape * 2)
        return value.replace(self.quote, self.escape + self.quote)

    def _field(self, column: pa.Array, name: str = "", single: bool = False) -> Values:
        """A column's values as this COPY writes them: text form, escaped or quoted, NULL as
        the null text. ``single``: the only column, where CSV quotes a value that is the
        end-of-data marker ``\\.``, so that it cannot read as one."""
        text, null = text_strings(column), self.null.encode("utf-8")
        forced = self.force_quote is not None and (self.force_quote == ("*",) or name in self.force_quote)
        stringy = pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or not (
            pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type)
            or pa.types.is_boolean(column.type) or pa.types.is_date(column.type) or pa.types.is_timestamp(column.type))
        if not stringy and not forced and self.delimiter in (",", "\t", ";", "|") and self.quote == '"' \
                and self.null in ("", "\\N"):
            # numbers, booleans, dates: never one of these delimiters, a quote, a line break, a
            # backslash, or the NULL text
            return Values(text, null)
        marker = single and self.format == "csv" and pc.any(pc.equal(text, END_MARKER)).as_py()
        if self.format == "csv" and (self.quote, self.escape) == ('"', '"') and not forced:
            if not self.null and not marker:  # quoted as it is assembled; an empty string too (empty text is NULL)
                return Values(text, quoting=CsvQuoting(self.delimiter))
            # a value that reads as the NULL text or the end marker is quoted as well
            needs = needs_quotes(text, self.delimiter, empty=not self.null)
            for plain in ([self.null] if self.null else []) + ([END_MARKER] if marker else []):
                same = pc.fill_null(pc.equal(text, plain), False)
                if pc.any(same).as_py():
                    needs = same if needs is None else pc.or_(needs, same)
            return Values(quote_where(text, needs), null)
        if self.format == "csv":
            special = "[" + re.escape(self.delimiter + self.quote) + "\\r\\n]"
            needs = pc.is_valid(text) if forced else pc.fill_null(
                pc.or_(pc.match_substring_regex(text, special), pc.equal(text, self.null)), False)
            if marker:
                needs = pc.or_(needs, pc.fill_null(pc.equal(text, END_MARKER), False))
            inner = text
            if self.escape != self.quote:
                inner = pc.replace_substring(inner, self.escape, self.escape * 2)
            inner = pc.replace_substring(inner, self.quote, self.escape + self.quote)
            quoted = pc.binary_join_element_wise(self.quote, inner, self.quote, "")
            return Values(pc.if_else(needs, quoted, text), null)
        # text format: PostgreSQL's backslash escapes, made as the rows are assembled
        return Values(text, null, quoting=TextEscaping(self.delimiter))

    def encode(self, batch: pa.RecordBatch) -> memoryview:
        """The batch as CopyData messages, one per row, back to back: heads, fields, delimiters
        and line ends assembled row by row in one buffer."""
        if batch.num_rows == 0:
            return memoryview(b"")
        n = batch.num_rows
        if self.format == "binary":
            lead = None
            if getattr(self, "_signature_due", False):
                self._signature_due = False
                lead = pa.array([BINARY_SIGNATURE] + [b""] * (n - 1), pa.binary())
            return field_rows(b"d", batch.columns, [True] * batch.num_columns, lead)
        delimiter = np.frombuffer(self.delimiter.encode("utf-8"), np.uint8)
        parts: list[Part] = [Head(b"d")]
        for i, (column, name) in enumerate(zip(batch.columns, batch.schema.names, strict=True)):
            field = self._field(column, name, single=batch.num_columns == 1)
            parts += [delimiter, field] if i else [field]
        return assembled([*parts, np.frombuffer(b"\n", np.uint8)], n)
