"""Division as PostgreSQL divides: integers truncate, and nothing divides by zero quietly.

    7 / 2                ->  7 // 2          (PostgreSQL: 3 of type integer; DuckDB's / gives 3.5)
    price / qty          ->  price / CASE WHEN qty = 0 THEN error('division by zero') ELSE qty END

DuckDB's `/` always divides as a double, and answers a division by zero with Infinity (or
NULL). PostgreSQL divides two integers as integers, truncating toward zero, and raises 22012
for any division by zero. DuckDB's `//` is exactly PostgreSQL's integer division, and raises on
zero by itself; every other division gets its divisor guarded (views/warehouse.py maps the
error to 22012).

Types come from sqlglot's annotator over a qualified *copy* of the query, typed with the views'
catalog; each division is marked before the copy so its twin there can be found. An operand of
a type the annotator cannot tell (a parameter, a masked column) leaves the division as DuckDB's.
Known gap: an aggregate of sum(bigint) inside other arithmetic counts as an integer, where
PostgreSQL's sum(bigint) is numeric (a bare sum(bigint) operand is handled).
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from sql.parse import DIALECT
from sql.rules.context import Context

_INTEGER = {exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT,
            exp.DataType.Type.BIGINT}
_NUMBER = _INTEGER | {exp.DataType.Type.DECIMAL, exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE}
_MARK = "egress_division"


def _schema(ctx: Context) -> dict[str, dict[str, str]]:
    """The used views' visible columns with their types; a masked column's type is unknown."""
    schema: dict[str, dict[str, str]] = {}
    for name in sorted(ctx.views_used):
        view = ctx.catalog.view(name)
        assert view is not None
        schema[view.name] = {
            c.name: "unknown" if ctx.principal.role.mask_for(view.name, c.name) else c.type
            for c in ctx.principal.visible_columns(view)
        }
    return schema


def _typed(ctx: Context) -> dict[int, exp.Div] | None:
    """Each marked division's annotated twin, by mark; None when the query cannot be typed."""
    try:
        copy = qualify(ctx.tree.copy(), schema=_schema(ctx), dialect=DIALECT, validate_qualify_columns=False,
                       expand_stars=False, quote_identifiers=False)
        annotate_types(copy, schema=_schema(ctx), dialect=DIALECT)
    except (SqlglotError, KeyError, ValueError, AttributeError, TypeError, AssertionError):
        return None
    return {d.meta[_MARK]: d for d in copy.find_all(exp.Div) if _MARK in d.meta}


def _type_of(node: exp.Expression) -> exp.DataType.Type | None:
    return node.type.this if node.type is not None else None


def integral(node: exp.Expression) -> bool:
    """Whether PostgreSQL computes ``node`` (from the annotated copy) as an integer type."""
    if isinstance(node, (exp.Paren, exp.Neg)):
        return integral(node.this)
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Mod, exp.Div)):
        return integral(node.left) and integral(node.right)
    if isinstance(node, exp.Sum):  # sum(int2/int4) is bigint; sum(int8) is numeric
        return _type_of(node.this) in _INTEGER - {exp.DataType.Type.BIGINT}
    return _type_of(node) in _INTEGER


def _nonzero_literal(node: exp.Expression) -> bool:
    while isinstance(node, exp.Paren):
        node = node.this
    if not isinstance(node, exp.Literal) or node.is_string:
        return False
    try:
        return float(node.this) != 0
    except ValueError:
        return False


def _guarded(divisor: exp.Expression) -> exp.Expression:
    zero = exp.EQ(this=divisor.copy(), expression=exp.Literal.number(0))
    fail = exp.Anonymous(this="error", expressions=[exp.Literal.string("division by zero")])
    return exp.Case(ifs=[exp.If(this=zero, true=fail)], default=divisor.copy())


def divide(ctx: Context) -> None:
    divisions = list(ctx.tree.find_all(exp.Div))
    if not divisions:
        return
    for number, node in enumerate(divisions):
        node.meta[_MARK] = number
    twins = _typed(ctx) or {}
    for node in divisions:
        node.meta.pop(_MARK, None)
    # Innermost first (find_all is breadth-first): a guard copies its divisor, which must
    # already hold its own divisions rewritten.
    for number, node in reversed(list(enumerate(divisions))):
        twin = twins.get(number)
        if twin is None:
            continue
        if integral(twin.left) and integral(twin.right):
            node.replace(exp.IntDiv(this=node.left, expression=node.right))
        elif _type_of(twin.right) in _NUMBER and not _nonzero_literal(node.right):
            node.set("expression", _guarded(node.right))
