"""The application every front door shares: config -> warehouse, principals, one query path.

A query from the CLI, the PostgreSQL gateway, Flight or a schedule goes through
``App.stream(principal, sql)``: policy (sql/) first, then the executor (views/). Front doors
never handle SQL themselves.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any, Callable

from sqlglot import exp

from service import config as cfg
from service.passwords import check_password
from service.state import StateStore, StoredUser
from sql.errors import ConfigurationError, InvalidAuthorization
from sql.model import Catalog, Principal, Role
from sql.policy import Compiled, compile_query
from views import demo
from views.warehouse import EngineSettings, Stream, Warehouse

__version__ = "0.1.0"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


class App:
    def __init__(self, config: cfg.Config, config_path: Path | None = None, *,
                 announce: Callable[[str], None] = _stderr) -> None:
        self.config = config
        self.config_path = config_path
        self.home = cfg.home_dir(config, config_path)
        self.home.mkdir(parents=True, exist_ok=True)
        source = str(config_path) if config_path else "the embedded default config"
        path = Path(config.warehouse.path)
        if not path.is_absolute():
            path = self.home / path
        if not path.exists():
            if not config.warehouse.demo:
                raise ConfigurationError(
                    f"{source}: warehouse.path: {path} does not exist",
                    hint="point warehouse.path at a DuckDB file, or set warehouse.demo = true",
                )
            announce(f"egress: creating the demo warehouse ({config.warehouse.demo_companies:,} "
                     f"companies) at {path} (state under {self.home})")
            stats = demo.build(path, companies=config.warehouse.demo_companies,
                               seed=config.warehouse.demo_seed, threads=config.warehouse.threads)
            announce(f"egress: demo warehouse ready in {stats.seconds:.1f}s")
        w = config.warehouse
        self.warehouse = Warehouse(path, EngineSettings(
            threads=w.threads, memory_limit=w.memory_limit,
            preserve_insertion_order=w.preserve_insertion_order,
            stream_memory_limit=None if w.stream_memory_limit.lower() == "off" else w.stream_memory_limit,
            wire_threads=w.wire_threads, wire_memory_limit=w.wire_memory_limit,
        ))
        self.catalog: Catalog = self.warehouse.catalog
        self.roles = {name: Role(name=name, views=tuple(r.views) if r.views is not None else None,
                                 deny={v: tuple(c) for v, c in r.deny.items()},
                                 mask=r.mask, max_rows=r.max_rows, tenant_admin=r.tenant_admin)
                      for name, r in config.roles.items()}
        self._check_roles(source)
        self.state = StateStore(config.state.url or (self.home / "state.db"))
        self._compiled: dict[tuple[str, str, str, str | None], Compiled] = {}
        self._compiled_lock = threading.Lock()
        self.jobs: Any = None
        self.schedules: Any = None
        from service.audit import Audit

        self.audit = Audit(self)
        self.links: Callable[[str, str], str] | None = None  # (user, file) -> signed URL, when HTTP is on

    def _check_roles(self, source: str) -> None:
        for name, role in self.config.roles.items():
            for view, cols in list(role.deny.items()) + [(v, list(m)) for v, m in role.mask.items()]:
                v = self.catalog.view(view)
                if v is None:
                    raise ConfigurationError(
                        f"{source}: roles.{name}: unknown view {view!r}",
                        hint="views are: " + ", ".join(x.name for x in self.catalog.views))
                for col in cols:
                    if v.column(col) is None:
                        raise ConfigurationError(
                            f"{source}: roles.{name}: view {view} has no column {col!r}",
                            hint="columns are: " + ", ".join(c.name for c in v.columns))

    def start_jobs(self, *, dispatch: bool) -> Any:
        """The job service (dispatch=True in `egress serve`: it claims and runs queued jobs)."""
        if self.jobs is None:
            from service.jobs import Jobs

            from service.delivery import Deliveries

            self.jobs = Jobs(self, dispatch=dispatch)
            self.jobs.after_success.append(Deliveries(self).after_success)
        return self.jobs

    def start_schedules(self, *, run: bool) -> Any:
        """Schedules (run=True in `egress serve`: this process fires them)."""
        if self.schedules is None:
            from schedules.service import Schedules

            self.schedules = Schedules(self, run=run)
        return self.schedules

    def close(self) -> None:
        self.audit.close()
        if self.schedules is not None:
            self.schedules.close()
        if self.jobs is not None:
            self.jobs.close()
        self.warehouse.close()
        self.state.close()

    # -- principals ---------------------------------------------------------------------------
    def _user_record(self, user: str) -> tuple[str, str, str] | None:
        """(tenant, role, verifier) from the state store (users add) or the config."""
        stored = self.state.user(user)
        if stored is not None:
            return stored.tenant, stored.role, stored.verifier
        conf = self.config.users.get(user)
        if conf is not None:
            return conf.tenant, conf.role, conf.password
        return None

    def user_names(self) -> list[str]:
        return sorted(set(self.config.users) | {u.name for u in self.state.users()})

    def principal(self, user: str) -> Principal:
        record = self._user_record(user)
        if record is None:
            raise InvalidAuthorization(f'role "{user}" does not exist')
        tenant, role, _ = record
        if role not in self.roles:
            raise ConfigurationError(f"user {user} has unknown role {role!r}")
        return Principal(user=user, tenant=tenant, role=self.roles[role])

    def verifier(self, user: str) -> str | None:
        record = self._user_record(user)
        return record[2] if record else None

    def md5_hash(self, user: str) -> str | None:
        """The stored PostgreSQL md5 hash, for server.auth = "md5" (None: the user has none)."""
        stored = self.state.user(user)
        if stored is not None:
            return stored.md5
        conf = self.config.users.get(user)
        return conf.md5 if conf is not None else None

    def authenticate(self, user: str, password: str) -> Principal | None:
        verifier = self.verifier(user)
        if verifier is None or not check_password(verifier, password):
            return None
        return self.principal(user)

    def add_user(self, name: str, tenant: str, role: str, verifier: str, md5: str | None = None) -> None:
        if tenant not in self.config.tenants:
            raise ConfigurationError(f"unknown tenant {tenant!r}", hint="tenants are: " + ", ".join(self.config.tenants))
        if role not in self.roles:
            raise ConfigurationError(f"unknown role {role!r}", hint="roles are: " + ", ".join(sorted(self.roles)))
        self.state.put_user(StoredUser(name, tenant, role, verifier, md5))

    # -- the one query path -------------------------------------------------------------------
    def compile(self, principal: Principal, query: str | exp.Expression, *, zone: str | None = None,
                base: int = 0, param_types: tuple[tuple[int, str], ...] = ()) -> Compiled:
        """Policy for one query. Text is cached per (rules, text, zone): drivers send the same
        SQL again and again (adbc-driver-postgresql prepares a query, then sends it again inside
        COPY), and the rules are fixed for the life of the process. ``zone``: the session's
        TimeZone (an IANA name; None is UTC); ``base``: where the text starts in what the client
        sent, which only moves error positions (a compiled query holds none), so not in the key;
        ``param_types``: the date and time types a client declared for $n (they are in the key)."""
        if not isinstance(query, str):
            return compile_query(principal, self.catalog, query, zone=zone, param_types=param_types)
        key = (principal.tenant, principal.role.name, query, zone, param_types)
        cached = self._compiled.get(key)
        if cached is None:
            cached = compile_query(principal, self.catalog, query, zone=zone, base=base, param_types=param_types)
            with self._compiled_lock:
                if len(self._compiled) >= 4096:
                    self._compiled.pop(next(iter(self._compiled)))
                self._compiled[key] = cached
        return cached

    def stream(self, principal: Principal, query: str | exp.Expression, *,
               zone: str | None = None) -> tuple[Compiled, Stream]:
        compiled = self.compile(principal, query, zone=zone)
        return compiled, self.run(compiled)

    def run(self, compiled: Compiled, *, params: list[object] | None = None, start: bool = True,
            wire: bool = False) -> Stream:
        """A compiled query's stream, as every front door runs one: the configured batch size, the
        instance its shape calls for (Compiled.streaming; ``wire``: for a PostgreSQL wire client)
        and its role's row cap."""
        stream = self.warehouse.stream(compiled.sql, params=params, batch_rows=self.config.warehouse.batch_rows,
                                       start=start, streaming=compiled.streaming, wire=wire)
        stream.row_cap = compiled.row_cap
        return stream


def open_app(config_file: str | None = None, **kwargs: object) -> App:
    config, path = cfg.load(config_file)
    return App(config, path, **kwargs)  # type: ignore[arg-type]
