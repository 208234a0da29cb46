"""One client connection as a state machine: frontend messages in, wire bytes out. No sockets.

    session = Session(app, shadows, pid, key)
    for chunk in session.handle(message):   # blocking (DuckDB); the server pulls it on a thread
        send(chunk)

Results stream: handle() yields one chunk of DataRow (or CopyData) messages per Arrow batch, so
the server's writes, and their backpressure, pace the query. A portal executed with a row limit
keeps its position between Execute messages (PortalSuspended).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

import pyarrow as pa
from sqlglot import exp

from gateway import catalog as shadow
from gateway import messages as m
from gateway import pgtypes
from gateway.auth import MECHANISM, ScramExchange
from gateway.codec import ProtocolViolation, copy_data, encode
from gateway.copyout import CopyEncoder
from gateway.metrics import Metrics
from service import system
from service.app import App
from service.jobs import raise_if_failed, spec_from_copy
from sql.copy import parse_copy
from sql.errors import (EgressError, FeatureNotSupported, InsufficientPrivilege, InternalError, InvalidAuthorization,
                        InvalidParameterValue, InvalidPassword, ObjectNotFound, QueryCanceled, SyntaxError_)
from sql.model import Principal
from sql.parse import Kind, Statement, parse_one, split, statement_tokens as tokenize
from sql.policy import Compiled, refuse_kind
from views import zones

log = logging.getLogger("egress.gateway")

# Client parameters a session may SET / SHOW / RESET, with their defaults.
CLIENT_PARAMETERS: dict[str, str] = {
    "application_name": "", "client_encoding": "UTF8", "datestyle": "ISO, MDY", "timezone": "UTC",
    "intervalstyle": "postgres", "extra_float_digits": "1", "client_min_messages": "notice",
    "search_path": '"$user", public', "statement_timeout": "0", "lock_timeout": "0",
    "idle_in_transaction_session_timeout": "0", "standard_conforming_strings": "on",
    "bytea_output": "hex", "default_transaction_isolation": "read committed",
    "transaction_isolation": "read committed", "default_transaction_read_only": "on",
    "transaction_read_only": "on", "server_version": shadow.SERVER_VERSION,
    "server_encoding": "UTF8", "integer_datetimes": "on", "is_superuser": "off", "max_identifier_length": "63",
    "lc_collate": "C", "lc_ctype": "C", "jit": "off", "geqo": "on", "row_security": "on",
    "work_mem": "4MB", "max_connections": "100", "tcp_keepalives_idle": "0",
}
CLIENT_PARAMETERS["server_version_num"] = "%d%04d" % tuple(int(x) for x in shadow.SERVER_VERSION.split(".")[:2])
FIXED_PARAMETERS = frozenset({"server_version", "server_version_num", "server_encoding", "integer_datetimes",
                              "is_superuser", "max_identifier_length", "lc_collate", "lc_ctype", "max_connections"})
_CHOICES = {"client_min_messages": ("debug5", "debug4", "debug3", "debug2", "debug1", "log", "notice", "warning",
                                    "error"),
            "intervalstyle": ("postgres", "postgres_verbose", "sql_standard", "iso_8601")}
REPORTED = ("server_version", "server_encoding", "client_encoding", "DateStyle", "TimeZone", "integer_datetimes",
            "standard_conforming_strings", "IntervalStyle", "application_name", "is_superuser",
            "session_authorization", "default_transaction_read_only", "in_hot_standby")
_CASED = {"datestyle": "DateStyle", "timezone": "TimeZone", "intervalstyle": "IntervalStyle"}


@dataclass
class Prepared:
    name: str
    text: str
    statement: Statement
    param_oids: tuple[int, ...]
    tree: exp.Expression | None = None  # parsed query (QUERY kind)
    catalog: bool = False
    system: bool = False  # over the egress.* schema (jobs, quota, ...), answered by service.system
    compiled: Compiled | None = None
    zone: str | None = None  # the session TimeZone ``compiled`` computes in (None: UTC)
    columns: list[pgtypes.Column] | None = None


@dataclass
class Portal:
    prepared: Prepared
    params: list[Any]
    formats: tuple[int, ...]
    rows_sent: int = 0
    batches: Iterator[pa.RecordBatch] | None = None
    leftover: pa.RecordBatch | None = None
    stream: Any = None
    done: bool = False
    described: bool = False
    schema: pa.Schema | None = None
    simple: bool = False  # simple query: RowDescription comes from the running stream's schema
    hold: bool = False  # DECLARE ... WITH HOLD: outlives the COMMIT of its transaction
    committed: bool = False  # a held cursor whose transaction committed: ROLLBACK leaves it
    typed: list[Any] | None = None  # params as DuckDB binds them, each of its declared type (pgtypes.engine_params)

    @property
    def engine_params(self) -> list[Any]:
        return self.params if self.typed is None else self.typed


@dataclass
class Outcome:
    rows: int = 0
    tag: str = ""


def _expr_oid(node: exp.Expression, types: dict[str, str]) -> int | None:
    """The wire type of an expression a parameter meets, where it can be told without the
    engine: a visible column, a literal, a cast, or arithmetic and functions over those."""
    if isinstance(node, exp.Paren):
        return _expr_oid(node.this, types)
    if isinstance(node, exp.Column):
        return pgtypes.oid_for_sql_type(types[node.name]) if node.name in types else None
    if isinstance(node, exp.Cast):
        return pgtypes.oid_for_sql_type(node.to.sql(dialect="duckdb"))
    if isinstance(node, (exp.Boolean, exp.Predicate, exp.Connector, exp.Not)):
        return pgtypes.BOOL  # true, a comparison, AND / OR / NOT
    if isinstance(node, exp.Literal):
        if node.is_string:
            return pgtypes.TEXT
        if node.name.lstrip("-").isdigit():
            return pgtypes.INT4 if -2**31 <= int(node.name) < 2**31 else pgtypes.INT8
        return pgtypes.NUMERIC
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)):
        return _expr_oid(node.left, types) or _expr_oid(node.right, types)
    if isinstance(node, exp.Func) and not isinstance(node, exp.AggFunc):
        for arg in node.iter_expressions():
            oid = _expr_oid(arg, types)
            if oid is not None:
                return oid
    return None


class Session:
    def __init__(self, app: App, shadows: shadow.ShadowCatalogs, pid: int, key: int, *,
                 tls: bool = False, metrics: Metrics | None = None) -> None:
        self.app, self.shadows, self.pid, self.key, self.tls = app, shadows, pid, key, tls
        self.metrics = metrics
        self.state = "startup"
        self.user = ""
        self.principal: Principal | None = None
        self.params: dict[str, str] = dict(CLIENT_PARAMETERS)
        self.params["statement_timeout"] = _shown_ms(app.config.server.statement_timeout_ms)
        self.defaults = dict(self.params)
        self._tx_saved: dict[str, tuple[str, bool]] = {}  # parameter -> (value before, set LOCAL only)
        self.scram: ScramExchange | None = None
        self.tx = m.TxStatus.IDLE
        self.prepared: dict[str, Prepared] = {}
        self.portals: dict[str, Portal] = {}
        self.cursors: dict[str, Portal] = {}  # DECLARE ... CURSOR
        self.skip_to_sync = False
        self.closed = False
        self._running: Any = None  # the stream being read, for CancelRequest
        self._last_text: str | None = None  # the statement under way, for the audit of its failure
        self._lock = threading.Lock()
        # whether the client was the slower side when the server last sent a large chunk (set by
        # the server): COPY then encodes on this thread alone (see _encode_ahead)
        self.client_behind = False

    # -- entry point ----------------------------------------------------------------------------
    def handle(self, msg: m.FrontendMessage) -> Iterator[bytes]:
        if self.state == "startup":
            yield from self._startup(msg)
        elif self.state == "auth":
            yield from self._auth(msg)
        elif isinstance(msg, m.Terminate):
            self.closed = True
        elif isinstance(msg, m.Query):
            yield from self._simple(msg.sql)
        elif isinstance(msg, m.Sync):
            self.skip_to_sync = False
            if self.tx == m.TxStatus.IDLE:
                self.portals.pop("", None)
            yield encode(m.ReadyForQuery(self.tx))
        elif isinstance(msg, (m.Parse, m.Bind, m.Describe, m.Execute, m.Close, m.Flush)):
            if self.skip_to_sync:
                return
            try:
                try:
                    yield from self._extended(msg)
                except Exception as exc:
                    raise _internal(exc) from exc
            except EgressError as err:
                self.skip_to_sync = True
                self._fail_tx()
                yield self._error(err)
        elif isinstance(msg, (m.CopyDataIn, m.CopyDoneIn, m.CopyFail)):
            return  # stray COPY-in messages are ignored, as PostgreSQL does outside COPY FROM
        else:
            raise ProtocolViolation(f"unexpected message {type(msg).__name__}")

    def cancel(self) -> None:
        with self._lock:
            running = self._running
        if running is not None:
            running.cancel()

    def _close_cursors(self, *, ending: str = "") -> None:
        """Cursors end with their transaction, except (as in PostgreSQL) WITH HOLD ones: those
        outlive its COMMIT, and then a later ROLLBACK too. ``ending``: "COMMIT", "ROLLBACK" or
        "" (the session ends: all of them)."""
        for name, cursor in list(self.cursors.items()):
            if cursor.hold and (ending == "COMMIT" or (ending == "ROLLBACK" and cursor.committed)):
                cursor.committed = True
                continue
            if cursor.stream is not None:
                cursor.stream.close()
            self.portals.pop(name, None)
            del self.cursors[name]

    def close(self) -> None:
        self._close_cursors()
        for portal in self.portals.values():
            if portal.stream is not None:
                portal.stream.close()
        self.portals.clear()

    # -- startup and authentication -------------------------------------------------------------
    def _startup(self, msg: m.FrontendMessage) -> Iterator[bytes]:
        if not isinstance(msg, m.StartupMessage):
            raise ProtocolViolation(f"expected a startup message, got {type(msg).__name__}")
        self.user = msg.params.get("user", "")
        if not self.user:
            raise InvalidPassword("no user name given")  # answered as FATAL by the server
        given = {k.lower(): v for k, v in msg.params.items()}
        for key in ("application_name", "client_encoding", "datestyle", "timezone"):
            if key in given:
                self.params[key] = given[key]
        if not _utf8(self.params["client_encoding"]):
            raise FeatureNotSupported("only UTF8 client encoding is supported")
        self.params["client_encoding"] = "UTF8"
        self.defaults = dict(self.params)  # what RESET and DISCARD ALL return to, as PostgreSQL does
        self.state = "auth"
        if self.app.config.server.auth == "md5":
            self._md5_salt = secrets.token_bytes(4)
            yield encode(m.Authentication(m.Auth.MD5, self._md5_salt))
            return
        if self.app.config.server.auth == "password":
            if not self.tls:  # a password in clear text only ever crosses TLS
                raise InvalidAuthorization(
                    "password authentication requires TLS", hint="connect with sslmode=require")
            yield encode(m.Authentication(m.Auth.CLEARTEXT))
            return
        self.scram = ScramExchange(self.app.verifier(self.user))
        yield encode(m.Authentication(m.Auth.SASL, MECHANISM.encode() + b"\x00\x00"))

    def _auth(self, msg: m.FrontendMessage) -> Iterator[bytes]:
        if isinstance(msg, m.PasswordMessage) and self.scram is None and hasattr(self, "_md5_salt"):
            stored = self.app.md5_hash(self.user) or "md5" + "0" * 32  # same work for unknown users
            expected = "md5" + hashlib.md5(stored[3:].encode("ascii") + self._md5_salt).hexdigest()
            given = msg.data.rstrip(b"\x00").decode("ascii", "replace")
            if not hmac.compare_digest(given, expected) or self.app.md5_hash(self.user) is None:
                raise InvalidPassword("password authentication failed")
            yield from self._logged_in(None)
            return
        if isinstance(msg, m.PasswordMessage) and self.scram is None:
            # cleartext password over TLS, checked against the stored SCRAM verifier
            password = msg.data.rstrip(b"\x00").decode("utf-8", "replace")
            if self.app.authenticate(self.user, password) is None:
                raise InvalidPassword("password authentication failed")
            yield from self._logged_in(None)
            return
        if not isinstance(msg, m.PasswordMessage) or self.scram is None:
            raise ProtocolViolation("expected a SASL response")
        if not hasattr(self, "_sasl_started"):
            self._sasl_started = True
            mechanism, payload = ScramExchange.parse_initial(msg.data)
            if mechanism != MECHANISM:
                raise InvalidPassword(f"unsupported SASL mechanism {mechanism}")
            yield encode(m.Authentication(m.Auth.SASL_CONTINUE, self.scram.first(payload)))
            return
        yield from self._logged_in(self.scram.final(msg.data))

    def _logged_in(self, sasl_final: bytes | None) -> Iterator[bytes]:
        self.principal = self.app.principal(self.user)
        self.state = "ready"
        if sasl_final is not None:
            yield encode(m.Authentication(m.Auth.SASL_FINAL, sasl_final))
        yield encode(m.Authentication(m.Auth.OK))
        for name in REPORTED:
            yield encode(m.ParameterStatus(name, self._reported(name)))
        yield encode(m.BackendKeyData(self.pid, self.key))
        yield encode(m.ReadyForQuery(self.tx))

    def _reported(self, name: str) -> str:
        if name == "session_authorization":
            return self.user
        if name == "in_hot_standby":
            return "off"
        return self.params.get(name.lower(), "")

    # -- simple query ---------------------------------------------------------------------------
    def _simple(self, text: str) -> Iterator[bytes]:
        try:
            statements = _split(text)
        except EgressError as err:
            self._fail_tx()
            yield self._error(err)
            yield encode(m.ReadyForQuery(self.tx))
            return
        if not statements:
            yield encode(m.EmptyQueryResponse())
        for stmt in statements:
            try:
                if self.tx == m.TxStatus.FAILED and not self._ends_tx(stmt):
                    raise InFailedTransaction("current transaction is aborted, commands ignored until end of transaction block")
                prepared = self._prepare("", stmt.text, stmt, ())
                portal = Portal(prepared, [], (), simple=True)
                try:
                    yield from self._execute(portal, 0)
                except Exception as exc:
                    raise _internal(exc) from exc
            except EgressError as err:
                self._fail_tx()
                yield self._error(err)
                break
        yield encode(m.ReadyForQuery(self.tx))

    # -- extended query -------------------------------------------------------------------------
    def _extended(self, msg: m.FrontendMessage) -> Iterator[bytes]:
        if isinstance(msg, m.Parse):
            statements = _split(msg.sql)
            if len(statements) > 1:
                raise SyntaxError_("cannot insert multiple commands into a prepared statement")
            if msg.name and msg.name in self.prepared:
                raise DuplicatePrepared(f'prepared statement "{msg.name}" already exists')
            stmt = statements[0] if statements else Statement(Kind.OTHER, "", "", 0)
            self.prepared[msg.name] = self._prepare(msg.name, msg.sql, stmt, msg.param_oids)
            yield encode(m.ParseComplete())
        elif isinstance(msg, m.Bind):
            prepared = self.prepared.get(msg.statement)
            if prepared is None:
                raise UndefinedPrepared(f'prepared statement "{msg.statement}" does not exist')
            oids = self._param_oids(prepared)
            if len(msg.params) != len(oids):
                raise ProtocolViolation(f"bind message supplies {len(msg.params)} parameters, "
                                        f"but prepared statement requires {len(oids)}")
            params = pgtypes.decode_params(oids, msg.param_formats, msg.params)
            old = self.portals.pop(msg.portal, None)
            if old is not None and old.stream is not None:
                old.stream.close()
            self.portals[msg.portal] = Portal(prepared, params, msg.result_formats,
                                              typed=pgtypes.engine_params(oids, params, self._zone()))
            yield encode(m.BindComplete())
        elif isinstance(msg, m.Describe):
            if msg.kind == "S":
                prepared = self.prepared.get(msg.name)
                if prepared is None:
                    raise UndefinedPrepared(f'prepared statement "{msg.name}" does not exist')
                yield encode(m.ParameterDescription(tuple(self._param_oids(prepared))))
                yield from self._describe_portal(Portal(prepared, [None] * len(self._param_oids(prepared)), ()),
                                                 simple=False, statement=True)
            else:
                portal = self.portals.get(msg.name)
                if portal is None:
                    raise UndefinedCursor(f'portal "{msg.name}" does not exist')
                yield from self._describe_portal(portal, simple=False)
        elif isinstance(msg, m.Execute):
            portal = self.portals.get(msg.portal)
            if portal is None:
                raise UndefinedCursor(f'portal "{msg.portal}" does not exist')
            yield from self._execute(portal, msg.max_rows)
        elif isinstance(msg, m.Close):
            if msg.kind == "S":
                self.prepared.pop(msg.name, None)
            else:
                portal = self.portals.pop(msg.name, None)
                if portal is not None and portal.stream is not None:
                    portal.stream.close()
            yield encode(m.CloseComplete())
        elif isinstance(msg, m.Flush):
            return

    # -- statements ---------------------------------------------------------------------------
    def _prepare(self, name: str, text: str, stmt: Statement, oids: tuple[int, ...]) -> Prepared:
        prepared = Prepared(name, stmt.text, stmt, oids)
        if stmt.kind in (Kind.QUERY, Kind.COPY):
            self._last_text = stmt.text  # what an error in this statement is audited under
        if stmt.kind is Kind.QUERY:
            tree, prepared.system, prepared.catalog = _parsed(stmt.text, stmt.offset)
            tree = tree.copy()  # the cached tree is shared; rewrites work on their own copy
            prepared.tree = tree
            if not prepared.catalog and not prepared.system:
                self._compile(prepared, self._zone())
        elif stmt.kind is Kind.SESSION and stmt.keyword == "DECLARE":
            tokens = tokenize(stmt.text)
            at = next((i for i, t in enumerate(tokens) if t.text.upper() == "FOR"), None)
            if at is not None and at + 1 < len(tokens):
                # parsed here only to count and type its $n parameters; DECLARE runs it
                prepared.tree = parse_one(stmt.text[tokens[at + 1].start:], base=stmt.offset + tokens[at + 1].start)
        elif stmt.kind in (Kind.WRITE, Kind.ENGINE, Kind.OTHER):
            if not self._is_tableau_probe(stmt):
                raise refuse_kind(stmt)
        return prepared

    def _zone(self) -> str | None:
        """The session's TimeZone as an IANA name; None for UTC (and offsets DuckDB cannot use)."""
        return zones.display_zone(self.params["timezone"])

    def _current(self, prepared: Prepared) -> Compiled:
        """The statement compiled for the session's TimeZone now: a SET TIME ZONE after Parse
        changes how it computes, as in PostgreSQL, where the zone is read when it runs."""
        assert prepared.compiled is not None
        zone = self._zone()
        if zone != prepared.zone:
            self._compile(prepared, zone)
            prepared.columns = None
        return prepared.compiled

    def _compile(self, prepared: Prepared, zone: str | None) -> None:
        """Policy for a prepared query in ``zone``, with the date and time types its Parse declared
        for $n: by text when it stands alone (cached across sessions), else by tree (offsets kept)."""
        assert self.principal is not None
        query = prepared.text if prepared.statement.offset == 0 else prepared.tree
        assert query is not None
        prepared.compiled = self.app.compile(self.principal, query, zone=zone,
                                             param_types=_clock_params(prepared.param_oids))
        prepared.zone = zone

    def _param_oids(self, prepared: Prepared) -> list[int]:
        tree = prepared.tree
        count = 0
        if tree is not None:
            numbers = [int(p.name) for p in tree.find_all(exp.Parameter) if str(p.name).isdigit()]
            count = max(numbers, default=0)
        oids = list(prepared.param_oids) + [0] * max(0, count - len(prepared.param_oids))
        for i, oid in enumerate(oids):
            if oid == 0:
                oids[i] = self._infer_param(tree, i + 1)
        return oids

    def _infer_param(self, tree: exp.Expression | None, number: int) -> int:
        """The type a $n takes from what it meets, as PostgreSQL infers it: the other side of a
        comparison or arithmetic (a column, a literal, a cast, a function of those), a cast, the
        column of IN / BETWEEN / = ANY (an array then), LIMIT/OFFSET; else text."""
        if tree is None or self.principal is None:
            return pgtypes.TEXT
        types: dict[str, str] = {}
        for view in self.principal.visible_views(self.app.catalog):
            for col in self.principal.visible_columns(view):
                types.setdefault(col.name, col.type)
        for param in tree.find_all(exp.Parameter):
            if str(param.name) != str(number):
                continue
            node, parent = param, param.parent
            while isinstance(parent, exp.Paren):
                node, parent = parent, parent.parent
            if isinstance(parent, exp.Any) and isinstance(parent.parent, exp.Binary):
                element = _expr_oid(parent.parent.left, types)  # column = ANY($n)
                if element is not None:
                    return pgtypes.ARRAY_OF.get(element, pgtypes.TEXT)
            if isinstance(parent, exp.Cast):
                return pgtypes.oid_for_sql_type(parent.to.sql(dialect="duckdb"))
            if isinstance(parent, (exp.Limit, exp.Offset)):
                return pgtypes.INT8
            if isinstance(parent, exp.Binary):
                oid = _expr_oid(parent.left if parent.right is node else parent.right, types)
                if oid is not None:
                    return oid
            if isinstance(parent, (exp.In, exp.Between)) and parent.this is not node:
                oid = _expr_oid(parent.this, types)
                if oid is not None:
                    return oid
        return pgtypes.TEXT

    def _describe_portal(self, portal: Portal, *, simple: bool, statement: bool = False) -> Iterator[bytes]:
        prepared = portal.prepared
        if not statement and prepared.statement.kind is Kind.QUERY and prepared.tree is not None:
            # a bound portal runs next anyway: start it now and describe it by its own schema,
            # rather than planning the query twice
            self._open(portal)
            columns: list[pgtypes.Column] | None = pgtypes.describe(portal.schema)
        else:
            columns = self._columns(portal)
        if columns is None:
            if not simple:
                yield encode(m.NoData())
            return
        formats = () if statement else portal.formats
        fields = []
        for i, col in enumerate(columns):
            fields.append(m.Field(col.name, col.oid, pgtypes.TYPE_SIZE.get(col.oid, -1), col.modifier,
                                  _format_of(formats, i)))
        portal.described = True
        yield encode(m.RowDescription(tuple(fields)))

    def _columns(self, portal: Portal) -> list[pgtypes.Column] | None:
        prepared = portal.prepared
        kind = prepared.statement.kind
        if kind is Kind.SESSION:
            word = prepared.statement.keyword
            if word == "SHOW":
                return [pgtypes.Column(self._show_name(prepared.statement), pgtypes.TEXT)]
            if word == "FETCH":
                return self._columns_of_cursor(prepared.statement)
            return None
        if kind is Kind.COPY or prepared.tree is None:
            return None
        if prepared.system:
            if prepared.columns is None:
                assert self.principal is not None
                prepared.columns = pgtypes.describe(system.describe(self.app, self.principal, prepared.tree))
            return prepared.columns
        if prepared.catalog:
            if prepared.columns is None:
                assert self.principal is not None
                nulls = [None] * len(self._param_oids(prepared)) or None
                # described without running: set_config() must not change anything yet
                tree = prepared.tree.copy().limit(0) if isinstance(prepared.tree, exp.Select) else prepared.tree
                table = shadow.run(self.shadows, self.principal, tree, self.pid, nulls, self.params,
                                   lambda name, value, local: value)
                prepared.columns = pgtypes.describe(table.schema)
            return prepared.columns
        compiled = self._current(prepared)
        if prepared.columns is None:
            schema = self.app.warehouse.schema_of(compiled.sql, params=[None] * len(self._param_oids(prepared)),
                                                  typed=True)
            prepared.columns = pgtypes.describe(schema)
        return prepared.columns

    def _execute(self, portal: Portal, max_rows: int) -> Iterator[bytes]:
        prepared = portal.prepared
        kind = prepared.statement.kind
        if kind in (Kind.QUERY, Kind.COPY) and not prepared.catalog:
            self._last_text = prepared.text
        started = time.perf_counter()
        if kind is Kind.SESSION:
            yield from self._session_statement(prepared.statement, portal)
            return
        if kind is Kind.COPY:
            outcome = Outcome()
            yield from self._copy(prepared, outcome)
            self._log(prepared, outcome.rows, started)
            return
        if prepared.tree is None:
            if self._is_tableau_probe(prepared.statement):  # answered, nothing created or dropped
                yield encode(m.CommandComplete(f"{prepared.statement.keyword} TABLE"))
                return
            yield encode(m.EmptyQueryResponse())
            return
        yield from self._rows(portal, max_rows)
        if portal.done:
            self._log(prepared, portal.rows_sent, started)

    def _open(self, portal: Portal) -> None:
        """Start the portal's query (once): a warehouse stream, or a shadow-catalog answer."""
        prepared = portal.prepared
        assert self.principal is not None
        if portal.batches is not None or portal.done:
            return
        if prepared.system:
            table = system.run(self.app, self.principal, prepared.tree, portal.params or None)  # type: ignore[arg-type]
            portal.schema = table.schema
            portal.batches = iter(table.to_batches())
            return
        if prepared.catalog:
            table = shadow.run(self.shadows, self.principal, prepared.tree, self.pid,  # type: ignore[arg-type]
                               portal.engine_params or None, self.params, self._set_config)
            portal.schema = table.schema
            portal.batches = iter(table.to_batches())
            return
        stream = self.app.run(self._current(prepared), params=portal.engine_params or None, start=False, wire=True)
        portal.stream = stream
        with self._lock:
            self._running = stream  # cancellable from here: DuckDB may work long before row one
        timer = self._statement_timer(stream)
        try:
            stream.start()
        finally:
            if timer is not None:
                timer.cancel()
        portal.schema = stream.schema
        portal.batches = iter(stream)

    def _statement_timer(self, stream: Any) -> threading.Timer | None:
        """statement_timeout (ms, per SET or config): interrupt the query when it runs out."""
        ms = _milliseconds(self.params.get("statement_timeout", "0"))
        if ms <= 0:
            return None
        timer = threading.Timer(ms / 1000.0, stream.cancel)
        timer.daemon = True
        timer.start()
        return timer

    def _rows(self, portal: Portal, max_rows: int, *, tag: str = "SELECT", suspend: bool = True,
              describe: bool | None = None) -> Iterator[bytes]:
        """Send up to max_rows (0: all) of the portal's rows; CommandComplete when it is done,
        PortalSuspended when it is not (or, for FETCH, CommandComplete with the count sent)."""
        self._open(portal)
        if describe if describe is not None else (portal.simple and not portal.described):
            portal.prepared.columns = pgtypes.describe(portal.schema)
            portal.described = True
            yield encode(m.RowDescription(tuple(
                m.Field(c.name, c.oid, pgtypes.TYPE_SIZE.get(c.oid, -1), c.modifier,
                        _format_of(portal.formats, i))
                for i, c in enumerate(portal.prepared.columns))))
        columns = pgtypes.describe(portal.schema)
        formats = tuple(_format_of(portal.formats, i) for i in range(len(columns)))
        zone = self._zone()
        sent_now = 0
        with self._lock:
            self._running = portal.stream
        timer = self._statement_timer(portal.stream) if portal.stream is not None else None
        try:
            while not portal.done:
                batch = portal.leftover
                portal.leftover = None
                if batch is None:
                    assert portal.batches is not None
                    batch = next(portal.batches, None)
                    if batch is None:
                        portal.done = True
                        break
                if max_rows:
                    room = max_rows - sent_now
                    if batch.num_rows > room:
                        portal.leftover = batch.slice(room)
                        batch = batch.slice(0, room)
                if batch.num_rows:  # no copy: the pump writes slices of it
                    yield pgtypes.data_rows(pgtypes.in_zone(batch, zone), formats)
                    sent_now += batch.num_rows
                    portal.rows_sent += batch.num_rows
                if max_rows and sent_now >= max_rows:
                    break
        except EgressError:
            portal.done = True
            if portal.stream is not None:
                portal.stream.close()
            raise
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                self._running = None
        if portal.done and portal.stream is not None:
            portal.stream.close()
        if not suspend:
            yield encode(m.CommandComplete(f"{tag} {sent_now}"))
        elif portal.done:
            yield encode(m.CommandComplete(f"{tag} {portal.rows_sent}"))
        else:
            yield encode(m.PortalSuspended())

    # -- cursors (DECLARE / FETCH / MOVE / CLOSE) -----------------------------------------------
    def _declare(self, stmt: Statement, portal: Portal) -> Iterator[bytes]:
        tokens = tokenize(stmt.text)
        words = [t.text.upper() for t in tokens]
        if "FOR" not in words or len(tokens) < 4:
            raise SyntaxError_("DECLARE needs: DECLARE name CURSOR FOR query", position=stmt.offset + 1)
        at = words.index("FOR")
        name = tokens[1].text
        query_text = stmt.text[tokens[at + 1].start:]
        inner = Statement(Kind.QUERY, tokens[at + 1].text.upper(), query_text, stmt.offset + tokens[at + 1].start)
        # the DECLARE's own $n types (psycopg's named cursors send theirs there)
        prepared = self._prepare(name, query_text, inner, portal.prepared.param_oids)
        binary = "BINARY" in words[:at]
        if name in self.cursors:
            raise DuplicateCursor(f'cursor "{name}" already exists')
        hold = "HOLD" in words[:at] and "WITHOUT" not in words[:at]
        self.cursors[name] = Portal(prepared, portal.params, (1,) if binary else (), hold=hold, typed=portal.typed)
        self.portals[name] = self.cursors[name]  # as in PostgreSQL, a cursor is also a protocol portal
        yield encode(m.CommandComplete("DECLARE CURSOR"))

    def _cursor_target(self, stmt: Statement) -> tuple[str, int]:
        """FETCH/MOVE [NEXT | FORWARD [n | ALL] | n | ALL] [FROM | IN] name -> (name, count; 0 = all)."""
        tokens = tokenize(stmt.text)
        words = [t.text for t in tokens[1:]]
        if not words:
            raise SyntaxError_(f"{stmt.keyword} needs a cursor name", position=stmt.offset + 1)
        name = words[-1]
        count = 1
        for w in words[:-1]:
            upper = w.upper()
            if upper == "ALL":
                count = 0
            elif w.isdigit():
                count = int(w)
            elif upper in ("BACKWARD", "PRIOR", "FIRST", "LAST", "ABSOLUTE", "RELATIVE"):
                raise FeatureNotSupported("cursors here only move forward")
        return name, count

    def _cursor(self, name: str) -> Portal:
        """A cursor by name: DECLAREd, or (as in PostgreSQL) a named portal of the extended
        protocol, which asyncpg moves with MOVE FORWARD n "portal"."""
        cursor = self.cursors.get(name) or (self.portals.get(name) if name else None)
        if cursor is None:
            raise UndefinedCursor(f'cursor "{name}" does not exist')
        return cursor

    def _fetch(self, stmt: Statement, portal: Portal, *, move: bool = False) -> Iterator[bytes]:
        name, count = self._cursor_target(stmt)
        cursor = self._cursor(name)
        if move:
            before = cursor.rows_sent
            for _ in self._rows(cursor, count, suspend=False):
                pass  # MOVE reads past the rows without sending them
            yield encode(m.CommandComplete(f"MOVE {cursor.rows_sent - before}"))
            return
        yield from self._rows(cursor, count, tag="FETCH", suspend=False, describe=portal.simple)

    def _columns_of_cursor(self, stmt: Statement) -> list[pgtypes.Column] | None:
        name, _ = self._cursor_target(stmt)
        return self._columns(self._cursor(name))

    # -- COPY ... TO STDOUT ---------------------------------------------------------------------
    def _copy(self, prepared: Prepared, outcome: Outcome) -> Iterator[bytes]:
        assert self.principal is not None
        spec = parse_copy(prepared.statement.text, base=prepared.statement.offset)
        if spec.target != "STDOUT":
            yield from self._copy_to_file(prepared, outcome)
            return
        encoder = CopyEncoder.for_options(spec.options)  # the options first, as PostgreSQL checks them
        zone = self._zone()  # what the query computes in and its timestamptz values are written in
        compiled = self.app.compile(self.principal, spec.text or spec.query, zone=zone, base=spec.base)
        stream = self.app.run(compiled, start=False, wire=True)
        with self._lock:
            self._running = stream
        try:
            stream.start()
            encoder.check_columns(stream.schema.names)
            yield encode(m.CopyOutResponse(encoder.format_code, tuple([encoder.format_code] * len(stream.schema))))
            head = encoder.header_bytes(stream.schema)
            if head:
                yield copy_data(head)
            for rows, chunk in _encode_ahead(encoder, (pgtypes.in_zone(b, zone) for b in stream),
                                             lambda: self.client_behind):
                yield chunk
                outcome.rows += rows
            tail = encoder.trailer()
            if tail:
                yield copy_data(tail)
            yield encode(m.CopyDone())
            yield encode(m.CommandComplete(f"COPY {outcome.rows}"))
        finally:
            stream.close()
            with self._lock:
                self._running = None

    def _copy_to_file(self, prepared: Prepared, outcome: Outcome) -> Iterator[bytes]:
        """COPY ... TO 'name.ext' (...): an export job in the principal's export area. Synchronous
        by default (COPY n when it has finished, a NOTICE with the job, files and link); with
        ASYNC the job id comes back at once."""
        assert self.principal is not None
        job_spec, is_async = spec_from_copy(prepared.statement.text, zone=self._zone())
        jobs = self.app.start_jobs(dispatch=True)
        job_id = jobs.submit(self.principal, job_spec, source="copy")
        if is_async:
            yield encode(m.NoticeResponse("NOTICE", "00000", f"export job {job_id} queued",
                                          f"follow it with SELECT * FROM egress.jobs WHERE id = '{job_id}'"))
            yield encode(m.CommandComplete("COPY 0"))
            return
        waiter = _JobWaiter(jobs, self.principal, job_id)
        with self._lock:
            self._running = waiter
        try:
            row = jobs.wait(job_id, self.app.config.jobs.sync_wait_s)
        finally:
            with self._lock:
                self._running = None
        if row["state"] in ("queued", "running"):
            raise QueryCanceled(f"export job {job_id} is still {row['state']} after "
                                f"{self.app.config.jobs.sync_wait_s:.0f} s; it goes on",
                                hint=f"SELECT * FROM egress.jobs WHERE id = '{job_id}'")
        raise_if_failed(row)
        outcome.rows = int(row["rows_done"])
        files = json.loads(row["files"] or "[]")
        detail = {"job_id": job_id, "files": files}
        links = self.app.links
        if links is not None and files:
            detail["download_url"] = links(row["owner"], files[0]["name"])
        yield encode(m.NoticeResponse("NOTICE", "00000",
                                      f"export job {job_id} wrote {len(files)} file(s), {outcome.rows} rows",
                                      json.dumps(detail)))
        yield encode(m.CommandComplete(f"COPY {outcome.rows}"))

    # -- session statements ---------------------------------------------------------------------
    def _session_statement(self, stmt: Statement, portal: Portal) -> Iterator[bytes]:
        tokens = tokenize(stmt.text)
        words = [t.text for t in tokens]
        first = words[0].upper()
        if first in ("BEGIN", "START"):
            if self.tx == m.TxStatus.IDLE:
                self.tx = m.TxStatus.IN_TRANSACTION
            yield encode(m.CommandComplete("BEGIN"))
        elif first in ("COMMIT", "END"):
            tag = "ROLLBACK" if self.tx == m.TxStatus.FAILED else "COMMIT"
            self.tx = m.TxStatus.IDLE
            self._close_cursors(ending=tag)
            yield encode(m.CommandComplete(tag))
            yield from self._end_tx(committed=tag == "COMMIT")
        elif first in ("ROLLBACK", "ABORT"):
            self.tx = m.TxStatus.IDLE
            self._close_cursors(ending="ROLLBACK")
            yield encode(m.CommandComplete("ROLLBACK"))
            yield from self._end_tx(committed=False)
        elif first in ("SAVEPOINT", "RELEASE"):
            yield encode(m.CommandComplete(first))
        elif first == "SET":
            yield from self._set(words, stmt)
        elif first == "RESET":
            name = words[1].lower() if len(words) > 1 else ""
            if name != "all" and name not in CLIENT_PARAMETERS:
                raise InsufficientPrivilege(f'permission denied to set parameter "{name}"')
            yield encode(m.CommandComplete("RESET"))
            yield from self._reset(None if name == "all" else name)
        elif first == "SHOW" and self._show_name(stmt) == "all":
            if not portal.described:
                yield encode(m.RowDescription(tuple(m.Field(c, pgtypes.TEXT) for c in ("name", "setting", "description"))))
            names = sorted(self.params)  # the client parameters only: engine settings are not shown
            yield bytes(pgtypes.data_rows(pa.record_batch({"name": [_CASED.get(n, n) for n in names],
                                                           "setting": [self.params[n] for n in names],
                                                           "description": [""] * len(names)}), (0,)))
            yield encode(m.CommandComplete("SHOW"))
        elif first == "SHOW":
            name = self._show_name(stmt)
            value = self._show_value(name)
            if not portal.described:
                yield encode(m.RowDescription((m.Field(name, pgtypes.TEXT),)))
            yield bytes(pgtypes.data_rows(pa.record_batch({name: [value]}), (0,)))
            yield encode(m.CommandComplete("SHOW"))
        elif first == "DECLARE":
            yield from self._declare(stmt, portal)
        elif first == "FETCH":
            yield from self._fetch(stmt, portal)
        elif first == "MOVE":
            yield from self._fetch(stmt, portal, move=True)
        elif first == "CLOSE":
            target = words[-1] if len(words) > 1 else ""
            if target.upper() == "ALL":
                closing = list(self.cursors)
            elif target in self.cursors:
                closing = [target]
            else:
                raise UndefinedCursor(f'cursor "{target}" does not exist')
            for name in closing:
                c = self.cursors.pop(name)
                self.portals.pop(name, None)
                if c.stream is not None:
                    c.stream.close()
            yield encode(m.CommandComplete("CLOSE CURSOR"))
        elif first == "DISCARD":
            what = words[1].upper() if len(words) > 1 else ""
            if what == "TEMPORARY":
                what = "TEMP"
            if what not in ("ALL", "PLANS", "SEQUENCES", "TEMP"):
                raise SyntaxError_("syntax error at or near DISCARD", position=stmt.offset + 1)
            if what == "ALL":  # PLANS, SEQUENCES, TEMP: nothing of theirs is kept on a read-only store
                if self.tx != m.TxStatus.IDLE:
                    raise ActiveTransaction("DISCARD ALL cannot run inside a transaction block")
                self.close()
                self.prepared = {k: v for k, v in self.prepared.items() if k == ""}
            yield encode(m.CommandComplete(f"DISCARD {what}"))
            if what == "ALL":
                yield from self._reset(None)
        elif first == "DEALLOCATE":
            target = words[-1]
            if target.upper() == "ALL":
                self.prepared = {k: v for k, v in self.prepared.items() if k == ""}
            elif self.prepared.pop(target.strip('"'), None) is None:
                raise UndefinedPrepared(f'prepared statement "{target.strip(chr(34))}" does not exist')
            yield encode(m.CommandComplete("DEALLOCATE" + (" ALL" if target.upper() == "ALL" else "")))
        else:
            raise FeatureNotSupported(f"{first} is not supported yet")

    def _set(self, words: list[str], stmt: Statement) -> Iterator[bytes]:
        rest = words[1:]
        local = False
        if rest and rest[0].upper() in ("SESSION", "LOCAL"):
            if len(rest) > 1 and rest[1].upper() == "CHARACTERISTICS":
                yield encode(m.CommandComplete("SET"))
                return
            local = rest[0].upper() == "LOCAL"
            rest = rest[1:]
        if rest and rest[0].upper() == "TRANSACTION":
            yield encode(m.CommandComplete("SET"))
            return
        if rest and rest[0].upper() == "TIME" and len(rest) > 1 and rest[1].upper() == "ZONE":
            rest = ["timezone", "="] + rest[2:]
        if len(rest) < 2:
            raise SyntaxError_("syntax error in SET", position=stmt.offset + len(stmt.text))
        name = rest[0].lower()
        value_words = rest[2:] if rest[1] in ("=",) or rest[1].upper() == "TO" else rest[1:]
        _check_settable(name)
        upper = [w.upper() for w in value_words]
        if upper == ["DEFAULT"] or (name == "timezone" and upper == ["LOCAL"]):
            value = self.defaults.get(name, CLIENT_PARAMETERS[name])
        elif name == "search_path":  # PostgreSQL shows each schema as an identifier, quoted if need be
            value = ", ".join(_quote_ident(w) for w in value_words if w != ",")
        else:
            value = _checked_parameter(name, ", ".join(w.strip("'") for w in value_words if w != ","))
        if local and self.tx == m.TxStatus.IDLE:  # as PostgreSQL: a warning, and nothing changes
            yield encode(m.NoticeResponse("WARNING", "25P01", "SET LOCAL can only be used in transaction blocks"))
            yield encode(m.CommandComplete("SET"))
            return
        self._assign(name, value, local)
        yield encode(m.CommandComplete("SET"))
        yield from _reported(name, value)

    def _assign(self, name: str, value: str, local: bool) -> None:
        if self.tx != m.TxStatus.IDLE:  # undone by ROLLBACK, and for SET LOCAL by COMMIT too
            before, only_local = self._tx_saved.get(name, (self.params[name], True))
            self._tx_saved[name] = (before, only_local and local)
        self.params[name] = value

    def _set_config(self, name: str, value: str, local: bool) -> str:
        """set_config(name, value, is_local) in a catalog query: SET's checks and bookkeeping. A
        local value outside a transaction block lasts for the statement only: nothing to keep."""
        key = name.lower()
        _check_settable(key)
        value = _checked_parameter(key, value)
        if not local or self.tx != m.TxStatus.IDLE:
            self._assign(key, value, local)
        return value

    def _end_tx(self, committed: bool) -> Iterator[bytes]:
        """Parameters set in the ended transaction: kept on COMMIT (but SET LOCAL's), undone on
        ROLLBACK, with a ParameterStatus for each reported one that changes back."""
        saved, self._tx_saved = self._tx_saved, {}
        for name, (before, local) in saved.items():
            if (committed and not local) or self.params.get(name) == before:
                continue
            self.params[name] = before
            yield from _reported(name, before)

    def _reset(self, name: str | None) -> Iterator[bytes]:
        """One parameter (or all of them) back to its value when the session started, with a
        ParameterStatus for each reported one that changes."""
        for key in [name] if name else list(CLIENT_PARAMETERS):
            value = self.defaults.get(key, CLIENT_PARAMETERS[key])
            changed = self.params.get(key) != value
            self.params[key] = value
            if changed:
                yield from _reported(key, value)

    def _show_name(self, stmt: Statement) -> str:
        words = [t.text for t in tokenize(stmt.text)]
        name = " ".join(words[1:]).lower()
        return {"transaction isolation level": "transaction_isolation", "time zone": "timezone"}.get(name, name)

    def _show_value(self, name: str) -> str:
        if name not in self.params:
            raise ObjectNotFound(f'unrecognized configuration parameter "{name}"')
        return self.params[name]

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _is_tableau_probe(stmt: Statement) -> bool:
        """Tableau's connect check: CREATE LOCAL TEMPORARY TABLE "#Tableau_..._Connect_Check" (...)."""
        try:
            tokens = tokenize(stmt.text)
        except EgressError:
            return False
        names = [t.text for t in tokens[:8]]
        return (len(names) > 2 and names[0].upper() in ("CREATE", "DROP")
                and any(n.startswith("#Tableau_") and n.endswith("_Connect_Check") for n in names))

    @staticmethod
    def _ends_tx(stmt: Statement) -> bool:
        return stmt.keyword in ("ROLLBACK", "ABORT", "COMMIT", "END")

    def _fail_tx(self) -> None:
        if self.tx == m.TxStatus.IN_TRANSACTION:
            self.tx = m.TxStatus.FAILED

    def _error(self, err: EgressError) -> bytes:
        if self.metrics is not None:
            self.metrics.errors.labels(err.sqlstate).inc()
        if self.principal is not None and self._last_text is not None:
            self.app.audit.record(principal=self.principal, kind="query", outcome="error",
                                  application=self.params.get("application_name"), sql_given=self._last_text,
                                  sqlstate=err.sqlstate)
            self._last_text = None
        return encode(m.ErrorResponse("ERROR", err.sqlstate, err.message, err.position, err.detail, err.hint))

    def _log(self, prepared: Prepared, rows: int, started: float) -> None:
        if self.metrics is not None:
            self.metrics.statements.labels(prepared.statement.kind.value).inc()
            self.metrics.rows.inc(rows)
            self.metrics.latency.observe(time.perf_counter() - started)
        digest = hashlib.sha256(prepared.text.encode()).hexdigest()[:12]
        ms = (time.perf_counter() - started) * 1000
        log.info("statement user=%s app=%s sql=%s rows=%d ms=%.1f", self.user,
                 self.params.get("application_name", ""), digest, rows, ms)
        self._last_text = None
        if self.principal is not None and not prepared.catalog and prepared.statement.kind in (Kind.QUERY, Kind.COPY):
            self.app.audit.record(principal=self.principal, kind=prepared.statement.kind.value, outcome="ok",
                                  application=self.params.get("application_name"), sql_given=prepared.text,
                                  sql_run=prepared.compiled.sql if prepared.compiled is not None else None,
                                  rows=rows, duration_ms=ms)


T = TypeVar("T")
CACHED_TEXT = 16 * 1024  # longer SQL is parsed every time: the caches hold at most 512 texts each


def _by_text(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` cached by its arguments (a text first) for texts up to CACHED_TEXT. Drivers and BI
    tools send the same SQL on every connection, and a short query's whole round trip is a few
    milliseconds (the split and the parse were 0.4 ms of it). Errors raise, and are not cached."""
    cached = functools.lru_cache(maxsize=512)(fn)

    @functools.wraps(fn)
    def call(text: str, *args: Any) -> T:
        return cached(text, *args) if len(text) <= CACHED_TEXT else fn(text, *args)
    return call


@_by_text
def _split(text: str) -> tuple[Statement, ...]:
    """A message's statements."""
    return tuple(split(text))


@_by_text
def _parsed(text: str, base: int) -> tuple[exp.Expression, bool, bool]:
    """A query's tree, whether it reads egress's system views, and whether it is a catalog query.
    The tree may be shared: callers copy it before any change."""
    tree = parse_one(text, base=base)
    is_system = system.is_system_query(tree)
    return tree, is_system, not is_system and shadow.is_catalog_query(tree)


FIRST_ROWS = 1024  # COPY rows sent ahead of the rest of the first batch
FLUSH = b""  # a chunk that sends what the server has gathered so far (see server._gather)
_COPY_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="egress-copy")


def _encode_ahead(encoder: CopyEncoder, batches: Iterator[pa.RecordBatch], client_behind: Callable[[], bool],
                  depth: int = 2) -> Iterator[tuple[int, memoryview]]:
    """COPY rows encoded on two threads (pyarrow kernels release the GIL), yielded in order,
    at most ``depth`` batches ahead, while the client keeps up; while it does not
    (``client_behind``: the socket was full), each batch is encoded on this thread, after the
    ones already under way. The first batch is encoded inline: it may carry the binary
    signature, the one piece of encoder state.

    Encoding ahead only helps a client that is waiting for rows. One that decodes slower than
    the server encodes (adbc-driver-postgresql, ~500k rows/s) gains nothing from it, and loses:
    on this 2-core machine every extra server thread that runs takes the client's core now and
    then. Measured over 2.5M-row pulls, two servers in the same runs, rounds alternating: ADBC
    took less time in 22 of 35 rounds (median ratio 1.04x, mean 1.026x) and its client was
    preempted less often (96-100 times a pull against 106-154); psycopg counting COPY messages
    (binary or csv), which is faster than the server, was unchanged (0.997x and 1.027x)."""
    it = iter(batches)
    first = next(it, None)
    if first is None:
        return
    # memoryviews over the encoded Arrow buffers (they keep them alive): no copy on the way to the
    # socket, which copies only what it cannot send at once. The first rows go out on their own,
    # so the client starts on them while the rest of the batch is encoded (a 32k-row batch takes
    # 20 ms; PostgreSQL sends its first row at once)
    head = first.slice(0, FIRST_ROWS)
    yield head.num_rows, encoder.encode(head)
    yield 0, FLUSH
    if first.num_rows > FIRST_ROWS:
        yield first.num_rows - FIRST_ROWS, encoder.encode(first.slice(FIRST_ROWS))
    pending: deque[tuple[int, Future[memoryview]]] = deque()
    for batch in it:
        if client_behind():
            while pending:
                rows, fut = pending.popleft()
                yield rows, fut.result()
            yield batch.num_rows, encoder.encode(batch)
            continue
        pending.append((batch.num_rows, _COPY_POOL.submit(encoder.encode, batch)))
        if len(pending) >= depth:
            rows, fut = pending.popleft()
            yield rows, fut.result()
    while pending:
        rows, fut = pending.popleft()
        yield rows, fut.result()


def _internal(exc: Exception) -> EgressError:
    """A statement's unexpected failure: logged with its traceback, answered as XX000 with no
    detail, and the session goes on (as PostgreSQL's does after an internal error)."""
    if isinstance(exc, EgressError):
        return exc
    log.error("statement failed unexpectedly", exc_info=exc)
    return InternalError("internal error", hint="the server log has the details")


_TIME_UNITS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def _milliseconds(value: str) -> int:
    """A statement_timeout as PostgreSQL reads it: a number of milliseconds, or a number with
    one of its units ("5s", "1.5 min"); anything else is 22023."""
    text = str(value).strip().strip("'").strip()
    match = re.fullmatch(r"(-?[0-9]+(?:\.[0-9]+)?)\s*(ms|s|min|h|d)?", text)
    if match is None:
        raise InvalidParameterValue(f'invalid value for parameter "statement_timeout": "{text}"',
                                    hint='Valid units for this parameter are "ms", "s", "min", "h", and "d".')
    ms = round(float(match.group(1)) * _TIME_UNITS[match.group(2) or "ms"])
    if not 0 <= ms <= 2**31 - 1:
        raise InvalidParameterValue(f"{ms} ms is outside the valid range for parameter \"statement_timeout\" "
                                    f"(0 .. 2147483647)")
    return ms


def _reported(name: str, value: str) -> Iterator[bytes]:
    """A ParameterStatus for a parameter drivers track (REPORTED), none for the others."""
    cased = _CASED.get(name, name)
    if cased in REPORTED:
        yield encode(m.ParameterStatus(cased, value))


def _check_settable(name: str) -> None:
    """SET and set_config() change client parameters only: 42501 for anything else (engine
    settings above all), 55P02 for the ones PostgreSQL fixes at start-up."""
    if name not in CLIENT_PARAMETERS:
        raise InsufficientPrivilege(f'permission denied to set parameter "{name}"',
                                    hint="only client parameters can be set; engine settings are fixed")
    if name in FIXED_PARAMETERS:
        raise CantChangeParameter(f'parameter "{name}" cannot be changed')


def _checked_parameter(name: str, value: str) -> str:
    """A client parameter's value as PostgreSQL stores it, or 22023 where PostgreSQL refuses it."""
    if name == "statement_timeout":
        return _shown_ms(_milliseconds(value))
    if name == "client_encoding":
        if not _utf8(value):
            raise FeatureNotSupported("only UTF8 client encoding is supported")
        return "UTF8"
    if name in _CHOICES:
        choice = {"debug": "debug2"}.get(value.lower(), value.lower())
        if choice not in _CHOICES[name]:
            raise InvalidParameterValue(f'invalid value for parameter "{name}": "{value}"',
                                        hint=f"Available values: {', '.join(_CHOICES[name])}.")
        return choice
    if name == "extra_float_digits":
        try:
            digits = int(value)
        except ValueError:
            raise InvalidParameterValue(f'invalid value for parameter "{name}": "{value}"') from None
        if not -15 <= digits <= 3:
            raise InvalidParameterValue(f'{digits} is outside the valid range for parameter "{name}" (-15 .. 3)')
        return str(digits)
    return value


def _quote_ident(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'


def _shown_ms(ms: int) -> str:
    """A duration as SHOW gives it: in the largest unit that holds it whole ("90s", "1500ms")."""
    for unit in ("d", "h", "min", "s"):
        if ms and ms % _TIME_UNITS[unit] == 0:
            return f"{ms // _TIME_UNITS[unit]}{unit}"
    return f"{ms}ms" if ms else "0"


_CLOCK_PARAMS = {pgtypes.DATE: "DATE", pgtypes.TIMESTAMP: "TIMESTAMP", pgtypes.TIMESTAMPTZ: "TIMESTAMPTZ"}


def _clock_params(oids: tuple[int, ...]) -> tuple[tuple[int, str], ...]:
    """The $n a client declared as a date, timestamp or timestamptz (psycopg sends a naive
    datetime as timestamp), for the policy: PostgreSQL reads a timestamp that meets a
    timestamptz on the session's clock, and so must the compiled query."""
    return tuple((i + 1, _CLOCK_PARAMS[oid]) for i, oid in enumerate(oids) if oid in _CLOCK_PARAMS)


def _format_of(formats: tuple[int, ...], i: int) -> int:
    return formats[0] if len(formats) == 1 else (formats[i] if i < len(formats) else 0)


class DuplicateCursor(EgressError, code="42P03"):
    pass


class InFailedTransaction(EgressError, code="25P02"):
    pass


class DuplicatePrepared(EgressError, code="42P05"):
    pass


class CantChangeParameter(EgressError, code="55P02"):
    pass


class ActiveTransaction(EgressError, code="25001"):
    pass


class UndefinedPrepared(EgressError, code="26000"):
    pass


class UndefinedCursor(EgressError, code="34000"):
    pass


def _utf8(name: str) -> bool:
    """asyncpg sends client_encoding='utf-8' (quotes included); libpq sends UTF8."""
    return name.strip().strip("'\"").upper().replace("-", "").replace("_", "") in ("UTF8", "UNICODE")


__all__ = ["Session", "InternalError", "QueryCanceled"]


class _JobWaiter:
    """What a CancelRequest reaches while a synchronous COPY TO 'file' waits: the job."""

    def __init__(self, jobs: Any, principal: Any, job_id: str) -> None:
        self.jobs, self.principal, self.job_id = jobs, principal, job_id

    def cancel(self) -> None:
        self.jobs.cancel(self.principal, self.job_id)
