"""Vectorised text encodings of Arrow columns: whole arrays in, whole arrays out.

Python never touches a value here except in the rare fallbacks (control characters inside JSON
strings, nested types): pyarrow compute kernels do the work in C++, and a batch of encoded rows
is one contiguous UTF-8 buffer that writers hand to the sink as is (``joined_bytes``).
"""

from __future__ import annotations

import json
import re
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


def is_temporal(t: pa.DataType) -> bool:
    return pa.types.is_date(t) or pa.types.is_timestamp(t)


def rounded(arr: pa.Array, decimals: int | None) -> pa.Array:
    if decimals is None:
        return arr
    if pa.types.is_floating(arr.type):
        return pc.round(arr, ndigits=decimals)
    if pa.types.is_decimal(arr.type) and decimals < arr.type.scale:
        t = arr.type
        return pc.cast(pc.round(arr, ndigits=decimals), pa.decimal128(t.precision, decimals), safe=False)
    return arr


ISO_DATE = "%Y-%m-%d"
ISO_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"
SPACED_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


def _timestamp_text(arr: pa.Array, pattern: str) -> pa.Array:
    """Timestamps in UTC as text. The common patterns go through Arrow's cast to string, some
    30x faster than strftime (which parses its pattern and consults the zone per value)."""
    # Casting a zone-aware timestamp to string converts zones value by value (20x slower): drop
    # the zone first. The cast to seconds truncates toward zero, so instants before 1970 with a
    # fraction are floored first (rare: checked with one min()).
    if arr.type.unit != "s" and _before_epoch(arr):
        arr = pc.floor_temporal(arr, unit="second")
    naive = pc.cast(arr, pa.timestamp("s"), safe=False)  # same instants, wall time in UTC
    if pattern == SPACED_TIMESTAMP:
        return pc.cast(naive, pa.string())
    if pattern == ISO_TIMESTAMP:
        text = pc.utf8_replace_slice(pc.cast(naive, pa.string()), start=10, stop=11, replacement="T")
        return pc.binary_join_element_wise(text, "Z", "")
    return pc.strftime(naive, pattern)


def _before_epoch(arr: pa.Array) -> bool:
    low = pc.min(pc.cast(arr, pa.int64()))
    return low.is_valid and low.as_py() < 0


def _date_text(arr: pa.Array, pattern: str) -> pa.Array:
    if pattern == ISO_DATE:
        return pc.cast(arr, pa.string())
    if pattern == SPACED_TIMESTAMP:
        return pc.binary_join_element_wise(pc.cast(arr, pa.string()), " 00:00:00", "")
    return pc.strftime(pc.cast(arr, pa.timestamp("s")), pattern)


def to_text(arr: pa.Array, *, date_pattern: str = ISO_DATE,
            timestamp_pattern: str = ISO_TIMESTAMP, decimals: int | None = None) -> pa.Array:
    """Each value as display text (NULL stays NULL). Floats print shortest round-trip."""
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr
    if pa.types.is_dictionary(t):
        return to_text(arr.dictionary_decode(), date_pattern=date_pattern,
                       timestamp_pattern=timestamp_pattern, decimals=decimals)
    if pa.types.is_date(t):
        return _date_text(arr, date_pattern)
    if pa.types.is_timestamp(t):
        return _timestamp_text(arr, timestamp_pattern)
    if pa.types.is_floating(t):
        arr = rounded(arr, decimals)
        return pc.cast(arr, pa.string())
    if pa.types.is_decimal(t):
        return decimal_text(rounded(arr, decimals))
    if pa.types.is_boolean(t) or pa.types.is_integer(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.array([None if v is None else "\\x" + v.hex() for v in arr.to_pylist()], pa.string())
    return pa.array([None if v is None else str(v) for v in arr.to_pylist()], pa.string())


def decimal_text(arr: pa.Array) -> pa.Array:
    """Decimals as fixed-point text at their scale ("0.00000010"). Arrow's cast writes values
    below 1e-6 in scientific notation ("1.0E-7") and a negative scale as an exponent: those
    types go value by value through Python's Decimal (NULL stays NULL)."""
    if 0 <= arr.type.scale <= 6:
        return pc.cast(arr, pa.string())
    return pa.array([None if v is None else format(v, "f") for v in arr.to_pylist()], pa.string())


def json_string(arr: pa.Array) -> pa.Array:
    """Strings as JSON string literals, quotes included (NULL stays NULL).

    Most values need no escaping: one regex pass finds the few that do, and only those go
    through the replace kernels (control characters other than \\n \\r \\t, rarer still, through
    json.dumps); the rest are just wrapped in quotes."""
    quoted = pc.binary_join_element_wise('"', arr, '"', "")
    needs = pc.fill_null(pc.match_substring_regex(arr, r'[\\"\x00-\x1f]'), False)
    if not pc.any(needs).as_py():
        return quoted
    subset = pc.filter(arr, needs)
    escaped = pc.replace_substring(subset, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    escaped = pc.replace_substring(escaped, "\n", "\\n")
    escaped = pc.replace_substring(escaped, "\r", "\\r")
    escaped = pc.replace_substring(escaped, "\t", "\\t")
    escaped = pc.binary_join_element_wise('"', escaped, '"', "")
    rare = pc.match_substring_regex(subset, _CONTROL)
    if pc.any(rare).as_py():
        spelled = pa.array([json.dumps(v, ensure_ascii=False) for v in subset.to_pylist()], pa.string())
        escaped = pc.if_else(rare, spelled, escaped)
    return pc.replace_with_mask(quoted, needs, escaped)


def json_values(arr: pa.Array, *, dates: str = "iso", decimals: int | None = None) -> pa.Array:
    """Each value as a JSON literal; NULL (and NaN/Infinity, which JSON lacks) become null."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return json_values(arr.dictionary_decode(), dates=dates, decimals=decimals)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        out = json_string(arr)
    elif pa.types.is_boolean(t) or pa.types.is_integer(t):
        out = pc.cast(arr, pa.string())
    elif pa.types.is_floating(t):
        finite = pc.is_finite(arr)
        out = pc.if_else(finite, pc.cast(rounded(arr, decimals), pa.string()), pa.scalar(None, pa.string()))
    elif pa.types.is_decimal(t):  # fixed-point, as in CSV (JSON would take "1.0E-7" too)
        out = decimal_text(rounded(arr, decimals))
    elif is_temporal(t):
        if dates == "epoch":
            ms = pc.cast(pc.cast(arr if pa.types.is_timestamp(t) else pc.cast(arr, pa.timestamp("s")),
                                 pa.timestamp("ms", tz=getattr(t, "tz", None)), safe=False), pa.int64())
            out = pc.cast(ms, pa.string())
        else:
            pattern = "%Y-%m-%d" if pa.types.is_date(t) else "%Y-%m-%dT%H:%M:%SZ"
            out = pc.binary_join_element_wise('"', to_text(arr, date_pattern=pattern,
                                                           timestamp_pattern=pattern), '"', "")
    else:
        out = pa.array([json.dumps(v, default=str, ensure_ascii=False) if v is not None else None
                        for v in arr.to_pylist()], pa.string())
    return pc.fill_null(out, "null")


def may_contain(arr: pa.Array, chars: bytes) -> bool:
    """Whether any value of a string array might contain one of ``chars`` (single bytes).

    One memchr-speed pass over the array's whole data buffer instead of a regex per value: most
    columns (names, codes, places) contain none, and skip the per-value work entirely. The buffer
    may hold bytes of values outside a slice, so True means "look closer", never "yes"."""
    if isinstance(arr, pa.ChunkedArray):
        return any(may_contain(chunk, chars) for chunk in arr.chunks)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return True
    data = arr.buffers()[2]
    if data is None or data.size == 0:
        return False
    raw = data.to_pybytes()
    return any(raw.find(bytes((c,))) >= 0 for c in chars)


def quote_all(text: pa.Array) -> pa.Array:
    """Every value in double quotes, inner quotes doubled (CSV; NULL stays NULL)."""
    return pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")


def needs_quotes(text: pa.Array, delimiter: str, *, empty: bool = False) -> pa.Array | None:
    """Which values CSV must quote: those holding the delimiter, a quote or a line break (and,
    with ``empty``, empty strings, where empty text means NULL); None when no value does.

    One scan of the column's bytes rules out most columns before any per-value regex."""
    lengths = pc.binary_length(text) if empty else None
    has_empty = lengths is not None and pc.min(lengths).as_py() == 0
    specials = (delimiter + '"\r\n').encode("utf-8")
    if not may_contain(text, specials):
        return pc.equal(lengths, 0) if has_empty else None
    if len(specials) == 4 and (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        needs = _holding_any(text, specials, empty)
    else:
        needs = pc.match_substring_regex(text, "[" + re.escape(delimiter) + '"\\r\\n]')
        if has_empty:  # comparing lengths: some 30x faster than comparing strings to ""
            needs = pc.or_(needs, pc.equal(lengths, 0))
    return needs if pc.any(needs).as_py() else None


def _holding_any(text: pa.Array, chars: bytes, empty: bool) -> pa.Array:
    """Per value, whether it holds one of ``chars`` (single bytes; ``empty``: or is empty).

    One pass per byte over the column's data buffer, then one OR per value's span
    (logical_or.reduceat): a third of the time of a regex per value on descriptive text, where
    most values hold a comma. A NULL's slot is empty, so it holds nothing (and is "empty")."""
    offsets = value_offsets(text)
    data = np.frombuffer(text.buffers()[2] or b"", np.uint8)[offsets[0]:offsets[-1]]
    lengths = np.diff(offsets)
    hit = np.zeros(len(data) + 1, bool)  # one byte more: the last value's span may start at the end
    np.equal(data, chars[0], out=hit[:-1])
    for c in chars[1:]:
        hit[:-1] |= data == c
    out = np.logical_or.reduceat(hit, offsets[:-1] - offsets[0])
    out &= lengths > 0  # reduceat gives an empty span the byte at its start
    if empty:
        out |= lengths == 0
    if text.null_count:
        out &= pc.is_valid(text).to_numpy(zero_copy_only=False)
    return pa.array(out)


def value_offsets(values: pa.Array) -> np.ndarray:
    """The offsets of a binary or string array's values in its data buffer (n + 1 of them)."""
    wide = pa.types.is_large_binary(values.type) or pa.types.is_large_string(values.type)
    return np.frombuffer(values.buffers()[1], np.int64 if wide else np.int32, len(values) + 1,
                         values.offset * (8 if wide else 4))


def quote_where(text: pa.Array, needs: pa.Array | None) -> pa.Array:
    """CSV's minimal quoting, given needs_quotes().

    A value with a quote in it always needs quoting, so doubling quotes in every value changes
    only values that are quoted anyway; the quotes themselves are joined on from an array that
    holds '"' where needed and '' elsewhere. (if_else between a quoted and a plain copy costs
    more than the two copies together.)"""
    if needs is None:
        return text
    inner = pc.replace_substring(text, '"', '""') if may_contain(text, b'"') else text
    flags = pc.fill_null(needs, False).to_numpy(zero_copy_only=False)
    ends = np.cumsum(flags, dtype=np.int64)
    wide = pa.types.is_large_string(text.type) or pa.types.is_large_binary(text.type)
    offsets = np.concatenate([np.zeros(1, np.int64), ends]).astype(np.int64 if wide else np.int32)
    marks = pa.Array.from_buffers(text.type, len(text), [None, pa.py_buffer(offsets),
                                                         pa.py_buffer(b'"' * int(ends[-1] if len(ends) else 0))])
    return pc.binary_join_element_wise(marks, inner, marks, pa.scalar("", text.type))


def join_rows(pieces: Sequence[pa.Array | str]) -> pa.Array:
    """Concatenate arrays and constant strings element-wise (no separator)."""
    return pc.binary_join_element_wise(*pieces, "")


def joined_bytes(rows: pa.Array) -> memoryview:
    """All values of a string array back to back, straight from its data buffer (no copy)."""
    rows = rows.combine_chunks() if isinstance(rows, pa.ChunkedArray) else rows
    if len(rows) == 0:
        return memoryview(b"")
    if rows.null_count:
        rows = pc.fill_null(rows, "")
    offsets = rows.buffers()[1]
    data = rows.buffers()[2]
    width = 8 if pa.types.is_large_string(rows.type) else 4
    offs = memoryview(offsets).cast("q" if width == 8 else "i")
    start, end = offs[rows.offset], offs[rows.offset + len(rows)]
    if data is None:
        return memoryview(b"")
    return memoryview(data)[start:end]
