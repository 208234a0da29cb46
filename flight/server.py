"""The Arrow Flight SQL front door: pyarrow.flight.FlightServerBase on the shared App.

Every query goes through ``App.compile`` (the policy engine) exactly as on the PostgreSQL wire;
metadata lists only what the principal may query. Flight SQL commands arrive as packed
``google.protobuf.Any`` messages in descriptors, tickets and action bodies.

Flow of the ADBC driver, which always prepares::

    Handshake (Basic -> Bearer), GetSqlInfo
    DoAction CreatePreparedStatement -> [DoPut parameters] -> GetFlightInfo -> DoGet
    DoAction ClosePreparedStatement, DoAction CloseSession

Every RPC is wrapped: an EgressError becomes a Flight status carrying its SQLSTATE, anything
else a generic internal error with a reference id (logged here, never sent as a traceback).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

import pyarrow as pa
import pyarrow.flight as fl
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from exporters.pipeline import prefetch
from flight import metadata
from flight.protocol import EgressFlightAdditions_pb2 as extra
from flight.protocol import FlightSql_pb2 as pb
from sql.errors import (EgressError, FeatureNotSupported, InsufficientPrivilege, InvalidAuthorization,
                        InvalidParameterValue, InvalidPassword, ProgramLimitExceeded, QueryCanceled, ReadOnly)
from sql.model import Principal
from service import system
from sql.parse import Kind, number_placeholders, parse_one, split

log = logging.getLogger("egress.flight")

_TYPE_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."
_COMMANDS: dict[str, type[Message]] = {
    name: getattr(pb, name) for name in (
        "CommandStatementQuery", "CommandPreparedStatementQuery", "TicketStatementQuery", "CommandGetSqlInfo",
        "CommandGetCatalogs", "CommandGetDbSchemas", "CommandGetTables", "CommandGetTableTypes",
        "CommandGetPrimaryKeys", "CommandGetExportedKeys", "CommandGetImportedKeys", "CommandGetCrossReference",
        "CommandGetXdbcTypeInfo", "CommandStatementUpdate", "CommandPreparedStatementUpdate",
        "CommandStatementSubstraitPlan",
    )
}
_WRITES = ("CommandStatementUpdate", "CommandPreparedStatementUpdate", "CommandStatementIngest",
           "CommandStatementSubstraitPlan")

F = TypeVar("F", bound=Callable[..., Any])


# -- errors --------------------------------------------------------------------------------------
def flight_error(err: EgressError) -> Exception:
    """An EgressError as the Flight status a client shows: code by kind, SQLSTATE in the text and
    as JSON in the status details (extra_info)."""
    text = f"[SQLSTATE {err.sqlstate}] {err.message}"
    if err.position is not None:
        text += f" (at character {err.position})"
    if err.hint:
        text += f"; hint: {err.hint}"
    info = json.dumps({k: v for k, v in err.to_dict().items() if v is not None}).encode()
    if isinstance(err, (InvalidPassword, InvalidAuthorization)):
        return fl.FlightUnauthenticatedError(text, info)
    if isinstance(err, InsufficientPrivilege):
        return fl.FlightUnauthorizedError(text, info)
    if isinstance(err, QueryCanceled):
        return fl.FlightCancelledError(text, info)
    if err.sqlstate[:2] == "XX":
        return fl.FlightInternalError(text, info)
    # pyarrow has no traceback-free INVALID_ARGUMENT (ArrowInvalid carries the Python traceback
    # to the client), so a refused query is a plain server error whose text leads with the SQLSTATE
    return fl.FlightServerError(text, info)


@contextlib.contextmanager
def _boundary(where: str) -> Iterator[None]:
    """EgressError -> Flight status; Flight errors pass; anything else is logged here and answered
    with a reference id only (no traceback leaves the server)."""
    try:
        yield
    except EgressError as err:
        raise flight_error(err) from None
    except fl.FlightError:
        raise
    except Exception:  # noqa: BLE001 - the boundary: log it whole, tell the client little
        ref = uuid.uuid4().hex[:12]
        log.exception("flight %s failed (ref %s)", where, ref)
        raise fl.FlightServerError(f"internal error (ref {ref}); the server log has the details") from None


def guarded(method: F) -> F:
    """Every RPC runs inside the boundary."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _boundary(method.__name__):
            return method(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def guarded_stream(gen: Iterator[Any]) -> Iterator[Any]:
    """The same boundary for generators pyarrow pulls after the RPC method returned."""
    with _boundary("stream"):
        yield from gen


def unpack(data: bytes) -> tuple[str, Message]:
    """A packed Any -> (message name, message); unknown or garbled commands are refused."""
    wrapped = any_pb2.Any()
    try:
        wrapped.ParseFromString(data)
    except DecodeError:
        raise InvalidParameterValue("the command is not a Flight SQL message (google.protobuf.Any)") from None
    name = wrapped.type_url.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
    if name in _WRITES:
        raise ReadOnly(f"{name} is not supported: egress is read-only",
                       hint="egress serves curated views; only queries are accepted")
    cls = _COMMANDS.get(name)
    if cls is None or not wrapped.type_url.endswith("arrow.flight.protocol.sql." + name):
        raise FeatureNotSupported(f"unsupported Flight SQL command {wrapped.type_url or '(empty)'}")
    message = cls()
    if not wrapped.Unpack(message):
        raise InvalidParameterValue(f"malformed {name}")
    return name, message


def pack(message: Message) -> bytes:
    wrapped = any_pb2.Any()
    wrapped.Pack(message, type_url_prefix="type.googleapis.com/")
    return wrapped.SerializeToString()


# -- authentication ------------------------------------------------------------------------------
class _NoHandshakeChecks(fl.ServerAuthHandler):
    """Handshake is answered by the middleware (headers in, bearer header out); this handler only
    lets the call through, because pyarrow refuses Handshake when no handler is installed."""

    def authenticate(self, outgoing: Any, incoming: Any) -> None:
        return None

    def is_valid(self, token: bytes) -> str:
        return ""


@dataclass
class _Token:
    user: str
    expires: float


class Authenticator:
    """Basic credentials -> bearer tokens that expire; the same users and passwords as pgwire."""

    def __init__(self, app: Any, ttl_s: int) -> None:
        self.app = app
        self.ttl = ttl_s
        self._tokens: dict[str, _Token] = {}
        self._basic: dict[str, _Token] = {}  # sha256(header) -> user, so a per-call Basic header is cheap
        self._lock = threading.Lock()

    def _check_basic(self, value: str) -> str:
        raw = value.split(" ", 1)[1].strip() if " " in value else ""
        key = hashlib.sha256(raw.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._basic.get(key)
        if hit is not None and hit.expires > now:
            return hit.user
        try:
            # Go clients (the ADBC driver) send base64 without padding
            user, _, password = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise fl.FlightUnauthenticatedError("malformed Basic credentials") from None
        if not user or self.app.authenticate(user, password) is None:
            log.info("flight: password authentication failed for user %r", user)
            raise fl.FlightUnauthenticatedError(f'password authentication failed for user "{user}"')
        with self._lock:
            if len(self._basic) > 10_000:
                self._basic.clear()
            self._basic[key] = _Token(user, now + min(self.ttl, 300))
        return user

    def issue(self, user: str) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            for t in [t for t, v in self._tokens.items() if v.expires <= now]:
                del self._tokens[t]
            self._tokens[token] = _Token(user, now + self.ttl)
        return token

    def user_for(self, authorization: str | None) -> str:
        if not authorization:
            raise fl.FlightUnauthenticatedError("authentication required: Basic credentials or a Bearer token")
        scheme = authorization.split(" ", 1)[0].lower()
        if scheme == "basic":
            return self._check_basic(authorization)
        if scheme == "bearer":
            token = authorization.split(" ", 1)[1].strip() if " " in authorization else ""
            with self._lock:
                found = self._tokens.get(token)
            if found is None or found.expires <= time.monotonic():
                raise fl.FlightUnauthenticatedError("the bearer token is unknown or expired; authenticate again")
            return found.user
        raise fl.FlightUnauthenticatedError(f"unsupported authorization scheme {scheme!r}")


class _AuthMiddleware(fl.ServerMiddleware):
    def __init__(self, user: str, bearer: str | None) -> None:
        self.user = user
        self.bearer = bearer

    def sending_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.bearer}"} if self.bearer else {}


class _AuthFactory(fl.ServerMiddlewareFactory):
    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth

    def start_call(self, info: fl.CallInfo, headers: dict[str, list[str]]) -> _AuthMiddleware:
        values = headers.get("authorization") or headers.get("Authorization") or []
        header = values[0] if values else None
        if isinstance(header, bytes):
            header = header.decode("latin-1")
        user = self.auth.user_for(header)
        bearer = self.auth.issue(user) if info.method == fl.FlightMethod.HANDSHAKE else None
        return _AuthMiddleware(user, bearer)


# -- statement handles ---------------------------------------------------------------------------
@dataclass
class Prepared:
    user: str
    text: str  # with ? renumbered as $n
    params: int
    schema: pa.Schema
    bound: list[list[object]] = field(default_factory=list)  # rows of parameter values
    used: float = field(default_factory=time.monotonic)
    schemas: dict[tuple[type, ...], pa.Schema] = field(default_factory=dict)  # by parameter types


@dataclass
class Statement:
    user: str
    text: str
    rows: list[list[object] | None]  # one execution per parameter row (None: no parameters)
    schema: pa.Schema
    used: float = field(default_factory=time.monotonic)
    table: pa.Table | None = None  # an egress.* answer (jobs, quota, ...), made when the query was planned
    source: "SharedSource | None" = None  # the running query, shared by this statement's endpoints
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handles:
    """Handles by random id, owned by one user, dropped after ttl of disuse."""

    def __init__(self, ttl_s: int) -> None:
        self.ttl = ttl_s
        self._items: dict[bytes, Any] = {}
        self._lock = threading.Lock()

    def put(self, item: Any) -> bytes:
        handle = secrets.token_bytes(16)
        now = time.monotonic()
        with self._lock:
            for h in [h for h, v in self._items.items() if now - v.used > self.ttl]:
                del self._items[h]
            self._items[handle] = item
        return handle

    def get(self, handle: bytes, user: str, kind: str) -> Any:
        with self._lock:
            item = self._items.get(handle)
        if item is None or item.user != user or time.monotonic() - item.used > self.ttl:
            raise InvalidParameterValue(f"unknown or expired {kind} handle",
                                        hint="prepare or execute the statement again")
        item.used = time.monotonic()
        return item

    def drop(self, handle: bytes, user: str) -> None:
        with self._lock:
            item = self._items.get(handle)
            if item is not None and item.user == user:
                del self._items[handle]


# -- the server ----------------------------------------------------------------------------------
class FlightSqlServer(fl.FlightServerBase):
    def __init__(self, app: Any, host: str, port: int, *, tls: tuple[bytes, bytes] | None = None,
                 metrics: Any = None) -> None:
        conf = app.config.flight
        self.app = app
        if metrics is None:
            from gateway.metrics import Metrics
            metrics = Metrics()
        self.metrics = metrics
        self.auth = Authenticator(app, conf.token_ttl_s)
        self.handles = Handles(conf.handle_ttl_s)
        self.max_batch_bytes = conf.max_batch_bytes
        self.endpoints = conf.endpoints
        self._principals: dict[str, tuple[float, Principal]] = {}
        scheme = "grpc+tls" if tls else "grpc+tcp"
        super().__init__(f"{scheme}://{host}:{port}", auth_handler=_NoHandshakeChecks(),
                         tls_certificates=[fl.CertKeyPair(*tls)] if tls else None,
                         middleware={"auth": _AuthFactory(self.auth)})
        self.scheme = "grpc+tls" if tls else "grpc"
        self.host = host
        from service.app import __version__

        keywords = sorted(_sql_keywords())
        self._sql_info = metadata.sql_info_values(__version__, keywords, _function_lists(),
                                                  conf.handle_ttl_s * 1000)

    # -- helpers ----------------------------------------------------------------------------
    def _principal(self, context: fl.ServerCallContext) -> Principal:
        """The caller's principal, looked up at most once a second per user (a prepared statement
        runs three RPCs per execution); rule changes reach Flight within that second."""
        middleware = context.get_middleware("auth")
        if middleware is None:
            raise fl.FlightUnauthenticatedError("authentication required")
        now = time.monotonic()
        cached = self._principals.get(middleware.user)
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        principal = self.app.principal(middleware.user)
        self._principals[middleware.user] = (now, principal)
        return principal

    def _describe(self, principal: Principal, text: str, params: list[object] | None) -> pa.Schema:
        tree = _system_tree(text)
        if tree is not None:
            return system.describe(self.app, principal, tree)
        compiled = self.app.compile(principal, text)
        return self.app.warehouse.schema_of(compiled.sql, params=params)

    def _info(self, descriptor: fl.FlightDescriptor, schema: pa.Schema, ticket: bytes) -> fl.FlightInfo:
        return fl.FlightInfo(schema, descriptor, [fl.FlightEndpoint(ticket, [])], -1, -1)

    def _metadata(self, principal: Principal, name: str, cmd: Message) -> pa.Table:
        if name == "CommandGetCatalogs":
            return metadata.catalogs()
        if name == "CommandGetDbSchemas":
            return metadata.db_schemas(cmd.catalog if cmd.HasField("catalog") else None,
                                       cmd.db_schema_filter_pattern if cmd.HasField("db_schema_filter_pattern") else None)
        if name == "CommandGetTables":
            views = [v.name for v in principal.visible_views(self.app.catalog)]
            entries = []
            if cmd.include_schema:
                for view in metadata.wanted_tables(cmd, views):
                    compiled = self.app.compile(principal, f'SELECT * FROM "{view}"')
                    schema, types = self.app.warehouse.describe(compiled.sql)
                    entries.append(metadata.TableEntry(view, metadata.with_metadata(view, schema, types)))
            else:
                entries = [metadata.TableEntry(v, pa.schema([])) for v in views]
            return metadata.tables(entries, cmd)
        if name == "CommandGetTableTypes":
            return metadata.table_types()
        if name == "CommandGetPrimaryKeys":
            return metadata.empty(metadata.PRIMARY_KEYS)
        if name in ("CommandGetExportedKeys", "CommandGetImportedKeys", "CommandGetCrossReference"):
            return metadata.empty(metadata.CROSS_REFERENCE)
        if name == "CommandGetXdbcTypeInfo":
            return metadata.xdbc_type_info(cmd.data_type if cmd.HasField("data_type") else None)
        if name == "CommandGetSqlInfo":
            return metadata.sql_info(self._sql_info, list(cmd.info))
        raise FeatureNotSupported(f"{name} is not supported")

    _METADATA_SCHEMAS = {
        "CommandGetCatalogs": metadata.CATALOGS, "CommandGetDbSchemas": metadata.DB_SCHEMAS,
        "CommandGetTableTypes": metadata.TABLE_TYPES, "CommandGetPrimaryKeys": metadata.PRIMARY_KEYS,
        "CommandGetExportedKeys": metadata.EXPORTED_KEYS, "CommandGetImportedKeys": metadata.IMPORTED_KEYS,
        "CommandGetCrossReference": metadata.CROSS_REFERENCE, "CommandGetXdbcTypeInfo": metadata.XDBC_TYPE_INFO,
        "CommandGetSqlInfo": metadata.SQL_INFO,
    }

    def _metadata_schema(self, name: str, cmd: Message) -> pa.Schema:
        if name == "CommandGetTables":
            return metadata.TABLES_WITH_SCHEMA if cmd.include_schema else metadata.TABLES
        return self._METADATA_SCHEMAS[name]

    def _statement_info(self, principal: Principal, user: str, text: str, rows: list[list[object] | None],
                        descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        tree = _system_tree(text)
        if tree is not None:  # egress.jobs, egress.quota, ...: small, answered from the state store
            table = system.run(self.app, principal, tree, rows[0] if rows and rows[0] is not None else None)
            handle = self.handles.put(Statement(user, text, rows, table.schema, table=table))
            return self._info(descriptor, table.schema, pack(pb.TicketStatementQuery(statement_handle=handle)))
        schema = self._describe(principal, text, rows[0] if rows and rows[0] is not None else None)
        return self._endpoints(descriptor, Statement(user, text, rows, schema))

    def _endpoints(self, descriptor: fl.FlightDescriptor, statement: Statement) -> fl.FlightInfo:
        """One ticket per endpoint (flight.endpoints); all of them draw batches from one running
        query, so clients that fetch endpoints in parallel decode in parallel, and a client that
        reads them one after the other gets every row from the first."""
        tickets = [pack(pb.TicketStatementQuery(statement_handle=self.handles.put(statement)))
                   for _ in range(self.endpoints)]
        return fl.FlightInfo(statement.schema, descriptor, [fl.FlightEndpoint(t, []) for t in tickets], -1, -1)

    # -- RPCs -------------------------------------------------------------------------------
    @guarded
    def get_flight_info(self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        principal = self._principal(context)
        name, cmd = unpack(descriptor.command or b"")
        user = principal.user
        if name == "CommandStatementQuery":
            text, count = number_placeholders(cmd.query)
            if count:
                raise InvalidParameterValue("a statement with ? parameters must be prepared",
                                            hint="use CreatePreparedStatement and bind the values")
            return self._statement_info(principal, user, text, [None], descriptor)
        if name == "CommandPreparedStatementQuery":
            prepared: Prepared = self.handles.get(cmd.prepared_statement_handle, user, "prepared statement")
            if prepared.params and not prepared.bound:
                raise InvalidParameterValue(f"the prepared statement has {prepared.params} parameters and "
                                            "none are bound")
            rows: list[list[object] | None] = list(prepared.bound) if prepared.params else [None]
            if _system_tree(prepared.text) is not None:
                return self._statement_info(principal, user, prepared.text, rows, descriptor)
            # re-execution with new values of the same types reuses the schema DuckDB planned
            kinds = tuple(type(v) for v in rows[0]) if rows[0] is not None else ()
            schema = prepared.schemas.get(kinds)
            if schema is None:
                schema = self._describe(principal, prepared.text, rows[0])
                if len(prepared.schemas) < 64:
                    prepared.schemas[kinds] = schema
            return self._endpoints(descriptor, Statement(user, prepared.text, rows, schema))
        if name == "TicketStatementQuery":
            raise InvalidParameterValue("TicketStatementQuery belongs in a ticket, not a descriptor")
        schema = self._metadata_schema(name, cmd)
        return self._info(descriptor, schema, descriptor.command)

    @guarded
    def get_schema(self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor) -> fl.SchemaResult:
        principal = self._principal(context)
        name, cmd = unpack(descriptor.command or b"")
        if name == "CommandStatementQuery":
            text, count = number_placeholders(cmd.query)
            return fl.SchemaResult(self._describe(principal, text, [None] * count or None))
        if name == "CommandPreparedStatementQuery":
            prepared = self.handles.get(cmd.prepared_statement_handle, principal.user, "prepared statement")
            return fl.SchemaResult(prepared.schema)
        return fl.SchemaResult(self._metadata_schema(name, cmd))

    @guarded
    def do_get(self, context: fl.ServerCallContext, ticket: fl.Ticket) -> fl.FlightDataStream:
        principal = self._principal(context)
        name, cmd = unpack(ticket.ticket)
        if name != "TicketStatementQuery":
            table = self._metadata(principal, name, cmd)
            return fl.RecordBatchStream(table)
        statement: Statement = self.handles.get(cmd.statement_handle, principal.user, "statement")
        self.handles.drop(cmd.statement_handle, principal.user)  # a ticket is read once
        if statement.table is not None:
            return fl.RecordBatchStream(statement.table)
        with statement.lock:
            if statement.source is None:
                statement.source = SharedSource(self._batches(principal, statement))
            source = statement.source
        source.join()
        return fl.GeneratorStream(statement.schema, guarded_stream(_drain(context, source)))

    def _batches(self, principal: Principal, statement: Statement) -> Iterator[pa.RecordBatch]:
        compiled = self.app.compile(principal, statement.text)  # the owner's current rules, now
        limit = self.max_batch_bytes
        rows = self.metrics.flight_rows
        self.metrics.flight_streams.inc()
        started, sent, outcome, state = time.perf_counter(), 0, "error", None
        try:
            for params in statement.rows:
                stream = self.app.run(compiled, params=params)
                try:
                    # DuckDB computes the next batches on a helper thread while gRPC sends this one
                    for batch in prefetch(stream, depth=4):
                        if batch.schema != statement.schema:
                            batch = batch.cast(statement.schema)
                        rows.inc(batch.num_rows)
                        sent += batch.num_rows
                        size = batch.nbytes
                        if size <= limit:
                            yield batch
                            continue
                        step = max(1, batch.num_rows * limit // size)
                        for start in range(0, batch.num_rows, step):
                            yield batch.slice(start, step)
                finally:  # normal end, error, or the client went away (the generator is closed)
                    stream.cancel()
                    stream.close()
            outcome = "ok"
        except EgressError as err:
            state = err.sqlstate
            raise
        except GeneratorExit:
            outcome, state = "cancelled", "57014"
            raise
        finally:
            self.metrics.flight_streams.dec()
            self.app.audit.record(principal=principal, kind="flight", outcome=outcome, application="flight",
                                  sql_given=statement.text, sql_run=compiled.sql, rows=sent,
                                  duration_ms=(time.perf_counter() - started) * 1000, sqlstate=state)

    @guarded
    def do_put(self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor,
               reader: fl.MetadataRecordBatchReader, writer: fl.FlightMetadataWriter) -> None:
        principal = self._principal(context)
        name, cmd = unpack(descriptor.command or b"")
        if name != "CommandPreparedStatementQuery":
            raise ReadOnly(f"DoPut of {name} is not supported: egress is read-only")
        prepared: Prepared = self.handles.get(cmd.prepared_statement_handle, principal.user, "prepared statement")
        rows: list[list[object]] = []
        for chunk in reader:
            batch = chunk.data
            if batch is None:
                continue
            if batch.num_columns != prepared.params:
                raise InvalidParameterValue(f"the statement has {prepared.params} parameters; "
                                            f"{batch.num_columns} were bound")
            columns = [col.to_pylist() for col in batch.columns]
            rows.extend([list(r) for r in zip(*columns)] if columns else [[] for _ in range(batch.num_rows)])
            if len(rows) > 10_000:
                raise ProgramLimitExceeded("more than 10000 parameter rows in one execution")
        prepared.bound = rows
        result = extra.DoPutPreparedStatementResult(prepared_statement_handle=cmd.prepared_statement_handle)
        writer.write(pa.py_buffer(result.SerializeToString()))

    def list_actions(self, context: fl.ServerCallContext) -> list[tuple[str, str]]:
        return [
            ("CreatePreparedStatement", "Prepare a query; answers its handle and schemas."),
            ("ClosePreparedStatement", "Release a prepared statement."),
            ("CancelQuery", "Cancel a running query (by its FlightInfo)."),
            ("CloseSession", "End the session."),
        ]

    @guarded
    def do_action(self, context: fl.ServerCallContext, action: fl.Action) -> Iterator[fl.Result]:
        principal = self._principal(context)
        body = action.body.to_pybytes() if action.body is not None else b""
        kind = action.type
        if kind == "CreatePreparedStatement":
            request = _unpack_action(body, pb.ActionCreatePreparedStatementRequest)
            text, count = number_placeholders(request.query)
            schema = self._describe(principal, text, [None] * count or None)
            handle = self.handles.put(Prepared(principal.user, text, count, schema))
            params = pa.schema([pa.field(f"${i + 1}", pa.null()) for i in range(count)])
            result = pb.ActionCreatePreparedStatementResult(
                prepared_statement_handle=handle, dataset_schema=schema.serialize().to_pybytes(),
                parameter_schema=params.serialize().to_pybytes())
            return iter([fl.Result(pack(result))])
        if kind == "ClosePreparedStatement":
            request = _unpack_action(body, pb.ActionClosePreparedStatementRequest)
            self.handles.drop(request.prepared_statement_handle, principal.user)
            return iter([])
        if kind == "CloseSession":
            closed = extra.CloseSessionResult(status=extra.CloseSessionResult.CLOSED)
            return iter([fl.Result(closed.SerializeToString())])
        if kind == "CancelQuery":
            cancelled = pb.ActionCancelQueryResult(result=pb.ActionCancelQueryResult.CANCEL_RESULT_NOT_CANCELLABLE)
            return iter([fl.Result(pack(cancelled))])
        if kind in ("BeginTransaction", "BeginSavepoint", "EndTransaction", "EndSavepoint"):
            raise FeatureNotSupported(f"{kind}: egress is read-only and has no transactions")
        raise FeatureNotSupported(f"unknown action {kind!r}")

    @guarded
    def list_flights(self, context: fl.ServerCallContext, criteria: bytes) -> Iterator[fl.FlightInfo]:
        self._principal(context)
        return iter([])


class SharedSource:
    """One running query read by several endpoint streams: each take() hands out the next batch.
    When the last reader leaves before the end (clients gone), the query is stopped."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self._batches = batches
        self._lock = threading.Lock()
        self._readers = 0
        self._done = False
        self._error: BaseException | None = None

    def join(self) -> None:
        with self._lock:
            self._readers += 1

    def take(self) -> pa.RecordBatch | None:
        with self._lock:
            if self._error is not None:
                raise self._error  # every endpoint fails with the query, none ends as if complete
            if self._done:
                return None
            try:
                return next(self._batches)
            except StopIteration:
                self._done = True
                return None
            except BaseException as err:
                self._done, self._error = True, err
                raise

    def leave(self) -> None:
        with self._lock:
            self._readers -= 1
            if self._readers == 0 and not self._done:
                self._done = True
                self._batches.close()  # GeneratorExit inside: DuckDB is interrupted, the stream freed


def _drain(context: fl.ServerCallContext, source: SharedSource) -> Iterator[pa.RecordBatch]:
    try:
        while True:
            if context.is_cancelled():
                raise QueryCanceled("canceling statement: the client went away")
            batch = source.take()
            if batch is None:
                return
            yield batch
    finally:
        source.leave()


def _system_tree(text: str) -> Any:
    """The parsed query when it reads the egress.* schema (else None: a warehouse query)."""
    if "egress" not in text.lower():  # no parse on the hot path of warehouse queries
        return None
    statements = split(text)
    if len(statements) != 1 or statements[0].kind is not Kind.QUERY:
        return None
    tree = parse_one(statements[0].text)
    return tree if system.is_system_query(tree) else None


def _unpack_action(body: bytes, cls: type[Message]) -> Any:
    """Action bodies are packed Any messages (some clients send the bare message: accept both)."""
    wrapped = any_pb2.Any()
    message = cls()
    try:
        wrapped.ParseFromString(body)
        if wrapped.type_url.endswith("." + cls.DESCRIPTOR.name) and wrapped.Unpack(message):
            return message
        message.ParseFromString(body)
    except DecodeError:
        raise InvalidParameterValue(f"malformed {cls.DESCRIPTOR.name}") from None
    return message


def _sql_keywords() -> set[str]:
    from sqlglot.tokens import Tokenizer

    return {k.upper() for k in Tokenizer.KEYWORDS if k.isalpha()}


def _function_lists() -> dict[str, list[str]]:
    from sql import functions

    scalar = sorted(functions.SCALAR)
    numeric = [f for f in scalar if f in {"abs", "ceil", "ceiling", "floor", "round", "sqrt", "power", "pow",
                                          "ln", "log", "log10", "exp", "sign", "mod", "greatest", "least"}]
    datetime = [f for f in scalar if "date" in f or "time" in f or f in {"now", "extract", "year", "month", "day"}]
    string = [f for f in scalar if f not in numeric and f not in datetime]
    return {"numeric": [f.upper() for f in numeric], "string": [f.upper() for f in string],
            "datetime": [f.upper() for f in datetime],
            "system": [f.upper() for f in sorted(functions.AGGREGATES)]}


def tls_pair(cert: str, key: str) -> tuple[bytes, bytes]:
    with open(cert, "rb") as c, open(key, "rb") as k:
        return c.read(), k.read()
