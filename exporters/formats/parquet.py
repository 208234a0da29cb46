"""Parquet through pyarrow's ParquetWriter: codec, row group size; partitioning in pipeline.py."""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from exporters.base import FormatSpec, register
from exporters.options import ParquetOptions


class ParquetWriter:
    def __init__(self, sink: BinaryIO, schema: pa.Schema, options: ParquetOptions) -> None:
        codec = None if options.codec == "none" else options.codec
        self.row_group_size = options.row_group_size
        self.writer = pq.ParquetWriter(sink, schema, compression=codec or "none",
                                       write_statistics=True)
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        # Gather batches into row groups of the size asked for, never more than one group held.
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        if self.pending_rows >= self.row_group_size:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            table = pa.Table.from_batches(self.pending)
            self.writer.write_table(table, row_group_size=self.row_group_size)
            self.pending, self.pending_rows = [], 0

    def close(self) -> None:
        self._flush()
        self.writer.close()


SPEC = register(FormatSpec("parquet", "parquet", ParquetOptions, ParquetWriter, compressible=False,
                           media_type="application/vnd.apache.parquet"))
