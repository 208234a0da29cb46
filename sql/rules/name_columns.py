"""Result columns named the way PostgreSQL names them, so drivers and BI tools see what they
would against PostgreSQL: a bare column keeps its name, a function call takes the function's name
(`count(*)` -> count), a cast takes its operand's name, anything else is `?column?`.
DuckDB would otherwise name them after their text (`count_star()`)."""

from __future__ import annotations

from sqlglot import exp

from sql import functions
from sql.rules.context import Context


_PG_FUNCTION_NAMES = {"current_version": "version", "currentversion": "version"}


def _pg_name(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Column):
        return None  # keeps its own name
    if isinstance(node, exp.Cast):
        inner = node.this
        if isinstance(inner, exp.Column):
            return inner.name
        if isinstance(inner, (exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime)):
            return None
        return _pg_name(inner) or "?column?"
    if isinstance(node, (exp.Star, exp.Dot)):
        return None
    if isinstance(node, exp.Anonymous) and str(node.name).lower() == "columns":
        return None
    if isinstance(node, (exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime)):
        return "now" if isinstance(node, exp.CurrentTimestamp) else None
    if isinstance(node, exp.Count):
        return "count"
    if isinstance(node, exp.Func) and not isinstance(node, (exp.Binary, exp.Connector, exp.Case, exp.If)):
        name = functions.display_name(node).lower()
        return _PG_FUNCTION_NAMES.get(name, name)
    if isinstance(node, exp.Case):
        return "case"
    return "?column?"


def name_columns(ctx: Context) -> None:
    pg_names(ctx.tree)


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
