"""Wall-clock time in a named zone, for queries that compute in the session's TimeZone.

PostgreSQL computes `created_at::date`, date_trunc(), extract(hour ...) and to_char() of a
timestamptz in the session's TimeZone, and reads a timestamp or a date as a timestamptz there.
DuckDB does that only through its icu extension, which this DuckDB has not got (extensions
cannot be installed here, and PyPI's build stops at 1.5.5): without it every zone is UTC. So
each instance gets two vectorised functions, over Arrow's own zone database (the one the wire
encoders write offsets from), and the policy engine (sql/rules/local_time.py) calls them with
the session's zone as a literal. Users cannot call them: they are not on the allowlist.

    egress_to_local(instant TIMESTAMPTZ, zone VARCHAR) -> TIMESTAMP     the wall clock there
    egress_from_local(clock TIMESTAMP, zone VARCHAR) -> TIMESTAMPTZ     the instant it was there

A wall-clock time that happens twice (clocks going back) gets the UTC offset in force after
the change, one that never happens (clocks going forward) the offset in force before it: the
offsets PostgreSQL gives them.
"""
from __future__ import annotations

import functools
import zoneinfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from duckdb.sqltypes import TIMESTAMP, TIMESTAMP_TZ, VARCHAR

from sql.rules.local_time import FROM_LOCAL, TO_LOCAL, iana_names  # the names the policy calls
from views.arrow_types import without_infinities

_CLOCK, _INSTANT = pa.timestamp("us"), pa.timestamp("us", tz="UTC")

UTC_NAMES = frozenset({"utc", "etc/utc", "gmt", "etc/gmt", "z", "zulu", "universal", "etc/universal", "+00:00"})


@functools.lru_cache(maxsize=64)
def display_zone(name: str) -> str | None:
    """The IANA zone a session's TimeZone names (any case, as PostgreSQL reads it), for
    writing timestamptz values; None for UTC and for what the zone database does not know
    (POSIX forms such as UTC+5, whose sign PostgreSQL reads the other way round: those stay
    UTC). A zone Arrow cannot use is None too, so a query never fails on it mid-stream."""
    zone = name.strip().strip("'\"")
    if zone.lower() in UTC_NAMES:
        return None
    zone = iana_names().get(zone.lower(), zone)
    try:
        zoneinfo.ZoneInfo(zone)
        pc.local_timestamp(pa.array([0], pa.timestamp("s", tz=zone)))
    except (ValueError, zoneinfo.ZoneInfoNotFoundError, pa.ArrowException):
        return None
    return zone


def _by_zone(clock_or_instant: pa.Array, zones: pa.Array, convert, empty: pa.DataType) -> pa.Array:  # type: ignore[no-untyped-def]
    """``convert`` applied per distinct zone (the policy passes one literal: one call);
    infinity and -infinity stay what they are in any zone, as in PostgreSQL."""
    if len(clock_or_instant) == 0:
        return pa.array([], empty)
    if isinstance(clock_or_instant, pa.ChunkedArray):  # DuckDB may hand a vector over in chunks
        clock_or_instant = clock_or_instant.combine_chunks()
    finite, ends = without_infinities(clock_or_instant)
    if ends is not None:
        made = _by_zone(finite, zones, convert, empty)
        return pc.if_else(pa.array(ends[0] | ends[1]), clock_or_instant.cast(pa.int64()).cast(empty), made)
    distinct = pc.unique(zones)
    if len(distinct) == 1:
        return convert(clock_or_instant, distinct[0].as_py())
    out = pa.nulls(len(clock_or_instant), empty)
    for zone in distinct.to_pylist():
        if zone is not None:
            out = pc.if_else(pc.equal(zones, zone), convert(clock_or_instant, zone), out)
    return out


def _to_local(instants: pa.Array, zone: str) -> pa.Array:
    return pc.local_timestamp(instants.cast(pa.timestamp("us", tz=zone)))


def _from_local(clocks: pa.Array, zone: str) -> pa.Array:
    # The offset in force at the later instant a clock reading twice shows it (after the
    # change), or, in a gap, just before it: local - offset is then the instant PostgreSQL gives.
    clocks = clocks.cast(_CLOCK)
    chosen = pc.assume_timezone(clocks, timezone=zone, ambiguous="latest", nonexistent="earliest")
    offset = pc.subtract(pc.local_timestamp(chosen).cast(pa.int64()), chosen.cast(pa.int64()))
    return pc.subtract(clocks.cast(pa.int64()), offset).cast(_CLOCK).cast(_INSTANT)


def to_local(instants: pa.Array, zones: pa.Array) -> pa.Array:
    return _by_zone(instants, zones, _to_local, _CLOCK)


def from_local(clocks: pa.Array, zones: pa.Array) -> pa.Array:
    return _by_zone(clocks, zones, _from_local, _INSTANT)


def register(db: duckdb.DuckDBPyConnection) -> None:
    """Both functions on an instance (before its configuration is locked); its cursors see them."""
    db.create_function(TO_LOCAL, to_local, [TIMESTAMP_TZ, VARCHAR], TIMESTAMP, type="arrow", side_effects=False)
    db.create_function(FROM_LOCAL, from_local, [TIMESTAMP, VARCHAR], TIMESTAMP_TZ, type="arrow", side_effects=False)
