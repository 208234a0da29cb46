"""Result columns named the way PostgreSQL names them, so drivers and BI tools see what they
would against PostgreSQL: a bare column keeps its name, a function call takes the name it was
called by (`count(*)` -> count, `char_length(x)` -> char_length), a cast takes its operand's
name or else its type's (`1::text` -> text), anything else is `?column?`. DuckDB would
otherwise name them after their text (`count_star()`)."""

from __future__ import annotations

from sqlglot import exp

from sql import functions
from sql.parse import CALLED, DATE_PART
from sql.rules.context import Context


_PG_FUNCTION_NAMES = {"current_version": "version", "currentversion": "version", "trim": "btrim"}

# A cast's type as PostgreSQL names the column it makes (`1::text` is "text", `x::int` "int4").
_PG_TYPE_NAMES = {
    exp.DataType.Type.INT: "int4", exp.DataType.Type.BIGINT: "int8", exp.DataType.Type.SMALLINT: "int2",
    exp.DataType.Type.DOUBLE: "float8", exp.DataType.Type.FLOAT: "float4", exp.DataType.Type.DECIMAL: "numeric",
    exp.DataType.Type.BOOLEAN: "bool", exp.DataType.Type.CHAR: "bpchar", exp.DataType.Type.VARBINARY: "bytea",
    exp.DataType.Type.TIMESTAMPTZ: "timestamptz", exp.DataType.Type.TIMETZ: "timetz",
}


def _type_name(to: exp.DataType) -> str:
    while to.this == exp.DataType.Type.ARRAY and to.expressions:
        to = to.expressions[0]  # `::int[]` is named by its element type, as written
    known = _PG_TYPE_NAMES.get(to.this)
    if known:
        return known
    if isinstance(to.this, exp.DataType.Type) and to.this != exp.DataType.Type.USERDEFINED:
        return to.this.value.lower()
    written = to.sql(dialect="postgres").lower().rsplit(".", 1)[-1]  # regclass, a schema's type
    return written.split("(", 1)[0].split("[", 1)[0].strip()


def _figure(node: exp.Expression) -> tuple[str | None, int]:
    """PostgreSQL's FigureColname: a name and its strength, 2 for a column or a function call,
    1 for a cast's type name or CASE (an outer cast's type wins over them), 0 for none."""
    if isinstance(node, exp.Column):
        return node.name, 2
    if isinstance(node, (exp.Paren, exp.Bracket, exp.Window, exp.Filter)):
        return _figure(node.this)  # a subscript or window keeps its operand's name
    called = node.meta.get(CALLED) if node.meta else None
    if called and not isinstance(node, exp.Cast):  # cast() is parsed as a call too
        return _PG_FUNCTION_NAMES.get(called, called), 2
    if isinstance(node, exp.Cast):
        name, strength = _figure(node.this)
        return (name, strength) if strength == 2 else (_type_name(node.to), 1)
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select) and node.this.expressions:
        inner = node.this.expressions[0]  # a scalar subquery: its one column's name, or ?column?
        return (inner.alias if isinstance(inner, exp.Alias) else _figure(inner)[0]) or "?column?", 2
    if isinstance(node, exp.Exists):
        return "exists", 2
    if isinstance(node, exp.Interval):
        return "interval", 1
    if isinstance(node, exp.Array):
        return "array", 2
    if isinstance(node, exp.Count):
        return "count", 2
    if isinstance(node, exp.Extract):
        return ("date_part" if node.meta.get(DATE_PART) else "extract"), 2
    if isinstance(node, exp.Case):
        return "case", 1
    if isinstance(node, exp.AtTimeZone):
        return "timezone", 2  # PostgreSQL's AT TIME ZONE is its timezone() function
    if isinstance(node, exp.Func) and not isinstance(node, (exp.Binary, exp.Connector, exp.If)):
        name = functions.display_name(node).lower()
        return _PG_FUNCTION_NAMES.get(name, name), 2
    return None, 0


def _pg_name(node: exp.Expression) -> str | None:
    """The alias to give a projection; None where DuckDB's own name is already PostgreSQL's."""
    if isinstance(node, (exp.Column, exp.Star, exp.Dot)):
        return None  # keeps its own name
    if isinstance(node, exp.Anonymous) and str(node.name).lower() == "columns":
        return None
    current = node.this if isinstance(node, exp.Cast) else node
    if isinstance(current, exp.CurrentTime):
        # No alias "current_time": DuckDB would read a current_time elsewhere in the list as
        # that column (current_date and current_timestamp are generated as calls: policy.py)
        return None
    return _figure(node)[0] or "?column?"


def name_columns(ctx: Context) -> None:
    """Every SELECT of the query, nested ones too: an outer query reads a derived table's or a
    CTE's columns by PostgreSQL's names (`SELECT count FROM (SELECT count(*) ...) t`), which
    DuckDB's would not match (count_star(); and a cast the session's TimeZone wraps in a call)."""
    for select in list(ctx.tree.find_all(exp.Select)):
        pg_names(select)


def pg_names(tree: exp.Expression) -> None:
    """Alias the top-level projections of ``tree`` in place, PostgreSQL's way."""
    selects = [tree] if isinstance(tree, exp.Select) else []
    if isinstance(tree, exp.SetOperation):
        left = tree
        while isinstance(left, exp.SetOperation):
            left = left.this
        if isinstance(left, exp.Select):
            selects = [left]
    for select in selects:
        new = []
        for projection in select.expressions:
            if isinstance(projection, exp.Alias) or isinstance(projection, exp.Star):
                new.append(projection)
                continue
            if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                new.append(projection)
                continue
            name = _pg_name(projection)
            new.append(projection if name is None else exp.alias_(projection, name, quoted=True))
        select.set("expressions", new)
