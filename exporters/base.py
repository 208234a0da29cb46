"""One small interface every format writer implements, and one registry of them.

    writer = spec.open(sink, schema, options)   # sink: a binary file-like (hashing, maybe compressed)
    writer.write(batch)                          # any number of Arrow record batches
    writer.close()                               # footers; the sink stays open

Writers see Arrow batches and their options, nothing else: no SQL, no principals, no paths
(except Parquet partitioning, which writes a directory and says so with ``directory=True``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Protocol

import pyarrow as pa
from pydantic import BaseModel

from sql.errors import InvalidParameterValue


ENCODE_THREADS = 2  # this machine's cores: pyarrow kernels, Parquet encoding and zlib run without the GIL


class Writer(Protocol):
    def write(self, batch: pa.RecordBatch) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class FormatSpec:
    name: str
    extension: str
    options: type[BaseModel]
    open: Callable[[BinaryIO, pa.Schema, BaseModel], Writer]
    compressible: bool  # gzip / zstd make sense (text formats)
    media_type: str


class UnknownFormat(InvalidParameterValue):
    pass


_REGISTRY: dict[str, FormatSpec] = {}
ALIASES = {"excel": "xlsx", "jsonl": "ndjson", "jsonlines": "ndjson", "pq": "parquet"}
# the built-in formats and the module that registers each, imported on first use: a CSV export
# need not import reportlab and openpyxl (135 ms, more where bytecode is not cached)
BUILT_IN = {"csv": "csv", "ndjson": "json", "json": "json", "parquet": "parquet", "pdf": "pdf", "xlsx": "xlsx"}


def register(spec: FormatSpec) -> FormatSpec:
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> FormatSpec:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in _REGISTRY and key in BUILT_IN:
        importlib.import_module(f"exporters.formats.{BUILT_IN[key]}")
    if key not in _REGISTRY:
        raise UnknownFormat(
            f"unknown export format {name!r}",
            hint="use one of: " + ", ".join(sorted(set(_REGISTRY) | set(BUILT_IN))),
        )
    return _REGISTRY[key]
