"""Flight SQL metadata results: the reference schemas, and what a principal may see in them.

Clients (ADBC above all) compare these schemas field by field, nullability included, against the
ones the Flight SQL specification fixes; they are spelled out here once and never derived.
Everything listed comes from ``Principal.visible_views`` and the policy-compiled ``SELECT *`` of
each view, so metadata never shows a view or column the principal could not query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from flight.protocol import FlightSql_pb2 as pb

CATALOG = "egress"
SCHEMA = "public"
TABLE_TYPE = "VIEW"

CATALOGS = pa.schema([pa.field("catalog_name", pa.utf8(), False)])
DB_SCHEMAS = pa.schema([pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8(), False)])
TABLES = pa.schema([
    pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8()),
    pa.field("table_name", pa.utf8(), False), pa.field("table_type", pa.utf8(), False),
])
TABLES_WITH_SCHEMA = TABLES.append(pa.field("table_schema", pa.binary(), False))
TABLE_TYPES = pa.schema([pa.field("table_type", pa.utf8(), False)])
PRIMARY_KEYS = pa.schema([
    pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8()),
    pa.field("table_name", pa.utf8(), False), pa.field("column_name", pa.utf8(), False),
    pa.field("key_name", pa.utf8()), pa.field("key_sequence", pa.int32(), False),
])
_KEYS = pa.schema([
    pa.field("pk_catalog_name", pa.utf8()), pa.field("pk_db_schema_name", pa.utf8()),
    pa.field("pk_table_name", pa.utf8(), False), pa.field("pk_column_name", pa.utf8(), False),
    pa.field("fk_catalog_name", pa.utf8()), pa.field("fk_db_schema_name", pa.utf8()),
    pa.field("fk_table_name", pa.utf8(), False), pa.field("fk_column_name", pa.utf8(), False),
    pa.field("key_sequence", pa.int32(), False), pa.field("fk_key_name", pa.utf8()),
    pa.field("pk_key_name", pa.utf8()), pa.field("update_rule", pa.uint8(), False),
    pa.field("delete_rule", pa.uint8(), False),
])
EXPORTED_KEYS = IMPORTED_KEYS = CROSS_REFERENCE = _KEYS

_SQL_INFO_VALUE = pa.dense_union([
    pa.field("string_value", pa.utf8()),
    pa.field("bool_value", pa.bool_()),
    pa.field("bigint_value", pa.int64()),
    pa.field("int32_bitmask", pa.int32()),
    pa.field("string_list", pa.list_(pa.utf8())),
    pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32()))),
])
SQL_INFO = pa.schema([pa.field("info_name", pa.uint32(), False), pa.field("value", _SQL_INFO_VALUE, False)])

XDBC_TYPE_INFO = pa.schema([
    pa.field("type_name", pa.utf8(), False),
    pa.field("data_type", pa.int32(), False),
    pa.field("column_size", pa.int32()),
    pa.field("literal_prefix", pa.utf8()),
    pa.field("literal_suffix", pa.utf8()),
    pa.field("create_params", pa.list_(pa.field("item", pa.utf8(), False))),
    pa.field("nullable", pa.int32(), False),
    pa.field("case_sensitive", pa.bool_(), False),
    pa.field("searchable", pa.int32(), False),
    pa.field("unsigned_attribute", pa.bool_()),
    pa.field("fixed_prec_scale", pa.bool_(), False),
    pa.field("auto_increment", pa.bool_()),
    pa.field("local_type_name", pa.utf8()),
    pa.field("minimum_scale", pa.int32()),
    pa.field("maximum_scale", pa.int32()),
    pa.field("sql_data_type", pa.int32(), False),
    pa.field("datetime_subcode", pa.int32()),
    pa.field("num_prec_radix", pa.int32()),
    pa.field("interval_precision", pa.int32()),
])


def like(pattern: str | None, value: str) -> bool:
    """Flight SQL filter patterns: % any run, _ one character (None or '' matches everything)."""
    if not pattern:
        return True
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.S) is not None


def catalogs() -> pa.Table:
    return pa.Table.from_pylist([{"catalog_name": CATALOG}], schema=CATALOGS)


def _catalog_matches(catalog: str | None) -> bool:
    return catalog is None or catalog == CATALOG


def db_schemas(catalog: str | None, pattern: str | None) -> pa.Table:
    rows = [{"catalog_name": CATALOG, "db_schema_name": SCHEMA}] \
        if _catalog_matches(catalog) and like(pattern, SCHEMA) else []
    return pa.Table.from_pylist(rows, schema=DB_SCHEMAS)


@dataclass(frozen=True)
class TableEntry:
    name: str
    schema: pa.Schema  # the view as the principal sees it, with ARROW:FLIGHT:SQL:* field metadata


def tables(entries: list[TableEntry], cmd: pb.CommandGetTables) -> pa.Table:
    catalog = cmd.catalog if cmd.HasField("catalog") else None
    schema_pattern = cmd.db_schema_filter_pattern if cmd.HasField("db_schema_filter_pattern") else None
    table_pattern = cmd.table_name_filter_pattern if cmd.HasField("table_name_filter_pattern") else None
    types = {t.upper() for t in cmd.table_types}
    rows = []
    if _catalog_matches(catalog) and like(schema_pattern, SCHEMA) and (not types or TABLE_TYPE in types):
        for entry in sorted(entries, key=lambda e: e.name):
            if not like(table_pattern, entry.name):
                continue
            row = {"catalog_name": CATALOG, "db_schema_name": SCHEMA, "table_name": entry.name,
                   "table_type": TABLE_TYPE}
            if cmd.include_schema:
                row["table_schema"] = entry.schema.serialize().to_pybytes()
            rows.append(row)
    return pa.Table.from_pylist(rows, schema=TABLES_WITH_SCHEMA if cmd.include_schema else TABLES)


def wanted_tables(cmd: pb.CommandGetTables, names: list[str]) -> list[str]:
    """The view names a GetTables request can list (so only those schemas are computed)."""
    pattern = cmd.table_name_filter_pattern if cmd.HasField("table_name_filter_pattern") else None
    return [n for n in names if like(pattern, n)]


def table_types() -> pa.Table:
    return pa.Table.from_pylist([{"table_type": TABLE_TYPE}], schema=TABLE_TYPES)


def empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


def field_metadata(view: str, type_name: str, arrow_type: pa.DataType) -> dict[str, str]:
    """ARROW:FLIGHT:SQL:* column metadata (Power BI's and DBeaver's Flight connectors read it)."""
    meta = {
        "ARROW:FLIGHT:SQL:CATALOG_NAME": CATALOG,
        "ARROW:FLIGHT:SQL:DB_SCHEMA_NAME": SCHEMA,
        "ARROW:FLIGHT:SQL:TABLE_NAME": view,
        "ARROW:FLIGHT:SQL:TYPE_NAME": type_name,
        "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT": "0",
        "ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE": "1" if pa.types.is_string(arrow_type) else "0",
        "ARROW:FLIGHT:SQL:IS_READ_ONLY": "1",
        "ARROW:FLIGHT:SQL:IS_SEARCHABLE": "1",
    }
    if pa.types.is_decimal(arrow_type):
        meta["ARROW:FLIGHT:SQL:PRECISION"] = str(arrow_type.precision)
        meta["ARROW:FLIGHT:SQL:SCALE"] = str(arrow_type.scale)
    elif pa.types.is_integer(arrow_type):
        meta["ARROW:FLIGHT:SQL:PRECISION"] = str({8: 3, 16: 5, 32: 10, 64: 19}[arrow_type.bit_width])
        meta["ARROW:FLIGHT:SQL:SCALE"] = "0"
    return meta


def with_metadata(view: str, schema: pa.Schema, type_names: list[str]) -> pa.Schema:
    return pa.schema([f.with_metadata(field_metadata(view, t, f.type)) for f, t in zip(schema, type_names)])


# -- GetSqlInfo ----------------------------------------------------------------------------------
def sql_info_values(version: str, keywords: list[str], functions: dict[str, list[str]],
                    handle_ttl_ms: int) -> dict[int, object]:
    info = pb.SqlInfo.Value
    return {
        info("FLIGHT_SQL_SERVER_NAME"): "egress",
        info("FLIGHT_SQL_SERVER_VERSION"): version,
        info("FLIGHT_SQL_SERVER_ARROW_VERSION"): pa.__version__,
        info("FLIGHT_SQL_SERVER_READ_ONLY"): True,
        info("FLIGHT_SQL_SERVER_SQL"): True,
        info("FLIGHT_SQL_SERVER_SUBSTRAIT"): False,
        info("FLIGHT_SQL_SERVER_TRANSACTION"): ("int32", pb.SqlSupportedTransaction.Value("SQL_SUPPORTED_TRANSACTION_NONE")),
        info("FLIGHT_SQL_SERVER_CANCEL"): True,
        info("FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT"): ("int32", handle_ttl_ms),
        info("SQL_DDL_CATALOG"): False,
        info("SQL_DDL_SCHEMA"): False,
        info("SQL_DDL_TABLE"): False,
        info("SQL_IDENTIFIER_CASE"): ("int32", pb.SqlSupportedCaseSensitivity.Value("SQL_CASE_SENSITIVITY_LOWERCASE")),
        info("SQL_IDENTIFIER_QUOTE_CHAR"): '"',
        info("SQL_QUOTED_IDENTIFIER_CASE"): ("int32", pb.SqlSupportedCaseSensitivity.Value("SQL_CASE_SENSITIVITY_CASE_INSENSITIVE")),
        info("SQL_ALL_TABLES_ARE_SELECTABLE"): True,
        info("SQL_NULL_ORDERING"): ("int32", pb.SqlNullOrdering.Value("SQL_NULLS_SORTED_HIGH")),
        info("SQL_KEYWORDS"): keywords,
        info("SQL_NUMERIC_FUNCTIONS"): functions.get("numeric", []),
        info("SQL_STRING_FUNCTIONS"): functions.get("string", []),
        info("SQL_SYSTEM_FUNCTIONS"): functions.get("system", []),
        info("SQL_DATETIME_FUNCTIONS"): functions.get("datetime", []),
        info("SQL_SEARCH_STRING_ESCAPE"): "\\",
        info("SQL_EXTRA_NAME_CHARACTERS"): "",
        info("SQL_SUPPORTS_COLUMN_ALIASING"): True,
        info("SQL_NULL_PLUS_NULL_IS_NULL"): True,
        info("SQL_SUPPORTS_TABLE_CORRELATION_NAMES"): True,
        info("SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY"): True,
        info("SQL_SUPPORTS_ORDER_BY_UNRELATED"): True,
        info("SQL_SUPPORTS_LIKE_ESCAPE_CLAUSE"): True,
        info("SQL_SUPPORTS_NON_NULLABLE_COLUMNS"): False,
        info("SQL_SUPPORTS_INTEGRITY_ENHANCEMENT_FACILITY"): False,
        info("SQL_CATALOG_TERM"): "database",
        info("SQL_SCHEMA_TERM"): "schema",
        info("SQL_PROCEDURE_TERM"): "procedure",
        info("SQL_CATALOG_AT_START"): True,
        info("SQL_SELECT_FOR_UPDATE_SUPPORTED"): False,
        info("SQL_STORED_PROCEDURES_SUPPORTED"): False,
        info("SQL_CORRELATED_SUBQUERIES_SUPPORTED"): True,
        info("SQL_TRANSACTIONS_SUPPORTED"): False,
        info("SQL_BATCH_UPDATES_SUPPORTED"): False,
        info("SQL_SAVEPOINTS_SUPPORTED"): False,
        info("SQL_NAMED_PARAMETERS_SUPPORTED"): False,
        info("SQL_LOCATORS_UPDATE_COPY"): False,
        info("SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED"): False,
    }


def sql_info(values: dict[int, object], wanted: list[int]) -> pa.Table:
    """The dense-union table GetSqlInfo answers with (unknown codes are left out, as the spec allows)."""
    codes = [c for c in (wanted or sorted(values)) if c in values]
    type_ids, offsets = [], []
    children: list[list[object]] = [[] for _ in range(6)]
    for code in codes:
        value = values[code]
        if isinstance(value, tuple):  # ("int32", n): an int32 bitmask / enum member
            slot, value = 3, value[1]
        elif isinstance(value, list):
            slot = 4
        elif isinstance(value, bool):
            slot = 1
        elif isinstance(value, int):
            slot = 2
        else:
            slot = 0
        type_ids.append(slot)
        offsets.append(len(children[slot]))
        children[slot].append(value)
    arrays = [pa.array(values_, type=_SQL_INFO_VALUE.field(i).type) for i, values_ in enumerate(children)]
    union = pa.UnionArray.from_dense(pa.array(type_ids, pa.int8()), pa.array(offsets, pa.int32()), arrays,
                                     [f.name for f in _SQL_INFO_VALUE], list(range(6)))
    names = pa.array(codes, pa.uint32())
    return pa.Table.from_arrays([names, union], schema=SQL_INFO)


# -- GetXdbcTypeInfo -----------------------------------------------------------------------------
def _xdbc(name: str, kind: str, size: int | None, *, prefix: str | None = None, suffix: str | None = None,
          params: list[str] | None = None, case: bool = False, searchable: str = "SEARCHABLE_BASIC",
          unsigned: bool | None = None, fixed: bool = False, min_scale: int | None = None,
          max_scale: int | None = None, subcode: str | None = None, radix: int | None = None) -> dict[str, object]:
    data_type = pb.XdbcDataType.Value(kind)
    sql_type = data_type
    if subcode is not None:  # date/time types report the generic DATETIME plus a subcode
        sql_type = pb.XdbcDataType.Value("XDBC_DATETIME")
    return {
        "type_name": name, "data_type": data_type, "column_size": size, "literal_prefix": prefix,
        "literal_suffix": suffix, "create_params": params, "nullable": pb.Nullable.Value("NULLABILITY_NULLABLE"),
        "case_sensitive": case, "searchable": pb.Searchable.Value(searchable), "unsigned_attribute": unsigned,
        "fixed_prec_scale": fixed, "auto_increment": None if unsigned is None else False,
        "local_type_name": name, "minimum_scale": min_scale, "maximum_scale": max_scale,
        "sql_data_type": sql_type,
        "datetime_subcode": pb.XdbcDatetimeSubcode.Value(subcode) if subcode else None,
        "num_prec_radix": radix, "interval_precision": None,
    }


_XDBC_ROWS = [
    _xdbc("BOOLEAN", "XDBC_BIT", 1),
    _xdbc("TINYINT", "XDBC_TINYINT", 3, unsigned=False, min_scale=0, max_scale=0, radix=10),
    _xdbc("BIGINT", "XDBC_BIGINT", 19, unsigned=False, min_scale=0, max_scale=0, radix=10),
    _xdbc("VARCHAR", "XDBC_VARCHAR", None, prefix="'", suffix="'", case=True, searchable="SEARCHABLE_FULL"),
    _xdbc("DECIMAL", "XDBC_DECIMAL", 38, params=["precision", "scale"], unsigned=False, fixed=True,
          min_scale=0, max_scale=38, radix=10),
    _xdbc("INTEGER", "XDBC_INTEGER", 10, unsigned=False, min_scale=0, max_scale=0, radix=10),
    _xdbc("SMALLINT", "XDBC_SMALLINT", 5, unsigned=False, min_scale=0, max_scale=0, radix=10),
    _xdbc("FLOAT", "XDBC_FLOAT", 24, unsigned=False, radix=2),
    _xdbc("DOUBLE", "XDBC_DOUBLE", 53, unsigned=False, radix=2),
    _xdbc("DATE", "XDBC_DATE", 10, prefix="DATE '", suffix="'", subcode="XDBC_SUBCODE_DATE"),
    _xdbc("TIME", "XDBC_TIME", 15, prefix="TIME '", suffix="'", subcode="XDBC_SUBCODE_TIME"),
    _xdbc("TIMESTAMP", "XDBC_TIMESTAMP", 26, prefix="TIMESTAMP '", suffix="'", subcode="XDBC_SUBCODE_TIMESTAMP"),
    _xdbc("TIMESTAMP WITH TIME ZONE", "XDBC_TIMESTAMP", 32, prefix="TIMESTAMPTZ '", suffix="'",
          subcode="XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE"),
]


def xdbc_type_info(data_type: int | None) -> pa.Table:
    rows = [r for r in _XDBC_ROWS if data_type is None or r["data_type"] == data_type]
    rows.sort(key=lambda r: (r["data_type"], r["type_name"]))
    return pa.Table.from_pylist(rows, schema=XDBC_TYPE_INFO)

