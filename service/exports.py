"""An export request (view or query, filters, fields, sort, ...) -> one query tree -> files.

The request is turned into a sqlglot tree with builders and literals, never by pasting client
text into SQL; the tree then goes through the same policy call as any other query, so a filter
naming a hidden column is refused exactly as it would be in psql.
"""

from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel
from sqlglot import exp

from exporters.manifest import manifest_path, write_manifest
from exporters.pipeline import ExportResult, final_name, run_export
from service.app import App, __version__
from sql.errors import InvalidParameterValue, UndefinedTable
from sql.model import Principal
from sql.parse import parse_condition, parse_one

# --industry X and friends: option name -> column of the view
EQUALITY_FILTERS = ("industry", "business_model", "company_size", "growth_stage")


@dataclass
class ExportRequest:
    view: str | None = None
    query: str | None = None
    filter: str | None = None
    equals: dict[str, str] = field(default_factory=dict)
    location: str | None = None
    date_range: tuple[str | None, str | None] | None = None
    fields: list[str] = field(default_factory=list)
    exclude_fields: list[str] = field(default_factory=list)
    rename: dict[str, str] = field(default_factory=dict)
    sort: list[str] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    # the clock dates, hours and date literals are read on (an IANA name; None: UTC): the
    # session's TimeZone for a COPY TO 'file', the cron's zone for a schedule
    zone: str | None = None

    def describe_filters(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.filter:
            out["filter"] = self.filter
        out.update(self.equals)
        if self.location:
            out["location"] = self.location
        if self.date_range:
            out["date_range"] = f"{self.date_range[0] or ''}:{self.date_range[1] or ''}"
        return out


def parse_date_range(text: str) -> tuple[str | None, str | None]:
    start, sep, end = text.partition(":")
    if not sep:
        raise InvalidParameterValue("--date-range takes FROM:TO (either side may be empty)")
    for value in (start, end):
        if value:
            try:
                _dt.date.fromisoformat(value)
            except ValueError:
                raise InvalidParameterValue(f"--date-range: {value!r} is not a date (YYYY-MM-DD)") from None
    return start or None, end or None


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _lower(value: exp.Expression) -> exp.Expression:
    return exp.Lower(this=value)


def build_query(app: App, principal: Principal, req: ExportRequest) -> exp.Expression:
    """The user-level query for ``req`` (before policy): SELECT ... FROM source WHERE ... ."""
    if bool(req.view) == bool(req.query):
        raise InvalidParameterValue("give exactly one of --view or --query")
    view = None
    if req.view:
        view = app.catalog.view(req.view)
        if view is None or not principal.role.may_see_view(view.name):
            raise UndefinedTable(f'relation "{req.view}" does not exist')
        source: exp.Expression = exp.Table(this=exp.to_identifier(view.name))
        columns = [c.name for c in principal.visible_columns(view)]
    else:
        assert req.query is not None
        inner = parse_one(req.query)
        compiled = app.compile(principal, inner)  # refuse early, with the query's own positions
        numbers = [int(p.name) for p in inner.find_all(exp.Parameter) if str(p.name).isdigit()]
        nulls = [None] * max(numbers, default=0)  # a template's $n are bound later; NULLs plan the columns
        columns = app.warehouse.schema_of(compiled.sql, params=nulls or None).names
        source = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("q")))

    conditions: list[exp.Expression] = []
    if req.filter:
        conditions.append(exp.Paren(this=parse_condition(req.filter)))
    for key, value in req.equals.items():
        conditions.append(exp.EQ(this=_col(key), expression=exp.Literal.string(value)))
    if req.location:
        pattern = exp.Literal.string(req.location.lower())
        conditions.append(exp.Paren(this=exp.Or(
            this=exp.EQ(this=_lower(_col("country")), expression=pattern),
            expression=exp.EQ(this=_lower(_col("city")), expression=pattern.copy()),
        )))
    if req.date_range:
        date_col = view.date_column if view else None
        if not date_col:
            raise InvalidParameterValue("--date-range needs --view (it filters the view's date column)")
        start, end = req.date_range
        if start:
            conditions.append(exp.GTE(this=_col(date_col), expression=exp.cast(exp.Literal.string(start), "DATE")))
        if end:
            conditions.append(exp.LTE(this=_col(date_col), expression=exp.cast(exp.Literal.string(end), "DATE")))

    chosen = list(req.fields) if req.fields else list(columns)
    unknown = [c for c in req.exclude_fields if c not in columns]
    if unknown:
        raise InvalidParameterValue(f"--exclude-fields names unknown columns: {', '.join(unknown)}")
    chosen = [c for c in chosen if c not in set(req.exclude_fields)]
    if not chosen:
        raise InvalidParameterValue("no columns left to export")
    missing = [c for c in req.rename if c not in chosen]
    if missing:
        raise InvalidParameterValue(f"--rename names columns not exported: {', '.join(missing)}")
    projections = [exp.alias_(_col(c), req.rename[c], quoted=True) if c in req.rename else _col(c)
                   for c in chosen]

    select = exp.select(*projections).from_(source)
    for cond in conditions:
        select = select.where(cond)
    order = []
    for key in req.sort:
        key = key.strip()
        if not key:
            continue
        desc = key.startswith("-")
        name = key.lstrip("-+")
        order.append(exp.Ordered(this=_col(name), desc=desc, nulls_first=False))
    if order:
        select = select.order_by(*order)
    if req.limit is not None:
        if req.limit < 0:
            raise InvalidParameterValue("--limit must be >= 0")
        select = select.limit(req.limit)
    if req.offset:
        if req.offset < 0:
            raise InvalidParameterValue("--offset must be >= 0")
        select = select.offset(req.offset)
    return select


@dataclass
class ExportOutcome:
    result: ExportResult
    manifest: Path
    manifest_doc: dict[str, Any]
    sql_given: str
    sql_run: str


def export(
    app: App,
    principal: Principal,
    req: ExportRequest,
    *,
    fmt: str,
    output: Path,
    options: BaseModel | dict[str, Any] | None = None,
    compression: str | None = None,
    chunk_rows: int | None = None,
    chunk_bytes: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    max_file_bytes: int | None = None,
    extra_manifest: dict[str, Any] | None = None,
) -> ExportOutcome:
    tree = build_query(app, principal, req)
    given = req.query if req.query else tree.sql(dialect="postgres")
    started = _dt.datetime.now(_dt.timezone.utc)
    compiled, stream = app.stream(principal, tree, zone=req.zone)
    if on_start is not None:
        on_start(compiled.sql)
    try:
        result = run_export(stream, stream.schema, output, fmt, options, compression=compression,
                            chunk_rows=chunk_rows, chunk_bytes=chunk_bytes, progress=progress,
                            cancel=cancel, max_file_bytes=max_file_bytes)
    finally:
        stream.close()
    finished = _dt.datetime.now(_dt.timezone.utc)
    # next to the output: companies.csv.gz.manifest.json (for chunks and partitioned
    # directories too, so one export has one manifest whatever it wrote)
    if result.files and len(result.files) == 1 and "/" not in result.files[0].name:
        named = output.parent / result.files[0].name
    else:
        named = final_name(output, fmt, compression) if not output.suffix == "" else output
    mpath = manifest_path(named)
    doc = write_manifest(mpath, result, {
        "egress_version": __version__,
        "principal": {"user": principal.user, "tenant": principal.tenant, "role": principal.role.name},
        "source": {"view": req.view} if req.view else {"query": req.query},
        "filters": req.describe_filters(),
        "sql_given": given,
        "sql_run": compiled.sql,
        "time_zone": req.zone or "UTC",
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        **(extra_manifest or {}),
    })
    return ExportOutcome(result, mpath, doc, given, compiled.sql)

