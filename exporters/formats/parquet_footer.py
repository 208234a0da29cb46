"""Parquet footers, read and written generically, so row groups encoded apart can share one file.

A Parquet file is ``PAR1``, the row groups' column chunks, the footer (a Thrift-compact
``FileMetaData``), the footer's length and ``PAR1`` again. Row groups encoded on different
threads, each as a small file of its own, become one file by appending their column chunks and
writing one footer that lists every row group with its byte offsets moved to where its chunks
landed.

The footer is decoded into a tree that keeps every field, known or not (``{field id: (thrift
type, value)}``), by the ``thrift`` library's compact protocol; only the fields named below are
changed. Nothing needs the generated parquet.thrift classes, and a field that a newer pyarrow
adds travels through untouched.
"""

from __future__ import annotations

from typing import Any

from thrift.protocol.TCompactProtocol import TCompactProtocol
from thrift.Thrift import TType
from thrift.transport.TTransport import TMemoryBuffer

MAGIC = b"PAR1"

Struct = dict[int, tuple[int, Any]]  # field id -> (thrift type, value), in the order read

# parquet.thrift field ids
FILE_NUM_ROWS, FILE_ROW_GROUPS = 3, 4  # FileMetaData
GROUP_COLUMNS, GROUP_NUM_ROWS, GROUP_FILE_OFFSET, GROUP_ORDINAL = 1, 3, 5, 7  # RowGroup
CHUNK_FILE_OFFSET, CHUNK_META, CHUNK_OFFSET_INDEX, CHUNK_COLUMN_INDEX = 2, 3, 4, 6  # ColumnChunk
# ColumnMetaData: data_page_offset, index_page_offset, dictionary_page_offset, bloom_filter_offset
META_OFFSETS = (9, 10, 11, 14)
I16_MAX = 32_767


def _read(proto: TCompactProtocol, ttype: int) -> Any:
    if ttype == TType.STRUCT:
        proto.readStructBegin()
        fields: Struct = {}
        while True:
            _, ftype, fid = proto.readFieldBegin()
            if ftype == TType.STOP:
                break
            fields[fid] = (ftype, _read(proto, ftype))
            proto.readFieldEnd()
        proto.readStructEnd()
        return fields
    if ttype in (TType.LIST, TType.SET):
        etype, size = proto.readListBegin()
        items = [_read(proto, etype) for _ in range(size)]
        proto.readListEnd()
        return etype, items
    if ttype == TType.MAP:
        ktype, vtype, size = proto.readMapBegin()
        pairs = [(_read(proto, ktype), _read(proto, vtype)) for _ in range(size)]
        proto.readMapEnd()
        return ktype, vtype, pairs
    return _SCALARS[ttype][0](proto)


def _write(proto: TCompactProtocol, ttype: int, value: Any) -> None:
    if ttype == TType.STRUCT:
        proto.writeStructBegin("")
        for fid, (ftype, fvalue) in value.items():
            proto.writeFieldBegin("", ftype, fid)
            _write(proto, ftype, fvalue)
            proto.writeFieldEnd()
        proto.writeFieldStop()
        proto.writeStructEnd()
    elif ttype in (TType.LIST, TType.SET):
        etype, items = value
        proto.writeListBegin(etype, len(items))
        for item in items:
            _write(proto, etype, item)
        proto.writeListEnd()
    elif ttype == TType.MAP:
        ktype, vtype, pairs = value
        proto.writeMapBegin(ktype, vtype, len(pairs))
        for k, v in pairs:
            _write(proto, ktype, k)
            _write(proto, vtype, v)
        proto.writeMapEnd()
    else:
        _SCALARS[ttype][1](proto, value)


_SCALARS = {
    TType.BOOL: (TCompactProtocol.readBool, TCompactProtocol.writeBool),
    TType.BYTE: (TCompactProtocol.readByte, TCompactProtocol.writeByte),
    TType.I16: (TCompactProtocol.readI16, TCompactProtocol.writeI16),
    TType.I32: (TCompactProtocol.readI32, TCompactProtocol.writeI32),
    TType.I64: (TCompactProtocol.readI64, TCompactProtocol.writeI64),
    TType.DOUBLE: (TCompactProtocol.readDouble, TCompactProtocol.writeDouble),
    TType.STRING: (TCompactProtocol.readBinary, TCompactProtocol.writeBinary),
}


def decode(data: bytes | memoryview) -> Struct:
    proto = TCompactProtocol(TMemoryBuffer(bytes(data)))
    result: Struct = _read(proto, TType.STRUCT)
    return result


def encode(struct: Struct) -> bytes:
    buffer = TMemoryBuffer()
    _write(TCompactProtocol(buffer), TType.STRUCT, struct)
    return buffer.getvalue()


def split(part: memoryview) -> tuple[memoryview, Struct]:
    """A whole Parquet file -> (its column chunks' bytes, its decoded footer)."""
    if len(part) < 12 or part[:4] != MAGIC or part[-4:] != MAGIC:
        raise ValueError("not a Parquet file: PAR1 missing")
    length = int.from_bytes(part[-8:-4], "little")
    end = len(part) - 8 - length
    if end < len(MAGIC):
        raise ValueError("not a Parquet file: the footer is longer than the file")
    return part[4:end], decode(part[end:-8])


def _shift(fields: Struct, ids: tuple[int, ...], by: int) -> None:
    for fid in ids:
        if fid in fields:
            ftype, value = fields[fid]
            fields[fid] = (ftype, value + by)


def moved(groups: list[Struct], by: int) -> list[Struct]:
    """Row groups whose column chunks now start ``by`` bytes later in the file (in place)."""
    for group in groups:
        _shift(group, (GROUP_FILE_OFFSET,), by)
        for chunk in group[GROUP_COLUMNS][1][1]:
            _shift(chunk, (CHUNK_FILE_OFFSET, CHUNK_OFFSET_INDEX, CHUNK_COLUMN_INDEX), by)
            if CHUNK_META in chunk:
                _shift(chunk[CHUNK_META][1], META_OFFSETS, by)
    return groups


def row_groups(footer: Struct) -> list[Struct]:
    groups: list[Struct] = footer[FILE_ROW_GROUPS][1][1] if FILE_ROW_GROUPS in footer else []
    return groups


def merged(first: Struct, groups: list[Struct]) -> bytes:
    """The footer (with its length and closing magic) of a file holding ``groups`` in order.

    Everything but the row count and the row groups comes from the first part's footer: the
    parts share their schema and writer properties."""
    footer = dict(first)
    footer[FILE_NUM_ROWS] = (TType.I64, sum(group[GROUP_NUM_ROWS][1] for group in groups))
    for ordinal, group in enumerate(groups):
        if GROUP_ORDINAL in group:
            if ordinal <= I16_MAX:
                group[GROUP_ORDINAL] = (TType.I16, ordinal)
            else:  # an i16 in the format; it is optional, so past 32,767 groups it is left out
                del group[GROUP_ORDINAL]
    footer[FILE_ROW_GROUPS] = (TType.LIST, (TType.STRUCT, groups))
    data = encode(footer)
    return data + len(data).to_bytes(4, "little") + MAGIC
