"""COPY ... TO STDOUT in PostgreSQL's text, csv and binary formats, one CopyData message per row
(psycopg's copy.rows() reads each message as one row, as PostgreSQL sends them).

Rows are built column-wise like DataRows: values in PostgreSQL's text output (or binary) form,
escaped or quoted with kernels, framed with numpy-made length prefixes, joined in one buffer.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exporters.encode import joined_bytes
from gateway.pgtypes import _prefix, binary_values, text_strings
from sql.errors import FeatureNotSupported, InvalidParameterValue

_d = pa.scalar(b"d", pa.binary())
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
        if value == "" or re.search(f"[{re.escape(self.delimiter)}\"\r\n]", value) or value == self.null:
            return '"' + value.replace('"', '""') + '"'
        return value

    def _field_text(self, column: pa.Array) -> pa.Array:
        text = text_strings(column)
        stringy = pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or not (
            pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type)
            or pa.types.is_boolean(column.type) or pa.types.is_date(column.type) or pa.types.is_timestamp(column.type))
        if not stringy and self.delimiter in (",", "\t", ";", "|"):
            # numbers, booleans, dates: never one of these delimiters, a quote, a line break or a backslash
            return pc.fill_null(text, self.null)
        if self.format == "csv":
            needs = pc.match_substring_regex(text, f'[{re.escape(self.delimiter)}"\\r\\n]')
            if self.null == "":
                needs = pc.or_(needs, pc.equal(text, ""))
            if pc.any(needs).as_py():
                quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
                text = pc.if_else(needs, quoted, text)
            return pc.fill_null(text, self.null)
        if pc.any(pc.match_substring_regex(text, r"[\\\t\n\r]")).as_py():
            text = pc.replace_substring(text, "\\", "\\\\")
            text = pc.replace_substring(text, "\t", "\\t")
            text = pc.replace_substring(text, "\n", "\\n")
            text = pc.replace_substring(text, "\r", "\\r")
        return pc.fill_null(text, self.null)

    def encode(self, batch: pa.RecordBatch) -> memoryview:
        """The batch as CopyData messages, one per row, back to back."""
        if batch.num_rows == 0:
            return memoryview(b"")
        n = batch.num_rows
        if self.format == "binary":
            pieces: list[object] = [pa.scalar(struct.pack("!h", batch.num_columns), pa.binary())]
            size = np.full(n, 2, dtype=np.int64)
            for column in batch.columns:
                values = binary_values(column)
                lengths = pc.fill_null(pc.binary_length(values), -1).to_numpy(zero_copy_only=False).astype(np.int64)
                size += 4 + np.maximum(lengths, 0)
                pieces += [_prefix(lengths), pc.fill_null(values, b"")]
            if getattr(self, "_signature_due", False):
                self._signature_due = False
                lead = pa.array([BINARY_SIGNATURE] + [b""] * (n - 1), pa.binary())
                pieces.insert(0, lead)
                size[0] += len(BINARY_SIGNATURE)
            payload = pc.binary_join_element_wise(*pieces, pa.scalar(b"", pa.binary()))
        else:
            parts: list[object] = []
            for i, column in enumerate(batch.columns):
                if i:
                    parts.append(self.delimiter)
                parts.append(self._field_text(column))
            parts.append("\n")
            payload = pc.cast(pc.binary_join_element_wise(*parts, ""), pa.binary())
            size = pc.binary_length(payload).to_numpy(zero_copy_only=False).astype(np.int64)
        framed = pc.binary_join_element_wise(_d, _prefix(size + 4), payload, pa.scalar(b"", pa.binary()))
        return joined_bytes(framed)
