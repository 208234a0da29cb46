"""The ``egress`` schema: jobs, quota, schedules, runs, templates, deliveries and audit as SQL
tables, and the ``egress.*`` functions that act (cancel a job, run a schedule, ...).

A query over ``egress.*`` never reaches the warehouse: the rows the principal may see (their own;
a tenant admin's tenant) are copied into a private in-memory DuckDB with no file, extension or
setting access, and the query runs there after the same statement and function checks as any
other. Joining ``egress.*`` with the curated views is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any, Callable

import duckdb
import pyarrow as pa
import sqlalchemy as sa
from sqlglot import exp

from service import state as st
from sql.errors import (FeatureNotSupported, InvalidParameterValue, UndefinedFunction, UndefinedTable)
from sql.functions import display_name, is_allowed
from sql.model import Principal
from sql.to_char import written

SCHEMA = "egress"
TS = pa.timestamp("us", tz="UTC")


def _ts(value: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, dt.timezone.utc) if value else None


@dataclass
class Surface:
    schema: pa.Schema
    rows: Callable[[Any, Principal], list[dict[str, Any]]]


def _jobs_rows(app: Any, principal: Principal) -> list[dict[str, Any]]:
    jobs = app.start_jobs(dispatch=False)
    out = []
    links = app.links
    for row in jobs.list(principal, limit=100_000):
        files = json.loads(row["files"] or "[]")
        url = None
        if links is not None and row["state"] == "succeeded" and files and not files[0]["name"].startswith("/"):
            url = links(row["owner"], files[0]["name"])
        total = row["rows_total"]
        out.append({
            "id": row["id"], "owner": row["owner"], "tenant": row["tenant"], "source": row["source"],
            "state": row["state"], "format": row["format"], "name": row["name"],
            "rows_done": row["rows_done"], "rows_total": total,
            "progress": (min(1.0, row["rows_done"] / total) if total else
                         (1.0 if row["state"] == "succeeded" else None)),
            "bytes": row["bytes"], "files": json.dumps(files),
            "checksums": json.dumps({f["name"]: f["sha256"] for f in files}),
            "error": row["error"], "sqlstate": row["sqlstate"], "schedule_id": row["schedule_id"],
            "download_url": url,
            "created_at": _ts(row["created_at"]), "started_at": _ts(row["started_at"]),
            "finished_at": _ts(row["finished_at"]), "expires_at": _ts(row["expires_at"]),
        })
    return out


JOBS = pa.schema([
    ("id", pa.string()), ("owner", pa.string()), ("tenant", pa.string()), ("source", pa.string()),
    ("state", pa.string()), ("format", pa.string()), ("name", pa.string()), ("rows_done", pa.int64()),
    ("rows_total", pa.int64()), ("progress", pa.float64()), ("bytes", pa.int64()), ("files", pa.string()),
    ("checksums", pa.string()), ("error", pa.string()), ("sqlstate", pa.string()), ("schedule_id", pa.string()),
    ("download_url", pa.string()), ("created_at", TS), ("started_at", TS), ("finished_at", TS), ("expires_at", TS),
])


def _quota_rows(app: Any, principal: Principal) -> list[dict[str, Any]]:
    from service.jobs import day_start, merged_limits, usage

    limits = merged_limits(app, principal)
    now = time.time()
    with app.state.engine.connect() as conn:
        used = usage(conn, principal.user, now)
    resets = _ts(day_start(now) + 86400)
    rows = [
        ("rows_per_day", limits.rows_per_day, used.rows_today, resets),
        ("exports_per_day", limits.exports_per_day, used.exports_today, resets),
        ("concurrent_jobs", limits.concurrent_jobs, used.active, None),
        ("rows_per_export", limits.rows_per_export, None, None),
        ("bytes_per_file", limits.bytes_per_file, None, None),
    ]
    return [{"quota": q, "user": principal.user, "limit": lim, "used": u,
             "remaining": (max(0, lim - u) if lim is not None and u is not None else None), "resets_at": r}
            for q, lim, u, r in rows]


QUOTA = pa.schema([("quota", pa.string()), ("user", pa.string()), ("limit", pa.int64()), ("used", pa.int64()),
                   ("remaining", pa.int64()), ("resets_at", TS)])


def _audit_rows(app: Any, principal: Principal) -> list[dict[str, Any]]:
    a = st.audit
    with app.state.engine.connect() as conn:
        rows = conn.execute(sa.select(a).where(st.visible_to(a, principal, "user")).order_by(a.c.id.desc())
                            .limit(100_000)).mappings().all()
    return [{**{k: r[k] for k in AUDIT.names if k != "at"}, "at": _ts(r["at"])} for r in rows]


AUDIT = pa.schema([
    ("id", pa.int64()), ("at", TS), ("user", pa.string()), ("tenant", pa.string()), ("role", pa.string()),
    ("application", pa.string()), ("kind", pa.string()), ("sql_given", pa.string()), ("sql_run", pa.string()),
    ("rows", pa.int64()), ("bytes", pa.int64()), ("files", pa.string()), ("duration_ms", pa.float64()),
    ("outcome", pa.string()), ("sqlstate", pa.string()), ("job_id", pa.string()),
])


def _delivery_rows(app: Any, principal: Principal) -> list[dict[str, Any]]:
    d, j = st.deliveries, st.jobs
    with app.state.engine.connect() as conn:
        rows = conn.execute(sa.select(d, j.c.owner).join(j, j.c.id == d.c.job_id).where(st.visible_to(j, principal))
                            .order_by(d.c.id)).mappings().all()
    return [{"job_id": r["job_id"], "owner": r["owner"], "destination": r["destination"], "attempt": r["attempt"],
             "state": r["state"], "detail": r["detail"], "at": _ts(r["at"])} for r in rows]


DELIVERIES = pa.schema([("job_id", pa.string()), ("owner", pa.string()), ("destination", pa.string()),
                        ("attempt", pa.int64()), ("state", pa.string()), ("detail", pa.string()), ("at", TS)])


def _schedules(app: Any) -> Any:
    return app.start_schedules(run=False)


def _schedule_rows(app: Any, principal: Principal) -> list[dict[str, Any]]:
    out = []
    for row in _schedules(app).list(principal):
        trigger = json.loads(row["trigger"])
        out.append({"id": row["id"], "owner": row["owner"], "name": row["name"],
                    "trigger": trigger.get("cron") or f"every {trigger['every_s']}s",
                    "timezone": trigger.get("timezone"), "paused": bool(row["paused"]),
                    "export": json.loads(row["spec"])["name"], "watermark_column": row["watermark_column"],
                    "watermark": row["watermark"], "keep_last": row["keep_last"], "retries": row["retries"],
                    "runs": row["runs"], "next_run_at": _ts(row["next_run_at"]), "created_at": _ts(row["created_at"])})
    return out


SCHEDULES = pa.schema([
    ("id", pa.string()), ("owner", pa.string()), ("name", pa.string()), ("trigger", pa.string()),
    ("timezone", pa.string()), ("paused", pa.bool_()), ("export", pa.string()), ("watermark_column", pa.string()),
    ("watermark", pa.string()), ("keep_last", pa.int64()), ("retries", pa.int64()), ("runs", pa.int64()),
    ("next_run_at", TS), ("created_at", TS),
])


def _run_rows(app: Any, principal: Principal) -> list[dict[str, Any]]:
    return [{"schedule_id": r["schedule_id"], "schedule": r["name"], "owner": r["owner"], "job_id": r["job_id"],
             "attempt": r["attempt"], "state": r["state"], "rows": r["rows"], "watermark_from": r["watermark_from"],
             "watermark_to": r["watermark_to"], "error": r["error"], "started_at": _ts(r["started_at"]),
             "finished_at": _ts(r["finished_at"])} for r in _schedules(app).runs(principal)]


SCHEDULE_RUNS = pa.schema([
    ("schedule_id", pa.string()), ("schedule", pa.string()), ("owner", pa.string()), ("job_id", pa.string()),
    ("attempt", pa.int64()), ("state", pa.string()), ("rows", pa.int64()), ("watermark_from", pa.string()),
    ("watermark_to", pa.string()), ("error", pa.string()), ("started_at", TS), ("finished_at", TS),
])


def _template_rows(app: Any, principal: Principal) -> list[dict[str, Any]]:
    from service.templates import Templates

    return Templates(app).list(principal)


TEMPLATES = pa.schema([("name", pa.string()), ("kind", pa.string()), ("owner", pa.string()),
                       ("statement", pa.string()), ("description", pa.string())])


SURFACES: dict[str, Surface] = {
    "templates": Surface(TEMPLATES, _template_rows),
    "schedules": Surface(SCHEDULES, _schedule_rows),
    "schedule_runs": Surface(SCHEDULE_RUNS, _run_rows),
    "jobs": Surface(JOBS, _jobs_rows),
    "quota": Surface(QUOTA, _quota_rows),
    "audit": Surface(AUDIT, _audit_rows),
    "deliveries": Surface(DELIVERIES, _delivery_rows),
}

# name -> (handler(app, principal, args) -> value, result type); schedules and templates add theirs
FUNCTIONS: dict[str, tuple[Callable[[Any, Principal, list[Any]], Any], pa.DataType]] = {}


def _cancel_job(app: Any, principal: Principal, args: list[Any]) -> Any:
    if len(args) != 1:
        raise InvalidParameterValue("egress.cancel_job(job_id) takes one argument")
    jobs = app.start_jobs(dispatch=False)
    return jobs.cancel(principal, str(args[0]))


FUNCTIONS["cancel_job"] = (_cancel_job, pa.string())


def _add_schedule(app: Any, principal: Principal, args: list[Any]) -> Any:
    if len(args) not in (3, 4):
        raise InvalidParameterValue("egress.add_schedule(name, trigger, copy_statement [, timezone])",
                                    hint="trigger: a cron expression such as '0 6 * * 1-5', or 'every 15m'")
    return _schedules(app).add(principal, str(args[0]), str(args[1]), str(args[2]),
                               str(args[3]) if len(args) == 4 and args[3] is not None else None)


def _schedule_action(action: str) -> Callable[[Any, Principal, list[Any]], Any]:
    def handler(app: Any, principal: Principal, args: list[Any]) -> Any:
        if len(args) != 1:
            raise InvalidParameterValue(f"egress.{action}_schedule(name_or_id) takes one argument")
        schedules = _schedules(app)
        if action == "run":
            return schedules.run_now(principal, str(args[0]), wait=False)["state"]
        return getattr(schedules, action)(principal, str(args[0]))
    return handler


FUNCTIONS["add_schedule"] = (_add_schedule, pa.string())


def _template_action(action: str) -> Callable[[Any, Principal, list[Any]], Any]:
    def handler(app: Any, principal: Principal, args: list[Any]) -> Any:
        from service.templates import Templates

        templates = Templates(app)
        if action == "save":
            if len(args) != 2:
                raise InvalidParameterValue("egress.save_template(name, statement) takes two arguments")
            return templates.save(principal, str(args[0]), str(args[1]))
        if action == "run":
            if not args:
                raise InvalidParameterValue("egress.run_template(name [, parameter, ...])")
            return templates.submit(principal, str(args[0]), inline=False, params=args[1:])
        if len(args) != 1:
            raise InvalidParameterValue(f"egress.{action}_template(name) takes one argument")
        return templates.delete(principal, str(args[0]))
    return handler


for _action in ("save", "run", "delete"):
    FUNCTIONS[f"{_action}_template"] = (_template_action(_action), pa.string())
for _action in ("pause", "resume", "remove", "run"):
    FUNCTIONS[f"{_action}_schedule"] = (_schedule_action(_action), pa.string())


# -- recognising and running ------------------------------------------------------------------------
def _system_tables(tree: exp.Expression) -> list[exp.Table]:
    return [t for t in tree.find_all(exp.Table) if t.db.lower() == SCHEMA]


def _system_calls(tree: exp.Expression) -> list[exp.Dot]:
    return [d for d in tree.find_all(exp.Dot)
            if isinstance(d.this, exp.Identifier) and d.this.name.lower() == SCHEMA
            and isinstance(d.expression, (exp.Anonymous, exp.Func))]


def is_system_query(tree: exp.Expression) -> bool:
    return bool(_system_tables(tree) or _system_calls(tree))


def run(app: Any, principal: Principal, tree: exp.Expression, params: list[Any] | None = None) -> pa.Table:
    calls = _system_calls(tree)
    if calls:
        return _call(app, principal, tree, calls, params or [])
    tables = _system_tables(tree)
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table.db.lower() != SCHEMA and table.name.lower() not in ctes:
            raise FeatureNotSupported("egress.* tables cannot be combined with the curated views in one query",
                                      hint="query them separately")
    for node in tree.find_all(exp.Func):
        if not is_allowed(node):
            raise UndefinedFunction(f"function {display_name(node)} does not exist")
    names = sorted({t.name.lower() for t in tables})
    unknown = [n for n in names if n not in SURFACES]
    if unknown:
        raise UndefinedTable(f'relation "egress.{unknown[0]}" does not exist',
                             hint="egress.* tables are: " + ", ".join(sorted(SURFACES)))
    con = duckdb.connect(":memory:", config={"enable_external_access": False,
                                             "autoload_known_extensions": False, "autoinstall_known_extensions": False})
    try:
        con.execute(f"CREATE SCHEMA {SCHEMA}")
        for name in names:
            surface = SURFACES[name]
            data = pa.Table.from_pylist(surface.rows(app, principal), schema=surface.schema)
            con.register(f"_egress_{name}", data)
            con.execute(f'CREATE VIEW {SCHEMA}."{name}" AS SELECT * FROM "_egress_{name}"')
        con.execute("SET lock_configuration = true")
        sql = tree.transform(written).sql(dialect="duckdb")  # to_char's template as written (sql/to_char.py)
        try:
            relation = con.sql(sql, params=params) if params else con.sql(sql)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as err:
            from views.warehouse import translate

            raise translate(err) from None
    finally:
        con.close()


def literal_value(node: exp.Expression, params: list[Any]) -> Any:
    """A literal (or a $n parameter) of a function call as a Python value."""
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else (int(node.this) if node.this.isdigit() else float(node.this))
    if isinstance(node, exp.Boolean):
        return node.this
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Parameter) and str(node.name).isdigit() and int(node.name) <= len(params):
        return params[int(node.name) - 1]
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return -literal_value(node.this, params)
    raise FeatureNotSupported("egress.* functions take literal arguments (or $n parameters)")


def _call(app: Any, principal: Principal, tree: exp.Expression, calls: list[exp.Dot], params: list[Any]) -> pa.Table:
    select = tree
    if not (isinstance(select, exp.Select) and len(select.expressions) == 1 and not select.args.get("from_")
            and len(calls) == 1):
        raise FeatureNotSupported("call egress.* functions on their own: SELECT egress.cancel_job('...')")
    call = calls[0]
    projection = select.expressions[0]
    if projection is not call and not (isinstance(projection, exp.Alias) and projection.this is call):
        raise FeatureNotSupported("call egress.* functions on their own: SELECT egress.cancel_job('...')")
    fn = call.expression
    name = (fn.this if isinstance(fn, exp.Anonymous) else fn.sql_name()).lower()
    if name not in FUNCTIONS:
        raise UndefinedFunction(f"function egress.{name} does not exist",
                                hint="egress functions are: " + ", ".join(f"egress.{n}" for n in sorted(FUNCTIONS)))
    handler, kind = FUNCTIONS[name]
    args = [literal_value(a, params) for a in fn.expressions]
    value = handler(app, principal, args)
    column = projection.alias if isinstance(projection, exp.Alias) else name
    return pa.table({column: pa.array([value], type=kind)})


def describe(app: Any, principal: Principal, tree: exp.Expression) -> pa.Schema:
    """Result columns without acting: a function's one typed column, or the query on no rows."""
    calls = _system_calls(tree)
    if calls:
        fn = calls[0].expression
        name = (fn.this if isinstance(fn, exp.Anonymous) else fn.sql_name()).lower()
        if name not in FUNCTIONS:
            raise UndefinedFunction(f"function egress.{name} does not exist")
        projection = tree.expressions[0] if isinstance(tree, exp.Select) and tree.expressions else None
        column = projection.alias if isinstance(projection, exp.Alias) else name
        return pa.schema([(column, FUNCTIONS[name][1])])
    probe = tree.copy()
    if isinstance(probe, exp.Select):
        probe = probe.limit(0)
    nulls = [None] * len([p for p in tree.find_all(exp.Parameter)])
    return run(app, principal, probe, nulls or None).schema
