"""The state store: users, jobs, deliveries, schedules, runs, templates, quotas and audit.

SQLite (WAL) under the home directory by default; any SQLAlchemy URL works too
(``postgresql+psycopg://...``), so several gateway replicas can share jobs and schedules.
SQLAlchemy Core only: one schema, two engines, no ORM. Times are UNIX seconds (float).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event

metadata = sa.MetaData()

users = sa.Table(
    "users", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("role", sa.String(200), nullable=False),
    sa.Column("verifier", sa.Text, nullable=False),
    sa.Column("md5", sa.String(64)),
    sa.Column("created_at", sa.Float, nullable=False),
)

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False, index=True),
    sa.Column("tenant", sa.String(200), nullable=False, index=True),
    sa.Column("source", sa.String(20), nullable=False),  # cli, copy, schedule, template
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("spec", sa.Text, nullable=False),  # JSON: what to export
    sa.Column("name", sa.Text, nullable=False),  # the file name in the owner's export area
    sa.Column("format", sa.String(20), nullable=False),
    sa.Column("rows_done", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_total", sa.BigInteger),
    sa.Column("bytes", sa.BigInteger, nullable=False, default=0),
    sa.Column("files", sa.Text, nullable=False, default="[]"),  # JSON [{name, rows, bytes, sha256}]
    sa.Column("manifest", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("sqlstate", sa.String(5)),
    sa.Column("cancel_requested", sa.Integer, nullable=False, default=0),
    sa.Column("schedule_id", sa.String(40), index=True),
    sa.Column("instance", sa.String(64)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("expires_at", sa.Float),
)

deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(40), nullable=False, index=True),
    sa.Column("destination", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # delivered, failed
    sa.Column("detail", sa.Text),
    sa.Column("at", sa.Float, nullable=False),
)

quota_locks = sa.Table(
    "quota_locks", metadata,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False, default=0),
)

schedules = sa.Table(
    "schedules", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False, index=True),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),  # JSON: the export, incl. file name template
    sa.Column("trigger", sa.Text, nullable=False),  # JSON: {"cron": "...", "timezone": ...} or {"every_s": n}
    sa.Column("paused", sa.Integer, nullable=False, default=0),
    sa.Column("watermark", sa.Text),
    sa.Column("keep_last", sa.Integer),
    sa.Column("retries", sa.Integer, nullable=False, default=0),
    sa.Column("watermark_column", sa.String(200)),
    sa.Column("running_since", sa.Float),  # set while a run is in progress (one at a time, any replica)
    sa.Column("runs", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("owner", "name", name="uq_schedule_owner_name"),
)

schedule_runs = sa.Table(
    "schedule_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("schedule_id", sa.String(40), nullable=False, index=True),
    sa.Column("job_id", sa.String(40)),
    sa.Column("attempt", sa.Integer, nullable=False, default=1),
    sa.Column("scheduled_for", sa.Float),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("rows", sa.BigInteger),
    sa.Column("watermark_from", sa.Text),
    sa.Column("watermark_to", sa.Text),
    sa.Column("error", sa.Text),
)

templates = sa.Table(
    "templates", metadata,
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(200)),
    sa.Column("until", sa.Float, nullable=False, default=0.0),
)

audit = sa.Table(
    "audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("user", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(200), nullable=False, index=True),
    sa.Column("role", sa.String(200)),
    sa.Column("application", sa.String(200)),
    sa.Column("kind", sa.String(20), nullable=False),  # query, copy, export, flight
    sa.Column("sql_given", sa.Text),
    sa.Column("sql_run", sa.Text),
    sa.Column("rows", sa.BigInteger),
    sa.Column("bytes", sa.BigInteger),
    sa.Column("files", sa.Text),
    sa.Column("duration_ms", sa.Float),
    sa.Column("outcome", sa.String(20), nullable=False),  # ok, error, cancelled
    sa.Column("sqlstate", sa.String(5)),
    sa.Column("job_id", sa.String(40)),
)


@dataclass(frozen=True)
class StoredUser:
    name: str
    tenant: str
    role: str
    verifier: str
    md5: str | None = None


def visible_to(table: sa.Table, principal: Any, owner_column: str = "owner") -> Any:
    """The rows of ``table`` the principal may see: their own, or their tenant's for a tenant admin."""
    if principal.role.tenant_admin:
        return table.c.tenant == principal.tenant
    return table.c[owner_column] == principal.user


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


class StateStore:
    """One engine for everything the gateway remembers. Thread-safe (SQLAlchemy's pool)."""

    def __init__(self, url_or_path: str | Path) -> None:
        if isinstance(url_or_path, Path):
            url_or_path.parent.mkdir(parents=True, exist_ok=True)
            url = sqlite_url(url_or_path)
        else:
            url = url_or_path
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                           poolclass=sa.pool.QueuePool, pool_size=8, max_overflow=16)
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # pysqlite's own BEGIN handling defers locks badly; we issue BEGIN ourselves
            event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=16)
        self._lock = threading.Lock()
        metadata.create_all(self.engine)
        self._add_missing_columns()

    def close(self) -> None:
        self.engine.dispose()

    def _add_missing_columns(self) -> None:
        """Columns added in later versions, added to an older state database (all nullable or
        defaulted, so old rows stay valid). Tables themselves come from create_all."""
        inspector = sa.inspect(self.engine)
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=self.engine.dialect)
                default = ""
                if not column.nullable:
                    value = column.default.arg if column.default is not None else 0
                    default = f" NOT NULL DEFAULT {value!r}" if isinstance(value, str) else f" NOT NULL DEFAULT {value}"
                with self.engine.begin() as conn:
                    conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{default}')

    @contextmanager
    def tx(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as conn:
            yield conn

    def exclusive(self, conn: sa.Connection, owner: str) -> None:
        """Serialize writers of one owner inside ``conn``'s transaction (quotas are checked
        atomically): a row lock on PostgreSQL, the database write lock on SQLite. Write first,
        so SQLite takes its RESERVED lock before any read of the transaction."""
        done = conn.execute(quota_locks.update().where(quota_locks.c.owner == owner)
                            .values(n=quota_locks.c.n + 1))
        if done.rowcount == 0:
            try:
                with conn.begin_nested():
                    conn.execute(quota_locks.insert().values(owner=owner, n=1))
            except sa.exc.IntegrityError:
                conn.execute(quota_locks.update().where(quota_locks.c.owner == owner)
                             .values(n=quota_locks.c.n + 1))

    # -- users ---------------------------------------------------------------------------------
    def put_user(self, user: StoredUser) -> None:
        with self.tx() as conn:
            found = conn.execute(sa.select(users.c.name).where(users.c.name == user.name)).first()
            values = {"tenant": user.tenant, "role": user.role, "verifier": user.verifier, "md5": user.md5}
            if found:
                conn.execute(users.update().where(users.c.name == user.name).values(**values))
            else:
                conn.execute(users.insert().values(name=user.name, created_at=time.time(), **values))

    def user(self, name: str) -> StoredUser | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users.c.name, users.c.tenant, users.c.role, users.c.verifier,
                                         users.c.md5).where(users.c.name == name)).first()
        return StoredUser(*row) if row else None

    def users(self) -> list[StoredUser]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(users.c.name, users.c.tenant, users.c.role, users.c.verifier,
                                          users.c.md5).order_by(users.c.name)).all()
        return [StoredUser(*row) for row in rows]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # autocommit at the driver; SQLAlchemy's BEGIN opens transactions
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def take_lease(store: StateStore, name: str, holder: str, ttl_s: float) -> bool:
    """Hold (or renew) the lease ``name`` for ttl_s seconds: True if ``holder`` has it now. One
    replica at a time runs what the lease guards (the scheduler)."""
    now = time.time()
    with store.tx() as conn:
        done = conn.execute(leases.update().where(leases.c.name == name, sa.or_(
            leases.c.holder == holder, leases.c.until < now)).values(holder=holder, until=now + ttl_s))
        if done.rowcount == 1:
            return True
        exists = conn.execute(sa.select(leases.c.name).where(leases.c.name == name)).first()
        if exists is None:
            try:
                with conn.begin_nested():
                    conn.execute(leases.insert().values(name=name, holder=holder, until=now + ttl_s))
                return True
            except sa.exc.IntegrityError:
                return False
    return False


def drop_lease(store: StateStore, name: str, holder: str) -> None:
    with store.tx() as conn:
        conn.execute(leases.update().where(leases.c.name == name, leases.c.holder == holder).values(until=0.0))
