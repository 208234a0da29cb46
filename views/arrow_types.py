"""DuckDB's UUID and JSON values as Arrow's canonical extension types (arrow.uuid, arrow.json).

DuckDB hands both over as plain strings. Its ``arrow_lossless_conversion`` setting would label
them, but it also turns HUGEINT (what every sum() of a BIGINT is) and TIME WITH TIME ZONE into
opaque types no reader knows. A PostgreSQL client has to tell a uuid and a json from a text
(psycopg reads json into Python objects and uuid into UUID; binary uuid is 16 bytes), so wire
streams relabel just these two, found by DuckDB's own type names for the result's columns:
JSON keeps its string buffers (a relabel, no copy), UUID becomes its 16 bytes (a numpy pass,
about 2 ms for 32k values). Lists of either are relabelled element-wise.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_WANTED = {"UUID": pa.uuid(), "JSON": pa.json_(pa.string())}
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"
UUID_GROUPS = ((0, 8), (9, 13), (14, 18), (19, 23), (24, 36))  # where 8-4-4-4-12's hex digits are


def _target(type_name: str) -> pa.DataType | None:
    name = type_name.upper()
    if name.endswith("[]"):
        inner = _WANTED.get(name[:-2])
        return pa.list_(inner) if inner is not None else None
    return _WANTED.get(name)


def relabelled(type_names: Sequence[str]) -> dict[int, pa.DataType]:
    """The columns (by position) whose values become extension types, and those types."""
    found = {i: _target(name) for i, name in enumerate(type_names)}
    return {i: t for i, t in found.items() if t is not None}


def typed_schema(schema: pa.Schema, targets: dict[int, pa.DataType]) -> pa.Schema:
    for i, t in targets.items():
        if _storage_fits(schema.field(i).type, t):
            schema = schema.set(i, schema.field(i).with_type(t))
    return schema


def typed_batch(batch: pa.RecordBatch, targets: dict[int, pa.DataType]) -> pa.RecordBatch:
    if not targets:
        return batch
    columns = list(batch.columns)
    for i, t in targets.items():
        if _storage_fits(columns[i].type, t):
            columns[i] = _typed(columns[i], t)
    return pa.RecordBatch.from_arrays(columns, schema=typed_schema(batch.schema, targets))


def _storage_fits(actual: pa.DataType, wanted: pa.DataType) -> bool:
    """DuckDB's Arrow type for a column of the wanted type: a string, or a list of strings."""
    if pa.types.is_list(wanted):
        return pa.types.is_list(actual) and pa.types.is_string(actual.value_type)
    return pa.types.is_string(actual)


def _typed(arr: pa.Array, t: pa.DataType) -> pa.Array:
    if pa.types.is_list(t):
        values = _typed(arr.values, t.value_type)
        return pa.ListArray.from_arrays(arr.offsets, values, type=t, mask=arr.is_null() if arr.null_count else None)
    if isinstance(t, pa.JsonType):
        return pa.ExtensionArray.from_storage(t, arr)
    return pa.ExtensionArray.from_storage(t, uuid_bytes(arr))


def uuid_bytes(arr: pa.Array) -> pa.FixedSizeBinaryArray:
    """Canonical uuid strings (as DuckDB writes them: 36 characters, 8-4-4-4-12) as their 16
    bytes each; NULL stays NULL."""
    n = len(arr)
    filled = pc.fill_null(arr, _ZERO_UUID) if arr.null_count else arr
    offsets = np.frombuffer(filled.buffers()[1], np.int32, n + 1, 4 * filled.offset)
    if n and not (offsets[-1] - offsets[0] == 36 * n and np.all(np.diff(offsets) == 36)):
        raise ValueError("a uuid value is not in its canonical 36-character form")
    text = np.frombuffer(filled.buffers()[2], np.uint8, 36 * n, int(offsets[0]) if n else 0).reshape(n, 36)
    hexes = np.concatenate([text[:, a:b] for a, b in UUID_GROUPS], axis=1)
    digits = (hexes & 0x0F) + 9 * (hexes >> 6)  # '0'-'9' -> 0-9, 'a'-'f' and 'A'-'F' -> 10-15
    pairs = digits.reshape(n, 16, 2)
    raw = np.ascontiguousarray((pairs[:, :, 0] << 4) | pairs[:, :, 1])
    validity = arr.buffers()[0] if arr.null_count else None
    if validity is not None and arr.offset:
        validity = pc.is_valid(arr).buffers()[1]  # realigned to start at bit 0
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [validity, pa.py_buffer(raw)], arr.null_count)


def without_infinities(arr: pa.Array) -> tuple[pa.Array, tuple[np.ndarray, np.ndarray] | None]:
    """A date or timestamp column with DuckDB's infinity and -infinity (the largest value and
    its negation) as NULL, and where each was, as two boolean masks; the column itself and None
    where it holds neither (one compare of the values' buffer, about 20 us for 32k)."""
    if not (pa.types.is_date32(arr.type) or pa.types.is_timestamp(arr.type)):
        return arr, None
    width = 4 if pa.types.is_date32(arr.type) else 8
    top = 2**31 - 1 if width == 4 else 2**63 - 1
    raw = np.frombuffer(arr.buffers()[1], f"<i{width}", len(arr), arr.offset * width)
    high, low = raw == top, raw == -top
    if not (high.any() or low.any()):
        return arr, None
    if arr.null_count:  # a NULL's slot may hold anything, the sentinels too
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        high, low = high & valid, low & valid
        if not (high.any() or low.any()):
            return arr, None
    return pc.if_else(pa.array(high | low), pa.scalar(None, arr.type), arr), (high, low)
