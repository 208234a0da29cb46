"""PostgreSQL's own catalog tables, as drivers and BI tools read them, for one principal.

DuckDB emulates part of pg_catalog, but with missing columns (psql's `\\d` reads
pg_class.relforcerowsecurity, pgjdbc pg_attribute.attidentity, Npgsql pg_type.typreceive ...).
These tables carry PostgreSQL's column names, hold only what the principal may see (its views as
tables in schema public, their visible columns), and are made in the shadow database under schema
`pgc`; catalog queries that name pg_catalog.X read pgc.X where it exists.
"""

from __future__ import annotations

import pyarrow as pa

from gateway import pgtypes
from sql.model import Catalog, Principal

PUBLIC_OID, CATALOG_OID, INFO_OID = 2200, 11, 13_000
FIRST_TABLE_OID = 16_384
OWNER_OID = 10
DATABASE_OID = 16_000

# (oid, name, length, category, array oid, element oid, receive function)
_TYPES = [
    (pgtypes.BOOL, "bool", 1, "B", 1000, 0, "boolrecv"), (pgtypes.BYTEA, "bytea", -1, "U", 1001, 0, "bytearecv"),
    (pgtypes.INT8, "int8", 8, "N", 1016, 0, "int8recv"), (pgtypes.INT2, "int2", 2, "N", 1005, 0, "int2recv"),
    (pgtypes.INT4, "int4", 4, "N", 1007, 0, "int4recv"), (pgtypes.TEXT, "text", -1, "S", 1009, 0, "textrecv"),
    (pgtypes.JSON, "json", -1, "U", 199, 0, "json_recv"), (pgtypes.FLOAT4, "float4", 4, "N", 1021, 0, "float4recv"),
    (pgtypes.FLOAT8, "float8", 8, "N", 1022, 0, "float8recv"), (pgtypes.UNKNOWN, "unknown", -2, "X", 0, 0, "unknownrecv"),
    (pgtypes.VARCHAR, "varchar", -1, "S", 1015, 0, "varcharrecv"), (pgtypes.DATE, "date", 4, "D", 1182, 0, "date_recv"),
    (pgtypes.TIME, "time", 8, "D", 1183, 0, "time_recv"),
    (pgtypes.TIMESTAMP, "timestamp", 8, "D", 1115, 0, "timestamp_recv"),
    (pgtypes.TIMESTAMPTZ, "timestamptz", 8, "D", 1185, 0, "timestamptz_recv"),
    (pgtypes.INTERVAL, "interval", 16, "T", 1187, 0, "interval_recv"),
    (pgtypes.NUMERIC, "numeric", -1, "N", 1231, 0, "numeric_recv"), (pgtypes.UUID, "uuid", 16, "U", 2951, 0, "uuid_recv"),
    (26, "oid", 4, "N", 1028, 0, "oidrecv"), (19, "name", 64, "S", 1003, 0, "namerecv"),
    (18, "char", 1, "Z", 1002, 0, "charrecv"), (1042, "bpchar", -1, "S", 1014, 0, "bpcharrecv"),
    (2205, "regclass", 4, "N", 2210, 0, "regclassrecv"), (2206, "regtype", 4, "N", 2211, 0, "regtyperecv"),
    (24, "regproc", 4, "N", 1008, 0, "regprocrecv"), (3802, "jsonb", -1, "U", 3807, 0, "jsonb_recv"),
]


def type_oid(name: str) -> int | None:
    """The OID regtype's input gives a type name: its pg_type name (int4, _int4) or the name
    format_type writes (integer, integer[], double precision); None when there is no such type."""
    wanted = " ".join(name.lower().split()).removeprefix("pg_catalog.")
    for oid, typname, *_ in [*_TYPES, *_array_types()]:
        if wanted == typname:
            return oid
    arrays = {element: array for array, element in array_oids().items()}
    for oid, formatted in pgtypes.TYPE_NAMES.items():
        if wanted == formatted:
            return oid
        if oid in arrays and wanted == formatted + "[]":
            return arrays[oid]
    return None


def array_oids() -> dict[int, int]:
    """Each array type's OID -> its element type's OID."""
    return {array: oid for oid, _, _, _, array, _, _ in _TYPES if array}


def _array_types() -> list[tuple[int, str, int, str, int, int, str]]:
    out = []
    for oid, name, _, _, array, _, _ in _TYPES:
        if array:
            out.append((array, "_" + name, -1, "A", 0, oid, "array_recv"))
    return out


def tables(principal: Principal, catalog: Catalog) -> dict[str, pa.Table]:
    views = principal.visible_views(catalog)
    rel_oids = {v.name: FIRST_TABLE_OID + i * 2 for i, v in enumerate(views)}
    out: dict[str, pa.Table] = {}
    out["pg_namespace"] = pa.table({
        "oid": [CATALOG_OID, PUBLIC_OID, INFO_OID], "nspname": ["pg_catalog", "public", "information_schema"],
        "nspowner": [OWNER_OID] * 3, "nspacl": pa.array([None] * 3, pa.string())})
    n = len(views)
    out["pg_class"] = pa.table({
        "oid": [rel_oids[v.name] for v in views], "relname": [v.name for v in views],
        "relnamespace": [PUBLIC_OID] * n, "reltype": [rel_oids[v.name] + 1 for v in views], "reloftype": [0] * n,
        "relowner": [OWNER_OID] * n, "relam": [2] * n, "relfilenode": [rel_oids[v.name] for v in views],
        "reltablespace": [0] * n, "relpages": [0] * n, "reltuples": [-1.0] * n, "relallvisible": [0] * n,
        "reltoastrelid": [0] * n, "relhasindex": [False] * n, "relisshared": [False] * n,
        "relpersistence": ["p"] * n, "relkind": ["r"] * n,
        "relnatts": [len(principal.visible_columns(v)) for v in views], "relchecks": [0] * n,
        "relhasrules": [False] * n, "relhastriggers": [False] * n, "relhassubclass": [False] * n,
        "relrowsecurity": [False] * n, "relforcerowsecurity": [False] * n, "relispopulated": [True] * n,
        "relreplident": ["d"] * n, "relispartition": [False] * n, "relrewrite": [0] * n,
        "relfrozenxid": [0] * n, "relminmxid": [0] * n, "relacl": pa.array([None] * n, pa.string()),
        "reloptions": pa.array([None] * n, pa.list_(pa.string())), "relpartbound": pa.array([None] * n, pa.string())})
    attrs: dict[str, list] = {k: [] for k in (
        "attrelid", "attname", "atttypid", "attlen", "attnum", "atttypmod", "attndims", "attbyval", "attalign",
        "attstorage", "attnotnull", "atthasdef", "atthasmissing", "attidentity", "attgenerated", "attisdropped",
        "attislocal", "attinhcount", "attcollation")}
    descriptions: dict[str, list] = {"objoid": [], "classoid": [], "objsubid": [], "description": []}
    for v in views:
        descriptions["objoid"].append(rel_oids[v.name])
        descriptions["classoid"].append(1259)
        descriptions["objsubid"].append(0)
        descriptions["description"].append(v.description)
        for i, col in enumerate(principal.visible_columns(v), start=1):
            oid = pgtypes.oid_for_sql_type(col.type)
            attrs["attrelid"].append(rel_oids[v.name])
            attrs["attname"].append(col.name)
            attrs["atttypid"].append(oid)
            attrs["attlen"].append(pgtypes.TYPE_SIZE.get(oid, -1))
            attrs["attnum"].append(i)
            attrs["atttypmod"].append(pgtypes.modifier_for_sql_type(col.type))
            attrs["attndims"].append(0)
            attrs["attbyval"].append(pgtypes.TYPE_SIZE.get(oid, -1) in (1, 2, 4, 8))
            attrs["attalign"].append("i")
            attrs["attstorage"].append("x")
            attrs["attnotnull"].append(col.name == "company_id" and v.name == "companies")
            attrs["atthasdef"].append(False)
            attrs["atthasmissing"].append(False)
            attrs["attidentity"].append("")
            attrs["attgenerated"].append("")
            attrs["attisdropped"].append(False)
            attrs["attislocal"].append(True)
            attrs["attinhcount"].append(0)
            attrs["attcollation"].append(100 if oid in (pgtypes.TEXT, pgtypes.VARCHAR) else 0)
            descriptions["objoid"].append(rel_oids[v.name])
            descriptions["classoid"].append(1259)
            descriptions["objsubid"].append(i)
            descriptions["description"].append(col.description)
    count = len(attrs["attname"])
    attrs.update({"attcompression": [""] * count, "attstattarget": [-1] * count,
                  "attacl": [None] * count, "attoptions": [None] * count, "attfdwoptions": [None] * count,
                  "attmissingval": [None] * count, "attcacheoff": [-1] * count})
    out["pg_attribute"] = pa.table(attrs, schema=pa.schema([
        ("attrelid", pa.int64()), ("attname", pa.string()), ("atttypid", pa.int64()), ("attlen", pa.int64()),
        ("attnum", pa.int64()), ("atttypmod", pa.int64()), ("attndims", pa.int64()), ("attbyval", pa.bool_()),
        ("attalign", pa.string()), ("attstorage", pa.string()), ("attnotnull", pa.bool_()), ("atthasdef", pa.bool_()),
        ("atthasmissing", pa.bool_()), ("attidentity", pa.string()), ("attgenerated", pa.string()),
        ("attisdropped", pa.bool_()), ("attislocal", pa.bool_()), ("attinhcount", pa.int64()),
        ("attcollation", pa.int64()), ("attcompression", pa.string()), ("attstattarget", pa.int64()),
        ("attacl", pa.string()), ("attoptions", pa.list_(pa.string())), ("attfdwoptions", pa.list_(pa.string())),
        ("attmissingval", pa.string()), ("attcacheoff", pa.int64())]))
    out["pg_description"] = pa.table(descriptions)
    all_types = _TYPES + _array_types()
    out["pg_type"] = pa.table({
        "oid": [t[0] for t in all_types], "typname": [t[1] for t in all_types],
        "typnamespace": [CATALOG_OID] * len(all_types), "typowner": [OWNER_OID] * len(all_types),
        "typlen": [t[2] for t in all_types], "typbyval": [t[2] in (1, 2, 4, 8) for t in all_types],
        "typtype": ["b"] * len(all_types), "typcategory": [t[3] for t in all_types],
        "typispreferred": [False] * len(all_types), "typisdefined": [True] * len(all_types),
        "typdelim": [","] * len(all_types), "typrelid": [0] * len(all_types),
        "typsubscript": ["-"] * len(all_types), "typelem": [t[5] for t in all_types],
        "typarray": [t[4] for t in all_types], "typinput": [t[1] + "in" for t in all_types],
        "typoutput": [t[1] + "out" for t in all_types], "typreceive": [t[6] for t in all_types],
        "typsend": [t[6].replace("recv", "send") for t in all_types], "typmodin": ["-"] * len(all_types),
        "typmodout": ["-"] * len(all_types), "typanalyze": ["-"] * len(all_types),
        "typalign": ["i"] * len(all_types), "typstorage": ["p"] * len(all_types),
        "typnotnull": [False] * len(all_types), "typbasetype": [0] * len(all_types),
        "typtypmod": [-1] * len(all_types), "typndims": [0] * len(all_types),
        "typcollation": [100 if t[0] in (pgtypes.TEXT, pgtypes.VARCHAR, 1042, 19) else 0 for t in all_types], "typdefaultbin": pa.array([None] * len(all_types), pa.string()),
        "typdefault": pa.array([None] * len(all_types), pa.string()),
        "typacl": pa.array([None] * len(all_types), pa.string())})
    procs = sorted({t[6] for t in all_types})
    out["pg_proc"] = pa.table({"oid": list(range(5000, 5000 + len(procs))), "proname": procs,
                               "pronamespace": [CATALOG_OID] * len(procs), "prorettype": [0] * len(procs),
                               "prokind": ["f"] * len(procs), "pronargs": [1] * len(procs),
                               "proretset": [False] * len(procs)})
    out["pg_range"] = pa.table({"rngtypid": pa.array([], pa.int64()), "rngsubtype": pa.array([], pa.int64()),
                                "rngmultitypid": pa.array([], pa.int64())})
    out["pg_enum"] = pa.table({"oid": pa.array([], pa.int64()), "enumtypid": pa.array([], pa.int64()),
                               "enumsortorder": pa.array([], pa.float64()), "enumlabel": pa.array([], pa.string())})
    out["pg_database"] = pa.table({
        "oid": [DATABASE_OID], "datname": ["egress"], "datdba": [OWNER_OID], "encoding": [6],
        "datcollate": ["C"], "datctype": ["C"], "datistemplate": [False], "datallowconn": [True],
        "datconnlimit": [-1], "datacl": pa.array([None], pa.string()), "datlocprovider": ["c"],
        "daticulocale": pa.array([None], pa.string()), "daticurules": pa.array([None], pa.string()),
        "datcollversion": pa.array([None], pa.string()), "datfrozenxid": [0], "datminmxid": [0],
        "dattablespace": [1663], "dathasloginevt": [False]})
    out["pg_roles"] = pa.table({"oid": [OWNER_OID], "rolname": [principal.user], "rolsuper": [False],
                                "rolinherit": [True], "rolcreaterole": [False], "rolcreatedb": [False],
                                "rolcanlogin": [True], "rolreplication": [False], "rolconnlimit": [-1],
                                "rolvaliduntil": pa.array([None], pa.string()), "rolbypassrls": [False]})
    out["pg_user"] = pa.table({"usename": [principal.user], "usesysid": [OWNER_OID], "usecreatedb": [False],
                               "usesuper": [False], "userepl": [False], "usebypassrls": [False]})
    settings = {"max_index_keys": "32", "max_identifier_length": "63", "server_version": "16.4",
                "server_version_num": "160004", "server_encoding": "UTF8", "client_encoding": "UTF8",
                "standard_conforming_strings": "on", "integer_datetimes": "on", "DateStyle": "ISO, MDY",
                "TimeZone": "UTC", "IntervalStyle": "postgres", "search_path": '"$user", public',
                "default_transaction_read_only": "on", "transaction_isolation": "read committed",
                "max_connections": "100", "block_size": "8192", "lc_collate": "C", "lc_ctype": "C"}
    out["pg_settings"] = pa.table({
        "name": list(settings), "setting": list(settings.values()), "unit": pa.array([None] * len(settings), pa.string()),
        "category": ["Preset Options"] * len(settings), "short_desc": [""] * len(settings),
        "context": ["internal"] * len(settings), "vartype": ["string"] * len(settings),
        "source": ["default"] * len(settings), "min_val": pa.array([None] * len(settings), pa.string()),
        "max_val": pa.array([None] * len(settings), pa.string()), "boot_val": list(settings.values()),
        "reset_val": list(settings.values()), "pending_restart": [False] * len(settings)})
    import sqlglot.tokens

    words = sorted({k.lower() for k in sqlglot.tokens.Tokenizer.KEYWORDS if k.isalpha() and k.isupper()})
    out["pg_get_keywords"] = pa.table({"word": words, "catcode": ["U"] * len(words),
                                       "barelabel": [True] * len(words),
                                       "catdesc": ["unreserved"] * len(words),
                                       "baredesc": ["can be bare label"] * len(words)})
    out["pg_am"] = pa.table({"oid": [2, 403], "amname": ["heap", "btree"], "amtype": ["t", "i"]})
    out["pg_tablespace"] = pa.table({"oid": [1663], "spcname": ["pg_default"], "spcowner": [OWNER_OID]})
    out["pg_collation"] = pa.table({"oid": [100, 950], "collname": ["default", "C"],
                                    "collnamespace": [CATALOG_OID] * 2})
    empty = {
        "pg_index": ["indexrelid", "indrelid", "indnatts", "indnkeyatts", "indisunique", "indisprimary",
                     "indisexclusion", "indimmediate", "indisclustered", "indisvalid", "indisready", "indislive",
                     "indnullsnotdistinct", "indisreplident", "indcheckxmin",
                     "indkey", "indcollation", "indclass", "indoption", "indexprs", "indpred"],
        "pg_constraint": ["oid", "conname", "connamespace", "contype", "condeferrable", "condeferred",
                          "convalidated", "conrelid", "contypid", "conindid", "conparentid", "confrelid",
                          "confupdtype", "confdeltype", "confmatchtype", "conislocal", "coninhcount",
                          "connoinherit", "conkey", "confkey", "conpfeqop", "conppeqop", "conffeqop",
                          "confdelsetcols", "conexclop", "conbin"],
        "pg_attrdef": ["oid", "adrelid", "adnum", "adbin"],
        "pg_inherits": ["inhrelid", "inhparent", "inhseqno", "inhdetachpending"],
        "pg_trigger": ["oid", "tgrelid", "tgparentid", "tgname", "tgfoid", "tgtype", "tgenabled", "tgisinternal",
                       "tgconstrrelid", "tgconstrindid", "tgconstraint", "tgdeferrable", "tginitdeferred", "tgnargs"],
        "pg_rewrite": ["oid", "ev_class", "rulename", "ev_type", "ev_enabled", "is_instead"],
        "pg_policy": ["oid", "polname", "polrelid", "polcmd", "polpermissive", "polroles", "polqual", "polwithcheck"],
        "pg_statistic_ext": ["oid", "stxrelid", "stxname", "stxnamespace", "stxowner", "stxstattarget", "stxkeys",
                             "stxkind", "stxexprs"],
        "pg_publication": ["oid", "pubname", "pubowner", "puballtables", "pubinsert", "pubupdate", "pubdelete",
                           "pubtruncate", "pubviaroot"],
        "pg_publication_rel": ["oid", "prpubid", "prrelid", "prqual", "prattrs"],
        "pg_publication_namespace": ["oid", "pnpubid", "pnnspid"],
        "pg_depend": ["classid", "objid", "refclassid", "refobjid", "deptype"],
        "pg_foreign_table": ["ftrelid", "ftserver"],
        "pg_partitioned_table": ["partrelid", "partstrat"], "pg_sequence": ["seqrelid", "seqtypid", "seqstart", "seqincrement", "seqmax", "seqmin", "seqcache",
                        "seqcycle"],
        "pg_opclass": ["oid", "opcmethod", "opcname", "opcnamespace", "opcowner", "opcfamily", "opcintype",
                       "opcdefault", "opckeytype"],
        "pg_matviews": ["schemaname", "matviewname"],
    }
    for name, cols in empty.items():
        out[name] = pa.table({c: pa.array([], _empty_type(c)) for c in cols})
    # more catalogs psql's \d commands read (\du, \dx, \dL, \dc, \des, \dy, \drds, \do, \dF), empty
    text, number, flag = pa.string(), pa.int64(), pa.bool_()
    typed = {
        "pg_auth_members": {"roleid": number, "member": number, "grantor": number, "admin_option": flag},
        "pg_extension": {"oid": number, "extname": text, "extowner": number, "extnamespace": number,
                         "extrelocatable": flag, "extversion": text, "extconfig": pa.list_(number),
                         "extcondition": pa.list_(text)},
        "pg_language": {"oid": number, "tableoid": number, "lanname": text, "lanowner": number, "lanispl": flag,
                        "lanpltrusted": flag, "lanplcallfoid": number, "laninline": number, "lanvalidator": number},
        "pg_conversion": {"oid": number, "conname": text, "connamespace": number, "conowner": number,
                          "conforencoding": number, "contoencoding": number, "conproc": text, "condefault": flag},
        "pg_foreign_server": {"oid": number, "srvname": text, "srvowner": number, "srvfdw": number,
                              "srvtype": text, "srvversion": text},
        "pg_foreign_data_wrapper": {"oid": number, "fdwname": text, "fdwowner": number, "fdwhandler": number,
                                    "fdwvalidator": number},
        "pg_event_trigger": {"oid": number, "evtname": text, "evtevent": text, "evtowner": number,
                             "evtfoid": number, "evtenabled": text, "evttags": pa.list_(text)},
        "pg_db_role_setting": {"setdatabase": number, "setrole": number, "setconfig": pa.list_(text)},
        "pg_operator": {"oid": number, "oprname": text, "oprnamespace": number, "oprowner": number,
                        "oprkind": text, "oprleft": number, "oprright": number, "oprresult": number,
                        "oprcode": text},
        "pg_ts_config": {"oid": number, "cfgname": text, "cfgnamespace": number, "cfgowner": number,
                         "cfgparser": number},
    }
    for name, columns in typed.items():
        out[name] = pa.table({c: pa.array([], t) for c, t in columns.items()})
    return out


def _empty_type(column: str) -> pa.DataType:
    """Types for the columns of catalogs egress keeps empty: what PostgreSQL clients compare them with."""
    if column.startswith(("ind", "pol", "stx", "pub", "tg", "ev_", "inh", "is_", "con")) and column.endswith(
            ("unique", "primary", "permissive", "alltables", "insert", "update", "delete", "truncate", "viaroot",
             "internal", "deferrable", "deferred", "pending", "instead", "exclusion", "immediate", "clustered",
             "valid", "ready", "live", "validated", "islocal", "noinherit")) or column in ("seqcycle", "opcdefault", "indnullsnotdistinct", "indisreplident", "indcheckxmin"):
        return pa.bool_()
    if column in ("confupdtype", "confdeltype", "confmatchtype", "contype"):
        return pa.string()
    if column in ("indcollation", "indclass", "indoption", "conpfeqop", "conppeqop", "conffeqop",
                  "confdelsetcols", "conexclop"):
        return pa.list_(pa.int64())
    if column in ("polroles", "prattrs", "stxkeys", "indkey", "conkey", "confkey", "stxkind"):
        return pa.list_(pa.int64()) if column != "stxkind" else pa.list_(pa.string())
    if column.endswith(("name", "bin", "strat", "version", "qual", "withcheck", "cmd", "kind", "enabled", "exprs",
                        "type", "deptype")):
        return pa.string()
    return pa.int64()


# information_schema.columns' type columns as PostgreSQL fills them, by type OID:
# (numeric_precision, numeric_precision_radix, numeric_scale, datetime_precision)
_INFO_NUMBERS = {
    pgtypes.INT2: (16, 2, 0, None), pgtypes.INT4: (32, 2, 0, None), pgtypes.INT8: (64, 2, 0, None),
    pgtypes.FLOAT4: (24, 2, None, None), pgtypes.FLOAT8: (53, 2, None, None), pgtypes.DATE: (None, None, None, 0),
    pgtypes.TIME: (None, None, None, 6), pgtypes.TIMESTAMP: (None, None, None, 6),
    pgtypes.TIMESTAMPTZ: (None, None, None, 6), pgtypes.INTERVAL: (None, None, None, 6),
}
_TEXT_OCTETS = 1_073_741_824  # character_octet_length of an unbounded text column


def info_schema_columns(duckdb_rows: pa.Table, database: str) -> pa.Table:
    """DuckDB's information_schema.columns rows with PostgreSQL's answers in the columns that
    describe types: data_type as PostgreSQL words it (`bigint`, `timestamp with time zone`,
    `ARRAY`), udt_name its pg_type name (`int8`, `_int4`), the precisions it reports, and the
    udt and dtd columns. DuckDB writes its own names there (`BIGINT`, `DOUBLE`, `DECIMAL(18,2)`),
    which BI tools that map columns by data_type do not know."""
    names = {oid: typname for oid, typname, *_ in [*_TYPES, *_array_types()]}
    arrays = array_oids()
    rows = duckdb_rows.to_pylist()
    for row in rows:
        duck = str(row["data_type"])
        oid = pgtypes.oid_for_sql_type(duck)
        numbers = _INFO_NUMBERS.get(oid, (None, None, None, None))
        if oid == pgtypes.NUMERIC:
            typmod = pgtypes.modifier_for_sql_type(duck) - 4  # (precision << 16) | scale, or negative
            numbers = (typmod >> 16, 10, typmod & 0xFFFF, None) if typmod >= 0 else (None, 10, None, None)
        row.update(
            data_type="ARRAY" if oid in arrays else pgtypes.TYPE_NAMES.get(oid, names.get(oid, "text")),
            udt_name=names.get(oid, "text"), udt_catalog=database, udt_schema="pg_catalog",
            dtd_identifier=str(row["ordinal_position"]), numeric_precision=numbers[0],
            numeric_precision_radix=numbers[1], numeric_scale=numbers[2], datetime_precision=numbers[3],
            character_octet_length=_TEXT_OCTETS if oid in (pgtypes.TEXT, pgtypes.VARCHAR) else None,
            character_maximum_length=None)
    schema = duckdb_rows.schema
    for name, kind in (("udt_catalog", pa.string()), ("udt_schema", pa.string()), ("udt_name", pa.string()),
                       ("dtd_identifier", pa.string()), ("datetime_precision", pa.int32()),
                       ("numeric_precision", pa.int32()), ("numeric_precision_radix", pa.int32()),
                       ("numeric_scale", pa.int32()), ("character_octet_length", pa.int32()),
                       ("character_maximum_length", pa.int32())):
        schema = schema.set(schema.get_field_index(name), pa.field(name, kind))
    return pa.Table.from_pylist(rows, schema=schema)
