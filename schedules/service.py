"""Scheduled exports: APScheduler 3 with its job store in the state database.

A schedule is a server-side COPY statement (the same spelling as in psql) plus a trigger: a cron
expression in a time zone, or a fixed interval. Each run

- runs as the schedule's owner with the owner's rules *at that moment* (never more than the owner
  could see);
- is one at a time per schedule, across replicas (a claim on the schedule row);
- renders the file name template ({date}, {time}, {datetime}, {run}, {schedule}; strftime-style
  {date:%Y%m%d} too);
- with a watermark column exports only rows past the last successful watermark, and moves the
  watermark only when the export succeeded;
- retries a failed export (2, 4, 8 ... seconds apart), records itself in schedule_runs, and keeps
  only the last N exports when keep_last is set.

Misfires within ``schedules.misfire_grace_s`` still run, and missed runs coalesce into one.
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
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlglot import exp

from service import state as st
from service.jobs import JobSpec, render_name, spec_from_statement
from sql.errors import EgressError, InvalidParameterValue, ObjectNotFound
from sql.model import Principal
from sql.parse import parse_one
from views.zones import display_zone

log = logging.getLogger("egress.schedules")

_RUNNER: "Schedules | None" = None  # this process's running scheduler (APScheduler stores a text reference)
STALE_RUN_S = 6 * 3600.0
_SCHEDULE_OPTIONS = ("watermark", "keep_last", "retries")


def fire(schedule_id: str) -> None:
    """APScheduler's entry point (module level, so the job store can name it)."""
    if _RUNNER is None:
        log.warning("schedule %s fired with no scheduler running in this process", schedule_id)
        return
    _RUNNER.run(schedule_id)


def parse_trigger(text: str, timezone: str | None, default_tz: str) -> dict[str, Any]:
    """'every 15m' / 'every 3600s' / 'every 2h' -> interval; else a five-field cron expression."""
    text = text.strip()
    every = re.fullmatch(r"every\s+(\d+)\s*(s|m|h|d)?", text, flags=re.I)
    if every:
        seconds = int(every.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[(every.group(2) or "s").lower()]
        if seconds < 1:
            raise InvalidParameterValue("an interval must be at least one second")
        return {"every_s": seconds}
    tz = timezone or default_tz
    try:
        CronTrigger.from_crontab(text, timezone=tz)
    except (ValueError, KeyError) as err:
        raise InvalidParameterValue(f"not a valid cron expression or time zone: {text!r} in {tz!r} ({err})",
                                    hint="five fields, e.g. '0 6 * * 1-5', or 'every 15m'; "
                                         "time zones by name, e.g. Europe/Berlin") from None
    return {"cron": text, "timezone": tz}


def make_trigger(trigger: dict[str, Any]) -> Any:
    if "every_s" in trigger:
        return IntervalTrigger(seconds=int(trigger["every_s"]), timezone="UTC")
    return CronTrigger.from_crontab(trigger["cron"], timezone=trigger["timezone"])


def split_schedule_options(spec: JobSpec) -> tuple[JobSpec, dict[str, Any]]:
    """A schedule's job, with WATERMARK col / KEEP_LAST n / RETRIES n taken out of its options."""
    extra = {k: spec.options.pop(k) for k in _SCHEDULE_OPTIONS if k in spec.options}
    for key in ("keep_last", "retries"):
        if key in extra:
            try:
                extra[key] = int(extra[key])
            except ValueError:
                raise InvalidParameterValue(f"{key.upper()} takes a whole number") from None
            if extra[key] < (1 if key == "keep_last" else 0):
                raise InvalidParameterValue(f"{key.upper()} is too small")
    return spec, extra


class Schedules:
    def __init__(self, app: Any, *, run: bool) -> None:
        global _RUNNER
        self.app = app
        self.conf = app.config.schedules
        self.store: st.StateStore = app.state
        self.scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.store.engine, tablename="apscheduler_jobs")},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": self.conf.misfire_grace_s},
            executors={"default": {"type": "threadpool", "max_workers": 4}},
            timezone="UTC")
        self.running = run
        self.leader = False
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()
        # the store is written by every process (CLI, replicas); only the lease holder fires jobs
        self.scheduler.start(paused=True)
        if run:
            # set before the lead: a run missed while the gateway was down (within the grace)
            # fires as soon as the scheduler resumes, before app.schedules is assigned
            _RUNNER = self
            self._lead()
            threading.Thread(target=self._poll, name="egress-schedules-poll", daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:  # noqa: BLE001 - already stopped
            pass
        if self.leader:
            st.drop_lease(self.store, "scheduler", self.holder)

    def _lead(self) -> None:
        """Replicas share one store: the one holding the 'scheduler' lease runs the scheduler, the
        others stand by and take over within a few seconds if it stops renewing."""
        lead = st.take_lease(self.store, "scheduler", self.holder, max(5.0, self.conf.poll_s * 5))
        if lead and not self.leader:
            self.scheduler.resume()
            log.info("this gateway runs the schedules (%s)", self.holder)
        elif not lead and self.leader:
            self.scheduler.pause()
            log.info("another gateway runs the schedules now")
        self.leader = lead

    def _poll(self) -> None:
        """Renew the lease, and look again for schedules added or changed by other processes (they
        are in the store, not in this scheduler's idea of its next wake-up) every poll_s."""
        while not self._stop.wait(self.conf.poll_s):
            try:
                self._lead()
                if self.leader:
                    self.scheduler.wakeup()
            except Exception:  # noqa: BLE001
                log.exception("scheduler poll")

    # -- managing --------------------------------------------------------------------------------
    def add(self, principal: Principal, name: str, trigger_text: str, copy_text: str,
            timezone: str | None = None) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name or ""):
            raise InvalidParameterValue("a schedule name is 1-100 letters, digits, '_', '.' or '-'")
        trigger = parse_trigger(trigger_text, timezone, self.conf.timezone)
        from service.templates import resolve

        spec, extra = split_schedule_options(resolve(self.app, principal, copy_text)
                                             or spec_from_statement(copy_text)[0])
        zone = display_zone(trigger["timezone"]) if trigger.get("timezone") and not spec.report else None
        if zone is not None:  # a cron's zone is the clock its export's dates and hours are cut on
            spec = replace(spec, request={**spec.request, "zone": zone})
        jobs = self.app.start_jobs(dispatch=False)
        probe = replace(spec, name=render_name(spec.name, dt.datetime.now(dt.timezone.utc), name, 1))
        jobs.validate(principal, probe)  # refused now, not at 6 am: policy, names, formats, destinations
        if extra.get("watermark"):
            self._watermark_query(principal, spec, extra["watermark"], None)
        schedule_id = uuid.uuid4().hex[:12]
        try:
            with self.store.tx() as conn:
                conn.execute(st.schedules.insert().values(
                    id=schedule_id, owner=principal.user, tenant=principal.tenant, name=name, spec=spec.to_json(),
                    trigger=st.dumps(trigger), paused=0, watermark=None, keep_last=extra.get("keep_last"),
                    retries=extra.get("retries", 0), watermark_column=extra.get("watermark"), runs=0,
                    created_at=time.time()))
        except sa.exc.IntegrityError:
            raise InvalidParameterValue(f'you already have a schedule named "{name}"') from None
        self.scheduler.add_job(fire, make_trigger(trigger), args=[schedule_id], id=schedule_id,
                               name=f"{principal.user}/{name}", replace_existing=True)
        return schedule_id

    def find(self, principal: Principal, key: str) -> dict[str, Any]:
        s = st.schedules
        who = st.visible_to(s, principal)
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(s).where(who, sa.or_(s.c.id == key, s.c.name == key))
                               .order_by((s.c.owner == principal.user).desc())).mappings().first()
        if row is None:
            raise ObjectNotFound(f'schedule "{key}" does not exist')
        return dict(row)

    def list(self, principal: Principal) -> list[dict[str, Any]]:
        s = st.schedules
        who = st.visible_to(s, principal)
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(s).where(who).order_by(s.c.created_at)).mappings().all()
        out = []
        for row in rows:
            job = self.scheduler.get_job(row["id"])
            out.append({**dict(row), "next_run_at": job.next_run_time.timestamp() if job and job.next_run_time else None})
        return out

    def runs(self, principal: Principal) -> list[dict[str, Any]]:
        s, r = st.schedules, st.schedule_runs
        who = st.visible_to(s, principal)
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(r, s.c.name, s.c.owner).join(s, s.c.id == r.c.schedule_id).where(who)
                                .order_by(r.c.id)).mappings().all()
        return [dict(x) for x in rows]

    def pause(self, principal: Principal, key: str) -> str:
        row = self.find(principal, key)
        self._set(row["id"], paused=1)
        try:
            self.scheduler.pause_job(row["id"])
        except JobLookupError:
            pass
        return "paused"

    def resume(self, principal: Principal, key: str) -> str:
        row = self.find(principal, key)
        self._set(row["id"], paused=0)
        try:
            self.scheduler.resume_job(row["id"])
        except JobLookupError:
            self.scheduler.add_job(fire, make_trigger(json.loads(row["trigger"])), args=[row["id"]], id=row["id"],
                                   replace_existing=True)
        return "resumed"

    def remove(self, principal: Principal, key: str) -> str:
        row = self.find(principal, key)
        try:
            self.scheduler.remove_job(row["id"])
        except JobLookupError:
            pass
        with self.store.tx() as conn:
            conn.execute(st.schedules.delete().where(st.schedules.c.id == row["id"]))
        return "removed"

    def _set(self, schedule_id: str, **values: Any) -> None:
        with self.store.tx() as conn:
            conn.execute(st.schedules.update().where(st.schedules.c.id == schedule_id).values(**values))

    # -- running ---------------------------------------------------------------------------------
    def run_now(self, principal: Principal, key: str, *, wait: bool) -> dict[str, Any]:
        row = self.find(principal, key)
        if wait:
            return self.run(row["id"], manual=True) or {}
        threading.Thread(target=self.run, args=(row["id"],), kwargs={"manual": True}, daemon=True).start()
        return {"state": "started"}

    def _claim(self, schedule_id: str) -> dict[str, Any] | None:
        now = time.time()
        s = st.schedules
        with self.store.tx() as conn:
            done = conn.execute(s.update().where(s.c.id == schedule_id, sa.or_(
                s.c.running_since.is_(None), s.c.running_since < now - STALE_RUN_S))
                .values(running_since=now, runs=s.c.runs + 1))
            if done.rowcount != 1:
                return None
            row = conn.execute(sa.select(s).where(s.c.id == schedule_id)).mappings().first()
        return dict(row) if row else None

    def run(self, schedule_id: str, manual: bool = False) -> dict[str, Any] | None:
        """One run: claim, export (with retries), record, move the watermark, prune old exports."""
        with self.store.engine.connect() as conn:
            current = conn.execute(sa.select(st.schedules).where(st.schedules.c.id == schedule_id)).mappings().first()
        if current is None:
            try:
                self.scheduler.remove_job(schedule_id)
            except JobLookupError:
                pass
            return None
        if current["paused"] and not manual:
            return None
        row = self._claim(schedule_id)
        started = time.time()
        if row is None:
            self._record(schedule_id, None, 1, started, "skipped", error="the previous run is still going")
            return {"state": "skipped"}
        try:
            return self._run_claimed(row, started)
        finally:
            self._set(schedule_id, running_since=None)

    def _run_claimed(self, row: dict[str, Any], started: float) -> dict[str, Any]:
        schedule_id = row["id"]
        try:
            principal = self.app.principal(row["owner"])  # the owner's rules now
        except EgressError as err:
            self._record(schedule_id, None, 1, started, "failed", error=err.message)
            return {"state": "failed", "error": err.message}
        spec = JobSpec.from_json(row["spec"])
        when = dt.datetime.now(dt.timezone.utc)
        spec = replace(spec, name=render_name(spec.name, when, row["name"], int(row["runs"])),
                       extra_manifest={"schedule": {"id": schedule_id, "name": row["name"], "run": int(row["runs"])}})
        mark_from, mark_to = row["watermark"], None
        if row["watermark_column"]:
            try:
                spec, mark_to = self._incremental(principal, spec, row["watermark_column"], mark_from)
            except EgressError as err:
                self._record(schedule_id, None, 1, started, "failed", error=err.message, mark_from=mark_from)
                return {"state": "failed", "error": err.message}
            if mark_to is None:
                self._record(schedule_id, None, 1, started, "succeeded", rows=0, mark_from=mark_from,
                             mark_to=mark_from)
                return {"state": "succeeded", "rows": 0}
        jobs = self.app.start_jobs(dispatch=False)
        attempts = int(row["retries"] or 0) + 1
        result: dict[str, Any] = {"state": "failed"}
        for attempt in range(1, attempts + 1):
            job_id = None
            try:
                job_id = jobs.submit(principal, spec, source="schedule", schedule_id=schedule_id, inline=True)
                job, _outcome = jobs.run_inline(job_id)
                state, error, rows = job["state"], job["error"], job["rows_done"]
            except EgressError as err:
                state, error, rows = "failed", err.message, None
            self._record(schedule_id, job_id, attempt, started, state, rows=rows, error=error,
                         mark_from=mark_from, mark_to=mark_to if state == "succeeded" else None)
            result = {"state": state, "job_id": job_id, "rows": rows, "error": error}
            if state == "succeeded":
                if mark_to is not None:
                    self._set(schedule_id, watermark=mark_to)  # only now, after the files are published
                if row["keep_last"]:
                    self._prune(schedule_id, int(row["keep_last"]))
                break
            if state == "cancelled" or attempt == attempts:
                break
            time.sleep(min(60.0, 2.0 ** attempt))
        return result

    def _record(self, schedule_id: str, job_id: str | None, attempt: int, started: float, state: str, *,
                rows: int | None = None, error: str | None = None, mark_from: str | None = None,
                mark_to: str | None = None) -> None:
        with self.store.tx() as conn:
            conn.execute(st.schedule_runs.insert().values(
                schedule_id=schedule_id, job_id=job_id, attempt=attempt, scheduled_for=started, started_at=started,
                finished_at=time.time(), state=state, rows=rows, watermark_from=mark_from, watermark_to=mark_to,
                error=error))

    def _prune(self, schedule_id: str, keep: int) -> None:
        """keep_last: the newest N succeeded exports of the schedule stay; older ones are removed."""
        j = st.jobs
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(j.c.id, j.c.owner, j.c.files, j.c.manifest)
                                .where(j.c.schedule_id == schedule_id, j.c.state == "succeeded")
                                .order_by(j.c.created_at.desc())).all()
        jobs = self.app.start_jobs(dispatch=False)
        for job_id, owner, files, manifest in rows[keep:]:
            jobs.remove_files(owner, json.loads(files or "[]"), manifest)
            with self.store.tx() as conn:
                conn.execute(j.update().where(j.c.id == job_id).values(state="expired"))

    # -- incremental exports -----------------------------------------------------------------------
    def _watermark_query(self, principal: Principal, spec: JobSpec, column: str, after: str | None) -> exp.Select:
        inner = parse_one(spec.request["query"]) if spec.request.get("query") else None
        if inner is None:
            raise InvalidParameterValue("a watermark needs the schedule's COPY to name its source")
        source = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("egress_incremental")))
        select = exp.select(exp.Max(this=exp.column(column, quoted=True)).as_("mark")).from_(source)
        if after is not None:
            select = select.where(exp.GT(this=exp.column(column, quoted=True),
                                         expression=exp.cast(exp.Literal.string(after), _mark_type(after))))
        self.app.compile(principal, select)  # the column must exist and be visible to the owner
        return select

    def _incremental(self, principal: Principal, spec: JobSpec, column: str,
                     after: str | None) -> tuple[JobSpec, str | None]:
        """The export of rows with after < column <= the current maximum (fixed now, so rows that
        arrive during the export wait for the next run), and that maximum."""
        probe = self._watermark_query(principal, spec, column, after)
        compiled, stream = self.app.stream(principal, probe)
        try:
            table = stream.reader.read_all() if stream.reader is not None else None
        finally:
            stream.close()
        upto = table.column("mark")[0].as_py() if table is not None and table.num_rows else None
        if upto is None:
            return spec, None
        mark = upto.isoformat() if hasattr(upto, "isoformat") else str(upto)
        inner = parse_one(spec.request["query"])
        source = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("egress_incremental")))
        col = exp.column(column, quoted=True)
        select = exp.select(exp.Star()).from_(source).where(
            exp.LTE(this=col, expression=exp.cast(exp.Literal.string(mark), _mark_type(mark))))
        if after is not None:
            select = select.where(exp.GT(this=col.copy(), expression=exp.cast(exp.Literal.string(after), _mark_type(after))))
        request = dict(spec.request)
        request["query"] = select.sql(dialect="postgres")
        return replace(spec, request=request), mark


def _mark_type(value: str) -> str:
    """The SQL type a stored watermark is compared as."""
    if re.fullmatch(r"-?\d+", value):
        return "BIGINT"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return "DATE"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ][\d:.]+([+-]\d{2}:?\d{2}|Z)?", value):
        return "TIMESTAMPTZ"
    return "VARCHAR"

