"""NDJSON (one object per line) and JSON (one array, optionally pretty).

Objects are assembled column-wise: each column becomes JSON literals, then
'{"k1":' v1 ',"k2":' v2 '}' is joined element-wise, so a batch is one buffer write.
"""

from __future__ import annotations

import json as _json
from typing import BinaryIO

import pyarrow as pa

from exporters.base import FormatSpec, register
from exporters.encode import join_rows, joined_bytes, json_values
from exporters.options import JsonOptions


class _ObjectRows:
    def __init__(self, schema: pa.Schema, options: JsonOptions, *, pretty: bool) -> None:
        self.o = options
        if pretty:
            keys = ["  " + _json.dumps(n, ensure_ascii=False) + ": " for n in schema.names]
            self.prefix = ["{\n" + keys[0]] + [",\n" + k for k in keys[1:]]
            self.suffix = "\n}"
        else:
            keys = [_json.dumps(n, ensure_ascii=False) + ":" for n in schema.names]
            self.prefix = ["{" + keys[0]] + ["," + k for k in keys[1:]]
            self.suffix = "}"

    def rows(self, batch: pa.RecordBatch, end: str) -> pa.Array:
        pieces: list[pa.Array | str] = []
        for prefix, column in zip(self.prefix, batch.columns):
            pieces.append(prefix)
            pieces.append(json_values(column, dates=self.o.dates, decimals=self.o.decimals))
        pieces.append(self.suffix + end)
        return join_rows(pieces)


class NdjsonWriter:
    def __init__(self, sink: BinaryIO, schema: pa.Schema, options: JsonOptions) -> None:
        self.sink = sink
        self.objects = _ObjectRows(schema, options, pretty=False)

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.sink.write(self.encode(batch))

    def encode(self, batch: pa.RecordBatch) -> memoryview:
        """A batch as NDJSON bytes; no state, so the pipeline runs it on worker threads."""
        return joined_bytes(self.objects.rows(batch, "\n"))

    def close(self) -> None:
        pass


class JsonArrayWriter:
    def __init__(self, sink: BinaryIO, schema: pa.Schema, options: JsonOptions) -> None:
        self.sink = sink
        self.pretty = options.pretty
        self.objects = _ObjectRows(schema, options, pretty=options.pretty)
        self.first = True
        sink.write(b"[")

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        self.sink.write(b"\n" if self.first else b",\n")
        self.first = False
        rows = self.objects.rows(batch, ",\n")
        data = joined_bytes(rows)
        self.sink.write(data[: len(data) - 2])  # the last row's ",\n" is written by the next batch

    def close(self) -> None:
        self.sink.write(b"]\n" if self.first else b"\n]\n")


NDJSON = register(FormatSpec("ndjson", "ndjson", JsonOptions, NdjsonWriter, compressible=True,
                             media_type="application/x-ndjson"))
JSON = register(FormatSpec("json", "json", JsonOptions, JsonArrayWriter, compressible=True,
                           media_type="application/json"))
