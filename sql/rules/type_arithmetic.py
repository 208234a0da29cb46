"""Arithmetic typed as PostgreSQL types it: division, casts to numeric without a precision,
and the result types of sum(), date differences, EXTRACT and calls answered as int4.

    7 / 2                ->  7 // 2          (PostgreSQL: 3 of type integer; DuckDB's / gives 3.5)
    price / qty          ->  price / CASE WHEN qty = 0 THEN error('division by zero') ELSE qty END
    count(*)::numeric    ->  CAST(count(*) AS DECIMAL(38, 0))
    avg(x)::numeric      ->  CAST(avg(x) AS DECIMAL(38, 10))
    '0.000001'::numeric  ->  CAST('0.000001' AS DECIMAL(38, 6))
    revenue::numeric     ->  revenue         (already a decimal: PostgreSQL keeps its scale)

DuckDB's `/` always divides as a double, and answers a division by zero with Infinity (or
NULL). PostgreSQL divides two integers as integers, truncating toward zero, and raises 22012
for any division by zero. DuckDB's `//` is exactly PostgreSQL's integer division, and raises on
zero by itself; every other numeric division gets its divisor guarded (views/warehouse.py maps
the error to 22012).

PostgreSQL's numeric has no fixed scale; DuckDB's DECIMAL without one is DECIMAL(18,3), which
cut `round(x::numeric, 4)` to three decimals and overflowed past 10^15. A cast to numeric gets
the scale PostgreSQL would keep: 0 for integers, the decimal's own, the literal's, and ten
places for a float (PostgreSQL writes a float's 15 significant digits; DuckDB has no scale per
value), at the widest precision.

Types come from sqlglot's annotator over a qualified *copy* of the query, typed with the views'
catalog; each node is marked before the copy so its twin there can be found. An operand whose
type the annotator cannot tell (a parameter of no declared type, a masked column, a column of a VALUES list) leaves
the node as DuckDB has it. Known gap: sum(bigint) inside other arithmetic counts as an
integer, where PostgreSQL's sum(bigint) is numeric (a bare sum(bigint) operand is handled).
"""

from __future__ import annotations

import decimal

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from sql.parse import DATE_PART, DIALECT
from sql.rules.context import Context

_INTEGER = {exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT,
            exp.DataType.Type.BIGINT}
_NUMBER = _INTEGER | {exp.DataType.Type.DECIMAL, exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE}
_MARK = "egress_arithmetic"
_WIDEST = 38
_FLOAT_SCALE = 10


def _schema(ctx: Context) -> dict[str, dict[str, str]]:
    """The used views' visible columns with their types; a masked column's type is unknown, but
    for year_only of a timestamptz, which stays one (sql/rules/scope_tenant.py)."""
    schema: dict[str, dict[str, str]] = {}
    for name in sorted(ctx.views_used):
        view = ctx.catalog.view(name)
        assert view is not None
        schema[view.name] = {}
        for c in ctx.principal.visible_columns(view):
            mask = ctx.principal.role.mask_for(view.name, c.name)
            kept = mask == "year_only" and c.instant
            schema[view.name][c.name] = "unknown" if mask and not kept else c.type
    return schema


def twins(ctx: Context, nodes: list[exp.Expression]) -> list[exp.Expression | None]:
    """Each node's twin in an annotated copy of the query (None where there is none); all
    None when the query cannot be typed. The nodes are marked only while the copy is made."""
    for number, node in enumerate(nodes):
        node.meta[_MARK] = number
    try:
        schema = _schema(ctx)
        copy = qualify(ctx.tree.copy(), schema=schema, dialect=DIALECT, validate_qualify_columns=False,
                       expand_stars=False, quote_identifiers=False)
        if ctx.param_types:  # a parameter the client typed is typed so here (only in the copy)
            for param in list(copy.find_all(exp.Parameter)):
                declared = ctx.param_types.get(int(param.name)) if str(param.name).isdigit() else None
                if declared is not None:
                    param.replace(exp.cast(param.copy(), declared))
        annotate_types(copy, schema=schema, dialect=DIALECT)
    except (SqlglotError, KeyError, ValueError, AttributeError, TypeError, AssertionError):
        return [None] * len(nodes)
    finally:
        for node in nodes:
            node.meta.pop(_MARK, None)
    found = {node.meta[_MARK]: node for node in copy.walk() if node.meta and _MARK in node.meta}
    return [found.get(number) for number in range(len(nodes))]


def type_of(node: exp.Expression) -> exp.DataType.Type | None:
    return node.type.this if node.type is not None else None


def integral(node: exp.Expression) -> bool:
    """Whether PostgreSQL computes ``node`` (from the annotated copy) as an integer type."""
    if isinstance(node, (exp.Paren, exp.Neg)):
        return integral(node.this)
    if isinstance(node, exp.Sub) and type_of(node.left) == type_of(node.right) == exp.DataType.Type.DATE:
        return True  # a date minus a date is days: (d1 - d2) / 7 is whole weeks
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Mod, exp.Div)):
        return integral(node.left) and integral(node.right)
    if isinstance(node, exp.Sum):  # sum(int2/int4) is bigint; sum(int8) is numeric
        return type_of(node.this) in _INTEGER - {exp.DataType.Type.BIGINT}
    if isinstance(node, exp.Extract):
        return False  # numeric (PostgreSQL 14+), date_part() a double
    return type_of(node) in _INTEGER


def _literal_value(node: exp.Expression) -> decimal.Decimal | None:
    """A (possibly negated) number or string literal's exact value; None for anything else."""
    negative = False
    while isinstance(node, (exp.Paren, exp.Neg)):
        negative ^= isinstance(node, exp.Neg)
        node = node.this
    if not isinstance(node, exp.Literal):
        return None
    try:
        value = decimal.Decimal(node.this.strip())
    except decimal.InvalidOperation:
        return None
    return -value if negative else value


def _nonzero_literal(node: exp.Expression) -> bool:
    value = _literal_value(node)
    return value is not None and not value.is_nan() and value != 0


def _guarded(divisor: exp.Expression) -> exp.Expression:
    zero = exp.EQ(this=divisor.copy(), expression=exp.Literal.number(0))
    fail = exp.Anonymous(this="error", expressions=[exp.Literal.string("division by zero")])
    return exp.Case(ifs=[exp.If(this=zero, true=fail)], default=divisor.copy())


def _unconstrained_numeric(node: exp.Expression) -> bool:
    return (isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DECIMAL
            and not node.to.expressions)


def _decimal(scale: int) -> exp.DataType:
    return exp.DataType.build(f"DECIMAL({_WIDEST}, {scale})")


def _numeric_cast(node: exp.Cast, twin: exp.Cast) -> None:
    """Give a cast to unconstrained numeric the scale PostgreSQL keeps (module docstring)."""
    value = _literal_value(node.this)
    if value is not None:
        if value.is_finite():
            scale = max(0, -int(value.as_tuple().exponent))
            if scale <= _WIDEST and value.adjusted() + 1 + scale <= _WIDEST:
                node.set("to", _decimal(scale))
        return
    kind = type_of(twin.this)
    if kind == exp.DataType.Type.DECIMAL:
        node.replace(node.this)  # numeric to numeric keeps the value's own scale
    elif integral(twin.this) or (isinstance(twin.this, exp.Sum) and integral(twin.this.this)):
        node.set("to", _decimal(0))  # sum(bigint) is a numeric of scale 0
    elif kind in (exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE):
        node.set("to", _decimal(_FLOAT_SCALE))


def _wrap(node: exp.Expression, to: str) -> None:
    """Cast ``node`` in place, keeping the node itself (its children may be rewritten later)."""
    cast = exp.Cast(to=exp.DataType.build(to))
    node.replace(cast)
    cast.set("this", node)


def _result_type(node: exp.Expression, twin: exp.Expression) -> None:
    """sum() of int2/int4 is bigint in PostgreSQL (DuckDB: HUGEINT, sent as numeric), and a
    date minus a date is an integer of days (DuckDB: BIGINT). Calls answered as int4 are cast
    before any typing (_int4_calls)."""
    if isinstance(node, exp.Sum) and type_of(twin.this) in _INTEGER - {exp.DataType.Type.BIGINT}:
        while isinstance(node.parent, (exp.Window, exp.Filter)) and node.arg_key == "this":
            node = node.parent  # sum(x) FILTER (...) OVER (...) is cast whole
        _wrap(node, "BIGINT")
    elif (isinstance(node, exp.Sub) and type_of(twin.left) == exp.DataType.Type.DATE
          and type_of(twin.right) == exp.DataType.Type.DATE):
        _wrap(node, "INTEGER")


# EXTRACT's fields PostgreSQL answers as a numeric of scale 0; second, milliseconds and
# microseconds carry the fraction (scales 6, 3, 0), where DuckDB's are whole numbers.
_WHOLE_FIELDS = {"YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "QUARTER", "WEEK", "DOW", "ISODOW", "DOY",
                 "DECADE", "CENTURY", "MILLENNIUM", "ISOYEAR"}
_FRACTION_SCALES = {"SECOND": 6, "MILLISECONDS": 3, "MICROSECONDS": 0}
_TIMESTAMPS = {exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ}


def _extract(node: exp.Extract, twin: exp.Extract) -> None:
    """EXTRACT as PostgreSQL 14+ answers it (numeric, with the fraction of a second), and
    date_part() as a double: DuckDB answers both with a BIGINT (the seconds without their
    fraction) or, for epoch, a double."""
    field, operand = node.this.name.upper(), type_of(twin.expression)
    as_double = bool(node.meta.get(DATE_PART))
    if field in _WHOLE_FIELDS:
        _wrap(node, "DOUBLE" if as_double else "DECIMAL(38, 0)")
    elif field in _FRACTION_SCALES:
        micros = exp.Extract(this=exp.var("MICROSECONDS"), expression=node.expression)
        scale = _FRACTION_SCALES[field]
        if as_double:
            made: exp.Expression = exp.Div(this=exp.cast(micros, "DOUBLE"),
                                           expression=exp.Literal.number(10 ** scale))
        else:
            made = exp.cast(micros, "DECIMAL(38, 0)")
            if scale:
                made = exp.Mul(this=made, expression=exp.Literal.number(f"0.{'0' * (scale - 1)}1"))
        node.replace(exp.paren(made, copy=False))
    elif field == "EPOCH" and not as_double and operand in _TIMESTAMPS:
        micros = exp.Anonymous(this="epoch_us", expressions=[node.expression])
        node.replace(exp.paren(exp.Mul(this=exp.cast(micros, "DECIMAL(38, 0)"),
                                       expression=exp.Literal.number("0.000001")), copy=False))
    elif field == "EPOCH" and not as_double and operand == exp.DataType.Type.DATE:
        _wrap(node, "DECIMAL(38, 0)")


# int4 in PostgreSQL, BIGINT in DuckDB (cardinality: UBIGINT; ntile() OVER (...), cast whole)
_INT4_CALLS = (exp.Length, exp.StrPosition, exp.ArraySize)


def _int4_calls(tree: exp.Expression) -> list[exp.Expression]:
    return [*tree.find_all(*_INT4_CALLS),
            *(n for n in tree.find_all(exp.Anonymous) if str(n.name).lower() == "cardinality"),
            *(w for w in tree.find_all(exp.Window) if isinstance(w.this, exp.Ntile))]


def type_arithmetic(ctx: Context) -> None:
    for node in _int4_calls(ctx.tree):  # length(name) is int4: no types needed
        _wrap(node, "INTEGER")
    casts = [node for node in ctx.tree.find_all(exp.Cast) if _unconstrained_numeric(node)]
    results = list(ctx.tree.find_all(exp.Sum, exp.Sub, exp.Extract))
    divisions = list(ctx.tree.find_all(exp.Div))
    nodes: list[exp.Expression] = [*casts, *results, *divisions]
    if not nodes:
        return
    found = twins(ctx, nodes)
    # Casts and result types first, then divisions innermost first (find_all is breadth-first):
    # a guard copies its divisor, which must already hold its own rewrites.
    for node, twin in zip(nodes[:len(casts) + len(results)], found, strict=False):
        if twin is None or type(twin) is not type(node):
            continue
        if isinstance(node, exp.Cast):
            _numeric_cast(node, twin)  # type: ignore[arg-type]
        elif isinstance(node, exp.Extract):
            _extract(node, twin)  # type: ignore[arg-type]
        else:
            _result_type(node, twin)
    for node, twin in reversed(list(zip(divisions, found[len(casts) + len(results):], strict=True))):
        if not isinstance(node, exp.Div) or not isinstance(twin, exp.Div):
            continue
        if integral(twin.left) and integral(twin.right):
            node.replace(exp.IntDiv(this=node.left, expression=node.right))
        elif type_of(twin.right) in _NUMBER and not _nonzero_literal(node.right):
            node.set("expression", _guarded(node.right))
