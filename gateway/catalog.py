"""Catalog answers for drivers and BI tools, from a per-principal shadow database.

Each principal gets an in-memory DuckDB (locked down like the warehouse) holding *empty* tables
named after the views it may see, with only its visible columns and their descriptions. Queries
on pg_catalog or information_schema, and catalog functions (version(), current_schema(), ...),
run there: DuckDB's own pg_catalog and information_schema emulation then lists exactly what the
principal may see and nothing else; there is no data in it to leak.
"""

from __future__ import annotations

import threading

import duckdb
import pyarrow as pa
from sqlglot import exp

from sql import functions
from sql.errors import UndefinedFunction, UndefinedTable
from sql.model import Catalog, Principal
from sql.rules.name_columns import pg_names
from sql.rules.names import fold
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
    "currentdatabase", "sessionuser", "currentschemas", "currentcatalog",
})


def is_catalog_query(tree: exp.Expression) -> bool:
    for table in tree.find_all(exp.Table):
        db = fold(table.args.get("db"))
        if db in CATALOG_SCHEMAS or (not db and fold(table.this).startswith(("pg_", "information_schema"))):
            return True
    for node in tree.find_all(exp.Func):
        if functions.function_name(node) in CATALOG_FUNCTIONS:
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


def rewrite_catalog_query(tree: exp.Expression, principal: Principal, pid: int) -> exp.Expression:
    """Catalog functions become the values egress stands by; other functions must be allowed."""
    for node in tree.walk():
        if isinstance(node, exp.Func) and not functions.is_allowed(node) \
                and functions.function_name(node) not in CATALOG_FUNCTIONS:
            raise UndefinedFunction(f"function {functions.display_name(node)} does not exist")
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise UndefinedTable("table functions are not available in catalog queries")
        name, db = fold(table.this), fold(table.args.get("db"))
        if db and db not in CATALOG_SCHEMAS and db != "public":
            raise UndefinedTable(f'relation "{db}.{name}" does not exist')
        if name.startswith("duckdb_"):
            raise UndefinedTable(f'relation "{name}" does not exist')

    def value(node: exp.Expression) -> exp.Expression:
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
                and fold(node.this) == "pg_catalog":
            return value(node.expression)  # pg_catalog.f(...): the same function, unqualified
        name = functions.function_name(node) if isinstance(node, exp.Func) else ""
        if isinstance(node, exp.CurrentUser) or name in ("current_user", "session_user", "user", "currentuser",
                                                        "sessionuser"):
            return exp.Literal.string(principal.user)
        if isinstance(node, exp.CurrentSchema) or name in ("current_schema", "currentschema"):
            return exp.Literal.string("public")
        if name in ("version", "currentversion"):
            return exp.Literal.string(VERSION_TEXT)
        if name in ("current_database", "currentdatabase", "currentcatalog"):
            return exp.Literal.string(DATABASE)
        if name == "pg_backend_pid":
            return exp.Literal.number(pid)
        if name.startswith("has_") and name.endswith("_privilege"):
            return exp.true()
        if name == "pg_get_userbyid":
            return exp.Literal.string("egress")
        if name in ("pg_table_is_visible", "pg_type_is_visible", "pg_function_is_visible"):
            return exp.true()
        if name == "pg_encoding_to_char":
            return exp.Literal.string("UTF8")
        if name in ("obj_description", "col_description", "shobj_description"):
            return exp.Null()
        if name in ("current_schemas", "currentschemas"):
            return exp.Array(expressions=[exp.Literal.string("pg_catalog"), exp.Literal.string("public")])
        return node

    tree = tree.copy()
    pg_names(tree)  # version() is called "version", as in PostgreSQL, not after its value
    return tree.transform(value)


def run(shadows: ShadowCatalogs, principal: Principal, tree: exp.Expression, pid: int) -> pa.Table:
    sql = rewrite_catalog_query(tree, principal, pid).sql(dialect="duckdb")
    cur = shadows.cursor(principal)
    try:
        return cur.sql(sql).to_arrow_table()
    except duckdb.Error as err:
        raise translate(err) from None
    finally:
        cur.close()
