"""Export jobs: every export (CLI, COPY TO 'file', schedule) is a row in the state store.

A job is queued, then claimed by a gateway's dispatcher (at most ``jobs.workers`` run at once per
gateway), runs as its owner with the owner's rules *at run time*, reports progress and heartbeats
at least every second, and ends succeeded, failed or cancelled; succeeded exports expire after
``jobs.retention_days``. Cancel requests travel through the store, so `egress jobs cancel` in
another process (or another replica) stops a running export; partial files never keep a final name
and are removed.

Quotas are checked inside one transaction that first takes the owner's lock row, so concurrent
requests cannot slip past a limit together.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import sqlalchemy as sa

from exporters import base
from exporters.pipeline import make_options
from exporters.sink import PARTIAL_MARK
from service import state as st
from service.config import QuotaConfig
from service.exports import ExportRequest, build_query, export
from sql.errors import (ConfigurationLimitExceeded, DiskFull, EgressError, InsufficientPrivilege,
                        InvalidParameterValue, ObjectNotFound,
                        ProgramLimitExceeded, QueryCanceled)
from sql.model import Principal

log = logging.getLogger("egress.jobs")

STATES = ("queued", "running", "succeeded", "failed", "cancelled", "expired")
ACTIVE = ("queued", "running")
DONE = ("succeeded", "failed", "cancelled", "expired")
STALE_S = 15.0  # a running job whose heartbeat is this old belongs to a gateway that died


@dataclass
class JobSpec:
    """What to export, as stored with the job (JSON) and reused by schedules and templates."""

    request: dict[str, Any]
    format: str
    name: str  # file name relative to the owner's export area
    options: dict[str, Any] = field(default_factory=dict)
    compression: str | None = None
    chunk_rows: int | None = None
    chunk_bytes: int | None = None
    deliver: list[str] = field(default_factory=list)
    extra_manifest: dict[str, Any] = field(default_factory=dict)
    output: str | None = None  # an operator's own path (CLI only; never from SQL or schedules)
    report: str | None = None  # a built-in multi-query report (service.reports) instead of one query

    def export_request(self) -> ExportRequest:
        data = dict(self.request)
        if data.get("date_range") is not None:
            data["date_range"] = tuple(data["date_range"])
        return ExportRequest(**data)

    def to_json(self) -> str:
        return st.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "JobSpec":
        return cls(**json.loads(text))


def export_area(app: Any, user: str) -> Path:
    root = Path(app.config.exports.directory)
    if not root.is_absolute():
        root = app.home / root
    area = root / user
    area.mkdir(parents=True, exist_ok=True)
    return area


def safe_target(area: Path, name: str) -> Path:
    """``name`` inside ``area``: relative, no '..', no hidden parts, no symlinks anywhere (42501)."""
    def refuse(why: str) -> InsufficientPrivilege:
        return InsufficientPrivilege(f"export file name {name!r} is not allowed: {why}",
                                     hint="give a relative name such as 'reports/companies.csv'; it is written "
                                          "into your export area")
    if not name or not name.strip():
        raise refuse("it is empty")
    if "\x00" in name or "\\" in name:
        raise refuse("it contains a NUL or a backslash")
    pure = PurePosixPath(name)
    if pure.is_absolute() or name.startswith("~"):
        raise refuse("absolute paths are refused")
    if any(part in ("..", ".") for part in pure.parts) or ".." in name.split("/"):
        raise refuse("'..' is refused")
    if any(part.startswith(".") for part in pure.parts):
        raise refuse("hidden names (starting with '.') are refused")
    current = area
    for part in pure.parts:
        current = current / part
        if current.is_symlink():
            raise refuse("it passes through a symbolic link")
    resolved = current.resolve()
    if resolved != area.resolve() and area.resolve() not in resolved.parents:
        raise refuse("it leaves the export area")
    return current


def merged_limits(app: Any, principal: Principal) -> QuotaConfig:
    quotas = app.config.quotas
    values: dict[str, Any] = quotas.default.model_dump()
    for layer in (quotas.roles.get(principal.role.name), quotas.users.get(principal.user)):
        if layer is not None:
            values.update({k: v for k, v in layer.model_dump().items() if v is not None})
    return QuotaConfig(**values)


def day_start(now: float | None = None) -> float:
    moment = dt.datetime.fromtimestamp(now or time.time(), dt.timezone.utc)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def _resets_at(now: float | None = None) -> str:
    return dt.datetime.fromtimestamp(day_start(now) + 86400, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class Usage:
    active: int
    exports_today: int
    rows_today: int


def usage(conn: sa.Connection, owner: str, now: float) -> Usage:
    j = st.jobs
    active = conn.execute(sa.select(sa.func.count()).select_from(j)
                          .where(j.c.owner == owner, j.c.state.in_(ACTIVE))).scalar_one()
    today = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(j.c.rows_done), 0))
                         .where(j.c.owner == owner, j.c.created_at >= day_start(now))).one()
    return Usage(int(active), int(today[0]), int(today[1]))


class Jobs:
    """The job service of one process: submit, dispatch, run, cancel, wait, expire."""

    def __init__(self, app: Any, *, dispatch: bool = True) -> None:
        self.app = app
        self.store: st.StateStore = app.state
        self.conf = app.config.jobs
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._pool = ThreadPoolExecutor(max_workers=self.conf.workers, thread_name_prefix="egress-job")
        self._cancels: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.after_success: list[Callable[[dict[str, Any]], None]] = []
        if dispatch:
            self.recover()
            for target, name in ((self._dispatch_loop, "egress-dispatch"), (self._sweep_loop, "egress-sweep")):
                threading.Thread(target=target, name=name, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._lock:
            for event in self._cancels.values():
                event.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- submitting ------------------------------------------------------------------------------
    def validate(self, principal: Principal, spec: JobSpec) -> Path:
        """Everything that can be refused before a job exists: format, options, the query's policy,
        the file name, the destinations."""
        base.get(spec.format)
        make_options(spec.format, spec.options)
        if spec.report is not None:
            from service.reports import REPORTS

            if spec.report not in REPORTS:
                raise ObjectNotFound(f'report "{spec.report}" does not exist',
                                     hint="reports are: " + ", ".join(sorted(REPORTS)))
        else:
            self.app.compile(principal, build_query(self.app, principal, spec.export_request()))
        if spec.output is not None:
            target = Path(spec.output)
        else:
            target = safe_target(export_area(self.app, principal.user), spec.name)
        for name in spec.deliver:
            if name not in self.app.config.destinations:
                raise ObjectNotFound(f'destination "{name}" does not exist',
                                     hint="destinations are: " + (", ".join(self.app.config.destinations) or "(none)"))
        return target

    def submit(self, principal: Principal, spec: JobSpec, *, source: str, schedule_id: str | None = None,
               inline: bool = False) -> str:
        """Queue an export (quotas checked atomically). inline=True: the caller runs it at once
        (run_inline) instead of a dispatcher; used by the CLI."""
        self.validate(principal, spec)
        limits = merged_limits(self.app, principal)
        job_id = uuid.uuid4().hex[:16]
        now = time.time()
        with self.store.tx() as conn:
            self.store.exclusive(conn, principal.user)
            used = usage(conn, principal.user, now)
            if limits.concurrent_jobs is not None and used.active >= limits.concurrent_jobs \
                    and (self.app.config.quotas.on_concurrency == "refuse" or inline):
                raise ConfigurationLimitExceeded(
                    f"quota concurrent_jobs reached: {used.active} of {limits.concurrent_jobs} jobs of user "
                    f"{principal.user} are queued or running",
                    hint="it resets as soon as one of them finishes; see SELECT * FROM egress.jobs")
            if limits.exports_per_day is not None and used.exports_today >= limits.exports_per_day:
                raise ConfigurationLimitExceeded(
                    f"quota exports_per_day reached: {used.exports_today} of {limits.exports_per_day} exports today",
                    hint=f"it resets at {_resets_at(now)}; see SELECT * FROM egress.quota")
            if limits.rows_per_day is not None and used.rows_today >= limits.rows_per_day:
                raise ConfigurationLimitExceeded(
                    f"quota rows_per_day reached: {used.rows_today} of {limits.rows_per_day} rows exported today",
                    hint=f"it resets at {_resets_at(now)}; see SELECT * FROM egress.quota")
            conn.execute(st.jobs.insert().values(
                id=job_id, owner=principal.user, tenant=principal.tenant, source=source,
                state="running" if inline else "queued", spec=spec.to_json(), name=spec.name,
                format=spec.format, rows_done=0, bytes=0, files="[]", cancel_requested=0,
                schedule_id=schedule_id, created_at=now,
                instance=self.instance if inline else None,
                started_at=now if inline else None, heartbeat_at=now if inline else None))
        if not inline:
            self._wake.set()
        return job_id

    # -- dispatching -----------------------------------------------------------------------------
    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            try:
                self._dispatch()
            except Exception:  # noqa: BLE001 - the loop must survive a bad moment of the store
                log.exception("job dispatcher")

    def _dispatch(self) -> None:
        free = self.conf.workers - len(self._cancels)
        if free <= 0:
            return
        j = st.jobs
        with self.store.engine.connect() as conn:
            queued = conn.execute(sa.select(j.c.id, j.c.owner).where(j.c.state == "queued")
                                  .order_by(j.c.created_at).limit(200)).all()
        for job_id, owner in queued:
            if free <= 0:
                return
            if self._claim(job_id, owner):
                free -= 1
                with self._lock:
                    self._cancels[job_id] = threading.Event()
                self._pool.submit(self._run_claimed, job_id)

    def _claim(self, job_id: str, owner: str) -> bool:
        with self.store.tx() as conn:
            self.store.exclusive(conn, owner)
            now = time.time()  # after the lock: started_at never precedes a finish it waited for
            if self.app.config.quotas.on_concurrency == "queue":
                try:
                    limit = merged_limits(self.app, self.app.principal(owner)).concurrent_jobs
                except EgressError:
                    limit = None
                if limit is not None:
                    running = conn.execute(sa.select(sa.func.count()).select_from(st.jobs).where(
                        st.jobs.c.owner == owner, st.jobs.c.state == "running")).scalar_one()
                    if running >= limit:
                        return False
            done = conn.execute(st.jobs.update().where(st.jobs.c.id == job_id, st.jobs.c.state == "queued")
                                .values(state="running", instance=self.instance, started_at=now, heartbeat_at=now))
            return done.rowcount == 1

    # -- running -----------------------------------------------------------------------------------
    def run_inline(self, job_id: str,
                   progress: Callable[[int, int | None], None] | None = None) -> tuple[dict[str, Any], Any]:
        """Run a job submitted with inline=True, here: its row, and its ExportOutcome (None unless
        it succeeded)."""
        with self._lock:
            self._cancels[job_id] = threading.Event()
        outcome = self._run_claimed(job_id, progress)
        return self.get(job_id), outcome

    def _run_claimed(self, job_id: str, report: Callable[[int, int | None], None] | None = None) -> Any:
        cancel = self._cancels[job_id]
        row = self.get(job_id)
        values: dict[str, Any] = {}
        target: Path | None = None
        outcome = None
        try:
            principal = self.app.principal(row["owner"])  # the owner's rules now, not at submit time
            spec = JobSpec.from_json(row["spec"])
            target = self.validate(principal, spec)
            if spec.report is not None:
                from service.reports import run_report

                outcome = run_report(self.app, principal, spec, target, cancel, job_id)
            else:
                outcome = self._run_export(job_id, principal, spec, target, cancel, report)
            values = self._succeeded(principal, spec, target, outcome)
        except QueryCanceled as err:
            values = {"state": "cancelled", "error": err.message, "sqlstate": err.sqlstate}
        except EgressError as err:
            values = {"state": "failed", "error": err.message, "sqlstate": err.sqlstate}
        except OSError as err:
            if err.errno == 28:  # ENOSPC
                e: EgressError = DiskFull("could not write the export: no space left on device",
                                          hint="free space in the export area, or export less (filters, chunks)")
            else:
                e = DiskFull(f"could not write the export: {err.strerror or err}")
                e.sqlstate = "58030"  # io_error
            values = {"state": "failed", "error": e.message, "sqlstate": e.sqlstate}
        except Exception as err:  # noqa: BLE001 - recorded, logged whole here
            log.exception("job %s failed", job_id)
            values = {"state": "failed", "error": f"internal error: {type(err).__name__}", "sqlstate": "XX000"}
        finally:
            values.setdefault("state", "failed")
            values["finished_at"] = time.time()
            self._update(job_id, **values)
            with self._lock:
                self._cancels.pop(job_id, None)
            self._wake.set()
        if values["state"] == "cancelled" and target is not None:
            _remove_partials(target)
        finished = self.get(job_id)
        self._audit(finished, outcome.sql_run if outcome is not None else None)
        for hook in self.after_success if finished["state"] == "succeeded" else []:
            try:
                hook(finished)
            except Exception:  # noqa: BLE001 - a hook never changes the job's outcome
                log.exception("after-job hook for %s", job_id)
        return outcome

    def _run_export(self, job_id: str, principal: Principal, spec: JobSpec, target: Path, cancel: threading.Event,
                    report: Callable[[int, int | None], None] | None) -> Any:
        req = spec.export_request()
        limits = merged_limits(self.app, principal)
        cap = limits.rows_per_export
        if limits.rows_per_day is not None:
            with self.store.engine.connect() as conn:
                left = limits.rows_per_day - usage(conn, principal.user, time.time()).rows_today
            cap = left if cap is None else min(cap, left)
        last = [0.0]
        total: int | None = None

        def estimate(sql_run: str) -> None:
            """The estimated total, from the query export() has just compiled."""
            nonlocal total
            total = self.app.warehouse.estimate_rows(sql_run)
            self._update(job_id, rows_total=total)

        def progress(rows: int) -> None:
            if cap is not None and rows > cap:
                which = "rows_per_export" if cap == limits.rows_per_export else "rows_per_day"
                raise ProgramLimitExceeded(f"quota {which} exceeded: the export passed {cap} rows",
                                           hint="filter the export, or ask for a higher quota")
            now = time.monotonic()
            if now - last[0] >= self.conf.progress_interval_s:
                last[0] = now
                self._heartbeat(job_id, rows, cancel)
            if report is not None:
                report(rows, total)

        return export(self.app, principal, req, fmt=spec.format, output=target, options=spec.options,
                      compression=spec.compression, chunk_rows=spec.chunk_rows,
                      chunk_bytes=spec.chunk_bytes, progress=progress, on_start=estimate, cancel=cancel,
                      max_file_bytes=limits.bytes_per_file,
                      extra_manifest={"job_id": job_id, **spec.extra_manifest})

    def _succeeded(self, principal: Principal, spec: JobSpec, target: Path, outcome: Any) -> dict[str, Any]:
        """The job row of a finished export or report: files and manifest named relative to the
        export area (an operator's --output: absolute paths, never expired)."""
        area = export_area(self.app, principal.user) if spec.output is None else None

        def name_of(path: Path) -> str:
            return str(path.relative_to(area)) if area is not None else str(path.resolve())

        files = [{"name": name_of(target.parent / f.name), "rows": f.rows, "bytes": f.bytes,
                  "sha256": f.sha256} for f in outcome.result.files]
        return {"state": "succeeded", "rows_done": outcome.result.rows, "bytes": outcome.result.bytes,
                "files": st.dumps(files), "manifest": name_of(outcome.manifest),
                "expires_at": time.time() + self.conf.retention_days * 86400 if area is not None else None}

    def _audit(self, job: dict[str, Any], sql_run: str | None) -> None:
        from types import SimpleNamespace

        try:
            principal: Any = self.app.principal(job["owner"])
        except EgressError:
            principal = SimpleNamespace(user=job["owner"], tenant=job["tenant"], role=SimpleNamespace(name=None))
        spec = json.loads(job["spec"])
        request = spec.get("request", {})
        given = request.get("query") or f"view {request.get('view')} {json.dumps({k: v for k, v in request.items() if v})}"
        took = ((job["finished_at"] or 0) - (job["started_at"] or job["created_at"])) * 1000
        self.app.audit.record(principal=principal, kind="export", outcome=job["state"], application=job["source"],
                              sql_given=given, sql_run=sql_run or None, rows=job["rows_done"], bytes_=job["bytes"],
                              files=json.loads(job["files"] or "[]"), duration_ms=took, sqlstate=job["sqlstate"],
                              job_id=job["id"])

    def _heartbeat(self, job_id: str, rows: int, cancel: threading.Event) -> None:
        with self.store.tx() as conn:
            conn.execute(st.jobs.update().where(st.jobs.c.id == job_id)
                         .values(rows_done=rows, heartbeat_at=time.time()))
            asked = conn.execute(sa.select(st.jobs.c.cancel_requested).where(st.jobs.c.id == job_id)).scalar()
        if asked:
            cancel.set()

    def _update(self, job_id: str, **values: Any) -> None:
        with self.store.tx() as conn:
            conn.execute(st.jobs.update().where(st.jobs.c.id == job_id).values(**values))

    # -- reading -----------------------------------------------------------------------------------
    def get(self, job_id: str) -> dict[str, Any]:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(st.jobs).where(st.jobs.c.id == job_id)).mappings().first()
        if row is None:
            raise ObjectNotFound(f'job "{job_id}" does not exist')
        return dict(row)

    def visible(self, principal: Principal, job_id: str) -> dict[str, Any]:
        """A job the principal may see: their own, or their tenant's for a tenant admin. Others
        get the same 42704 as a job that does not exist."""
        try:
            row = self.get(job_id)
        except ObjectNotFound:
            row = None
        if row is None or not (row["owner"] == principal.user
                               or principal.role.tenant_admin and row["tenant"] == principal.tenant):
            raise ObjectNotFound(f'job "{job_id}" does not exist')
        return row

    def list(self, principal: Principal, *, limit: int = 1000) -> list[dict[str, Any]]:
        j = st.jobs
        who = st.visible_to(j, principal)
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(j).where(who).order_by(j.c.created_at.desc()).limit(limit)).mappings().all()
        return [dict(r) for r in rows]

    def wait(self, job_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            row = self.get(job_id)
            if row["state"] in DONE or time.monotonic() >= deadline:
                return row
            time.sleep(0.05)

    # -- cancelling --------------------------------------------------------------------------------
    def cancel(self, principal: Principal, job_id: str) -> str:
        row = self.visible(principal, job_id)
        with self.store.tx() as conn:
            done = conn.execute(st.jobs.update().where(st.jobs.c.id == job_id, st.jobs.c.state == "queued")
                                .values(state="cancelled", finished_at=time.time(),
                                        error="cancelled before it started", sqlstate="57014"))
            if done.rowcount == 0 and row["state"] == "running":
                conn.execute(st.jobs.update().where(st.jobs.c.id == job_id).values(cancel_requested=1))
        with self._lock:
            event = self._cancels.get(job_id)
        if event is not None:
            event.set()
        return self.get(job_id)["state"]

    # -- recovery and retention --------------------------------------------------------------------
    def recover(self) -> int:
        """Jobs left 'running' by a gateway that died (kill -9, power loss) are failed and their
        partial files removed; queued jobs simply wait for a dispatcher."""
        now = time.time()
        host = socket.gethostname()
        failed = 0
        j = st.jobs
        with self.store.engine.connect() as conn:
            running = conn.execute(sa.select(j.c.id, j.c.owner, j.c.name, j.c.instance, j.c.heartbeat_at)
                                   .where(j.c.state == "running")).all()
        for job_id, owner, name, instance, heartbeat in running:
            dead = False
            if instance and instance.split(":")[0] == host:
                pid = int(instance.split(":")[1])
                dead = pid != os.getpid() and not _alive(pid)
            if dead or (heartbeat or 0) < now - STALE_S:
                self._update(job_id, state="failed", finished_at=now, sqlstate="57P01",
                             error="the gateway running this export stopped; no file was published, run it again")
                try:
                    _remove_partials(safe_target(export_area(self.app, owner), name))
                except EgressError:
                    pass
                failed += 1
        return failed

    def sweep(self) -> int:
        """Delete the files of expired exports and mark their jobs expired."""
        now = time.time()
        j = st.jobs
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(j.c.id, j.c.owner, j.c.files, j.c.manifest)
                                .where(j.c.state == "succeeded", j.c.expires_at < now)).all()
        for job_id, owner, files, manifest in rows:
            self.remove_files(owner, json.loads(files or "[]"), manifest)
            self._update(job_id, state="expired")
        self.recover()
        return len(rows)

    def remove_files(self, owner: str, files: list[dict[str, Any]], manifest: str | None) -> None:
        area = export_area(self.app, owner)
        for entry in files:
            _unlink(area / entry["name"])
        if manifest:
            _unlink(area / manifest)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.conf.sweep_interval_s):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001
                log.exception("export retention sweep")


def _unlink(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            import shutil
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    # a partitioned export's directory, or its now-empty parents inside the area, stay


def _remove_partials(target: Path) -> None:
    """Temporary files of an export to ``target`` (its chunks included)."""
    folder = target.parent
    if not folder.is_dir():
        return
    stem = target.name.partition(".")[0]
    for path in folder.iterdir():
        if PARTIAL_MARK in path.name and path.name.startswith("." + stem):
            _unlink(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def job_summary(row: dict[str, Any]) -> dict[str, Any]:
    """A job as users see it (CLI JSON, webhooks, NOTICEs): times as ISO 8601, files parsed."""
    def iso(t: float | None) -> str | None:
        return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat() if t else None

    return {
        "id": row["id"], "owner": row["owner"], "tenant": row["tenant"], "source": row["source"],
        "state": row["state"], "format": row["format"], "name": row["name"],
        "rows_done": row["rows_done"], "rows_total": row["rows_total"], "bytes": row["bytes"],
        "files": json.loads(row["files"] or "[]"), "manifest": row["manifest"], "error": row["error"],
        "sqlstate": row["sqlstate"], "schedule_id": row["schedule_id"], "created_at": iso(row["created_at"]),
        "started_at": iso(row["started_at"]), "finished_at": iso(row["finished_at"]),
        "expires_at": iso(row["expires_at"]),
    }



# -- file name templates ------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"\{(date|time|datetime|run|schedule)(?::([^}]*))?\}")


def render_name(template: str, when: dt.datetime, schedule: str = "", run: int = 1) -> str:
    """{date} {time} {datetime} {run} {schedule}, and strftime patterns: {date:%Y%m%d}."""
    def sub(match: re.Match[str]) -> str:
        key, fmt = match.group(1), match.group(2)
        if key == "run":
            return f"{run:05d}" if not fmt else format(run, fmt)
        if key == "schedule":
            return re.sub(r"[^A-Za-z0-9_.-]", "-", schedule or "adhoc")
        default = {"date": "%Y-%m-%d", "time": "%H%M%S", "datetime": "%Y-%m-%dT%H%M%S"}[key]
        return when.strftime(fmt or default)

    return _PLACEHOLDER.sub(sub, template)


_REPORT = re.compile(r"\s*REPORT\s+(\w+)\s+TO\s+'((?:[^']|'')+)'\s*(?:\((.*)\))?\s*;?\s*", re.I | re.S)


def spec_from_statement(text: str) -> tuple[JobSpec, bool]:
    """A COPY ... TO 'file' statement, or REPORT <name> TO 'file.pdf' [(DELIVER '...', ASYNC)]."""
    match = _REPORT.fullmatch(text)
    if match is None:
        return spec_from_copy(text)
    options: dict[str, str] = {}
    for part in (match.group(3) or "").split(","):
        words = part.strip().split(None, 1)
        if words:
            options[words[0].lower()] = words[1].strip().strip("'") if len(words) > 1 else "true"
    unknown = set(options) - {"deliver", "async"}
    if unknown:
        raise InvalidParameterValue(f"REPORT takes DELIVER and ASYNC, not {', '.join(sorted(unknown))}")
    deliver = [d.strip() for d in options.get("deliver", "").split(",") if d.strip()]
    spec = JobSpec(request={}, format="pdf", name=match.group(2).replace("''", "'"), report=match.group(1).lower(),
                   deliver=deliver)
    return spec, options.get("async", "false").lower() not in ("false", "off", "0")


# -- COPY <source> TO 'name.ext' (options): the one spelling of an export for SQL and schedules ----
_JOB_OPTIONS = {"format", "compression", "chunk_rows", "chunk_bytes", "async", "deliver"}
_EXTENSIONS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "json", ".parquet": "parquet",
               ".xlsx": "xlsx", ".pdf": "pdf"}


def spec_from_copy(text: str, zone: str | None = None) -> tuple[JobSpec, bool]:
    """(the job, ASYNC?) of a server-side ``COPY ... TO 'file' (...)`` statement. Format options
    are the CLI's (validated by the format's own model); FORMAT may be left to the extension.
    ``zone``: the TimeZone of the session that sent it, which the query computes in."""
    from sql.copy import COLUMN_SEPARATOR, parse_copy

    copy = parse_copy(text)
    if copy.target == "STDOUT":
        raise InvalidParameterValue("this COPY writes to STDOUT; a job needs TO 'file name'")
    opts = {k: v.replace(COLUMN_SEPARATOR, ",") for k, v in copy.options.items()}  # lists as the job options read them
    fmt = opts.get("format")
    if fmt is None:
        name = copy.target.lower()
        for suffix in (".gz", ".zst"):
            name = name.removesuffix(suffix)
        fmt = next((f for ext, f in _EXTENSIONS.items() if name.endswith(ext)), None)
        if fmt is None:
            raise InvalidParameterValue(f"say FORMAT for {copy.target!r}",
                                        hint="FORMAT parquet, csv, ndjson, json, xlsx or pdf")
    if fmt.lower() in ("text", "binary"):
        raise InvalidParameterValue(f"FORMAT {fmt} is for COPY TO STDOUT; files are parquet, csv, ndjson, "
                                    "json, xlsx or pdf")

    def integer(key: str) -> int | None:
        value = opts.get(key)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise InvalidParameterValue(f"{key.upper()} takes a whole number, not {value!r}") from None

    compression = opts.get("compression")
    if compression is not None and compression.lower() in ("none", "false", "off"):
        compression = None
    deliver = [d.strip() for d in (opts.get("deliver") or "").split(",") if d.strip()]
    options = {k: v for k, v in opts.items() if k not in _JOB_OPTIONS}
    if "partition_by" in options:
        options["partition_by"] = [c.strip() for c in options["partition_by"].split(",") if c.strip()]
    request = {"query": copy.query.sql(dialect="postgres"), **({"zone": zone} if zone else {})}
    spec = JobSpec(request=request, format=base.get(fmt).name,
                   name=copy.target, options=options, compression=compression.lower() if compression else None,
                   chunk_rows=integer("chunk_rows"), chunk_bytes=integer("chunk_bytes"), deliver=deliver)
    return spec, opts.get("async", "false").lower() not in ("false", "off", "0")


def raise_if_failed(row: dict[str, Any]) -> None:
    """A finished job that did not succeed, as the EgressError its row recorded."""
    if row["state"] != "succeeded":
        from sql.errors import for_sqlstate

        raise for_sqlstate(row["sqlstate"] or "XX000")(row["error"] or f"job {row['id']} {row['state']}")
