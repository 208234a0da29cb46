"""The compiled row assembler (gateway/_rows.c) against a per-row Python reference and against
the pyarrow fallback used when no C compiler was there: the same bytes for any mix of parts,
a clear error (never a crash) for parts that do not fit together."""

from __future__ import annotations

import datetime as dt
import decimal
import struct

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gateway.pgtypes as pgtypes
from gateway import _rows  # built by `pip install -e .`: CI has the compiler, so no skip here
from gateway.copyout import CopyEncoder
from views.arrow_types import relabelled, typed_batch


_LETTERS = {8: b"b", 12: b"f", 10: b"n", 13: b"r", 9: b"t", 11: b"v"}  # control characters COPY text escapes


def _value(part, i: int) -> bytes:  # type: ignore[no-untyped-def]
    if isinstance(part, np.ndarray):
        return part.tobytes() if part.ndim == 1 else part[i].tobytes()
    v = part if isinstance(part, pgtypes.Values) else pgtypes.Values(part)
    value = v.array[i].as_py()
    if value is None:
        return struct.pack("!i", -1) if v.prefixed else v.null
    value = value.encode() if isinstance(value, str) else value
    if isinstance(v.quoting, pgtypes.TextEscaping):  # PostgreSQL's CopyAttributeOutText, byte by byte
        delimiter, escaped = v.quoting.delimiter.encode()[0], bytearray()
        for c in value:
            if c in _LETTERS:
                escaped += b"\\" + _LETTERS[c]
            else:
                escaped += (b"\\" if c in (ord("\\"), delimiter) else b"") + bytes([c])
        return bytes(escaped)
    specials = None if v.quoting is None else (v.quoting.delimiter + '"\r\n').encode()
    if specials and (any(c in specials for c in value) or (not value and v.quoting.empty)):
        value = b'"' + value.replace(b'"', b'""') + b'"'
    return (struct.pack("!i", len(value)) if v.prefixed else b"") + value


def _reference(parts: list, n: int) -> bytes:
    """Row by row, value by value: each Head's length covers the rest of its row."""
    out = bytearray()
    for i in range(n):
        messages: list[list] = [[None, b""]]
        for part in parts:
            if isinstance(part, pgtypes.Head):
                messages.append([part.kind, b""])
            else:
                messages[-1][1] += _value(part, i)
        for kind, body in messages:
            out += (kind + struct.pack("!i", len(body) + 4) if kind else b"") + body
    return bytes(out)


_text = st.text(alphabet='ab,"\r\n\t|é\\\b\f\v\x01\x07', max_size=40)  # past 16 bytes: the scans' 16-byte steps


@st.composite
def _parts(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(0, 30))
    parts = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["head", "same", "block", "var", "values", "csv", "text"]))
        if kind == "head":
            parts.append(pgtypes.Head(draw(st.sampled_from([b"d", b"D"]))))
        elif kind == "same":
            parts.append(np.frombuffer(draw(st.binary(max_size=24)), np.uint8))
        elif kind == "block":
            width = draw(st.integers(0, 24))
            parts.append(np.frombuffer(draw(st.binary(min_size=n * width, max_size=n * width)), np.uint8)
                         .reshape(n, width))
        else:
            skip = draw(st.integers(0, 3))  # a slice: offsets and validity read from an offset
            texts = kind in ("csv", "text")
            value = st.one_of(st.none(), _text if texts else st.binary(max_size=40))
            values = draw(st.lists(value, min_size=n + skip, max_size=n + skip))
            value_type = draw(st.sampled_from([pa.string(), pa.large_string()] if texts
                                              else [pa.binary(), pa.large_binary()]))
            array = pa.array(values, value_type).slice(skip, n)
            if kind == "var":
                parts.append(array)
            elif kind == "values":
                prefixed = draw(st.booleans())
                parts.append(pgtypes.Values(array, b"" if prefixed else draw(st.binary(max_size=20)), prefixed))
            elif kind == "csv":
                quoting = pgtypes.CsvQuoting(draw(st.sampled_from([",", "\t", "|"])), draw(st.booleans()))
                parts.append(pgtypes.Values(array, draw(st.sampled_from([b"", b"\\N"])), quoting=quoting))
            else:
                escaping = pgtypes.TextEscaping(draw(st.sampled_from([",", "\t", "|", "\x01"])))
                parts.append(pgtypes.Values(array, b"\\N", quoting=escaping))
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


def test_values_all_quotes_grow_the_output_past_its_first_size() -> None:
    # the output is first sized for quotes around values, not for quotes doubled inside them: a
    # column of nothing but quotes makes it grow (several times over 5,000 rows), mid-row and
    # with a message head open, and still writes what the reference writes
    n = 5_000
    quotes = pa.array(['"' * (1 + i % 40) if i % 9 else None for i in range(n)])
    ids = pa.array([str(i) for i in range(n)])
    parts = [pgtypes.Head(b"d"), pgtypes.Values(quotes, b"", quoting=pgtypes.CsvQuoting(",", False)),
             np.frombuffer(b",", np.uint8), ids, np.frombuffer(b"\n", np.uint8)]
    first_size = sum(len(v or "") for v in [*ids.to_pylist(), *quotes.to_pylist()]) + 7 * n + 2 * n
    out = bytes(pgtypes.assembled(parts, n))
    assert len(out) > 1.5 * first_size
    assert out == _reference(parts, n)


def test_values_all_escapes_grow_the_output_past_its_first_size() -> None:
    # COPY's text format: the output is first sized for the values as they are; a column of
    # backslashes and tabs, each written as two bytes, makes it grow and still matches
    n = 5_000
    escapes = pa.array(["\\\t" * (1 + i % 20) if i % 7 else None for i in range(n)])
    ids = pa.array([str(i) for i in range(n)])
    parts = [pgtypes.Head(b"d"), ids, np.frombuffer(b"\t", np.uint8),
             pgtypes.Values(escapes, b"\\N", quoting=pgtypes.TextEscaping("\t")), np.frombuffer(b"\n", np.uint8)]
    first_size = sum(len(v or "\\N") for v in [*ids.to_pylist(), *escapes.to_pylist()]) + 7 * n
    out = bytes(pgtypes.assembled(parts, n))
    assert len(out) > 1.5 * first_size
    assert out == _reference(parts, n)


def test_outputs_alive_together_keep_their_bytes_while_freed_ones_are_reused() -> None:
    # an output's memory goes back to a few spares when it is freed and the next call writes
    # there: outputs still referenced (more of them than there are spares, of growing sizes,
    # some only through a memoryview) keep their bytes whatever is written after them
    def rows(k: int) -> tuple[bytes, list]:
        values = pa.array([f"{k}:{i}," * (k % 5) for i in range(200 * (k + 1))])
        parts = [pgtypes.Head(b"d"), pgtypes.Values(values, b"", quoting=pgtypes.CsvQuoting(",", True))]
        return _reference(parts, len(values)), parts

    kept = []
    for k in range(12):
        expected, parts = rows(k)
        out = pgtypes.assembled(parts, len(parts[1].array))
        assert len(out) == len(expected)
        kept.append((expected, out))
        if k % 3 == 2:  # free some, in a different order than they were made
            del kept[len(kept) // 2]
            del kept[0]
    assert len(kept) == 4
    for expected, out in kept:
        assert bytes(out) == expected


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


def _var(data, offsets, validity=None, n=None):  # type: ignore[no-untyped-def]
    return 2, data, offsets, False, 0, validity, b"", False, None


def test_parts_that_do_not_fit_are_refused_with_an_error() -> None:
    offsets = np.array([0, 2, 4], np.int32)
    with pytest.raises(ValueError, match="outside the data"):
        _rows.rows(2, [_var(b"abc", offsets)])  # 4 bytes of offsets over 3 of data
    with pytest.raises(ValueError, match="outside the data"):
        _rows.rows(2, [_var(b"abcd", np.array([0, 3, 1], np.int32))])  # decreasing
    with pytest.raises(ValueError, match="offsets shorter"):
        _rows.rows(3, [_var(b"abcd", offsets)])
    # a NULL's slot that runs backwards lets the valid values write more than the offsets span
    backwards = (2, b"x" * 100, np.array([0, 100, 0, 100], np.int32), False, 0, b"\x05", b"", False, None)
    with pytest.raises(ValueError, match="outside the data"):
        _rows.rows(3, [backwards, (1, b"y" * 300, 100, 100)])
    with pytest.raises(ValueError, match="validity bitmap shorter"):
        _rows.rows(9, [_var(b"a" * 9, np.arange(10, dtype=np.int32), b"\xff")])
    with pytest.raises(ValueError, match="shorter than its rows"):
        _rows.rows(3, [(1, b"abcde", 2, 2)])
    with pytest.raises(ValueError, match="no length word"):
        _rows.rows(1, [(2, b"a", np.array([0, 1], np.int32), False, 0, None, b"", True, (44, True))])
    with pytest.raises(ValueError, match="one byte"):
        _rows.rows(1, [(0, 256)])
    for wrong in [(1, b"a", 1), b"a", (7, b"a"), ("1", b"a", 1, 1)]:
        with pytest.raises(TypeError):
            _rows.rows(1, [wrong])
    assert bytes(_rows.rows(2, [(0, ord("d")), (1, b"ab", 1, 1), (1, b"-", 1, 0)])) == b"d\0\0\0\6a-d\0\0\0\6b-"  # still works


_DAYS = (-719_162, 2_932_896)  # 0001-01-01 and 9999-12-31, as days since 1970


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([("us", 1), ("ms", 1_000), ("s", 1_000_000), ("day", 0)]), st.booleans(), st.integers(0, 3),
       st.lists(st.one_of(st.none(), st.integers(_DAYS[0] - 3, _DAYS[1] + 3), st.integers(-3, 3)), max_size=20),
       st.lists(st.integers(0, 86_400_000_000 - 1), min_size=20, max_size=20))
def test_dates_and_timestamps_format_as_the_arrow_casts_do(unit, zoned, skip, days, micros) -> None:  # type: ignore[no-untyped-def]
    # inside years 1-9999 the compiled formatter writes what the casts do; outside them it
    # declines and the casts write it (the fallback is held to PostgreSQL's bytes by the
    # live tests against PostgreSQL 15)
    name, per_unit = unit
    if name == "day":
        array = pa.array(days, pa.date32())
    else:
        values = [None if d is None else (d * 86_400_000_000 + micros[i]) // per_unit for i, d in enumerate(days)]
        array = pa.array(values, pa.timestamp(name, tz="UTC" if zoned else None))
    array = array.slice(min(skip, len(array)))
    compiled = pgtypes.text_strings(array)
    saved, pgtypes._rows = pgtypes._rows, None
    try:
        cast = pgtypes.text_strings(array)
    finally:
        pgtypes._rows = saved
    assert compiled.equals(cast), (compiled, cast)
    inside = all(d is None or _DAYS[0] <= d <= _DAYS[1] for d in days[min(skip, len(days)):])
    if inside and len(array):
        assert pgtypes._compiled_text(array, per_unit, b"+00" if zoned and name != "day" else b"") is not None


_INTS = {1: pa.int8(), 2: pa.int16(), 4: pa.int32(), 8: pa.int64()}


_EXACT = decimal.Context(prec=60)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1, 2, 4, 8, 16]), st.integers(0, 18), st.integers(0, 3),
       st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(-(10**38) + 1, 10**38 - 1),
                          st.integers(-1000, 1000)), max_size=40))
def test_integers_and_decimals_format_as_postgresql_does(width, scale, skip, values) -> None:  # type: ignore[no-untyped-def]
    # every width of signed integer, and decimal128 at every scale the compiled part takes, with
    # values out to the type's ends: PostgreSQL's text, fixed-point at the column's scale, which
    # Arrow's cast is not below 1e-6 ("1E-7"), compiled or not; a decimal wider than 64 bits makes
    # the compiled part decline
    if width == 16:
        value_type = pa.decimal128(38, scale)
        values = [None if v is None else decimal.Decimal(v).scaleb(-scale, _EXACT) for v in values]
    else:
        value_type, low = _INTS[width], -(2 ** (8 * width - 1))
        values = [None if v is None else max(low, min(-low - 1, v)) for v in values]
    array = pa.array(values, value_type).slice(min(skip, len(values)))
    expected = pa.array([None if v is None else format(v, "f" if width == 16 else "d") for v in array.to_pylist()],
                        pa.string())
    assert pgtypes.text_strings(array).equals(expected)
    saved, pgtypes._rows = pgtypes._rows, None
    try:
        assert pgtypes.text_strings(array).equals(expected)
    finally:
        pgtypes._rows = saved
    fits = width < 16 or all(v is None or -(2**63) <= v.scaleb(scale, _EXACT) < 2**63 for v in array.to_pylist())
    assert (pgtypes._compiled_numbers(array) is not None) == fits or len(array) == 0


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 18), st.integers(0, 3),
       st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(-(10**38) + 1, 10**38 - 1),
                          st.integers(-10**6, 10**6), st.sampled_from([0, 1, -1, 10**4, 10**8, -(10**12)])),
                max_size=40))
@example(scale=0, skip=0, values=[10**16])  # the numpy vector once counted its groups from a float log10
@example(scale=0, skip=0, values=[10**16 + 82, 10**16 - 1])
def test_decimals_in_binary_match_numeric_send(scale, skip, values) -> None:  # type: ignore[no-untyped-def]
    # PostgreSQL's binary numeric (numeric_send's digits, weight, sign and scale) for decimal128 at
    # every scale the compiled part takes, against the per-value reference, and against the numpy
    # vector where that one applies (precision 18, scale <= 8); a value wider than 64 bits makes the
    # compiled part decline and the per-value reference write it
    array = pa.array([None if v is None else decimal.Decimal(v).scaleb(-scale, _EXACT) for v in values],
                     pa.decimal128(38, scale)).slice(min(skip, len(values)))
    expected = pa.array([None if v is None else pgtypes._numeric_binary(v) for v in array.to_pylist()], pa.binary())
    assert pgtypes.binary_values(array).equals(expected)
    fits = all(v is None or -(2**63) <= v.scaleb(scale, _EXACT) < 2**63 for v in array.to_pylist())
    made = pgtypes._strings(array, "numerics", scale, kind=pa.binary())
    assert (made is not None) == fits or len(array) == 0
    if fits and scale <= 8 and len(array) and any(v is not None for v in array.to_pylist()):
        narrow = array.cast(pa.decimal128(18, scale)) if all(
            v is None or abs(v.scaleb(scale, _EXACT)) < 10**18 for v in array.to_pylist()) else None
        if narrow is not None:
            assert pgtypes._numeric_binary_vector(narrow).equals(expected)


_WIDE = st.integers(-(10**23), 10**23).map(float)  # large whole numbers: where bounds are often short decimals


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.integers(0, 3),
       st.lists(st.one_of(st.none(), st.floats(), st.floats(width=32), _WIDE,
                          st.sampled_from([1.5e10, 3.661672101591022e16, 2.0**54, 2.0**-1022, 5e-324, -0.0, 1e-5])),
                max_size=30))
def test_floats_as_postgresql_writes_them_compiled_or_not(single, skip, values) -> None:  # type: ignore[no-untyped-def]
    # the compiled part (Arrow's digits, checked against the bounds exactly, laid out) and the
    # exact Python fallback (the shortest digits strictly inside the interval) agree on every
    # double and real, out to subnormals, infinities and values on a bound
    if single:
        values = [None if v is None else float(np.float32(v)) if abs(v) < 3.4e38 or not np.isfinite(v) else None
                  for v in values]
    array = pa.array(values, pa.float32() if single else pa.float64()).slice(min(skip, len(values)))
    compiled = pgtypes.text_strings(array)
    saved, pgtypes._rows = pgtypes._rows, None
    try:
        assert compiled.equals(pgtypes.text_strings(array)), array
    finally:
        pgtypes._rows = saved
    for v, text in zip(array.to_pylist(), compiled.to_pylist(), strict=True):  # each reads back as its value
        if v is not None and text != "NaN":
            assert (float(np.float32(float(text))) if single else float(text.replace("Infinity", "inf"))) == v


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.uuids()), max_size=40), st.integers(0, 3), st.booleans())
def test_uuids_become_their_16_bytes_and_read_back_as_uuid_out_writes_them(values, skip, listed) -> None:  # type: ignore[no-untyped-def]
    # DuckDB's uuid strings (sliced, NULLs anywhere) relabelled as arrow.uuid: the bytes are
    # uuid_send's, and the text written back is uuid_out's (lowercase 8-4-4-4-12), also as the
    # elements of an array
    strings = pa.array([None if v is None else str(v) for v in values], pa.string()).slice(min(skip, len(values)))
    kept = values[min(skip, len(values)):]
    if listed:
        lists = pa.array([[v] if i % 2 else [v, None] for i, v in enumerate(strings.to_pylist())], pa.list_(pa.string()))
        typed = typed_batch(pa.record_batch([lists], names=["u"]), relabelled(["UUID[]"])).column(0)
        assert typed.type == pa.list_(pa.uuid())
        assert pgtypes.text_strings(typed).to_pylist() == [
            "{" + ("NULL" if v is None else str(v)) + ("}" if i % 2 else ",NULL}") for i, v in enumerate(kept)]
        return
    typed = typed_batch(pa.record_batch([strings], names=["u"]), relabelled(["UUID"])).column(0)
    assert typed.type == pa.uuid() and pgtypes.oid_for(typed.type) == pgtypes.UUID
    assert pgtypes.binary_values(typed).to_pylist() == [None if v is None else v.bytes for v in kept]
    assert pgtypes.text_strings(typed).to_pylist() == [None if v is None else str(v) for v in kept]
    block = pgtypes.fixed_block(typed)
    assert block is not None and [bytes(r) for r, v in zip(block, kept) if v is not None] == [
        v.bytes for v in kept if v is not None]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=8), st.lists(st.booleans(), min_size=8, max_size=8),
       st.sampled_from(["text", "csv", "binary"]))
def test_copy_batches_leave_in_order_whichever_thread_encodes_them(sizes, behind, fmt) -> None:  # type: ignore[no-untyped-def]
    # COPY encodes on the pool while the client keeps up and on its own thread while the client
    # is behind (gateway/session._encode_ahead); the flag may change between any two batches
    from gateway.session import _encode_ahead

    start = 0
    batches = []
    for size in sizes:
        ids = pa.array(range(start, start + size), pa.int64())
        names = pa.array([None if i % 7 == 0 else f"n{i},\t\"{i}\"" for i in range(start, start + size)])
        batches.append(pa.record_batch([ids, names], names=["id", "name"]))
        start += size
    flags = iter(behind * 2)
    produced = [(rows, bytes(chunk)) for rows, chunk in
                _encode_ahead(CopyEncoder.for_options({"format": fmt}), iter(batches), lambda: next(flags, False))]
    reference = CopyEncoder.for_options({"format": fmt})
    assert b"".join(chunk for _, chunk in produced) == b"".join(bytes(reference.encode(b)) for b in batches)
    assert sum(rows for rows, _ in produced) == start
