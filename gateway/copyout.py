"""COPY ... TO STDOUT in PostgreSQL's text, csv and binary formats, one CopyData message per row
(psycopg's copy.rows() reads each message as one row, as PostgreSQL sends them).

Rows are built column-wise like DataRows: values in PostgreSQL's text output (or binary) form,
escaped or quoted with kernels, joined with their numpy-made message heads in one buffer.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exporters.encode import joined_bytes, may_contain, needs_quotes, quote_where
from gateway.pgtypes import (NO_SEPARATOR, as_binary, block_values, field_rows, message_heads, run_values,
                             text_block, text_strings, value_offsets)
from sql.errors import FeatureNotSupported, InvalidParameterValue

BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)


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
        fmt = options.get("format", "text").strip("'").lower()
        if fmt not in ("text", "csv", "binary"):
            raise InvalidParameterValue(f'COPY format "{fmt}" not recognized')
        known = {"format", "delimiter", "null", "header", "quote", "escape", "encoding", "force_quote"}
        unknown = set(options) - known
        if unknown:
            raise FeatureNotSupported(f'option "{sorted(unknown)[0]}" not recognized')
        enc = cls(format=fmt, delimiter="," if fmt == "csv" else "\t", null="" if fmt == "csv" else "\\N")
        if "delimiter" in options:
            enc.delimiter = options["delimiter"].strip("'")
            if len(enc.delimiter) != 1:
                raise InvalidParameterValue("COPY delimiter must be a single one-byte character")
        if "null" in options:
            enc.null = options["null"].strip("'")
        if "header" in options:
            enc.with_header = _truthy(options["header"])
        if "encoding" in options and options["encoding"].strip("'").upper().replace("-", "") != "UTF8":
            raise FeatureNotSupported("only UTF8 encoding is supported")
        for key in ("quote", "escape", "force_quote"):
            if key in options and fmt != "csv":
                raise FeatureNotSupported(f"COPY {key} available only in CSV mode")
        for key in ("quote", "escape"):
            if key in options:
                value = options[key]  # a string token's text: already without its quotes
                value = value.strip("'") if len(value) > 1 else value
                if len(value.encode("utf-8")) != 1:
                    raise InvalidParameterValue(f"COPY {key} must be a single one-byte character")
                setattr(enc, key, value)
        if "quote" in options and "escape" not in options:
            enc.escape = enc.quote  # as PostgreSQL: ESCAPE defaults to QUOTE
        if "force_quote" in options:
            names = options["force_quote"].strip()
            enc.force_quote = ("*",) if names == "*" else tuple(
                n.strip().strip('"') for n in names.strip("()").split(",") if n.strip())
        return enc

    @property
    def format_code(self) -> int:
        return 1 if self.format == "binary" else 0

    def header_bytes(self, schema: pa.Schema) -> bytes:
        if self.format == "binary":
            self._signature_due = True  # sent inside the first row's message, as PostgreSQL does
            return b""
        if not self.with_header:
            return b""
        names = [self._quote_one(n) if self.format == "csv" else n for n in schema.names]
        return (self.delimiter.join(names) + "\n").encode("utf-8")

    def trailer(self) -> bytes:
        if self.format != "binary":
            return b""
        if getattr(self, "_signature_due", False):  # no rows at all: header and trailer together
            self._signature_due = False
            return BINARY_SIGNATURE + struct.pack("!h", -1)
        return struct.pack("!h", -1)

    def _quote_one(self, value: str) -> str:
        if value == self.null or any(c in value for c in (self.delimiter, self.quote, "\r", "\n")):
            return self.quote + self._escaped(value) + self.quote
        return value

    def _escaped(self, value: str) -> str:
        """CSV's escaping inside quotes, as PostgreSQL writes it: ESCAPE before each QUOTE and
        each ESCAPE character."""
        if self.escape != self.quote:
            value = value.replace(self.escape, self.escape * 2)
        return value.replace(self.quote, self.escape + self.quote)

    def _field_text(self, column: pa.Array, name: str = "") -> pa.Array:
        text = text_strings(column)
        forced = self.force_quote is not None and (self.force_quote == ("*",) or name in self.force_quote)
        stringy = pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or not (
            pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type)
            or pa.types.is_boolean(column.type) or pa.types.is_date(column.type) or pa.types.is_timestamp(column.type))
        if not stringy and not forced and self.delimiter in (",", "\t", ";", "|") and self.quote == '"' \
                and self.null in ("", "\\N"):
            # numbers, booleans, dates: never one of these delimiters, a quote, a line break, a
            # backslash, or the NULL text
            return text
        if self.format == "csv" and (self.quote, self.escape) == ('"', '"') and not forced:
            # an empty string is quoted when empty text means NULL, and so is any value that
            # reads as the NULL text
            needs = needs_quotes(text, self.delimiter, empty=self.null == "")
            same = pc.fill_null(pc.equal(text, self.null), False) if self.null else None
            if same is not None and pc.any(same).as_py():
                needs = same if needs is None else pc.or_(needs, same)
            return quote_where(text, needs)
        if self.format == "csv":
            special = "[" + re.escape(self.delimiter + self.quote) + "\\r\\n]"
            needs = pc.is_valid(text) if forced else pc.fill_null(
                pc.or_(pc.match_substring_regex(text, special), pc.equal(text, self.null)), False)
            inner = text
            if self.escape != self.quote:
                inner = pc.replace_substring(inner, self.escape, self.escape * 2)
            inner = pc.replace_substring(inner, self.quote, self.escape + self.quote)
            quoted = pc.binary_join_element_wise(self.quote, inner, self.quote, "")
            return pc.if_else(needs, quoted, text)
        # text format: backslash, tab, line breaks and a delimiter other than tab are escaped
        special = "\\\t\n\r" + ("" if self.delimiter == "\t" else self.delimiter)
        if may_contain(text, special.encode("utf-8")):
            text = pc.replace_substring(text, "\\", "\\\\")
            text = pc.replace_substring(text, "\t", "\\t")
            text = pc.replace_substring(text, "\n", "\\n")
            text = pc.replace_substring(text, "\r", "\\r")
            if self.delimiter != "\t":
                text = pc.replace_substring(text, self.delimiter, "\\" + self.delimiter)
        return text

    def encode(self, batch: pa.RecordBatch) -> memoryview:
        """The batch as CopyData messages, one per row, back to back.

        Each row's length is summed from its fields' offsets first, so one join writes the
        message heads and the fields together."""
        if batch.num_rows == 0:
            return memoryview(b"")
        n = batch.num_rows
        if self.format == "binary":
            lead = None
            if getattr(self, "_signature_due", False):
                self._signature_due = False
                lead = pa.array([BINARY_SIGNATURE] + [b""] * (n - 1), pa.binary())
            return joined_bytes(field_rows(b"d", batch.columns, [True] * batch.num_columns, lead))
        fields = [as_binary(self._field_text(column, name))
                  for column, name in zip(batch.columns, batch.schema.names, strict=True)]
        delimiter, null = self.delimiter.encode(), self.null.encode()
        size = np.full(n, len(delimiter) * (len(fields) - 1) + 1, dtype=np.int64)
        for field in fields:
            size += np.diff(value_offsets(field))  # a NULL's slot is empty: the joins write its text
            if field.null_count and null:
                size += len(null) * pc.is_null(field).to_numpy(zero_copy_only=False)
        # NULLs become the null text as the joins write them, without a filled copy of the column
        joins = pc.JoinOptions(null_handling="replace", null_replacement=self.null)
        # A row is: message head, fields with the delimiter between them, line end. The join
        # costs per row and per piece, so runs of fixed width (the head, fields whose values all
        # have one width such as timestamps, the delimiters between those, the line end) are
        # made as single numpy blocks; the delimiter between pieces is the join's separator.
        pieces: list[pa.Array | list[np.ndarray]] = []
        for field in fields:
            block = text_block(field)
            if block is None:
                pieces.append(field)
            elif pieces and isinstance(pieces[-1], list):
                pieces[-1] += [np.frombuffer(delimiter, np.uint8), block]
            else:
                pieces.append([block])
        head, end = message_heads(b"d", size), np.frombuffer(b"\n", np.uint8)
        if isinstance(pieces[0], list):
            pieces[0].insert(0, head)
        else:
            pieces[0] = pc.binary_join_element_wise(block_values(head), pieces[0], NO_SEPARATOR, options=joins)
        if isinstance(pieces[-1], list):
            pieces[-1].append(end)
        else:
            pieces[-1] = pc.binary_join_element_wise(pieces[-1], pa.scalar(b"\n", pa.binary()), NO_SEPARATOR,
                                                     options=joins)
        arrays = [run_values(piece, n) if isinstance(piece, list) else piece for piece in pieces]
        if len(arrays) == 1:
            return joined_bytes(arrays[0])
        return joined_bytes(pc.binary_join_element_wise(*arrays, pa.scalar(delimiter, pa.binary()), options=joins))
