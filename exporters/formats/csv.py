"""CSV: minimal/all/no quoting, any of , ; tab |, header, BOM, CRLF, NULL text, date formats.

Rows are built column-wise with pyarrow compute and written as one buffer per batch.
"""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from exporters.base import FormatSpec, register
from exporters.encode import joined_bytes, needs_quotes, quote_all, quote_where, to_text
from exporters.options import CsvOptions, date_patterns
from sql.errors import InvalidParameterValue


class CsvWriter:
    def __init__(self, sink: BinaryIO, schema: pa.Schema, options: CsvOptions) -> None:
        self.sink, self.schema, self.o = sink, schema, options
        self.date_pattern, self.ts_pattern = date_patterns(options.date_format)
        # numbers never need quotes; dates only when a custom pattern could contain anything
        self._patterned_dates = options.date_format not in ("iso", "us", "eu", "full")
        if options.bom:
            sink.write(b"\xef\xbb\xbf")
        if options.header:
            header = pa.array(schema.names, pa.string())
            fields = self._quote(header)
            line = options.delimiter.join(fields.to_pylist()) + options.line_terminator
            sink.write(line.encode("utf-8"))

    def _quote(self, text: pa.Array) -> pa.Array:
        mode = self.o.quoting
        if mode == "all":
            return quote_all(text)
        needs = needs_quotes(text, self.o.delimiter)
        if mode == "none" and needs is not None:
            raise InvalidParameterValue(
                "a value contains the delimiter, a quote or a line break",
                hint="use quoting=minimal (the default) or quoting=all",
            )
        return quote_where(text, needs)

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.sink.write(self.encode(batch))

    def encode(self, batch: pa.RecordBatch) -> memoryview:
        """A batch as CSV bytes; no state, so the pipeline runs it on worker threads."""
        texts: list[pa.Array] = []
        for column in batch.columns:
            text = to_text(column, date_pattern=self.date_pattern,
                           timestamp_pattern=self.ts_pattern, decimals=self.o.decimals)
            if self.o.quoting == "all" or pa.types.is_string(text.type) and (
                    pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
                    or self._patterned_dates):
                text = self._quote(text)  # NULL stays NULL through the kernels...
            if column.null_count:
                text = pc.fill_null(text, self.o.null)  # ...and is written unquoted
            texts.append(text)
        # the terminator rides on the last field, so one join with the delimiter as separator
        # makes the rows (half the work of joining the delimiters in as pieces)
        texts[-1] = pc.binary_join_element_wise(texts[-1], self.o.line_terminator, "")
        return joined_bytes(pc.binary_join_element_wise(*texts, self.o.delimiter))

    def close(self) -> None:
        pass


SPEC = register(FormatSpec("csv", "csv", CsvOptions, CsvWriter, compressible=True, media_type="text/csv"))
