"""Parquet through pyarrow, row groups encoded in parallel: codec, row group size; partitioning in pipeline.py."""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from exporters.base import ENCODE_THREADS, FormatSpec, register
from exporters.formats import parquet_footer
from exporters.options import ParquetOptions

DICTIONARY_MAX_RATIO = 0.5  # distinct / non-null values in the first rows, above: plain
DICTIONARY_SAMPLE_ROWS = 32_768  # as many as the full first row group chose the same columns, in 1/5 the time


def dictionary_columns(first: pa.Table) -> list[str]:
    """The columns worth dictionary-encoding, judged on the first rows.

    pyarrow's default tries a dictionary for every column and falls back to plain encoding
    once a column chunk's dictionary outgrows its page limit: for mostly-unique columns (ids,
    names, domains, descriptions, timestamps) that is encoding work thrown away. Deciding up
    front wrote the 2.5M-row companies export 17% faster and 12% smaller."""
    sample = first.slice(0, DICTIONARY_SAMPLE_ROWS)
    chosen = []
    for name, column in zip(sample.column_names, sample.columns, strict=True):
        present = len(column) - column.null_count
        if present == 0 or pc.count_distinct(column).as_py() <= DICTIONARY_MAX_RATIO * present:
            chosen.append(name)
    return chosen


IN_FLIGHT = ENCODE_THREADS  # row groups encoding or encoded, not yet written: bounds memory
_encoders: ThreadPoolExecutor | None = None
_encoders_lock = threading.Lock()


def encoders() -> ThreadPoolExecutor:
    """One pool for every Parquet export in the process: more threads than cores gains nothing."""
    global _encoders
    with _encoders_lock:
        if _encoders is None:
            _encoders = ThreadPoolExecutor(ENCODE_THREADS, thread_name_prefix="egress-parquet")
        return _encoders


def encode_group(table: pa.Table, properties: dict[str, Any]) -> pa.Buffer:
    """One row group, encoded as a whole Parquet file in memory."""
    out = pa.BufferOutputStream()
    with pq.ParquetWriter(out, table.schema, **properties) as writer:
        writer.write_table(table, row_group_size=table.num_rows)
    return out.getvalue()


class ParquetWriter:
    """Row groups encode in parallel, each as a small Parquet file on a worker thread; they are
    written in order, their column chunks appended to the file and their footers merged into
    one (parquet_footer.py).

    pyarrow encodes one file's columns on one thread: 1.6-1.8 s of CPU for the 2.5M-row
    companies export, more than the 1.6 s of wall time DuckDB's whole COPY takes. Two row groups
    at a time took 0.95 s. Memory: at most IN_FLIGHT row groups wait on the workers, plus the
    one being gathered."""

    # Batches straight from DuckDB, no prefetch thread (pipeline.py): interleaved with DuckDB's
    # COPY, 0.97x of its speed without one and 0.92x with one, and 25-40 MB less memory.
    prefetch = 0

    def __init__(self, sink: BinaryIO, schema: pa.Schema, options: ParquetOptions) -> None:
        self.sink, self.schema = sink, schema
        self.codec = options.codec
        self.row_group_size = options.row_group_size
        self.properties: dict[str, Any] | None = None  # fixed by the first row group
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.in_flight: deque[Future[pa.Buffer]] = deque()
        self.first_footer: parquet_footer.Struct | None = None
        self.groups: list[parquet_footer.Struct] = []
        self.position = 0  # bytes written to the sink

    def write(self, batch: pa.RecordBatch) -> None:
        # Gather batches into row groups of exactly the size asked for; the rest waits.
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        while self.pending_rows >= self.row_group_size:
            table = pa.Table.from_batches(self.pending, schema=self.schema)
            rest = table.slice(self.row_group_size)
            self._submit(table.slice(0, self.row_group_size))
            self.pending, self.pending_rows = rest.to_batches(), rest.num_rows

    def _submit(self, table: pa.Table) -> None:
        if self.properties is None:
            self.properties = {"compression": self.codec, "write_statistics": True,
                               "use_dictionary": dictionary_columns(table)}
        while self.in_flight and (len(self.in_flight) >= IN_FLIGHT or self.in_flight[0].done()):
            self._append(self.in_flight.popleft().result())
        self.in_flight.append(encoders().submit(encode_group, table, self.properties))

    def _append(self, part: pa.Buffer) -> None:
        chunks, footer = parquet_footer.split(memoryview(part))
        if self.first_footer is None:
            self.first_footer = footer
            self.sink.write(parquet_footer.MAGIC)
            self.position = len(parquet_footer.MAGIC)
        # the part's chunks start after its own magic; here they start at self.position
        self.groups += parquet_footer.moved(parquet_footer.row_groups(footer),
                                            self.position - len(parquet_footer.MAGIC))
        self.sink.write(chunks)
        self.position += len(chunks)

    def close(self) -> None:
        if self.pending_rows:
            self._submit(pa.Table.from_batches(self.pending, schema=self.schema))
            self.pending, self.pending_rows = [], 0
        while self.in_flight:
            self._append(self.in_flight.popleft().result())
        if self.first_footer is None:  # no rows: still a valid file with the schema
            pq.ParquetWriter(self.sink, self.schema, compression=self.codec).close()
            return
        self.sink.write(parquet_footer.merged(self.first_footer, self.groups))


SPEC = register(FormatSpec("parquet", "parquet", ParquetOptions, ParquetWriter, compressible=False,
                           media_type="application/vnd.apache.parquet"))
