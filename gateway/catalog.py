"""Catalog answers for drivers and BI tools, from a per-principal shadow database.

Each principal gets an in-memory DuckDB (locked down like the warehouse) holding *empty* tables
named after the views it may see, with only its visible columns and their descriptions. Queries
on pg_catalog or information_schema, and catalog functions (version(), current_schema(), ...),
run there: DuckDB's own pg_catalog and information_schema emulation then lists exactly what the
principal may see and nothing else; there is no data in it to leak.
"""

from __future__ import annotations

import threading
from typing import Callable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from gateway import pgcatalog
from sql import functions
from sql.errors import FeatureNotSupported, ObjectNotFound, UndefinedFunction, UndefinedTable
from sql.model import Catalog, Principal
from sql.rules.name_columns import pg_names
from sql.rules.names import cte_names, fold
from sql.rules.session_values import session_value
from sql.to_char import written
from views.warehouse import translate

SERVER_VERSION = "16.4"
VERSION_TEXT = f"PostgreSQL {SERVER_VERSION} (egress 0.1.0) on x86_64-pc-linux-gnu, compiled by gcc, 64-bit"
DATABASE = "egress"
CATALOG_SCHEMAS = {"pg_catalog", "information_schema"}
CATALOG_FUNCTIONS = frozenset({
    "version", "current_database", "current_schema", "current_schemas", "current_user", "session_user",
    "currentuser", "currentschema", "currentversion", "user", "pg_backend_pid", "pg_get_userbyid",
    "pg_table_is_visible", "format_type", "obj_description", "col_description", "has_table_privilege",
    "has_schema_privilege", "has_database_privilege", "has_column_privilege", "pg_encoding_to_char",
    "pg_get_keywords", "pg_get_expr", "pg_get_constraintdef", "pg_get_indexdef", "pg_relation_size",
    "pg_total_relation_size", "pg_size_pretty", "shobj_description", "array_to_string", "array_agg",
    "unnest", "generate_subscripts", "quote_ident", "pg_get_viewdef", "pg_is_in_recovery",
    "inet_server_addr", "inet_server_port", "pg_postmaster_start_time", "to_regclass", "regclass",
    "pg_typeof", "pg_type_is_visible", "pg_function_is_visible",
    "currentdatabase", "sessionuser", "currentschemas", "currentcatalog", "array", "arraytostring",
    "pg_get_function_result", "pg_get_function_arguments", "pg_get_serial_sequence", "string_to_array",
    "pg_get_statisticsobjdef_columns", "pg_get_triggerdef", "pg_get_ruledef", "pg_get_partkeydef",
    "pg_get_partition_constraintdef", "pg_relation_is_publishable", "pg_is_other_temp_schema", "array_upper",
    "array_length", "len", "to_regtype", "_pg_expandarray", "json_build_object", "json_object", "json_agg",
    "pg_collation_is_visible", "pg_opclass_is_visible", "pg_conversion_is_visible", "current_setting",
    "set_config", "pg_table_size", "pg_indexes_size", "pg_database_size", "pg_operator_is_visible",
    "pg_ts_config_is_visible", "pg_ts_parser_is_visible", "pg_ts_dict_is_visible", "pg_ts_template_is_visible",
})
# allowed in catalog queries, but ordinary functions: using one does not make a query a catalog query
# (ARRAY[company_id] FROM companies must read the warehouse, not the shadow's empty tables)
GENERAL_FUNCTIONS = frozenset({
    "array_to_string", "array_agg", "unnest", "generate_subscripts", "quote_ident", "array", "arraytostring",
    "string_to_array", "array_upper", "array_length", "len", "json_build_object", "json_object", "json_agg",
})


def is_catalog_query(tree: exp.Expression) -> bool:
    """A query on pg_catalog or information_schema, or one that calls catalog functions (version(),
    current_user, ...) without reading a view: those run in the shadow catalog. A catalog function
    next to a view is left to the policy engine, which refuses it, rather than answered from the
    shadow's empty tables."""
    reads_view = False
    ctes = cte_names(tree)
    for table in tree.find_all(exp.Table):
        db = fold(table.args.get("db"))
        if db in CATALOG_SCHEMAS or (not db and fold(table.this).startswith(("pg_", "information_schema"))):
            return True
        reads_view = reads_view or (isinstance(table.this, exp.Identifier) and (db or fold(table.this) not in ctes))
    if reads_view:
        return False
    for node in tree.find_all(exp.Func):
        name = functions.function_name(node)
        if name in CATALOG_FUNCTIONS and name not in GENERAL_FUNCTIONS:
            return True
    for cast in tree.find_all(exp.Cast):
        if cast.to.sql(dialect="postgres").lower().rsplit(".", 1)[-1] in ("regclass", "regtype", "regproc",
                                                                        "regnamespace", "regrole"):
            return True
    return any(isinstance(n, (exp.CurrentUser, exp.CurrentSchema)) for n in tree.walk())


class ShadowCatalogs:
    """One shadow database per (tenant, role): principals with the same rules share it."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._shadows: dict[tuple[str, str], duckdb.DuckDBPyConnection] = {}
        self._lock = threading.Lock()

    def _build(self, principal: Principal) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(":memory:", config={
            "enable_external_access": False, "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        })
        con.execute("SET enable_progress_bar = false")
        con.execute(f"ATTACH ':memory:' AS {DATABASE}")
        con.execute(f"USE {DATABASE}")
        con.execute("CREATE SCHEMA IF NOT EXISTS public")
        con.execute("USE egress.public")
        for view in principal.visible_views(self.catalog):
            cols = principal.visible_columns(view)
            ddl = exp.Create(this=exp.Schema(this=exp.to_table(f"public.{view.name}"), expressions=[
                exp.ColumnDef(this=exp.to_identifier(c.name, quoted=True),
                              kind=exp.DataType.build(c.type, dialect="duckdb")) for c in cols]), kind="TABLE")
            con.execute(ddl.sql(dialect="duckdb"))
            con.execute(exp.Comment(this=exp.to_table(f"public.{view.name}"), kind="TABLE",
                                    expression=exp.Literal.string(view.description)).sql(dialect="duckdb"))
            for c in cols:
                con.execute(exp.Comment(this=exp.column(c.name, table=view.name, db="public"), kind="COLUMN",
                                        expression=exp.Literal.string(c.description)).sql(dialect="duckdb"))
        con.execute("CREATE SCHEMA pgc")  # PostgreSQL's catalog columns: see gateway/pgcatalog.py
        tables = pgcatalog.tables(principal, self.catalog)
        tables[INFO_COLUMNS] = pgcatalog.info_schema_columns(
            con.sql("SELECT * FROM information_schema.columns WHERE table_schema = 'public' "
                    "ORDER BY table_name, ordinal_position").to_arrow_table(), DATABASE)
        for name, table in tables.items():
            con.register("egress_catalog_rows", table)
            con.execute(f"CREATE TABLE pgc.{name} AS SELECT * FROM egress_catalog_rows")
            con.unregister("egress_catalog_rows")
        con.execute("SET lock_configuration = true")
        return con

    def cursor(self, principal: Principal) -> duckdb.DuckDBPyConnection:
        key = (principal.tenant, principal.role.name)
        with self._lock:
            if key not in self._shadows:
                self._shadows[key] = self._build(principal)
            cur = self._shadows[key].cursor()
        cur.execute(f"USE {DATABASE}.public")  # USE is per connection; a cursor starts elsewhere
        return cur

    def close(self) -> None:
        for con in self._shadows.values():
            con.close()


def rewrite_catalog_query(tree: exp.Expression, principal: Principal, pid: int,
                          settings: dict[str, str] | None = None,
                          set_config: Callable[[str, str, bool], str] | None = None) -> exp.Expression:
    """Catalog functions become the values egress stands by; other functions must be allowed.
    ``settings``: the session's client parameters, what current_setting() reads, and
    ``set_config``: how set_config() changes one (never the engine's settings: DuckDB's own
    current_setting is not reachable)."""
    for node in tree.walk():
        if isinstance(node, exp.Func) and not functions.is_allowed(node) \
                and functions.function_name(node) not in CATALOG_FUNCTIONS:
            raise UndefinedFunction(f"function {functions.display_name(node)} does not exist")
    ctes = cte_names(tree)
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            fn = table.this.expression if isinstance(table.this, exp.Dot) else table.this
            if isinstance(fn, exp.Func) and functions.function_name(fn) in ("unnest", "explode", "generate_series",
                                                                            "explodinggenerateseries",
                                                                            "pg_get_keywords"):
                continue
            raise UndefinedTable("table functions are not available in catalog queries")
        name, db = fold(table.this), fold(table.args.get("db"))
        if db and db not in CATALOG_SCHEMAS and db != "public":
            raise UndefinedTable(f'relation "{db}.{name}" does not exist')
        if name.startswith("duckdb_"):
            raise UndefinedTable(f'relation "{name}" does not exist')
        if db in ("", "public") and name not in ctes and not name.startswith("pg_"):  # PGC_TABLES are all pg_
            # the catalog's copies of the views are empty: a join of catalog and data would answer
            # no rows where PostgreSQL answers some
            raise FeatureNotSupported("catalog tables cannot be combined with the views in one query",
                                      hint="query the catalog and the views separately")

    def value(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Dot) and isinstance(node.this.expression, exp.Func):
            node.set("this", node.this.expression)  # FROM pg_catalog.unnest(...) -> FROM unnest(...)
            return node
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Func) and \
                functions.function_name(node.this) == "pg_get_keywords":
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier("pg_get_keywords"))
            return exp.Table(this=exp.to_identifier("pg_get_keywords"), db=exp.to_identifier("pgc"), alias=alias)
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Func) and \
                functions.function_name(node.this) in ("generate_series", "explodinggenerateseries"):
            fn = node.this
            args = [a for a in [fn.args.get("start"), fn.args.get("end"), fn.args.get("step")] if a is not None] \
                or list(fn.expressions)
            # FROM generate_series(a, b) s -> FROM (SELECT unnest(generate_series(a, b)) AS s) s: the list
            # form takes correlated arguments, which DuckDB's table function does not
            alias = node.args.get("alias")
            name = alias.name if isinstance(alias, exp.TableAlias) and alias.name else "generate_series"
            cols = alias.columns if isinstance(alias, exp.TableAlias) else []
            series = exp.Anonymous(this="generate_series", expressions=[exp.cast(a, "BIGINT") for a in args])
            return exp.select(exp.alias_(exp.Anonymous(this="unnest", expressions=[series]),
                                         cols[0].name if cols else name)).subquery(name)
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Func) and \
                functions.function_name(node.this) in ("unnest", "explode"):
            # FROM unnest(x) AS a(c) -> FROM (SELECT unnest(x) AS c) AS a: DuckDB unnests in SELECT
            alias = node.args.get("alias")
            name = alias.name if isinstance(alias, exp.TableAlias) and alias.name else "unnest"
            cols = alias.columns if isinstance(alias, exp.TableAlias) else []
            col = cols[0].name if cols else name
            args = list(node.this.expressions) or [a for a in [node.this.args.get("this")] if a is not None]
            return exp.select(exp.alias_(exp.Anonymous(this="unnest", expressions=args), col)).subquery(name)
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier) and \
                fold(node.args.get("db")) == "information_schema" and not node.meta.get("egress_filtered"):
            # DuckDB's information_schema also lists the shadow's own pgc and main schemas: hide them
            name = fold(node.this)
            if name == "columns":  # PostgreSQL's type columns; only the views' rows (see _build)
                alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
                return exp.Table(this=exp.to_identifier(INFO_COLUMNS), db=exp.to_identifier("pgc"), alias=alias)
            column = INFO_SCHEMA_COLUMN.get(name)
            if column is None:
                return node
            inner = exp.Table(this=exp.to_identifier(name), db=exp.to_identifier("information_schema"))
            inner.meta["egress_filtered"] = True
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
            hidden = exp.Tuple(expressions=[exp.Literal.string(s) for s in ("pgc", "main")])
            return exp.select("*").from_(inner).where(
                exp.Not(this=exp.In(this=exp.column(column), expressions=list(hidden.expressions)))).subquery(
                alias.this.copy() if isinstance(alias, exp.TableAlias) else alias)
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            name, db = fold(node.this), fold(node.args.get("db"))
            if name in PGC_TABLES and db in ("", "pg_catalog"):
                alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
                return exp.Table(this=exp.to_identifier(name), db=exp.to_identifier("pgc"), alias=alias)
            return node
        if isinstance(node, exp.Column) and fold(node.args.get("db")) == "pg_catalog":
            node = node.copy()  # pg_catalog.pg_class.oid -> pg_class.oid (the table keeps that alias)
            node.set("db", None)
            return node
        if isinstance(node, exp.Cast):
            node.set("this", node.this.transform(value))  # x::regtype::text: the inner cast first
            target = node.to.sql(dialect="postgres").lower().rsplit(".", 1)[-1]
            if target == "regclass":
                if isinstance(node.this, exp.Literal) and node.this.is_string:
                    relname = node.this.name.split(".")[-1].strip('"')
                    return exp.Subquery(this=exp.select("oid").from_("pgc.pg_class").where(
                        exp.EQ(this=exp.column("relname"), expression=exp.Literal.string(relname))))
                return exp.TryCast(this=node.this, to=exp.DataType.build("BIGINT"))
            if target in ("oid", "regproc", "regnamespace", "regrole"):
                return exp.cast(node.this, "BIGINT") if target == "oid" else exp.cast(node.this, "VARCHAR")
            if target == "oid[]":  # asyncpg: ti.oid = any($1::oid[])
                return exp.cast(node.this, "BIGINT[]")
            if target == "regtype":
                if isinstance(node.this, exp.Literal) and node.this.is_string:  # 'int4'::regtype
                    oid = pgcatalog.type_oid(node.this.name)
                    if oid is None:
                        raise ObjectNotFound(f'type "{node.this.name}" does not exist')
                    return _format_type(exp.Literal.number(oid), exp.Literal.number(-1))
                return _format_type(node.this, exp.Literal.number(-1))
            if "." in node.to.sql(dialect="postgres"):  # ::pg_catalog.text -> ::text
                try:
                    return exp.cast(node.this, exp.DataType.build(target, dialect="postgres"))
                except Exception:  # noqa: BLE001 - an unknown type name: leave it to DuckDB to refuse
                    return node
            return node
        if isinstance(node, (exp.EQ, exp.NEQ)):
            # regproc columns (typreceive, ...) hold function names here; PostgreSQL compares them
            # with 0 for "no function", which is '-' in text
            for col, other in ((node.this, node.expression), (node.expression, node.this)):
                if isinstance(col, exp.Column) and fold(col.this) in REGPROC_COLUMNS and \
                        isinstance(other, exp.Literal) and not other.is_string and other.name == "0":
                    return type(node)(this=col.copy(), expression=exp.Literal.string("-"))
                if isinstance(col, exp.Column) and fold(col.this) in REGPROC_COLUMNS and \
                        isinstance(other, exp.Column) and fold(other.this) == "oid":
                    # pg_proc.oid = a.typreceive (Npgsql): join on the function's name instead
                    return type(node)(this=col.copy(), expression=exp.column("proname", table=other.table))
        if isinstance(node, exp.Collate):
            return node.this  # COLLATE pg_catalog.default: DuckDB has no such collation
        if isinstance(node, exp.Operator):  # OPERATOR(pg_catalog.~) and friends, as psql writes them
            op = str(node.args.get("operator", "")).rsplit(".", 1)[-1].strip()
            left, right = node.this, node.expression
            if isinstance(right, exp.Collate):
                right = right.this
            made = {"~": lambda: exp.RegexpLike(this=left, expression=right),
                    "!~": lambda: exp.Not(this=exp.RegexpLike(this=left, expression=right)),
                    "~*": lambda: exp.RegexpILike(this=left, expression=right),
                    "=": lambda: exp.EQ(this=left, expression=right),
                    "<>": lambda: exp.NEQ(this=left, expression=right)}.get(op)
            if made is None:
                raise UndefinedFunction(f"operator does not exist: {op}")
            return made()
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func) \
                and fold(node.this) in ("pg_catalog", "information_schema"):
            return value(node.expression)  # pg_catalog.f(...): the same function, unqualified
        known = session_value(node, principal.user)  # current_user, user, current_schema, ... as the policy has them
        if known is not None:
            return known
        name = functions.function_name(node) if isinstance(node, exp.Func) else ""
        if name in ("current_user", "session_user", "user", "currentuser", "sessionuser"):  # as plain calls
            return exp.Literal.string(principal.user)
        if name in ("current_schema", "currentschema"):
            return exp.Literal.string("public")
        if name in ("version", "currentversion"):
            return exp.Literal.string(VERSION_TEXT)
        if name in ("current_database", "currentdatabase", "currentcatalog"):
            return exp.Literal.string(DATABASE)
        if name == "pg_backend_pid":
            return exp.Literal.number(pid)
        if name == "set_config":
            args = node.expressions if isinstance(node, exp.Anonymous) else []
            if len(args) != 3 or not all(isinstance(a, exp.Literal) and a.is_string for a in args[:2]) \
                    or set_config is None:
                raise FeatureNotSupported("set_config() takes a name and a value as string literals here")
            local = isinstance(args[2], exp.Boolean) and bool(args[2].this)
            return exp.Literal.string(set_config(args[0].name, args[1].name, local))
        if name == "current_setting":
            args = node.expressions if isinstance(node, exp.Anonymous) else []
            if not args or not (isinstance(args[0], exp.Literal) and args[0].is_string):
                raise FeatureNotSupported("current_setting() takes a parameter name as a string literal here")
            key = args[0].name.lower()
            if key in (settings or {}):
                return exp.Literal.string((settings or {})[key])
            if len(args) > 1 and isinstance(args[1], exp.Boolean) and args[1].this:  # missing_ok
                return exp.cast(exp.Null(), "TEXT")
            raise ObjectNotFound(f'unrecognized configuration parameter "{args[0].name}"')
        if name.startswith("has_") and name.endswith("_privilege"):
            return exp.true()
        if name == "format_type" and isinstance(node, exp.Anonymous) and len(node.expressions) == 2:
            return _format_type(node.expressions[0], node.expressions[1])
        if name in ("pg_relation_size", "pg_table_size", "pg_total_relation_size", "pg_indexes_size",
                    "pg_database_size"):
            return exp.cast(exp.Literal.number(0), "BIGINT")  # views take no storage of their own
        if name in ("pg_get_function_result", "pg_get_function_arguments"):
            return exp.cast(exp.Null(), "TEXT")
        if name in ("pg_get_expr", "pg_get_constraintdef", "pg_get_indexdef", "pg_get_viewdef", "pg_get_serial_sequence",
                    "pg_get_statisticsobjdef_columns", "pg_get_triggerdef", "pg_get_ruledef",
                    "pg_get_partkeydef", "pg_get_partition_constraintdef"):
            return exp.Null()
        if name == "_pg_expandarray":
            # a record (x, n) per array element; only ever applied to pg_index.indkey, which is
            # empty here, so a typed struct is all the query needs in order to bind
            import sqlglot

            return sqlglot.parse_one("{'x': CAST(NULL AS BIGINT), 'n': CAST(NULL AS BIGINT)}", read="duckdb")
        if name == "json_build_object" and isinstance(node, exp.Anonymous):
            return exp.Anonymous(this="json_object", expressions=list(node.expressions))
        if name in ("to_regtype", "to_regclass") and isinstance(node, exp.Anonymous) and node.expressions:
            table, column = ("pg_type", "typname") if name == "to_regtype" else ("pg_class", "relname")
            return exp.Subquery(this=exp.select("oid").from_(f"pgc.{table}").where(
                exp.EQ(this=exp.column(column), expression=node.expressions[0].copy())).limit(1))
        if name in ("array_upper", "array_length") and isinstance(node, exp.Anonymous) and node.expressions:
            return exp.Anonymous(this="len", expressions=[node.expressions[0]])
        if name in ("pg_relation_is_publishable", "pg_is_in_recovery", "pg_is_other_temp_schema"):
            return exp.false()
        if name == "pg_get_userbyid":
            return exp.Literal.string("egress")
        if name.startswith("pg_") and name.endswith("_is_visible"):
            return exp.true()
        if name == "pg_encoding_to_char":
            return exp.Literal.string("UTF8")
        if name == "col_description" and isinstance(node, exp.Anonymous) and len(node.expressions) == 2:
            rel, num = node.expressions
            return exp.Subquery(this=exp.select("description").from_("pgc.pg_description").where(
                exp.and_(exp.EQ(this=exp.column("objoid"), expression=rel.copy()),
                         exp.EQ(this=exp.column("objsubid"), expression=num.copy()))).limit(1))
        if name == "obj_description" and isinstance(node, exp.Anonymous) and node.expressions:
            return exp.Subquery(this=exp.select("description").from_("pgc.pg_description").where(
                exp.and_(exp.EQ(this=exp.column("objoid"), expression=node.expressions[0].copy()),
                         exp.EQ(this=exp.column("objsubid"), expression=exp.Literal.number(0)))).limit(1))
        if name in ("obj_description", "col_description", "shobj_description"):
            return exp.Null()
        if name in ("current_schemas", "currentschemas"):
            return exp.Array(expressions=[exp.Literal.string("pg_catalog"), exp.Literal.string("public")])
        return node

    tree = tree.copy()
    pg_names(tree)  # version() is called "version", as in PostgreSQL, not after its value
    # transform() does not revisit what it replaced: repeat until nothing changes (each rewrite
    # is idempotent), bounded
    before = None
    for _ in range(6):
        tree = tree.transform(value)
        now = tree.sql(dialect="duckdb")
        if now == before:
            break
        before = now
    return tree


INFO_COLUMNS = "information_schema_columns"  # information_schema.columns, as PostgreSQL fills it
INFO_SCHEMA_COLUMN = {"tables": "table_schema", "columns": "table_schema", "views": "table_schema",
                      "schemata": "schema_name", "key_column_usage": "table_schema",
                      "table_constraints": "table_schema", "referential_constraints": "constraint_schema",
                      "constraint_column_usage": "table_schema"}
REGPROC_COLUMNS = frozenset({"typreceive", "typsend", "typinput", "typoutput", "typmodin", "typmodout",
                             "typanalyze"})
PGC_TABLES = frozenset({
    "pg_auth_members", "pg_language", "pg_conversion", "pg_foreign_server", "pg_foreign_data_wrapper",
    "pg_event_trigger", "pg_db_role_setting", "pg_operator", "pg_ts_config",
    "pg_namespace", "pg_class", "pg_attribute", "pg_description", "pg_type", "pg_proc", "pg_range", "pg_enum",
    "pg_database", "pg_roles", "pg_user", "pg_am", "pg_tablespace", "pg_collation", "pg_index", "pg_constraint",
    "pg_attrdef", "pg_inherits", "pg_trigger", "pg_rewrite", "pg_policy", "pg_statistic_ext", "pg_publication",
    "pg_publication_rel", "pg_publication_namespace", "pg_depend", "pg_extension", "pg_foreign_table", "pg_partitioned_table", "pg_sequence",
    "pg_matviews", "pg_settings", "pg_opclass",
})


def _format_type(oid: exp.Expression, typmod: exp.Expression) -> exp.Expression:
    """PostgreSQL's format_type(oid, typmod) for the types egress serves."""
    from gateway import pgtypes

    ifs = [exp.If(this=exp.Is(this=oid.copy(), expression=exp.Null()), true=exp.Null()),
           exp.If(this=exp.EQ(this=oid.copy(), expression=exp.Literal.number(0)), true=exp.Literal.string("-"))]
    ifs += [exp.If(this=exp.EQ(this=oid.copy(), expression=exp.Literal.number(o)), true=exp.Literal.string(n))
            for o, n in pgtypes.TYPE_NAMES.items() if o != pgtypes.NUMERIC]
    ifs += [exp.If(this=exp.EQ(this=oid.copy(), expression=exp.Literal.number(array)),
                   true=exp.Literal.string(pgtypes.TYPE_NAMES[element] + "[]"))
            for array, element in pgcatalog.array_oids().items() if element in pgtypes.TYPE_NAMES]
    numeric = exp.If(
        this=exp.EQ(this=oid.copy(), expression=exp.Literal.number(pgtypes.NUMERIC)),
        true=sqlglot_numeric(typmod))
    return exp.Case(ifs=[*ifs[:2], numeric, *ifs[2:]], default=exp.Literal.string("text"))


def sqlglot_numeric(typmod: exp.Expression) -> exp.Expression:
    import sqlglot

    template = sqlglot.parse_one(
        "CASE WHEN m >= 4 THEN 'numeric(' || CAST((m - 4) // 65536 AS VARCHAR) || ',' || "
        "CAST((m - 4) % 65536 AS VARCHAR) || ')' ELSE 'numeric' END", read="duckdb")
    return template.transform(lambda n: typmod.copy() if isinstance(n, exp.Column) and n.name == "m" else n)


def run(shadows: ShadowCatalogs, principal: Principal, tree: exp.Expression, pid: int,
        params: list[object] | None = None, settings: dict[str, str] | None = None,
        set_config: Callable[[str, str, bool], str] | None = None) -> pa.Table:
    rewritten = rewrite_catalog_query(tree, principal, pid, settings, set_config)
    if params:
        # rewrites may drop a $n (pg_table_is_visible($1) became true): renumber what is left
        used = sorted({int(p.name) for p in rewritten.find_all(exp.Parameter) if str(p.name).isdigit()})
        renumber = {old: new for new, old in enumerate(used, start=1)}
        rewritten = rewritten.transform(lambda n: exp.Parameter(this=exp.Literal.number(renumber[int(n.name)]))
                                        if isinstance(n, exp.Parameter) and str(n.name).isdigit() else n)
        params = [params[old - 1] for old in used if old - 1 < len(params)]
    sql = rewritten.transform(written).sql(dialect="duckdb")  # to_char's template as written (sql/to_char.py)
    cur = shadows.cursor(principal)
    try:
        table = (cur.sql(sql, params=params) if params else cur.sql(sql)).to_arrow_table()
    except duckdb.Error as err:
        raise translate(err) from None
    finally:
        cur.close()
    # integer arrays in catalog answers are OID lists (array_agg(atttypid), proargtypes): uint32
    # is sent as oid[], which drivers decode without asking the catalog about int8[] first
    # (asyncpg would ask, in a query whose answer is of that type, without end)
    for i, f in enumerate(table.schema):
        if pa.types.is_list(f.type) and pa.types.is_int64(f.type.value_type):
            table = table.set_column(i, f.name, pc.cast(table.column(i), pa.list_(pa.uint32())))
    return table
