"""The compiled row assembler (gateway/_rows.c) against a per-row Python reference and against
the pyarrow fallback used when no C compiler was there: the same bytes for any mix of parts,
a clear error (never a crash) for parts that do not fit together."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gateway.pgtypes as pgtypes
from gateway import _rows  # built by `pip install -e .`: CI has the compiler, so no skip here
from gateway.copyout import CopyEncoder


def _reference(parts: list, n: int) -> bytes:
    out = bytearray()
    for i in range(n):
        for part in parts:
            if isinstance(part, np.ndarray):
                out += part.tobytes() if part.ndim == 1 else part[i].tobytes()
                continue
            values, null = part if isinstance(part, tuple) else (part, b"")
            value = values[i].as_py()
            out += null if value is None else value.encode() if isinstance(value, str) else value
    return bytes(out)


_value = st.one_of(st.none(), st.binary(max_size=40))


@st.composite
def _parts(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(0, 30))
    parts = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["same", "block", "var", "var-null-text"]))
        if kind == "same":
            parts.append(np.frombuffer(draw(st.binary(max_size=24)), np.uint8))
        elif kind == "block":
            width = draw(st.integers(0, 24))
            parts.append(np.frombuffer(draw(st.binary(min_size=n * width, max_size=n * width)), np.uint8)
                         .reshape(n, width))
        else:
            skip = draw(st.integers(0, 3))  # a slice: offsets and validity read from an offset
            values = draw(st.lists(_value, min_size=n + skip, max_size=n + skip))
            value_type = draw(st.sampled_from([pa.binary(), pa.large_binary()]))
            array = pa.array(values, value_type).slice(skip, n)
            parts.append((array, draw(st.binary(max_size=20))) if kind == "var-null-text" else array)
    return parts, n


@settings(max_examples=300, deadline=None)
@given(_parts())
def test_assembled_rows_equal_the_per_row_reference_and_the_fallback(case) -> None:  # type: ignore[no-untyped-def]
    parts, n = case
    expected = _reference(parts, n)
    assert bytes(pgtypes.assembled(parts, n)) == expected
    compiled, pgtypes._rows = pgtypes._rows, None
    try:
        assert bytes(pgtypes.assembled(parts, n)) == expected
    finally:
        pgtypes._rows = compiled


def _batch() -> pa.RecordBatch:
    n = 300
    ids = pa.array([None if i % 7 == 3 else i * 1_000_003 for i in range(n)], pa.int64())
    names = pa.array([None if i % 11 == 5 else ("" if i % 13 == 0 else f'co, "{i}"\n\\é') for i in range(n)])
    money = pa.array([None if i % 5 == 0 else decimal.Decimal(i * 12345) / 100 for i in range(n)], pa.decimal128(18, 2))
    days = pa.array([dt.date(1990, 1, 1) + dt.timedelta(days=i * 37) for i in range(n)], pa.date32())
    ratio = pa.array([i / 7 if i % 3 else None for i in range(n)], pa.float64())
    flag = pa.array([i % 2 == 0 for i in range(n)], pa.bool_())
    at = pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i * 3607) for i in range(n)],
                  pa.timestamp("us", tz="UTC"))
    batch = pa.RecordBatch.from_arrays([ids, names, money, days, ratio, flag, at],
                                       ["id", "name", "money", "day", "ratio", "flag", "at"])
    return batch.slice(17, 250)  # sliced, as DuckDB's batches can be


@pytest.mark.parametrize("encode", [
    lambda b: pgtypes.data_rows(b, (0,) * b.num_columns),
    lambda b: pgtypes.data_rows(b, (1,) * b.num_columns),
    lambda b: CopyEncoder.for_options({"format": "csv"}).encode(b),
    lambda b: CopyEncoder.for_options({"format": "text", "null": "'nil'"}).encode(b),
    lambda b: CopyEncoder.for_options({"format": "binary"}).encode(b),
], ids=["datarow-text", "datarow-binary", "copy-csv", "copy-text", "copy-binary"])
def test_wire_encoders_write_the_same_bytes_with_and_without_the_compiled_assembler(encode) -> None:  # type: ignore[no-untyped-def]
    batch = _batch()
    compiled = bytes(encode(batch))
    saved, pgtypes._rows = pgtypes._rows, None
    try:
        fallback = bytes(encode(batch))
    finally:
        pgtypes._rows = saved
    assert compiled == fallback and len(compiled) > 250 * 7


def test_parts_that_do_not_fit_are_refused_with_an_error() -> None:
    offsets = np.array([0, 2, 4], np.int32)
    with pytest.raises(ValueError, match="outside the data"):
        _rows.rows(2, [(b"abc", offsets, False, 0, None, b"")])  # 4 bytes of offsets over 3 of data
    with pytest.raises(ValueError, match="outside the data"):
        _rows.rows(2, [(b"abcd", np.array([0, 3, 1], np.int32), False, 0, None, b"")])  # decreasing
    with pytest.raises(ValueError, match="offsets shorter"):
        _rows.rows(3, [(b"abcd", offsets, False, 0, None, b"")])
    with pytest.raises(ValueError, match="validity bitmap shorter"):
        _rows.rows(9, [(b"a" * 9, np.arange(10, dtype=np.int32), False, 0, b"\xff", b"")])
    with pytest.raises(ValueError, match="shorter than its rows"):
        _rows.rows(3, [(b"abcde", 2, 2)])
    with pytest.raises(TypeError):
        _rows.rows(1, [(b"a", 1)])
    with pytest.raises(TypeError):
        _rows.rows(1, [b"a"])
    assert _rows.rows(2, [(b"ab", 1, 1), (b"-", 1, 0)]) == b"a-b-"  # and it still works
