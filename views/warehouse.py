"""The warehouse: a DuckDB database, its curated views, their catalog, and a locked-down executor.

Opening a warehouse (re)creates the curated views from views/*.sql in a short read-write
session, then reopens the file read-only with external access, extension loading and
configuration changes disabled: defence in depth behind the policy engine, so even SQL that
slipped past it could not read a file, load an extension or change a setting.

Results stream through DuckDB's relation API (``con.sql(q).to_arrow_reader(n)``): in DuckDB 2.0
``execute().to_arrow_reader()`` materialises the whole result first.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import pyarrow as pa

from sql.errors import (
    CannotCoerce,
    DataException,
    DatetimeFieldOverflow,
    DivisionByZero,
    EgressError,
    FeatureNotSupported,
    InsufficientPrivilege,
    InternalError,
    InvalidDatetimeFormat,
    InvalidTextRepresentation,
    NumericValueOutOfRange,
    ObjectNotFound,
    ProgramLimitExceeded,
    QueryCanceled,
    SyntaxError_,
    UndefinedColumn,
    UndefinedFunction,
    UndefinedParameter,
    UndefinedTable,
)
from sql.model import Catalog, Column, View
from views import arrow_types, zones

CURATED_SCHEMA = "curated"
VIEW_NAMES = ("companies", "company_similarities", "company_metrics")


def view_sql(name: str) -> str:
    return resources.files("views").joinpath(f"{name}.sql").read_text(encoding="utf-8")


def catalog_spec() -> dict:
    return tomllib.loads(resources.files("views").joinpath("catalog.toml").read_text(encoding="utf-8"))


def _fingerprint(name: str) -> str:
    return "egress:" + hashlib.sha256(view_sql(name).encode()).hexdigest()[:16]


def views_current(con: duckdb.DuckDBPyConnection) -> bool:
    """True when every curated view exists and was made from the view file we ship now."""
    rows = dict(con.execute(
        "SELECT view_name, comment FROM duckdb_views() WHERE schema_name = ?", [CURATED_SCHEMA]
    ).fetchall())
    return all(rows.get(name) == _fingerprint(name) for name in VIEW_NAMES)


def apply_views(path: Path) -> None:
    """Create or replace the curated views (a short read-write session).

    Only called when the views are missing or stale, so several processes (a running gateway
    and a CLI export) can share the file, each opened read-only.
    """
    con = duckdb.connect(str(path))
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {CURATED_SCHEMA}")
        for name in VIEW_NAMES:
            body = view_sql(name)
            con.execute(f"CREATE OR REPLACE VIEW {CURATED_SCHEMA}.{name} AS {body}")
            con.execute(f"COMMENT ON VIEW {CURATED_SCHEMA}.{name} IS '{_fingerprint(name)}'")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def load_catalog(con: duckdb.DuckDBPyConnection) -> Catalog:
    """Join catalog.toml (meaning) with the views' own column types (truth)."""
    spec = catalog_spec()["views"]
    views = []
    for name in VIEW_NAMES:
        entry = spec[name]
        described = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [CURATED_SCHEMA, name],
        ).fetchall()
        docs = entry["columns"]
        columns = []
        for col_name, col_type in described:
            doc = docs.get(col_name)
            if doc is None:
                raise InternalError(f"views/catalog.toml: views.{name}.columns has no entry for {col_name}")
            if isinstance(doc, str):
                doc = {"description": doc}
            columns.append(Column(col_name, str(col_type), doc.get("description", ""),
                                  bool(doc.get("sensitive", False))))
        missing = set(docs) - {c.name for c in columns}
        if missing:
            raise InternalError(f"views/catalog.toml: views.{name} documents missing columns {sorted(missing)}")
        views.append(View(name=name, relation=f"{CURATED_SCHEMA}.{name}", columns=tuple(columns),
                          tenant_column=entry["tenant_column"], description=entry.get("description", ""),
                          date_column=entry.get("date_column")))
    return Catalog(tuple(views))


@dataclass(frozen=True)
class EngineSettings:
    threads: int | None = None
    memory_limit: str | None = None
    preserve_insertion_order: bool = True
    temp_directory: str | None = None
    stream_memory_limit: str | None = "64MB"  # the streaming instance's; None: no such instance
    wire_threads: int = 1  # the wire streaming instance's; 0: no such instance
    wire_memory_limit: str = "24MB"  # the wire streaming instance's


STREAM_CATALOG = "warehouse"
IDLE_CURSORS = 8  # finished streams' cursors kept per streaming instance for the next query
DESCRIBED_CACHE = 1024  # result schemas kept (by SQL and parameter types), oldest out first


def _engine_config(settings: EngineSettings) -> dict[str, str | bool | int]:
    """What both instances are opened with: no extension auto-loading, the same order and threads."""
    config: dict[str, str | bool | int] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "preserve_insertion_order": settings.preserve_insertion_order,
    }
    if settings.threads:
        config["threads"] = settings.threads
    return config


def _lock(db: duckdb.DuckDBPyConnection) -> None:
    """No more configuration changes on this instance, from anyone (cursors inherit it)."""
    if not db.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:
        db.execute("SET enable_progress_bar = false")
        db.execute("SET lock_configuration = true")


class Warehouse:
    """One read-only, locked-down DuckDB database shared by every front door (cursor per query).

    Two DuckDB instances read the file. DuckDB keeps every block a query scanned cached until
    its memory limit forces it out, so a server that streamed a whole table once holds the table
    in memory from then on; yet sorts, aggregates and joins need that memory. Queries the policy
    engine classifies as pure streams (``Compiled.streaming``: scans, filters, projections,
    LIMIT) run on a second instance that ATTACHes the same file read-only with a small memory
    limit (``warehouse.stream_memory_limit``), so streaming any number of rows keeps the
    server's memory flat; everything else runs on the main instance with the full limit.

    Pure streams for PostgreSQL wire clients run on a third instance like the streaming one but
    with ``warehouse.wire_threads`` DuckDB threads (default 1). Those clients parse rows at
    under a million a second, slower than one DuckDB thread makes them, so more threads only
    compete for the CPU with the encoder, the socket writes and, on a shared host, the client
    (measured: adbc-driver-postgresql waited 0.15-0.5 s for a CPU during a 2.5M-row pull with
    DuckDB's default threads, 0.01-0.11 s with one). Flight and exports, which take Arrow as
    fast as DuckDB makes it, keep every thread. Its memory limit is smaller still
    (``warehouse.wire_memory_limit``, 24MB): with 64MB, the cache a 2.5M-row pull leaves behind
    put the server's peak RSS at 1.25-1.28x of a 500k-row pull's in 3 of 7 runs (goal 1.25x);
    with 24MB, 1.06-1.18x in 8, and adbc-driver-postgresql was no slower (1.034x of PostgreSQL
    against 0.969x, same run). All instances are locked down the same way."""

    def __init__(self, path: Path, settings: EngineSettings = EngineSettings()) -> None:
        self.path = path
        config = _engine_config(settings)
        config.update(access_mode="READ_ONLY", enable_external_access=False)
        if settings.memory_limit:
            config["memory_limit"] = settings.memory_limit
        if settings.temp_directory:
            config["temp_directory"] = settings.temp_directory
        if not path.exists():
            raise InternalError(f"warehouse {path} does not exist")
        self._db = duckdb.connect(str(path), read_only=True, config=config)
        if not views_current(self._db):
            self._db.close()
            apply_views(path)
            self._db = duckdb.connect(str(path), read_only=True, config=config)
        zones.register(self._db)
        _lock(self._db)
        limit = settings.stream_memory_limit
        self._stream_db = self._open_streaming(path, settings, limit) if limit else None
        self._wire_db = (self._open_streaming(path, settings, settings.wire_memory_limit,
                                              threads=settings.wire_threads)
                         if limit and settings.wire_threads else None)
        self.catalog = load_catalog(self._db)
        self._lock = threading.Lock()
        self._idle: dict[int, list[duckdb.DuckDBPyConnection]] = {}  # streaming cursors, per instance
        self._described: dict[tuple[str, tuple[type, ...]], tuple[pa.Schema, list[str]]] = {}

    @staticmethod
    def _open_streaming(path: Path, settings: EngineSettings, memory_limit: str,
                        threads: int | None = None) -> duckdb.DuckDBPyConnection:
        """A streaming instance: in memory, the warehouse ATTACHed read-only, then the same
        lockdown as the main instance (external access off, configuration locked)."""
        config = _engine_config(settings)
        config["memory_limit"] = memory_limit
        if threads:
            config["threads"] = threads
        # a stream never spills; an in-memory instance would otherwise spill to ./.tmp
        config["temp_directory"] = settings.temp_directory or ""
        db = duckdb.connect(":memory:", config=config)
        try:
            quoted = str(path).replace("'", "''")
            db.execute(f"ATTACH '{quoted}' AS {STREAM_CATALOG} (READ_ONLY)")
            db.execute("SET enable_external_access = false")
            zones.register(db)
            _lock(db)
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for cursors in idle.values():
            for cursor in cursors:
                cursor.close()
        for db in (self._wire_db, self._stream_db):
            if db is not None:
                db.close()
        self._db.close()

    def cursor(self, *, streaming: bool = False, wire: bool = False) -> duckdb.DuckDBPyConnection:
        """A cursor of the main instance, or of a streaming one for queries that only stream (the
        wire one for PostgreSQL wire clients)."""
        db = self._streaming_db(streaming, wire)
        if db is None:
            return self._db.cursor()
        with self._lock:
            idle = self._idle.setdefault(id(db), [])
            if idle:
                return idle.pop()
            cursor = db.cursor()
        cursor.execute(f"USE {STREAM_CATALOG}")  # a new cursor starts in its own catalog
        return cursor

    def _streaming_db(self, streaming: bool, wire: bool) -> duckdb.DuckDBPyConnection | None:
        """The streaming instance a query of this shape runs on, or None for the main one."""
        if not streaming:
            return None
        return self._wire_db if wire and self._wire_db is not None else self._stream_db

    def _release(self, cursor: duckdb.DuckDBPyConnection, *, streaming: bool, wire: bool) -> None:
        """Keep a finished stream's cursor for the next query on its instance: a new one costs
        a statement (USE), 0.1-0.6 ms of a short query's round trip."""
        db = self._streaming_db(streaming, wire)
        with self._lock:
            idle = self._idle.get(id(db)) if db is not None else None
            if idle is not None and len(idle) < IDLE_CURSORS:
                idle.append(cursor)
                return
        cursor.close()

    def stream(self, sql: str, *, params: list[object] | None = None, batch_rows: int = 32_768,
               start: bool = True, streaming: bool = False, wire: bool = False) -> "Stream":
        """A stream of Arrow batches for ``sql`` (already policy-checked). With start=False the
        caller can register it for cancellation before DuckDB begins (start() runs the query).
        ``streaming``: the policy found no operator that holds rows (Compiled.streaming); ``wire``:
        for a PostgreSQL wire client, which reads UUID and JSON as their own types (typed)."""
        stream = Stream(self.cursor(streaming=streaming, wire=wire), sql=sql, params=params, batch_rows=batch_rows,
                        typed=wire, release=functools.partial(self._release, streaming=streaming, wire=wire))
        if start:
            stream.start()
        return stream

    def schema_of(self, sql: str, params: list[object] | None = None, *, typed: bool = False) -> pa.Schema:
        """The result schema without running the query (DuckDB binds, LIMIT 0 reads nothing);
        ``typed``: as a typed stream's (UUID and JSON as Arrow's extension types)."""
        schema, types = self.describe(sql, params)
        return arrow_types.typed_schema(schema, arrow_types.relabelled(types)) if typed else schema

    def describe(self, sql: str, params: list[object] | None = None) -> tuple[pa.Schema, list[str]]:
        """The Arrow result schema and DuckDB's type name of each column, without running the query."""
        # The answer depends on the SQL and its parameters' types only, and the warehouse is
        # read-only: a client that opens a connection per query (BI tools, the latency bench)
        # would otherwise pay DuckDB's bind of a LIMIT 0 (3 ms of a 12 ms round trip) each time.
        key = (sql, tuple(type(p) for p in params or ()))
        known = self._described.get(key)
        if known is not None:
            return known
        cursor = self.cursor()
        try:
            relation = cursor.sql(sql, params=params) if params else cursor.sql(sql)
            described = relation.limit(0).to_arrow_table().schema, [str(t) for t in relation.types]
        except duckdb.Error as err:
            raise translate(err) from None
        finally:
            cursor.close()
        with self._lock:
            if len(self._described) >= DESCRIBED_CACHE:
                self._described.pop(next(iter(self._described)))  # the oldest
            self._described[key] = described
        return described

    def estimate_rows(self, sql: str) -> int | None:
        """Rows the query will return, counted by DuckDB (cheap next to the export itself)."""
        cursor = self.cursor()
        try:
            row = cursor.execute(f"SELECT count(*) FROM ({sql}) AS egress_count").fetchone()
            return int(row[0]) if row else None
        except duckdb.Error:
            return None
        finally:
            cursor.close()


def arrow_stream(cursor: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None,
                 batch_rows: int) -> tuple[pa.RecordBatchReader, list[str]]:
    """DuckDB's streaming Arrow reader of one statement, and DuckDB's type name of each column.

    The relation API (``cursor.sql(q).to_arrow_reader(n)``, the only public way to stream)
    binds the statement once to build a relation, then renders it back to the same text and
    runs it through the connection's ``_submit``. DuckDB 2.0 has that entry on every
    connection; calling it directly saves the first bind: a point lookup took 1.6 ms instead
    of 2.7 ms, which is most of what the PostgreSQL gateway adds to a short query. Where the
    entry is missing (other DuckDB versions), the relation API runs. A test holds the two
    paths to the same answers."""
    submit = getattr(cursor, "_submit", None)
    if submit is not None:
        result = submit(sql, params or None, "stream", batch_rows)
        types = [str(d[1]) for d in result.description]  # before the reader takes the result
        return result.arrow_reader(), types
    relation = cursor.sql(sql, params=params) if params else cursor.sql(sql)
    return relation.to_arrow_reader(batch_rows), [str(t) for t in relation.types]


class Stream:
    """A running query: iterate its batches; cancel() interrupts DuckDB from any thread."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, *, sql: str, params: list[object] | None = None,
                 batch_rows: int = 32_768, typed: bool = False,
                 release: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> None:
        self._cursor: duckdb.DuckDBPyConnection | None = cursor
        self._release = release  # takes the cursor back once the query is over (else: closed)
        self._cursor_lock = threading.Lock()  # cancel() never interrupts a cursor handed on
        self.reader: pa.RecordBatchReader | None = None
        self.schema: pa.Schema = pa.schema([])  # known once start() has run
        self.row_cap: int | None = None
        self.rows = 0
        self._typed = typed  # UUID and JSON columns as Arrow's extension types (views/arrow_types.py)
        self._relabel: dict[int, pa.DataType] = {}
        self._sql, self._params, self._batch_rows = sql, params, batch_rows
        self._cancelled = False
        self._failed = False

    def start(self) -> None:
        if self.reader is not None:
            return
        if self._cancelled:
            self.close()
            raise QueryCanceled("canceling statement due to user request")
        try:
            assert self._cursor is not None
            self.reader, types = arrow_stream(self._cursor, self._sql, self._params, self._batch_rows)
        except duckdb.Error as err:
            self.close()
            raise translate(err) from None
        self._relabel = arrow_types.relabelled(types) if self._typed else {}
        self.schema = arrow_types.typed_schema(self.reader.schema, self._relabel)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self.reader is None and not self._cancelled and self._sql:
            self.start()
        if self.reader is None:
            return
        try:
            for batch in self.reader:
                self.rows += batch.num_rows
                if self.row_cap is not None and self.rows > self.row_cap:
                    raise ProgramLimitExceeded(
                        f"query returns more than {self.row_cap} rows",
                        hint="add a LIMIT or a filter; the row cap is set per role",
                    )
                if batch.num_rows:
                    yield arrow_types.typed_batch(batch, self._relabel)
        except duckdb.Error as err:
            self._failed = True
            raise translate(err) from None
        except pa.ArrowException as err:
            self._failed = True
            raise translate_arrow(err) from None
        except OSError as err:  # DuckDB's own error, raised while the reader runs the query
            self._failed = True
            raise translate_streamed(err) from None
        finally:
            self.close()

    def cancel(self) -> None:
        with self._cursor_lock:
            self._cancelled = True
            if self._cursor is None:
                return
            try:
                self._cursor.interrupt()
            except duckdb.Error:
                pass

    def close(self) -> None:
        """Free the query: the reader first (it holds DuckDB's result), then the cursor."""
        self._sql = ""  # a closed stream never starts again
        reader, self.reader = self.reader, None  # type: ignore[assignment]
        if reader is not None:
            try:
                reader.close()
            except (pa.ArrowException, duckdb.Error):
                pass
        with self._cursor_lock:
            cursor, self._cursor = self._cursor, None
            reuse = self._release is not None and not (self._cancelled or self._failed)
        if cursor is None:
            return
        if reuse and reader is not None:  # a query ran to its end or was closed: the cursor is clean
            self._release(cursor)  # type: ignore[misc]
            return
        try:
            cursor.close()
        except duckdb.Error:
            pass


def _first_line(err: Exception) -> str:
    """DuckDB's message without its type prefix or the 'LINE 1: <rewritten SQL>' excerpt."""
    text = str(err).split("\n", 1)[0].strip()
    _, sep, rest = text.partition(": ")
    if sep and " Error" in _:
        text = rest
    return text or "query failed"


# DuckDB's type names as PostgreSQL's messages name the types
_PG_TYPE = {"INT16": "smallint", "SMALLINT": "smallint", "INT32": "integer", "INTEGER": "integer", "INT64": "bigint",
            "BIGINT": "bigint", "BOOL": "boolean", "BOOLEAN": "boolean", "DOUBLE": "double precision",
            "FLOAT": "real", "DATE": "date", "TIMESTAMP": "timestamp without time zone", "BLOB": "bytea",
            "VARCHAR": "text", "TIME": "time without time zone", "INTERVAL": "interval", "UUID": "uuid"}


def _pg_type(name: str) -> str:
    return "numeric" if name.upper().startswith("DECIMAL") else _PG_TYPE.get(name.upper(), name.lower())


def _data_error(message: str) -> EgressError:
    """A value that failed at run time, with the SQLSTATE PostgreSQL gives the same failure
    (22P02, 22003, 22012, 22007, 22008, 42846, 42P02; 22000 for the rest), and its words where
    DuckDB's would mean nothing to a PostgreSQL user."""
    lowered = message.lower()
    text = re.match(r"could not convert string '(.*)' to (\w+)", message, re.IGNORECASE)
    if text:
        return InvalidTextRepresentation(f'invalid input syntax for type {_pg_type(text.group(2))}: "{text.group(1)}"')
    if "division by zero" in lowered:
        return DivisionByZero("division by zero")
    cast = re.match(r"unimplemented type for cast \((\w+) -> (\w+)\)", message, re.IGNORECASE)
    if cast:
        return CannotCoerce(f"cannot cast type {_pg_type(cast.group(1))} to {_pg_type(cast.group(2))}")
    if lowered.startswith("values were not provided for the following parameters"):
        return UndefinedParameter(f"there is no parameter ${message.rsplit(':', 1)[1].strip().split(',')[0]}")
    if "field value out of range" in lowered:
        return DatetimeFieldOverflow(message.replace("date field", "date/time field"))
    when = re.match(r'invalid (\w+) field format: "(.*?)"', message)
    if when:
        return InvalidDatetimeFormat(f'invalid input syntax for type {_pg_type(when.group(1))}: "{when.group(2)}"')
    if "extract specifier" in lowered or "could not convert string" in lowered:
        return InvalidDatetimeFormat(message)
    if re.match(r"could not cast value .* to DECIMAL", message, re.IGNORECASE):
        return NumericValueOutOfRange("numeric field overflow")
    if "out of range" in lowered or "overflow" in lowered:
        target = re.search(r"destination type (\w+)", message) or re.search(r"overflow in \w+ of (\w+)", message)
        return NumericValueOutOfRange(f"{_pg_type(target.group(1))} out of range" if target else message)
    if "can't be cast to the destination type" in lowered:
        return InvalidTextRepresentation(message)
    return DataException(message)


def translate(err: duckdb.Error) -> EgressError:
    """Map a DuckDB error to egress's hierarchy at this one boundary; internals stay out."""
    message = _first_line(err)
    lowered = message[:1].lower() + message[1:] if message[1:2].islower() else message
    if isinstance(err, duckdb.InterruptException):
        return QueryCanceled("canceling statement due to user request")
    if isinstance(err, duckdb.ParserException):
        return SyntaxError_(lowered)
    if isinstance(err, duckdb.BinderException):
        if "function" in lowered.lower():
            return UndefinedFunction(lowered)
        missing = re.match(r'referenced column "(.*)" not found in FROM clause', lowered, re.IGNORECASE)
        return UndefinedColumn(f'column "{missing.group(1)}" does not exist' if missing else lowered)
    if isinstance(err, duckdb.CatalogException):
        if "function" in lowered.lower():
            return UndefinedFunction(lowered)
        if lowered.lower().startswith("type with name"):  # x::regclass on a view: PostgreSQL's 42704
            return ObjectNotFound(f'type "{lowered.split("name ", 1)[1].split(" ", 1)[0].lower()}" does not exist')
        return UndefinedTable(lowered)
    if isinstance(err, duckdb.PermissionException):
        return InsufficientPrivilege("permission denied")
    if isinstance(err, (duckdb.ConversionException, duckdb.InvalidInputException,
                        duckdb.OutOfRangeException)):
        return _data_error(lowered)
    if isinstance(err, duckdb.NotImplementedException):
        return FeatureNotSupported(lowered)
    if isinstance(err, duckdb.OutOfMemoryException):
        return ProgramLimitExceeded("out of memory", hint="narrow the query or raise warehouse.memory_limit")
    return InternalError("query failed inside the warehouse")


_STREAMED = {  # DuckDB's error type, as its message names it, and the exception DuckDB raises for it
    "interrupt": duckdb.InterruptException, "conversion": duckdb.ConversionException,
    "invalid input": duckdb.InvalidInputException, "out of range": duckdb.OutOfRangeException,
    "out of memory": duckdb.OutOfMemoryException, "not implemented": duckdb.NotImplementedException,
    "permission": duckdb.PermissionException, "binder": duckdb.BinderException,
    "catalog": duckdb.CatalogException, "parser": duckdb.ParserException,
}


def translate_streamed(err: OSError) -> EgressError:
    """An error DuckDB raised after the first batch: it comes through pyarrow's reader as an
    OSError whose text starts with DuckDB's type ("Conversion Error: ...", "INTERRUPT Error:
    Interrupted!"), and maps as that DuckDB exception would (a cancel mid-stream is 57014)."""
    kind, sep, _ = str(err).partition(" Error: ")
    cls = _STREAMED.get(kind.strip().lower(), duckdb.Error) if sep else duckdb.Error
    return translate(cls(str(err)))


def translate_arrow(err: pa.ArrowException) -> EgressError:
    return DataException(f"could not convert a value: {str(err).splitlines()[0][:200]}")
