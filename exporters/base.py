"""One small interface every format writer implements, and one registry of them.

    writer = spec.open(sink, schema, options)   # sink: a binary file-like (hashing, maybe compressed)
    writer.write(batch)                          # any number of Arrow record batches
    writer.close()                               # footers; the sink stays open

Writers see Arrow batches and their options, nothing else: no SQL, no principals, no paths
(except Parquet partitioning, which writes a directory and says so with ``directory=True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Callable, Protocol

import pyarrow as pa
from pydantic import BaseModel

from sql.errors import InvalidParameterValue


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


def register(spec: FormatSpec) -> FormatSpec:
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> FormatSpec:
    from exporters import formats  # noqa: F401  (registers the built-ins)

    key = ALIASES.get(name.lower(), name.lower())
    if key not in _REGISTRY:
        raise UnknownFormat(
            f"unknown export format {name!r}",
            hint="use one of: " + ", ".join(sorted(_REGISTRY)),
        )
    return _REGISTRY[key]
