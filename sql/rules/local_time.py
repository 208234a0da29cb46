"""timestamptz computed in the session's TimeZone, as PostgreSQL computes it.

In a session whose TimeZone is not UTC (pgjdbc sends the JVM's zone at start-up; psql users
SET it), PostgreSQL reads and cuts instants on that zone's wall clock:

    created_at::date                  ->  CAST(egress_to_local(created_at, 'Asia/Kolkata') AS DATE)
    extract(hour from created_at)     ->  EXTRACT(HOUR FROM egress_to_local(created_at, ...))
    date_trunc('day', created_at)     ->  egress_from_local(DATE_TRUNC('DAY', egress_to_local(created_at, ...)), ...)
    to_char(created_at, 'HH24')       ->  STRFTIME(egress_to_local(created_at, ...), '%H')
    created_at >= '2024-01-01'        ->  created_at >= egress_from_local(CAST('2024-01-01' AS TIMESTAMP), ...)
    created_at >= DATE '2024-01-01'   ->  the same: a date or timestamp meets a timestamptz at local midnight
    TIMESTAMPTZ '2024-01-01 10:00'    ->  egress_from_local(CAST('2024-01-01 10:00' AS TIMESTAMP), ...)
    current_date                      ->  CAST(egress_to_local(now(), ...) AS DATE)
    created_at::text, 'at ' || created_at ->  the wall clock there and its offset (19:30:00-05)
    created_at + interval '1 month 2 hours' -> months and days on the local clock, hours elapsed

DuckDB does all of these in UTC (it needs its icu extension for anything else), so a day's
boundaries were UTC's, and a New York user grouping by day got 19:00 of the day before. The two
functions are registered on every warehouse instance (views/zones.py). `x AT TIME ZONE 'zone'`
with a literal zone is answered in any session, UTC too: a timestamptz becomes that zone's
wall clock, a timestamp the instant it was there.

Types come from the annotated copy type_arithmetic uses, where a $n the client declared as a
date, timestamp or timestamptz has that type (`created_at >= $1` with a naive datetime from
psycopg is the local clock's instant). Left in UTC: an instant's epoch (it has no zone) and
operands the annotator cannot type (parameters of no declared type, masked columns other
than a year_only timestamptz, which scope_tenant cuts on the session's clock).
"""

from __future__ import annotations

import functools
import re
import zoneinfo

import sqlglot
from sqlglot import exp

from sql.errors import InvalidParameterValue
from sql.parse import filled
from sql.rules.context import Context
from sql.rules.type_arithmetic import twins, type_of

TO_LOCAL, FROM_LOCAL = "egress_to_local", "egress_from_local"  # views/zones.py
_T = exp.DataType.Type
_CLOCK = {_T.DATE, _T.TIMESTAMP, _T.TIME}
_TEXT = {_T.TEXT, _T.VARCHAR}
_INSTANT = {_T.TIMESTAMPTZ, _T.TIMESTAMPLTZ}
_NO_ZONE_FIELDS = {"EPOCH", "TIMEZONE", "TIMEZONE_HOUR", "TIMEZONE_MINUTE"}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
# a date or a date and time with no zone or offset: read on the session's clock
_CLOCK_TEXT = re.compile(r"\s*\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*")


@functools.lru_cache(maxsize=1)
def iana_names() -> dict[str, str]:
    """Every IANA zone name by its lower case: PostgreSQL matches a zone in any case."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def zone_name(text: str) -> str:
    """A zone as PostgreSQL matches it (any case), by its IANA name; 22023 if there is none."""
    name = iana_names().get(text.strip().lower())
    if name is None:
        raise InvalidParameterValue(f'time zone "{text}" not recognized')
    return name


def _call(name: str, value: exp.Expression, zone: str | None) -> exp.Expression:
    """One of views/zones.py's functions; in UTC, DuckDB's own cast does the same."""
    if zone is None:
        return exp.cast(value, "TIMESTAMP" if name == TO_LOCAL else "TIMESTAMPTZ")
    return exp.Anonymous(this=name, expressions=[value, exp.Literal.string(zone)])


def _wrap(node: exp.Expression, name: str, zone: str | None) -> None:
    """Put ``node`` inside that call in place, keeping the node (later rewrites may still find it)."""
    placeholder = exp.Null()
    node.replace(placeholder)
    placeholder.replace(_call(name, node, zone))


def _instant(twin: exp.Expression) -> bool:
    """Whether the annotated node is a timestamptz (the annotator leaves now(), date_trunc()
    of one and one plus an interval untyped or a timestamp)."""
    while isinstance(twin, (exp.Paren, exp.TimestampTrunc)):
        twin = twin.this
    if isinstance(twin, exp.Add):
        return _instant(twin.left) or _instant(twin.right)
    if isinstance(twin, exp.Sub):
        return _instant(twin.left) and not _instant(twin.right)
    return isinstance(twin, exp.CurrentTimestamp) or type_of(twin) in _INSTANT


# An interval's calendar part (months and days, added on the local clock) and its clock part
# (added as elapsed time), as PostgreSQL's timestamptz + interval applies them.
_CALENDAR = sqlglot.parse_one(
    "to_months(CAST(datepart('year', egress_i) * 12 + datepart('month', egress_i) AS INTEGER))"
    " + to_days(CAST(datepart('day', egress_i) AS INTEGER))", read="duckdb")
_ELAPSED = sqlglot.parse_one(
    "to_microseconds(datepart('hour', egress_i) * 3600000000 + datepart('minute', egress_i) * 60000000"
    " + datepart('microseconds', egress_i))", read="duckdb")


def _interval_part(template: exp.Expression, interval: exp.Expression) -> exp.Expression:
    return exp.paren(filled(template, egress_i=interval), copy=False)


def _shifted(node: exp.Add | exp.Sub, twin: exp.Add | exp.Sub, zone: str) -> None:
    """An instant plus or minus an interval: months and days on the zone's clock (a day is 23
    or 25 hours across a daylight-saving change), then the rest as elapsed time."""
    if _instant(twin.left) and type_of(twin.right) == _T.INTERVAL:
        instant, interval = node.left, node.right
    elif isinstance(node, exp.Add) and _instant(twin.right) and type_of(twin.left) == _T.INTERVAL:
        instant, interval = node.right, node.left
    else:
        return
    kind = type(node)
    clock = kind(this=_call(TO_LOCAL, instant, zone), expression=_interval_part(_CALENDAR, interval))
    node.replace(kind(this=_call(FROM_LOCAL, clock, zone), expression=_interval_part(_ELAPSED, interval)))


# timestamptz_out in a zone: the wall clock, then the offset as +HH, +HH:MM or +HH:MM:SS
_OFFSET_SECONDS = "((epoch_us(egress_l) - epoch_us(egress_x)) // 1000000)"
_INSTANT_TEXT = sqlglot.parse_one(
    "CASE WHEN isinf(egress_x) THEN CAST(egress_x AS VARCHAR) ELSE "
    "CAST(egress_l AS VARCHAR) || CASE WHEN {d} < 0 THEN '-' ELSE '+' END"
    " || lpad(CAST(abs({d}) // 3600 AS VARCHAR), 2, '0')"
    " || CASE WHEN abs({d}) % 3600 = 0 THEN '' ELSE ':' || lpad(CAST(abs({d}) % 3600 // 60 AS VARCHAR), 2, '0') END"
    " || CASE WHEN abs({d}) % 60 = 0 THEN '' ELSE ':' || lpad(CAST(abs({d}) % 60 AS VARCHAR), 2, '0') END END"
    .format(d=_OFFSET_SECONDS), read="duckdb")


def _instant_text(value: exp.Expression, zone: str) -> exp.Expression:
    """An instant as text, as PostgreSQL writes it in ``zone`` (DuckDB writes UTC, +00)."""
    made = filled(_INSTANT_TEXT, egress_l=_call(TO_LOCAL, value, zone), egress_x=value)
    return exp.paren(made, copy=False)


def _clock_literal(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal) and node.is_string and _CLOCK_TEXT.fullmatch(node.this) is not None


def _as_instant(node: exp.Expression, twin: exp.Expression, zone: str) -> None:
    """A date, a timestamp or a zone-less literal where an instant is compared: the instant
    that wall clock shows in ``zone``."""
    if _clock_literal(node) or (type_of(twin) in _CLOCK - {_T.TIME} and not _instant(twin)):
        replacement = _call(FROM_LOCAL, exp.cast(node.copy(), "TIMESTAMP"), zone)
        node.replace(replacement)


def _at_time_zone(node: exp.AtTimeZone, twin: exp.AtTimeZone) -> None:
    if not (isinstance(node.args.get("zone"), exp.Literal) and node.args["zone"].is_string):
        return  # left to DuckDB, which refuses it without icu
    zone = zone_name(node.args["zone"].this)
    if _instant(twin.this):
        node.replace(_call(TO_LOCAL, node.this, zone))
    elif type_of(twin.this) in _CLOCK - {_T.TIME}:
        node.replace(_call(FROM_LOCAL, exp.cast(node.this, "TIMESTAMP"), zone))


def _holds_instants(ctx: Context) -> bool:
    """Whether anything in the query can be a timestamptz: a view's timestamptz column, now(),
    a cast or a function that makes one, a $n declared as one. Without, the typing pass (about
    2 ms) is skipped."""
    if "TIMESTAMPTZ" in ctx.param_types.values():
        return True
    names = {c.name.lower() for name in ctx.views_used if (view := ctx.catalog.view(name)) is not None
             for c in view.columns if c.instant}
    for node in ctx.tree.walk():
        if isinstance(node, exp.Column) and node.name.lower() in names:
            return True
        if isinstance(node, (exp.CurrentTimestamp, exp.AtTimeZone, exp.UnixToTime, exp.Anonymous)):
            return True  # an unknown call may return one
        if isinstance(node, (exp.Cast, exp.TryCast)) and node.to.this in _INSTANT:
            return True
    return False


def _candidates(ctx: Context, zone: str | None) -> list[exp.Expression]:
    tree = ctx.tree
    found: list[exp.Expression] = [*tree.find_all(exp.AtTimeZone, exp.Extract)]
    found += [n for n in tree.find_all(exp.Cast, exp.TryCast)
              if n.to.this == _T.TIME or (zone is not None and n.to.this in _CLOCK | _INSTANT | _TEXT)]
    if zone is None or not (found or _holds_instants(ctx)):
        return found  # in UTC DuckDB's reading is PostgreSQL's, but for a time or a field of an instant
    return found + [*tree.find_all(exp.TimestampTrunc, exp.TimeToStr, exp.Between, exp.In, exp.DPipe, exp.Add,
                                   exp.Sub, *_COMPARISONS)]


def local_time(ctx: Context) -> None:
    zone = ctx.zone  # None in UTC (views/zones.display_zone)
    for node in list(ctx.tree.find_all(exp.CurrentDate)) if zone else []:
        if not node.args:
            node.replace(exp.cast(_call(TO_LOCAL, exp.CurrentTimestamp(), zone), "DATE"))
    nodes = _candidates(ctx, zone)
    if not nodes:
        return
    for node, twin in zip(nodes, twins(ctx, nodes), strict=True):
        if twin is None or type(twin) is not type(node):
            continue
        if isinstance(node, exp.AtTimeZone):
            _at_time_zone(node, twin)  # type: ignore[arg-type]
        elif isinstance(node, (exp.Cast, exp.TryCast)):
            target = node.to.this
            if target in _TEXT and zone is not None and _instant(twin.this):
                node.replace(_instant_text(node.this, zone))
            elif target in _CLOCK and _instant(twin.this) and (zone is not None or target == _T.TIME):
                _wrap(node.this, TO_LOCAL, zone)  # DuckDB casts an instant to a time only with icu
            elif zone is not None and target in _INSTANT and (
                    _clock_literal(node.this) or (type_of(twin.this) in _CLOCK - {_T.TIME} and not _instant(twin.this))):
                node.replace(_call(FROM_LOCAL, exp.cast(node.this, "TIMESTAMP"), zone))
        elif isinstance(node, exp.Extract):
            if node.this.name.upper() not in _NO_ZONE_FIELDS and _instant(twin.expression):
                _wrap(node.expression, TO_LOCAL, zone)
        elif zone is None:
            continue
        elif isinstance(node, (exp.TimestampTrunc, exp.TimeToStr)):
            if _instant(twin.this):
                _wrap(node.this, TO_LOCAL, zone)
                if isinstance(node, exp.TimestampTrunc):
                    _wrap(node, FROM_LOCAL, zone)
        elif isinstance(node, (exp.Add, exp.Sub)):
            _shifted(node, twin, zone)  # type: ignore[arg-type]
        elif isinstance(node, exp.DPipe):  # 'at ' || created_at: the text in the zone
            for key in ("this", "expression"):
                if _instant(twin.args[key]):
                    node.set(key, _instant_text(node.args[key], zone))
        elif isinstance(node, exp.Between):
            if _instant(twin.this):
                for key in ("low", "high"):
                    _as_instant(node.args[key], twin.args[key], zone)
        elif isinstance(node, exp.In):
            if _instant(twin.this) and len(node.expressions) == len(twin.expressions):
                for item, item_twin in zip(node.expressions, twin.expressions, strict=True):
                    _as_instant(item, item_twin, zone)
        elif _instant(twin.left):
            _as_instant(node.right, twin.right, zone)
        elif _instant(twin.right):
            _as_instant(node.left, twin.left, zone)
