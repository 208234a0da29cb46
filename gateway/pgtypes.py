"""PostgreSQL types for Arrow columns: OIDs, and whole batches encoded as DataRow messages.

Encoding is vectorised: each column becomes an array of field values (text or binary), and the
compiled row assembler (gateway/_rows.c) writes them row by row, with their length words and
message heads, into one buffer holding every DataRow of the batch (field_rows, assembled).
Python touches single values only for the rare types without a kernel (numeric in binary,
intervals, nested types).
"""

from __future__ import annotations

import datetime as dt
import decimal
import fractions
import functools
import json
import math
import re
import struct
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import duckdb
import duckdb.value.constant as duckdb_values
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exporters.encode import decimal_text, joined_bytes, may_contain, needs_quotes, quote_where, value_offsets
from sql.errors import (
    DatetimeFieldOverflow,
    FeatureNotSupported,
    InvalidDatetimeFormat,
    InvalidParameterValue,
    InvalidTextRepresentation,
    NumericValueOutOfRange,
)
from views import arrow_types, zones

try:
    from gateway import _rows
except ImportError:  # installed without a C compiler: assembled() falls back to pyarrow's take
    _rows = None

# OIDs (pg_type.oid) of the types egress sends
BOOL, BYTEA, INT8, INT2, INT4, TEXT, OID, JSON, FLOAT4, FLOAT8, UNKNOWN = 16, 17, 20, 21, 23, 25, 26, 114, 700, 701, 705
VARCHAR, DATE, TIME, TIMESTAMP, TIMESTAMPTZ, INTERVAL, NUMERIC, UUID = 1043, 1082, 1083, 1114, 1184, 1186, 1700, 2950
ARRAY_OF = {BOOL: 1000, INT2: 1005, INT4: 1007, INT8: 1016, TEXT: 1009, FLOAT4: 1021, FLOAT8: 1022,
            DATE: 1182, TIMESTAMP: 1115, TIMESTAMPTZ: 1185, NUMERIC: 1231, VARCHAR: 1015, UUID: 2951, OID: 1028,
            TIME: 1183, INTERVAL: 1187, BYTEA: 1001, JSON: 199}
ELEMENT_OF = {array: element for element, array in ARRAY_OF.items()}
TYPE_SIZE = {BOOL: 1, INT2: 2, INT4: 4, INT8: 8, FLOAT4: 4, FLOAT8: 8, DATE: 4, TIMESTAMP: 8,
             TIMESTAMPTZ: 8, UUID: 16, INTERVAL: 16, TIME: 8, OID: 4}
TYPE_NAMES = {BOOL: "boolean", BYTEA: "bytea", INT8: "bigint", INT2: "smallint", INT4: "integer",
              TEXT: "text", JSON: "json", FLOAT4: "real", FLOAT8: "double precision",
              VARCHAR: "character varying", DATE: "date", TIME: "time without time zone",
              TIMESTAMP: "timestamp without time zone", TIMESTAMPTZ: "timestamp with time zone",
              INTERVAL: "interval", NUMERIC: "numeric", UUID: "uuid", UNKNOWN: "unknown", OID: "oid"}

PG_EPOCH_DAYS = 10_957  # 2000-01-01 - 1970-01-01
PG_EPOCH_MICROS = PG_EPOCH_DAYS * 86_400_000_000


def oid_for(t: pa.DataType) -> int:
    if isinstance(t, pa.JsonType):
        return JSON
    if isinstance(t, pa.UuidType):
        return UUID
    if pa.types.is_boolean(t):
        return BOOL
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return INT2
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return INT4
    if pa.types.is_uint32(t):
        return OID  # PostgreSQL's unsigned 32-bit type; the catalog's oid[] columns arrive as these
    if pa.types.is_integer(t):
        return INT8 if not pa.types.is_uint64(t) else NUMERIC
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return FLOAT4
    if pa.types.is_floating(t):
        return FLOAT8
    if pa.types.is_decimal(t):
        return NUMERIC
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return TEXT
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return BYTEA
    if pa.types.is_date(t):
        return DATE
    if pa.types.is_timestamp(t):
        return TIMESTAMPTZ if t.tz else TIMESTAMP
    if pa.types.is_time(t):
        return TIME
    if pa.types.is_duration(t) or pa.types.is_interval(t):
        return INTERVAL
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return ARRAY_OF.get(oid_for(t.value_type), TEXT)
    if pa.types.is_dictionary(t):
        return oid_for(t.value_type)
    if isinstance(t, pa.ExtensionType) and "uuid" in str(t):
        return UUID
    if pa.types.is_fixed_size_binary(t) and t.byte_width == 16:
        return UUID
    return TEXT


# DuckDB type names (as the catalog and casts spell them) -> the OID the wire reports for them.
_SQL_TYPE_OIDS = {
    "BIGINT": INT8, "INTEGER": INT4, "INT": INT4, "SMALLINT": INT2, "DOUBLE": FLOAT8, "FLOAT": FLOAT4,
    "REAL": FLOAT4, "BOOLEAN": BOOL, "DATE": DATE, "TIMESTAMP": TIMESTAMP, "TIMESTAMP WITH TIME ZONE": TIMESTAMPTZ,
    "TIMESTAMPTZ": TIMESTAMPTZ, "VARCHAR": TEXT, "TEXT": TEXT, "UUID": UUID, "JSON": JSON, "BLOB": BYTEA,
    "INTERVAL": INTERVAL, "OID": OID, "TIME": TIME,
}


def oid_for_sql_type(name: str) -> int:
    upper = name.upper()
    if upper.endswith("[]"):
        return ARRAY_OF.get(oid_for_sql_type(upper[:-2]), TEXT)
    if upper.startswith(("DECIMAL", "NUMERIC")):
        return NUMERIC
    return _SQL_TYPE_OIDS.get(upper, TEXT)


def modifier_for_sql_type(name: str) -> int:
    """atttypmod of DECIMAL(p,s): ((p << 16) | s) + 4, as PostgreSQL stores numeric(p,s)."""
    upper = name.upper()
    if upper.startswith("DECIMAL(") and "," in upper:
        precision, scale = (int(x) for x in upper[8:-1].split(","))
        return ((precision << 16) | scale) + 4
    return -1


def modifier_for(t: pa.DataType) -> int:
    if pa.types.is_decimal(t):
        return ((t.precision << 16) | t.scale) + 4
    return -1


# -- text format --------------------------------------------------------------------------------
def float_text(value: float, single: bool = False) -> str:
    """A double (or, when ``single``, a real) as PostgreSQL's float8out (float4out) writes it:
    the shortest digits strictly inside the interval of numbers that read back as the value,
    the nearest of them to it (Ryu without bounds, as PostgreSQL builds it; repr() and Arrow
    may take a bound), fixed-point when the first digit's decimal exponent is from -4 to below
    15 (6 for real), else "1.5e-05"; "Infinity", "-Infinity", "NaN". Exact, in Python: the
    fallback of gateway/_rows.c's floats() and the text of floats inside arrays."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    x = abs(value)
    if x == 0:
        return sign + "0"
    bits, floor, normal = (24, -149, 2.0**-126) if single else (53, -1074, 2.0**-1022)
    fraction, power = math.frexp(x)
    exact, ulp = fractions.Fraction(x), fractions.Fraction(2) ** max(power - bits, floor)
    below = ulp / 2 if fraction == 0.5 and x > normal else ulp  # a power of two's lower neighbour is nearer
    low, high = exact - below / 2, exact + ulp / 2
    shortest = np.format_float_scientific(np.float32(x), unique=True) if single else repr(x)
    least = len(shortest.lower().split("e")[0].replace(".", "").strip("0")) or 1
    for digits in range(least, 18):
        near = decimal.Decimal(f"{x:.{digits - 1}e}")
        step = decimal.Decimal((0, (1,), near.as_tuple().exponent))
        for candidate in (near, near - step if fractions.Fraction(near) > exact else near + step):
            if low < fractions.Fraction(candidate) < high:
                return sign + _float_layout(candidate, 6 if single else 15)
    raise AssertionError(f"no digits for {value!r}")  # a finite float always has 17


def _float_layout(number: decimal.Decimal, fixed_below: int) -> str:
    """A positive decimal's digits laid out as float8out/float4out does (see float_text)."""
    _, digits, power = number.normalize().as_tuple()
    kept = "".join(map(str, digits))
    exponent = len(kept) - 1 + int(power)
    if -4 <= exponent < fixed_below:
        if exponent < 0:
            return "0." + "0" * (-exponent - 1) + kept
        head, rest = kept[:exponent + 1].ljust(exponent + 1, "0"), kept[exponent + 1:]
        return head + ("." + rest if rest else "")
    return kept[0] + ("." + kept[1:] if len(kept) > 1 else "") + f"e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _float_text(arr: pa.Array) -> pa.Array:
    """Floats as PostgreSQL writes them: Arrow's shortest digits (its cast), checked against
    the bounds and laid out by gateway/_rows.c's floats(); without it, float_text() per value."""
    single = pa.types.is_float32(arr.type)
    if pa.types.is_float16(arr.type):
        arr, single = pc.cast(arr, pa.float32()), True
    if _rows is not None:
        text = pc.cast(arr, pa.string())
        made = _strings(arr, "floats", text.buffers()[1], text.buffers()[2] or b"", text.offset, single)
        if made is not None:
            return made
    return pa.array([None if v is None else float_text(v, single) for v in arr.to_pylist()], pa.string())


_MICROS_PER = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _compiled_text(arr: pa.Array, micros_per_unit: int, suffix: bytes) -> pa.Array | None:
    """Dates (micros_per_unit 0) or timestamps as PostgreSQL's ISO text, formatted by
    gateway/_rows.c in one pass (Arrow's casts cost about 75 ns a value); None where the compiled
    part is missing or a value is outside years 1-9999."""
    return _strings(arr, "datetimes", micros_per_unit, suffix)


def _compiled_numbers(arr: pa.Array) -> pa.Array | None:
    """Signed integers, and decimal128 values of 64 bits with a scale of 0-18, as text by
    gateway/_rows.c (Arrow's casts: 20-90 ns a value); None where the compiled part is missing
    or a value is wider."""
    t = arr.type
    if pa.types.is_signed_integer(t):
        return _strings(arr, "numbers", t.bit_width // 8, 0)
    if pa.types.is_decimal128(t) and 0 <= t.scale <= 18:
        return _strings(arr, "numbers", 16, t.scale)
    return None


def _strings(arr: pa.Array, formatter: str, *how: Any, kind: pa.DataType = pa.string()) -> pa.Array | None:
    """The string (or binary: ``kind``) array that gateway/_rows.c's ``formatter`` makes of
    ``arr``'s values; None where the compiled part is missing or declines."""
    if _rows is None or len(arr) == 0:
        return None
    validity = arr.buffers()[0] if arr.null_count else None
    made = getattr(_rows, formatter)(arr.buffers()[1], len(arr), arr.offset, validity, *how)
    if made is None:
        return None
    offsets, data = made
    bitmap = None if validity is None else pc.is_valid(arr).buffers()[1]  # at offset 0, as the new array
    return pa.Array.from_buffers(kind, len(arr), [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)],
                                 null_count=arr.null_count)


def in_zone(batch: pa.RecordBatch, zone: str | None) -> pa.RecordBatch:
    """``batch`` with its timestamptz columns labelled with the session's zone, so that the
    text encoders write them as PostgreSQL does in that zone (a view of the same buffers:
    binary output is UTC microseconds either way)."""
    if zone is None or not any(pa.types.is_timestamp(f.type) and f.type.tz for f in batch.schema):
        return batch
    columns = [c.cast(pa.timestamp(c.type.unit, tz=zone)) if pa.types.is_timestamp(c.type) and c.type.tz else c
               for c in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _offset_text(seconds: int) -> str:
    """A UTC offset as timestamptz_out writes it: +HH, +HH:MM, or +HH:MM:SS for local mean times."""
    sign, seconds = ("-" if seconds < 0 else "+"), abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}" + (f":{minutes:02d}" if minutes or seconds else "") + (f":{seconds:02d}" if seconds else "")


def _zoned_text(arr: pa.Array) -> pa.Array:
    """timestamptz values in their array's zone (not UTC): local wall-clock text and each
    value's own offset, which moves with daylight saving time."""
    local = pc.local_timestamp(arr)
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[arr.type.unit]
    offsets = pc.divide(pc.subtract(local.cast(pa.int64()), arr.cast(pa.int64())), per_second)
    known = pc.unique(offsets.drop_null())
    suffixes = pa.array([_offset_text(int(v)) for v in known.to_pylist()], pa.string())
    suffix = pc.take(suffixes, pc.index_in(offsets, value_set=known))
    return pc.binary_join_element_wise(_timestamp_text(local, with_zone=False), suffix, "")


def _timestamp_text(arr: pa.Array, with_zone: bool) -> pa.Array:
    if with_zone and str(arr.type.tz).lower() not in zones.UTC_NAMES:
        return _zoned_text(arr)
    if arr.type.unit in _MICROS_PER:
        made = _compiled_text(arr, _MICROS_PER[arr.type.unit], b"+00" if with_zone else b"")
        if made is not None:
            return made
    try:  # whole seconds, as most are: the fast cast (a safe cast fails on any fraction)
        text = pc.cast(pc.cast(arr, pa.timestamp("s")), pa.string())
    except pa.ArrowInvalid:
        text = pc.cast(pc.cast(arr, pa.timestamp("us"), safe=False), pa.string())
        text = pc.replace_substring_regex(text, r"\.?0+$", "")
    return suffixed(text, b"+00") if with_zone else text


def suffixed(values: pa.Array, suffix: bytes) -> pa.Array:
    """Each value with ``suffix`` after it (NULL stays NULL). Values of one width are copied
    as a numpy block, without the element-wise join's cost per value."""
    block = text_block(values)
    if block is None:
        return pc.binary_join_element_wise(values, suffix.decode(), "")
    out = np.empty((block.shape[0], block.shape[1] + len(suffix)), np.uint8)
    out[:, :block.shape[1]] = block
    out[:, block.shape[1]:] = np.frombuffer(suffix, np.uint8)
    return block_values(out, values.type)


def _py_text(value: Any) -> str:
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, pa.MonthDayNano):  # an interval (a tuple, so before the arrays)
        return interval_text(value.months, value.days, value.nanoseconds // 1000)
    if isinstance(value, (list, tuple)):
        return "{" + ",".join("NULL" if v is None else _array_item(v) for v in value) + "}"
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    if isinstance(value, dt.timedelta):
        days, secs = value.days, value.seconds
        hh, rem = divmod(secs, 3600)
        mm, ss = divmod(rem, 60)
        frac = f".{value.microseconds:06d}".rstrip("0") if value.microseconds else ""
        return (f"{days} days " if days else "") + f"{hh:02d}:{mm:02d}:{ss:02d}{frac}"
    if isinstance(value, float):  # a double in a nested array (flat arrays go through _array_text)
        return float_text(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, (dt.datetime, dt.time)):  # as PostgreSQL: no trailing zeros, "+00" offsets
        text = (f"{value.year:04d}-{value.month:02d}-{value.day:02d} " if isinstance(value, dt.datetime) else "") \
            + f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
        if value.microsecond:
            text += f".{value.microsecond:06d}".rstrip("0")
        offset = value.utcoffset() if isinstance(value, dt.datetime) else None
        if offset is not None:
            minutes = int(offset.total_seconds()) // 60
            hours, rest = divmod(abs(minutes), 60)
            text += ("-" if minutes < 0 else "+") + f"{hours:02d}" + (f":{rest:02d}" if rest else "")
        return text
    return str(value)


def _array_item(v: Any) -> str:
    return _quoted_item(_py_text(v))


def _quoted_item(text: str) -> str:
    """An element's text as array_out writes it: in quotes when empty, when it reads as NULL
    (ASCII, any case), or when it holds a quote, a backslash, a brace, the delimiter or
    whitespace as array_isspace counts it (space, tab, LF, CR, VT, FF)."""
    if text == "" or any(c in text for c in ',{}"\\ \t\n\r\v\f') or (text.isascii() and text.upper() == "NULL"):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def text_values(arr: pa.Array) -> pa.Array:
    """Each value in PostgreSQL's text output format, as UTF-8 binary (NULL stays NULL)."""
    return as_binary(text_strings(arr))


def as_binary(values: pa.Array) -> pa.Array:
    """A string array as binary: the same buffers, viewed (a cast costs ~12 us a column)."""
    if pa.types.is_string(values.type):
        return values.view(pa.binary())
    return pc.cast(values, pa.binary())


def text_strings(arr: pa.Array) -> pa.Array:
    """Each value in PostgreSQL's text output format, as a string array (NULL stays NULL)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return text_strings(arr.dictionary_decode())
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        out = arr
    elif isinstance(t, pa.JsonType):
        out = arr.storage
    elif isinstance(t, pa.UuidType):
        out = _uuid_text(arr.storage)
    elif pa.types.is_boolean(t):
        out = pc.if_else(arr, "t", "f")
    elif pa.types.is_integer(t) or pa.types.is_decimal(t):
        out = _compiled_numbers(arr)
        if out is None:
            out = decimal_text(arr) if pa.types.is_decimal(t) else pc.cast(arr, pa.string())
    elif pa.types.is_floating(t):
        out = _float_text(arr)
    elif pa.types.is_date(t) or pa.types.is_timestamp(t):
        finite, ends = arrow_types.without_infinities(arr)
        if pa.types.is_timestamp(t):
            out = _timestamp_text(finite, with_zone=t.tz is not None)
        else:
            made = _compiled_text(finite, 0, b"") if pa.types.is_date32(t) else None
            out = pc.cast(finite, pa.string()) if made is None else made
        if ends is not None:
            out = pc.if_else(pa.array(ends[0]), "infinity", pc.if_else(pa.array(ends[1]), "-infinity", out))
    elif pa.types.is_time(t):  # fractions without trailing zeros, none when whole, as PostgreSQL writes them
        out = pc.replace_substring_regex(pc.cast(pc.cast(arr, pa.time64("us")), pa.string()), r"\.?0+$", "")
    elif pa.types.is_interval(t):
        out = pa.array([None if v is None else interval_text(v.months, v.days, v.nanoseconds // 1000)
                        for v in arr.to_pylist()], pa.string())
    elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and not pa.types.is_nested(t.value_type):
        out = _array_text(arr)
    else:
        out = pa.array([None if v is None else _py_text(v) for v in arr.to_pylist()], pa.string())
    return out


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)


def _uuid_text(raw: pa.FixedSizeBinaryArray) -> pa.Array:
    """16-byte uuids as uuid_out writes them: lowercase 8-4-4-4-12 hex."""
    n = len(raw)
    octets = np.frombuffer(raw.buffers()[1], np.uint8, 16 * n, 16 * raw.offset).reshape(n, 16)
    nibbles = np.empty((n, 16, 2), np.uint8)
    nibbles[:, :, 0], nibbles[:, :, 1] = octets >> 4, octets & 0x0F
    hexes = _HEX_DIGITS.take(nibbles.reshape(n, 32))
    text = np.full((n, 36), ord("-"), np.uint8)
    at = 0
    for a, b in arrow_types.UUID_GROUPS:
        text[:, a:b] = hexes[:, at:at + b - a]
        at += b - a
    out = block_values(text, pa.string())
    return out if not raw.null_count else pc.if_else(pc.is_valid(raw), out, pa.scalar(None, pa.string()))


def _array_text(arr: pa.Array) -> pa.Array:
    """One-dimensional arrays as array_out writes them: each element in the text its type has
    as a column (a real's digits are a real's, not a double's), quoted where array_out quotes.
    The braces and commas are joined per array in Python: arrays are rare in these views."""
    items = text_strings(arr.values).to_pylist()
    offsets = arr.offsets.to_pylist()
    return pa.array([None if not valid else
                     "{" + ",".join("NULL" if e is None else _quoted_item(e) for e in items[offsets[i]:offsets[i + 1]]) + "}"
                     for i, valid in enumerate(arr.is_valid().to_pylist())], pa.string())


def interval_text(months: int, days: int, micros: int) -> str:
    """An interval as PostgreSQL writes it (IntervalStyle postgres, its EncodeInterval): years,
    mons and days each with its own sign, "+" on a positive part after a negative one, then the
    time, which is shown when nonzero or when nothing else is ("1 year 2 mons -3 days +04:05:06.5")."""
    years = int(months / 12)  # toward zero, as C divides
    parts: list[str] = []
    before = False
    for value, unit in ((years, "year"), (months - years * 12, "mon"), (days, "day")):
        if value:
            parts.append(f"{'+' if before and value > 0 else ''}{value} {unit}{'' if value == 1 else 's'}")
            before = value < 0
    if micros or not parts:
        hours, rest = divmod(abs(micros), 3_600_000_000)
        minutes, rest = divmod(rest, 60_000_000)
        seconds, fraction = divmod(rest, 1_000_000)
        sign = "-" if micros < 0 else ("+" if before else "")
        parts.append(f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}" + (f".{fraction:06d}".rstrip("0") if fraction else ""))
    return " ".join(parts)


# -- binary format ------------------------------------------------------------------------------
def _fixed(block: np.ndarray, validity: pa.Array) -> pa.Array:
    """The rows of a fixed_block() as binary values, NULL where ``validity`` is."""
    out = block_values(block)
    if validity.null_count:
        out = pc.if_else(pc.is_valid(validity), out, pa.scalar(None, pa.binary()))
    return out


def _numeric_binary(value: decimal.Decimal) -> bytes:
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN / Infinity
        return struct.pack("!hhHH", 0, 0, 0xC000, 0)
    dscale = max(-exponent, 0)
    text = "".join(map(str, digits))
    if exponent > 0:
        text += "0" * exponent
        exponent = 0
    elif len(text) < -exponent:
        text = "0" * (-exponent - len(text)) + text
    int_part = text[: len(text) + exponent] if exponent < 0 else text
    frac_part = text[len(text) + exponent:] if exponent < 0 else ""
    int_part = int_part.lstrip("0")
    int_part = "0" * (-len(int_part) % 4) + int_part
    frac_part = frac_part + "0" * (-len(frac_part) % 4)
    groups = [int(int_part[i:i + 4]) for i in range(0, len(int_part), 4)]
    weight = len(groups) - 1
    groups += [int(frac_part[i:i + 4]) for i in range(0, len(frac_part), 4)]
    while groups and groups[-1] == 0:
        groups.pop()
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    if not groups:
        weight = 0
    return struct.pack(f"!hhHH{len(groups)}H", len(groups), weight, 0x4000 if sign else 0, dscale, *groups)


def _numeric_binary_vector(arr: pa.Array) -> pa.Array:
    """decimal128 (precision <= 18, at least one value) as PostgreSQL binary numerics, whole
    batch at once, byte for byte as numeric_send writes them.

    Every value is first laid out alike: as many integer base-10000 groups as the largest value
    needs, then ceil(scale / 4) fraction groups. Then each value drops its leading and trailing
    zero groups, as PostgreSQL stores numerics (ndigits and weight follow), by one boolean mask
    over the whole (n, words) block; the kept words, row by row, are the values back to back."""
    t = arr.type
    n = len(arr)
    words = np.frombuffer(arr.buffers()[1], dtype="<i8")[arr.offset * 2:(arr.offset + n) * 2]
    unscaled = words[0::2].copy()  # the low 64 bits hold the whole value when precision <= 18
    if arr.null_count:
        unscaled[~np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False))] = 0
    negative = unscaled < 0
    magnitude = np.abs(unscaled)
    scale = t.scale
    integer = magnitude // 10 ** scale  # floor_divide by a scalar uses libdivide: half divmod's time
    fraction = magnitude - integer * 10 ** scale
    frac_groups = -(-scale // 4)
    fraction = fraction * (10 ** (frac_groups * 4 - scale))
    int_groups = max(1, -(-len(str(int(integer.max()))) // 4))  # digits counted exactly: log10 of a
    # float rounds 10**16 - 1 up to 10**16, and 10**16 itself lost a group
    count = int_groups + frac_groups
    raw = np.empty((n, 4 + count), dtype=">u2")  # big-endian 16-bit words, as on the wire
    raw[:, 2] = np.where(negative, 0x4000, 0)
    raw[:, 3] = scale
    # base-10000 groups, lowest first: one divmod per group
    for first, size, value in ((4, int_groups, integer), (4 + int_groups, frac_groups, fraction)):
        for i in range(first + size - 1, first - 1, -1):
            quotient = value // 10_000
            raw[:, i] = value - quotient * 10_000
            value = quotient
    # which groups are nonzero, as a bit pattern per value; what to keep follows from the pattern
    pattern = np.zeros(n, dtype=np.intp)
    for i in range(count):
        pattern |= (raw[:, 4 + i] != 0).astype(np.intp) << i
    lead, kept, keep_groups = _digit_runs(count)
    raw[:, 0] = kept[pattern]
    raw[:, 1] = np.where(pattern != 0, int_groups - 1 - lead[pattern], 0) & 0xFFFF  # weight -1: 0xFFFF
    keep = np.ones((n, 4 + count), dtype=bool)
    keep[:, 4:] = keep_groups[pattern]
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum((4 + kept[pattern]) * 2, out=offsets[1:])
    validity = pc.is_valid(arr).buffers()[1] if arr.null_count else None
    return pa.Array.from_buffers(pa.binary(), n, [validity, pa.py_buffer(offsets), pa.py_buffer(raw[keep])],
                                 null_count=arr.null_count)


@functools.lru_cache(maxsize=16)
def _digit_runs(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pattern of nonzero groups among ``count``: how many leading zero groups go (0 for
    zero), how many groups stay, and which ones (zero keeps none, and weight 0)."""
    patterns = np.arange(1 << count)
    bits = (patterns[:, None] >> np.arange(count)) & 1 == 1
    some = bits.any(axis=1)
    lead = np.where(some, bits.argmax(axis=1), 0)
    trail = np.where(some, bits[:, ::-1].argmax(axis=1), count)
    column = np.arange(count)
    keep = (column >= lead[:, None]) & (column < (count - trail)[:, None])
    return lead, keep.sum(axis=1), keep


def fixed_block(arr: pa.Array) -> np.ndarray | None:
    """The binary form of every value as an (n, width) uint8 block, for the types whose values
    all have one width within a batch (NULL slots hold zeros); None for the others."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return None
    oid = oid_for(t)
    if oid == BOOL:
        values = np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=np.uint8)
    elif oid in (INT2, INT4, INT8, OID):
        values = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False).astype(
            {INT2: ">i2", INT4: ">i4", INT8: ">i8", OID: ">u4"}[oid])
    elif oid in (FLOAT4, FLOAT8):
        values = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False).astype(">f4" if oid == FLOAT4 else ">f8")
    elif oid in (DATE, TIMESTAMP, TIMESTAMPTZ):
        finite, ends = arrow_types.without_infinities(arr)
        if oid == DATE:
            days = pc.cast(pc.cast(finite, pa.date32()), pa.int32())
            values = (pc.fill_null(days, 0).to_numpy(zero_copy_only=False).astype(np.int64) - PG_EPOCH_DAYS).astype(">i4")
        else:
            micros = pc.cast(pc.cast(finite, pa.timestamp("us", tz=t.tz), safe=False), pa.int64())
            values = (pc.fill_null(micros, 0).to_numpy(zero_copy_only=False) - PG_EPOCH_MICROS).astype(">i8")
        if ends is not None:  # PostgreSQL's infinity and -infinity: the largest and smallest values
            top = np.iinfo(values.dtype)
            values[ends[0]], values[ends[1]] = top.max, top.min
    elif oid == TIME:
        micros = pc.cast(pc.cast(arr, pa.time64("us")), pa.int64())
        values = pc.fill_null(micros, 0).to_numpy(zero_copy_only=False).astype(">i8")
    elif oid == UUID and isinstance(t, pa.UuidType):
        raw = arr.storage
        return np.frombuffer(raw.buffers()[1], np.uint8, 16 * len(raw), 16 * raw.offset).reshape(len(raw), 16)
    elif oid == INTERVAL and pa.types.is_interval(t) and len(arr):
        # Arrow: int32 months, int32 days, int64 nanoseconds; PostgreSQL: int64 µs, int32 days, int32 months
        raw = np.frombuffer(arr.buffers()[1], np.dtype([("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")]),
                            len(arr), arr.offset * 16)
        values = np.empty(len(arr), np.dtype([("micros", ">i8"), ("days", ">i4"), ("months", ">i4")]))
        values["micros"], values["days"], values["months"] = raw["nanos"] // 1000, raw["days"], raw["months"]
        if arr.null_count:
            values[pc.is_null(arr).to_numpy(zero_copy_only=False)] = (0, 0, 0)
    else:
        return None
    return np.ascontiguousarray(values).view(np.uint8).reshape(len(arr), -1)


def binary_values(arr: pa.Array) -> pa.Array:
    """Each value in PostgreSQL's binary format (NULL stays NULL)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return binary_values(arr.dictionary_decode())
    oid = oid_for(t)
    if oid in (TEXT, VARCHAR) and (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return as_binary(arr)
    if oid == BYTEA:
        return pc.cast(arr, pa.binary())
    block = fixed_block(arr)
    if block is not None:
        return _fixed(block, arr)
    if oid == NUMERIC and pa.types.is_decimal128(t) and 0 <= t.scale <= 18:
        made = _strings(arr, "numerics", t.scale, kind=pa.binary())  # 0.2 ms a 32k batch, numpy's 2.2
        if made is not None:
            return made
    if oid == NUMERIC and pa.types.is_decimal128(t) and t.precision <= 18 and t.scale <= 8 and len(arr):
        return _numeric_binary_vector(arr)
    if oid == NUMERIC:
        return pa.array([None if v is None else _numeric_binary(decimal.Decimal(v)) for v in arr.to_pylist()], pa.binary())
    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and oid != TEXT:
        return _array_binary(arr)
    if oid == UUID:
        return pa.array([None if v is None else uuid.UUID(str(v)).bytes for v in arr.to_pylist()], pa.binary())
    # json's binary form is its text; so is that of text-like types the checks above left
    if oid in (TEXT, JSON):
        return text_values(arr)
    raise FeatureNotSupported(f"binary format is not supported for type {TYPE_NAMES.get(oid, t)}",
                              hint="request text format for this column")


def _array_binary(arr: pa.Array) -> pa.Array:
    """One-dimensional arrays in PostgreSQL's binary form (array_send): dimensions, a has-NULL
    flag and the element type, then each element as a length and its binary value (-1 for NULL).
    The elements are encoded together; each array is framed in Python (arrays are rare)."""
    element_oid = oid_for(arr.type.value_type)
    flat = pc.list_flatten(arr)
    elements = binary_values(flat) if len(flat) else pa.array([], pa.binary())
    values, lengths = elements.to_pylist(), byte_lengths(elements)
    offsets = pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False).cumsum()
    out: list[bytes | None] = []
    start = 0
    for valid, end in zip(arr.is_valid().to_pylist(), offsets.tolist(), strict=True):
        if not valid:
            out.append(None)
            continue
        items = values[start:end]
        if not items:
            out.append(struct.pack("!iii", 0, 0, element_oid))
        else:
            body = b"".join(struct.pack("!i", -1) if v is None else struct.pack("!i", int(n)) + v
                            for v, n in zip(items, lengths[start:end], strict=True))
            out.append(struct.pack("!iiiii", 1, int(None in items), element_oid, len(items), 1) + body)
        start = end
    return pa.array(out, pa.binary())


# -- DataRow assembly ---------------------------------------------------------------------------
def block_values(block: np.ndarray, value_type: pa.DataType = pa.binary()) -> pa.Array:
    """The rows of an (n, width) uint8 block as binary (or string) values, sharing the block's bytes."""
    n, width = block.shape
    wide = pa.types.is_large_binary(value_type) or pa.types.is_large_string(value_type)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64 if wide else np.int32)
    return pa.Array.from_buffers(value_type, n, [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(block))])


def _has_offsets(t: pa.DataType) -> bool:
    """Binary or string with an offsets buffer: what value_offsets() reads."""
    return pa.types.is_binary(t) or pa.types.is_string(t) or pa.types.is_large_binary(t) or pa.types.is_large_string(t)


def text_block(values: pa.Array) -> np.ndarray | None:
    """A NULL-free binary or string array whose values all have one width, as an (n, width)
    uint8 block viewing its data buffer; None for any other."""
    n = len(values)
    if n == 0 or values.null_count or not _has_offsets(values.type):
        return None
    offsets = value_offsets(values)
    width = int(offsets[1] - offsets[0])
    if width == 0 or int(offsets[-1] - offsets[0]) != width * n or np.any(np.diff(offsets) != width):
        return None
    return np.frombuffer(values.buffers()[2], np.uint8, width * n, int(offsets[0])).reshape(n, width)


def _words(values: np.ndarray) -> np.ndarray:
    """Big-endian int32 words as an (n, 4) uint8 block."""
    return values.astype(">i4").view(np.uint8).reshape(-1, 4)


def byte_lengths(values: pa.Array) -> np.ndarray:
    """Each value's length in bytes, -1 for NULL (the wire's own convention): the differences of
    the offsets, where a compute kernel and its conversions cost ~25 us a column (a one-row
    answer of 16 columns spent a third of its encoding here)."""
    if len(values) == 0 or not _has_offsets(values.type):
        return pc.fill_null(pc.binary_length(values), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    lengths = np.diff(value_offsets(values)).astype(np.int64)
    if values.null_count:
        lengths[~np.asarray(values.is_valid())] = -1
    return lengths


def message_heads(kind: bytes, lengths: np.ndarray) -> np.ndarray:
    """Per row, the message type byte and its big-endian length (``lengths`` plus the length
    word itself), as an (n, 5) block."""
    heads = np.empty((len(lengths), 5), dtype=np.uint8)
    heads[:, 0] = kind[0]
    heads[:, 1:5] = _words(lengths + 4)
    return heads


def run_values(run: Sequence[np.ndarray], n: int) -> pa.Array:
    """A run of fixed-width parts side by side, as one binary value per row: (n, width) blocks
    as they are, 1-D byte strings (field counts, delimiters) repeated on every row."""
    blocks = [np.broadcast_to(part, (n, part.shape[-1])) if part.ndim == 1 else part for part in run]
    return block_values(np.hstack(blocks) if len(blocks) > 1 else blocks[0])


@functools.lru_cache(maxsize=4)
def _row_major(n: int, k: int) -> pa.Array:
    """Indices that read k arrays of n values laid end to end row by row: 0, n, 2n, ..., 1, n+1, ..."""
    dtype = np.int32 if n * k < 2**31 else np.int64
    return pa.array((np.arange(k, dtype=dtype) * n + np.arange(n, dtype=dtype)[:, None]).ravel())


def interleaved(pieces: Sequence[pa.Array]) -> pa.Array:
    """Every row's values of ``pieces`` (binary arrays of one length), piece after piece, row
    after row, as one NULL-free binary array: its data buffer holds each row's pieces back to
    back, a NULL written as nothing.

    One take over the pieces laid end to end costs about 11 ns per row and piece, where
    binary_join_element_wise, which makes one value per row, costs about 20."""
    n = len(pieces[0])
    out = pc.take(pa.chunked_array(pieces, pa.binary()), _row_major(n, len(pieces)), boundscheck=False)
    if isinstance(out, pa.ChunkedArray):  # one chunk as it is: combine_chunks would copy it
        out = out.chunk(0) if out.num_chunks == 1 else out.combine_chunks()
    # take leaves a NULL's slot empty, so without the validity bitmap each NULL is b""
    return pa.Array.from_buffers(pa.binary(), len(out), [None, *out.buffers()[1:]], offset=out.offset)


@dataclass(frozen=True)
class Head:
    """A message head: the type byte, then the length of the rest of the row (PostgreSQL's
    framing, the length word counting itself)."""
    kind: bytes


@dataclass(frozen=True)
class CsvQuoting:
    """CSV's minimal quoting with '"' as quote and escape: a value holding the delimiter, a
    quote or a line break is quoted, and so is an empty one when ``empty`` (empty text is NULL)."""
    delimiter: str
    empty: bool = True


_TEXT_ESCAPES = (("\b", "\\b"), ("\f", "\\f"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\v", "\\v"))


@dataclass(frozen=True)
class TextEscaping:
    """COPY's text format, as PostgreSQL's CopyAttributeOutText writes a value: a backslash
    before each backslash and each delimiter, and backspace, form feed, line feed, carriage
    return, tab and vertical tab as \\b \\f \\n \\r \\t \\v."""
    delimiter: str

    def applied(self, text: pa.Array) -> pa.Array:
        """The escapes made by kernels, a pass each (gateway/_rows.c makes them as it copies)."""
        if not may_contain(text, ("\\" + self.delimiter + "".join(c for c, _ in _TEXT_ESCAPES)).encode("utf-8")):
            return text
        text = pc.replace_substring(text, "\\", "\\\\")  # first: the escapes below add backslashes
        if self.delimiter not in dict(_TEXT_ESCAPES):
            text = pc.replace_substring(text, self.delimiter, "\\" + self.delimiter)
        for char, escaped in _TEXT_ESCAPES:
            text = pc.replace_substring(text, char, escaped)
        return text


@dataclass(frozen=True)
class Values:
    """A binary or string array's values. ``prefixed``: each after its int32 length word (-1
    and no bytes for NULL); otherwise a NULL is written as ``null``. ``quoting``: CSV's quotes
    or the text format's escapes."""
    array: pa.Array
    null: bytes = b""
    prefixed: bool = False
    quoting: CsvQuoting | TextEscaping | None = None


# A part of every row: a 1-D uint8 array (the same bytes on every row), an (n, width) uint8
# block (row i's bytes in row i), a binary or string array (a NULL written as nothing), Values,
# or a Head.
Part = np.ndarray | pa.Array | Values | Head


def _piece(part: Part) -> tuple:
    """A part as gateway/_rows.c reads it."""
    if isinstance(part, Head):
        return 0, part.kind[0]
    if isinstance(part, np.ndarray):
        block = np.ascontiguousarray(part, np.uint8)
        width = block.shape[-1]
        return 1, block, width, 0 if block.ndim == 1 else width
    v = part if isinstance(part, Values) else Values(part)
    validity, offsets, data = v.array.buffers()[:3]
    wide = pa.types.is_large_binary(v.array.type) or pa.types.is_large_string(v.array.type)
    quoting: tuple | None = None
    if isinstance(v.quoting, CsvQuoting):
        quoting = (v.quoting.delimiter.encode("utf-8")[0], v.quoting.empty)
    elif isinstance(v.quoting, TextEscaping):
        quoting = (v.quoting.delimiter.encode("utf-8")[0], False, True)
    return (2, data, offsets, wide, v.array.offset, validity if v.array.null_count else None, v.null, v.prefixed,
            quoting)


def assembled(parts: Sequence[Part], n: int) -> memoryview:
    """Every row's parts back to back, row after row, in one buffer.

    gateway/_rows.c writes them in one pass with the GIL released: a memcpy per row and part,
    CSV quoting as it copies, each message's length patched in when its row is done. Built
    without a C compiler, numpy makes the lengths and quotes and pyarrow's take interleaves
    the pieces: the same bytes, at about three times the cost."""
    if n == 0:
        return memoryview(b"")
    if _rows is not None:
        return memoryview(_rows.rows(n, [_piece(part) for part in parts]))
    return _taken(parts, n)


def _taken(parts: Sequence[Part], n: int) -> memoryview:
    """assembled() without the compiled assembler."""
    flat: list[np.ndarray | pa.Array | None] = []
    heads: list[tuple[int, bytes, np.ndarray]] = []  # where in flat, kind, length of what follows
    size = np.zeros(n, np.int64)  # bytes after the latest head: nowhere without one
    for part in parts:
        if isinstance(part, Head):
            size = np.zeros(n, np.int64)
            heads.append((len(flat), part.kind, size))
            flat.append(None)
            continue
        if isinstance(part, np.ndarray):
            if part.shape[-1]:  # a part of no bytes adds nothing
                flat.append(part)
                size += part.shape[-1]
            continue
        v = part if isinstance(part, Values) else Values(part)
        values = v.array
        if isinstance(v.quoting, CsvQuoting):
            values = quote_where(values, needs_quotes(values, v.quoting.delimiter, empty=v.quoting.empty))
        elif isinstance(v.quoting, TextEscaping):
            values = v.quoting.applied(values)
        values = values if pa.types.is_binary(values.type) else as_binary(values)
        lengths = byte_lengths(values)
        if v.prefixed:
            size += 4 + np.maximum(lengths, 0)
            flat += [_words(lengths), values]  # take writes a NULL as nothing
            continue
        size += np.where(lengths < 0, len(v.null), lengths)
        flat.append(pc.fill_null(values, pa.scalar(v.null, pa.binary())) if v.null and values.null_count else values)
    for at, kind, length in heads:
        flat[at] = message_heads(kind, length)
    pieces: list[pa.Array] = []
    run: list[np.ndarray] = []
    for piece in [*flat, None]:
        if isinstance(piece, np.ndarray):
            run.append(piece)
            continue
        if run:
            pieces.append(run_values(run, n))
            run = []
        if piece is not None:
            pieces.append(piece)
    return joined_bytes(interleaved(pieces)) if pieces else memoryview(b"")


def field_rows(kind: bytes, columns: Sequence[pa.Array], binary: Sequence[bool],
               lead: pa.Array | None = None) -> memoryview:
    """Each row as one message of length-prefixed fields (DataRow 'D', binary COPY 'd'), the
    messages back to back: head, field count, then per field its length word and its bytes.
    Values of binary types whose width is fixed (NULL-free) are numpy blocks after a constant
    length word; ``lead`` (binary COPY's signature) follows the head."""
    n = len(columns[0]) if columns else 0
    parts: list[Part] = [Head(kind), *([lead] if lead is not None else []),
                         np.frombuffer(struct.pack("!h", len(columns)), np.uint8)]
    for column, is_binary in zip(columns, binary, strict=True):
        block = fixed_block(column) if is_binary and column.null_count == 0 else None
        if block is not None:
            parts += [np.frombuffer(struct.pack("!i", block.shape[1]), np.uint8), block]
        else:
            parts.append(Values(binary_values(column) if is_binary else text_values(column), prefixed=True))
    return assembled(parts, n)


def data_rows(batch: pa.RecordBatch, formats: tuple[int, ...]) -> memoryview:
    """Every row of the batch as DataRow messages, back to back in one buffer."""
    if batch.num_rows == 0:
        return memoryview(b"")
    binary = [(formats[i] if i < len(formats) else 0) == 1 for i in range(batch.num_columns)]
    return field_rows(b"D", batch.columns, binary)


# -- parameters ---------------------------------------------------------------------------------
def _binary_param(oid: int, raw: bytes) -> Any:
    decoders: dict[int, Callable[[bytes], Any]] = {
        BOOL: lambda b: b != b"\x00",
        INT2: lambda b: struct.unpack("!h", b)[0],
        INT4: lambda b: struct.unpack("!i", b)[0],
        INT8: lambda b: struct.unpack("!q", b)[0],
        FLOAT4: lambda b: struct.unpack("!f", b)[0],
        FLOAT8: lambda b: struct.unpack("!d", b)[0],
        TEXT: lambda b: b.decode("utf-8"),
        VARCHAR: lambda b: b.decode("utf-8"),
        UNKNOWN: lambda b: b.decode("utf-8"),
        DATE: lambda b: dt.date(2000, 1, 1) + dt.timedelta(days=struct.unpack("!i", b)[0]),
        TIMESTAMP: lambda b: dt.datetime(2000, 1, 1) + dt.timedelta(microseconds=struct.unpack("!q", b)[0]),
        TIMESTAMPTZ: lambda b: dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
        + dt.timedelta(microseconds=struct.unpack("!q", b)[0]),
        BYTEA: lambda b: b,
        UUID: lambda b: str(uuid.UUID(bytes=b)),
        JSON: lambda b: b.decode("utf-8"),
        NUMERIC: _numeric_from_binary,
        OID: lambda b: struct.unpack("!I", b)[0],
        TIME: lambda b: (dt.datetime.min + dt.timedelta(microseconds=struct.unpack("!q", b)[0])).time(),
        INTERVAL: _interval_from_binary,
    }
    if oid in ELEMENT_OF:
        return _array_from_binary(raw)
    decoder = decoders.get(oid)
    if decoder is None:
        raise FeatureNotSupported(f"binary parameters of type {oid} are not supported",
                                  hint="send this parameter in text format")
    try:
        return decoder(raw)
    except (struct.error, UnicodeDecodeError, ValueError) as err:
        raise InvalidParameterValue(f"invalid binary value for parameter of type {oid}") from err


def _interval_from_binary(raw: bytes) -> dt.timedelta | str:
    """int64 microseconds, int32 days, int32 months: a timedelta, or (with months, which a
    timedelta cannot hold) the text DuckDB reads as that interval."""
    micros, days, months = struct.unpack("!qii", raw)
    if months == 0:
        return dt.timedelta(days=days, microseconds=micros)
    return f"{months} months {days} days {micros} microseconds"


def _array_from_binary(raw: bytes) -> list[Any] | None:
    """array_recv: ndim, has-nulls flag, element OID, (length, lower bound) per dimension, then
    each element as a length (-1 for NULL) and its binary value. One dimension, as DuckDB lists."""
    try:
        ndim, _, element = struct.unpack_from("!iiI", raw)
        if ndim == 0:
            return []
        if ndim != 1:
            raise FeatureNotSupported("array parameters with more than one dimension are not supported")
        count = struct.unpack_from("!i", raw, 12)[0]
        at, out = 20, []
        for _ in range(count):
            size = struct.unpack_from("!i", raw, at)[0]
            at += 4
            out.append(None if size < 0 else _binary_param(element, raw[at:at + size]))
            at += max(size, 0)
    except struct.error as err:
        raise InvalidParameterValue("invalid binary value for an array parameter") from err
    if at != len(raw):
        raise InvalidParameterValue("invalid binary value for an array parameter")
    return out


def _array_from_text(element: int, text: str) -> list[Any]:
    """A one-dimensional array literal, ``{1,NULL,"a b","q\\"x"}``, as array_in reads it."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise InvalidParameterValue(f'malformed array literal: "{text}"',
                                    detail='Array value must start with "{" or dimension information.')
    out: list[Any] = []
    items = body[1:-1]
    at = 0
    while at < len(items):
        if items[at] == '"':
            at, value, quoted = at + 1, [], True
            while at < len(items) and items[at] != '"':
                if items[at] == "\\":
                    at += 1
                value.append(items[at:at + 1])
                at += 1
            at += 1
            word = "".join(value)
        else:
            end = items.find(",", at)
            end = len(items) if end < 0 else end
            word, quoted, at = items[at:end].strip(), False, end
            if "{" in word:
                raise FeatureNotSupported("array parameters with more than one dimension are not supported")
        out.append(None if not quoted and word.upper() == "NULL" else _text_param(element, word))
        if at < len(items) and items[at] != ",":
            raise InvalidParameterValue(f'malformed array literal: "{text}"')
        at += 1
    return out


def _numeric_from_binary(raw: bytes) -> decimal.Decimal:
    ndigits, weight, sign, dscale = struct.unpack("!hhHH", raw[:8])
    digits = struct.unpack(f"!{ndigits}H", raw[8:8 + 2 * ndigits])
    if sign == 0xC000:
        return decimal.Decimal("NaN")
    value = decimal.Decimal(0)
    for i, d in enumerate(digits):
        value += decimal.Decimal(d).scaleb(4 * (weight - i))
    value = value.quantize(decimal.Decimal(1).scaleb(-dscale)) if dscale else value
    return -value if sign == 0x4000 else value


_INT_RANGE = {INT2: (-(1 << 15), 1 << 15), INT4: (-(1 << 31), 1 << 31), INT8: (-(1 << 63), 1 << 63),
              OID: (-(1 << 31), 1 << 32)}  # oidin also takes negative int4s
_INTEGER_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")
_FLOAT_WORDS = {"nan", "inf", "infinity"}
_BOOL_WORDS = (("true", 1, True), ("yes", 1, True), ("on", 2, True), ("1", 1, True),
               ("false", 1, False), ("no", 1, False), ("off", 2, False), ("0", 1, False))


def _integer_from_text(oid: int, text: str) -> int:
    """int2in / int4in / int8in: digits with a sign and spaces around; out of range is 22003."""
    if not _INTEGER_TEXT.fullmatch(text):
        raise ValueError(text)
    value, (low, high) = int(text), _INT_RANGE[oid]
    if not low <= value < high:
        raise NumericValueOutOfRange(f'value "{text}" is out of range for type {TYPE_NAMES.get(oid, "oid")}')
    return value & 0xFFFFFFFF if oid == OID else value


def _float_from_text(oid: int, text: str) -> float:
    """float4in / float8in: what strtod reads, where a finite value that overflows the type, or
    a non-zero one that underflows to zero, is 22003 (``"1e39" is out of range for type real``)."""
    word = text.strip().lower().lstrip("+-")
    if word in _FLOAT_WORDS:
        return float(word if text.strip()[:1] != "-" else "-" + word)
    if "_" in text:
        raise ValueError(text)
    value, exact = float(text), decimal.Decimal(text)
    if oid == FLOAT4 and math.isfinite(value):
        try:
            value = struct.unpack("f", struct.pack("f", value))[0]
        except OverflowError:
            value = math.inf
    if math.isinf(value) or (value == 0 and exact != 0):
        raise NumericValueOutOfRange(f'"{text}" is out of range for type {TYPE_NAMES[oid]}')
    return value


def _bool_from_text(text: str) -> bool:
    """boolin: t/true/y/yes/on/1 and f/false/n/no/off/0, any unique prefix of a word."""
    word = text.strip().lower()
    for full, shortest, value in _BOOL_WORDS:
        if len(word) >= shortest and full.startswith(word):
            return value
    raise ValueError(text)


def _date_from_text(text: str) -> dt.date:
    # date_in reads the date and ignores a time or zone after it: pgjdbc's setDate sends
    # "1990-01-01 +00"
    day = text.strip().replace("T", " ").split(" ", 1)[0]
    try:
        return dt.date.fromisoformat(day)
    except ValueError:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day):
            raise DatetimeFieldOverflow(f'date/time field value out of range: "{text}"') from None
        raise InvalidDatetimeFormat(f'invalid input syntax for type date: "{text}"') from None


def _text_param(oid: int, text: str) -> Any:
    """A parameter sent as text, read as PostgreSQL's input function for its declared type
    reads it, with its SQLSTATE and words when it does not read (22P02, 22003, 22007, 22008)."""
    if oid in ELEMENT_OF:
        return _array_from_text(ELEMENT_OF[oid], text)
    try:
        if oid in _INT_RANGE:
            return _integer_from_text(oid, text)
        if oid in (FLOAT4, FLOAT8):
            return _float_from_text(oid, text)
        if oid == NUMERIC:
            if "_" in text:
                raise ValueError(text)
            return decimal.Decimal(text.strip())
        if oid == BOOL:
            return _bool_from_text(text)
        if oid == DATE:
            return _date_from_text(text)
        if oid == BYTEA:
            return _bytea_from_text(text)
        if oid == UUID:
            return str(uuid.UUID(text.strip()))  # as uuid_in reads it (braces, no dashes), written canonical
    except (ValueError, decimal.InvalidOperation):
        raise InvalidTextRepresentation(
            f'invalid input syntax for type {TYPE_NAMES.get(oid, oid)}: "{text}"') from None
    return text


def _bytea_from_text(text: str) -> bytes:
    """bytea's text input: "\\x" and hex digits, or the escape form (backslash and three octal
    digits, a doubled backslash, other bytes as they are)."""
    if text.startswith("\\x"):
        return bytes.fromhex(text[2:])
    out, i = bytearray(), 0
    raw = text.encode("utf-8")
    while i < len(raw):
        if raw[i] != 0x5C:
            out.append(raw[i])
            i += 1
        elif raw[i + 1:i + 2] == b"\\":
            out.append(0x5C)
            i += 2
        elif len(raw) >= i + 4 and all(0x30 <= c <= 0x37 for c in raw[i + 1:i + 4]):
            out.append(int(raw[i + 1:i + 4], 8))
            i += 4
        else:
            raise ValueError("invalid input syntax for type bytea")
    return bytes(out)


def decode_params(oids: tuple[int, ...], formats: tuple[int, ...], raw: tuple[bytes | None, ...]) -> list[Any]:
    out = []
    for i, value in enumerate(raw):
        oid = oids[i] if i < len(oids) else 0
        fmt = formats[0] if len(formats) == 1 else (formats[i] if i < len(formats) else 0)
        if value is None:
            out.append(None)
        elif fmt == 1:
            out.append(_binary_param(oid or TEXT, value))
        else:
            try:
                out.append(_text_param(oid, value.decode("utf-8")))
            except UnicodeDecodeError:
                raise InvalidParameterValue("parameter is not valid UTF-8") from None
    return out


_CAST_FROM_TEXT = {TIMESTAMP: duckdb.sqltypes.TIMESTAMP, TIMESTAMPTZ: duckdb.sqltypes.TIMESTAMP_TZ,
                   TIME: duckdb.sqltypes.TIME, INTERVAL: duckdb.sqltypes.INTERVAL}


def _local_instant(text: str, zone: str) -> str:
    """A timestamptz sent as text with no offset, read on ``zone``'s clock as PostgreSQL reads
    it (the offset after a change for a time that happens twice, before it for one that never
    does); text this cannot read goes to DuckDB's cast as it is."""
    try:
        clock = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    if clock.tzinfo is not None:
        return text
    instant = zones.from_local(pa.array([clock], pa.timestamp("us")), pa.array([zone]))[0].as_py()
    return instant.isoformat(sep=" ")


def engine_params(oids: Sequence[int], values: Sequence[Any], zone: str | None = None) -> list[Any]:
    """Decoded parameters as DuckDB should bind them: with the type the client declared where a
    plain Python value would take another, so that `SELECT $1` answers in that type as
    PostgreSQL does. A Python int binds as INTEGER or BIGINT (int2 is SMALLINT), a float as
    DOUBLE (float4 is REAL), and a timestamp, time or interval sent as text would stay text
    (DuckDB's cast reads it, offsets included). ``zone``: the session's TimeZone (None: UTC),
    which a timestamptz sent without an offset is read in."""
    out = list(values)
    for i, (oid, value) in enumerate(zip(oids, values)):
        if value is None:
            continue
        if oid == INT2 and isinstance(value, int):
            out[i] = duckdb_values.ShortValue(value)
        elif oid == FLOAT4 and isinstance(value, float):
            out[i] = duckdb_values.FloatValue(value)
        elif oid == ARRAY_OF[INT2] and isinstance(value, list):
            out[i] = [None if v is None else duckdb_values.ShortValue(v) for v in value]
        elif oid in _CAST_FROM_TEXT and isinstance(value, str):
            if oid == INTERVAL:  # "-1 days +02:03:04": PostgreSQL signs each part, DuckDB reads no "+"
                value = re.sub(r"(^|\s)\+", r"\1", value)
            elif oid == TIMESTAMPTZ and zone is not None:
                value = _local_instant(value, zone)
            out[i] = duckdb_values.Value(value, _CAST_FROM_TEXT[oid])
    return out


@dataclass(frozen=True)
class Column:
    name: str
    oid: int
    modifier: int = -1


def describe(schema: pa.Schema) -> list[Column]:
    return [Column(f.name, oid_for(f.type), modifier_for(f.type)) for f in schema]
