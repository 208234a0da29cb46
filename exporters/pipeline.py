"""Run one export: Arrow batches -> format writer -> (compression) -> chunk files, atomically.

Chunks are written under temporary names and renamed together only after the last one is
complete, so a killed or failed export leaves no file under a final name; the manifest, written
by the caller after this returns, is the last thing to appear.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.dataset as ds
from pydantic import BaseModel, ValidationError

from exporters import base
from exporters.options import ParquetOptions
from exporters.sink import COMPRESSIONS, PARTIAL_MARK, AtomicFile, gzip_members, sha256_file
from sql.errors import InvalidParameterValue, ProgramLimitExceeded, QueryCanceled


@dataclass(frozen=True)
class FileResult:
    name: str  # relative to the export's directory
    rows: int
    bytes: int
    sha256: str


@dataclass
class ExportResult:
    format: str
    compression: str | None
    files: list[FileResult] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0
    schema: pa.Schema | None = None

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)


def make_options(fmt: str, options: BaseModel | dict[str, object] | None) -> BaseModel:
    spec = base.get(fmt)
    if isinstance(options, BaseModel):
        return options
    try:
        return spec.options.model_validate(options or {})
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "options"
        raise InvalidParameterValue(
            f"invalid {spec.name} option {key}: {first['msg'].removeprefix('Value error, ')}",
            hint="see `egress export --help` for the format's options",
        ) from None


def final_name(target: Path, fmt: str, compression: str | None) -> Path:
    spec = base.get(fmt)
    name = target.name
    if compression and not name.endswith(COMPRESSIONS[compression]):
        name += COMPRESSIONS[compression]
    if "." not in target.name:
        name = f"{target.name}.{spec.extension}" + (COMPRESSIONS[compression] if compression else "")
    return target.with_name(name)


def chunk_name(target: Path, index: int) -> Path:
    """companies.csv.gz -> companies-00001.csv.gz"""
    name = target.name
    stem, dot, rest = name.partition(".")
    return target.with_name(f"{stem}-{index:05d}{dot}{rest}")


BYTE_CHUNK_SLICE = 256  # rows per write when splitting by bytes: how far a chunk may overshoot


PREFETCH = 2  # batches DuckDB may run ahead of the writer


def prefetch(batches: Iterable[pa.RecordBatch], depth: int = PREFETCH) -> Iterator[pa.RecordBatch]:
    """Pull batches on a helper thread so the engine computes the next while we write this one.

    Bounded (``depth`` batches), and the helper stops as soon as the consumer goes away."""
    done = object()
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Put unless the consumer has gone; False when it has."""
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
            item: object = done
        except BaseException as err:  # handed to the consumer, raised there
            item = err
        offer(item)

    thread = threading.Thread(target=pump, name="egress-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)


def _encode_block(encode: Callable[[pa.RecordBatch], Any], compress: Callable[[Any], bytes] | None,
                  batch: pa.RecordBatch) -> Any:
    data = encode(batch)
    return compress(data) if compress is not None else data


def _slices(batches: Iterable[pa.RecordBatch], chunk_rows: int | None,
            chunk_bytes: int | None = None) -> Iterable[tuple[pa.RecordBatch, bool]]:
    """Batches cut at chunk_rows boundaries; the flag says 'a chunk ends after this slice'."""
    if not chunk_rows:
        for b in batches:
            if chunk_bytes:
                for start in range(0, b.num_rows, BYTE_CHUNK_SLICE):
                    yield b.slice(start, BYTE_CHUNK_SLICE), False
            else:
                yield b, False
        return
    room = chunk_rows
    for b in batches:
        while b.num_rows:
            part, b = b.slice(0, room), b.slice(room)
            room -= part.num_rows
            yield part, room == 0
            if room == 0:
                room = chunk_rows


def run_export(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    target: Path,
    fmt: str,
    options: BaseModel | dict[str, object] | None = None,
    *,
    compression: str | None = None,
    compression_level: int | None = None,
    chunk_rows: int | None = None,
    chunk_bytes: int | None = None,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    max_file_bytes: int | None = None,
) -> ExportResult:
    spec = base.get(fmt)
    opts = make_options(fmt, options)
    if compression in ("none", ""):
        compression = None
    if compression and compression not in COMPRESSIONS:
        raise InvalidParameterValue(f"unknown compression {compression!r}", hint="use gzip or zstd")
    if compression and not spec.compressible:
        raise InvalidParameterValue(f"{spec.name} files are compressed already; drop --compress")
    if chunk_rows is not None and chunk_rows < 1 or chunk_bytes is not None and chunk_bytes < 1:
        raise InvalidParameterValue("chunk sizes must be positive")
    if isinstance(opts, ParquetOptions) and opts.partition_by:
        return _partitioned(batches, schema, target, opts, progress, cancel)

    started = time.perf_counter()
    result = ExportResult(format=spec.name, compression=compression, schema=schema)
    final = final_name(target, fmt, compression)
    chunked = bool(chunk_rows or chunk_bytes)
    open_files: list[tuple[AtomicFile, int]] = []  # finished, not yet published
    current: AtomicFile | None = None
    writer = None
    rows_in_chunk = 0

    def start() -> None:
        nonlocal current, writer, rows_in_chunk
        path = chunk_name(final, len(open_files) + 1) if chunked else final
        current = AtomicFile(path, compression, compression_level, background=background)
        writer = spec.open(current.stream, schema, opts)
        rows_in_chunk = 0

    def end() -> None:
        nonlocal current, writer
        assert current is not None and writer is not None
        writer.close()
        open_files.append((current, rows_in_chunk))
        current.finish()
        current, writer = None, None

    def wrote(rows: int, boundary: bool) -> None:
        nonlocal rows_in_chunk
        assert current is not None
        rows_in_chunk += rows
        result.rows += rows
        if progress is not None:
            progress(result.rows)
        if max_file_bytes is not None and current.bytes_written > max_file_bytes:
            raise ProgramLimitExceeded(f"quota bytes_per_file exceeded: a file passed {max_file_bytes} bytes",
                                       hint="split the export with CHUNK_ROWS / --chunk-bytes, or filter it")
        if boundary or (chunk_bytes and current.bytes_written >= chunk_bytes):
            end()

    # gzip compresses block by block (each a gzip member) on the workers; zstd runs its own threads
    block_compress = ((lambda data: gzip_members(data, compression_level))
                      if compression == "gzip" else None)
    def write_next() -> None:
        """The oldest encoded block, into the current chunk (opening one if a chunk just ended)."""
        future, rows, edge = pending.popleft()
        if current is None:
            start()
        assert current is not None
        current.write_block(future.result())
        wrote(rows, edge)

    # writers that encode batch by batch (CSV, NDJSON) run in parallel and write in the background
    background = getattr(spec.open, "encode", None) is not None and base.ENCODE_THREADS > 1
    pool: ThreadPoolExecutor | None = None
    pending: deque[tuple[Future[Any], int, bool]] = deque()
    try:
        start()
        assert writer is not None
        encode = getattr(writer, "encode", None)
        if encode is not None and base.ENCODE_THREADS > 1:
            pool = ThreadPoolExecutor(base.ENCODE_THREADS, thread_name_prefix="egress-encode")
        # a writer that encodes on threads of its own (Parquet) needs no prefetch: DuckDB's
        # scan runs while the workers encode, and the batches a prefetch holds are memory
        depth = getattr(spec.open, "prefetch", PREFETCH)
        for batch, boundary in _slices(prefetch(batches, depth) if depth else batches, chunk_rows, chunk_bytes):
            if cancel is not None and cancel.is_set():
                raise QueryCanceled("canceling export due to user request")
            if pool is not None:
                # Encode (and gzip) on worker threads, write in order: at most a few batches in
                # flight, so memory stays bounded whatever the result's size.
                pending.append((pool.submit(_encode_block, encode, block_compress, batch), batch.num_rows, boundary))
                while pending and (len(pending) > base.ENCODE_THREADS + 1 or pending[0][0].done()):
                    write_next()
                continue
            if current is None:
                start()
            assert writer is not None and current is not None
            writer.write(batch)
            wrote(batch.num_rows, boundary)
        while pending:
            write_next()
        if current is not None and (rows_in_chunk or not open_files):
            end()
        elif current is not None:
            current.abort()
            current = None
        for f, rows in open_files:
            f.publish()
            result.files.append(FileResult(f.final.name, rows, f.hashing.bytes, f.hashing.sha256()))
    except BaseException:
        for future, _, _ in pending:
            future.cancel()
        if current is not None:
            current.abort()
        for f, _ in open_files:
            f.abort()
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    result.seconds = time.perf_counter() - started
    return result


def _partitioned(batches: Iterable[pa.RecordBatch], schema: pa.Schema, target: Path,
                 opts: ParquetOptions, progress: Callable[[int], None] | None,
                 cancel: threading.Event | None) -> ExportResult:
    """A hive-partitioned directory, built under a temporary name and renamed when complete."""
    missing = [c for c in opts.partition_by if c not in schema.names]
    if missing:
        raise InvalidParameterValue(f"partition_by names unknown columns: {', '.join(missing)}")
    started = time.perf_counter()
    final = target.with_suffix("") if target.suffix == ".parquet" else target
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f".{final.name}{PARTIAL_MARK}dir")
    shutil.rmtree(temp, ignore_errors=True)
    result = ExportResult(format="parquet", compression=None, schema=schema)

    def counted() -> Iterable[pa.RecordBatch]:
        for b in batches:
            if cancel is not None and cancel.is_set():
                raise QueryCanceled("canceling export due to user request")
            result.rows += b.num_rows
            if progress is not None:
                progress(result.rows)
            yield b

    codec = None if opts.codec == "none" else opts.codec
    try:
        ds.write_dataset(
            pa.RecordBatchReader.from_batches(schema, counted()), temp, format="parquet",
            partitioning=opts.partition_by, partitioning_flavor="hive",
            file_options=ds.ParquetFileFormat().make_write_options(compression=codec or "none"),
            max_rows_per_group=opts.row_group_size, existing_data_behavior="error",
            basename_template="part-{i}.parquet",
        )
        if final.exists():
            shutil.rmtree(final)
        temp.rename(final)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    for path in sorted(p for p in final.rglob("*.parquet")):
        rows = ds.dataset(path, format="parquet").count_rows()
        result.files.append(FileResult(str(Path(final.name) / path.relative_to(final)), rows,
                                       path.stat().st_size, sha256_file(path)))
    result.seconds = time.perf_counter() - started
    return result
