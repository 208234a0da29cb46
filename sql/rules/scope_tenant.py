"""Replace each view reference with a subquery scoped to the principal's tenant and role.

    companies AS c
      ->  (SELECT CASE WHEN tenant_id = 'acme' THEN name END AS name, ...
           FROM curated.companies WHERE tenant_id = 'acme') AS c

The subquery projects only the role's columns (masked where configured), so stars, whole-row
references, COLUMNS(*), struct packing and to_json(row) can carry nothing else. Every column is
also guarded by the tenant predicate itself: whatever order the optimizer evaluates filters in,
a user expression (a failing CAST, say) only ever sees this tenant's values or NULL, so another
tenant's value can never surface in an error message.

The guard is left out only where no user expression computes on a column: one SELECT of one
view whose list holds bare columns, stars and constants, with at most LIMIT/OFFSET (the bulk
pulls: `SELECT * FROM companies`, COPY, Flight). There DuckDB evaluates nothing of the user's
on any row, and the guard's CASE per column and row cost a quarter of the scan's CPU.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from sql.model import Principal, View
from sql.rules.context import Context
from sql.rules.local_time import FROM_LOCAL, TO_LOCAL
from sql.rules.names import fold, view_references

# Mask templates: our constants, never client text. `x` stands for the column.
_MASKS = {
    "email_domain": "CASE WHEN x IS NULL THEN NULL ELSE '***@' || split_part(x, '@', 2) END",
    "redact": "CASE WHEN x IS NULL THEN NULL ELSE '***' END",
    "hash": "md5(CAST(x AS VARCHAR))",
    "year_only": "date_trunc('year', x)",
    "null": "NULL",
}


def _mask(kind: str, value: exp.Expression, *, zone: str | None = None, instant: bool = False) -> exp.Expression:
    """A mask over ``value``. year_only of a timestamptz in a session outside UTC keeps the
    year of the session's clock (midnight of its 1 January there), as the wire then shows it:
    cut in UTC, a New York user saw 31 December 19:00 of the year before."""
    if kind == "year_only" and zone is not None and instant:
        local = exp.Anonymous(this=TO_LOCAL, expressions=[value.copy(), exp.Literal.string(zone)])
        year = exp.TimestampTrunc(this=local, unit=exp.var("YEAR"))
        return exp.Anonymous(this=FROM_LOCAL, expressions=[year, exp.Literal.string(zone)])
    template = sqlglot.parse_one(_MASKS[kind], read="duckdb")

    def put(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name == "x" and not node.table:
            return value.copy()
        return node

    return template.transform(put)


# What a query may be made of for its view's columns to need no guard (see computes_on_columns)
_BARE = (exp.Select, exp.From, exp.Table, exp.TableAlias, exp.Identifier, exp.Star, exp.Column, exp.Alias,
         exp.Literal, exp.Limit, exp.Offset, exp.Placeholder, exp.Parameter)


def computes_on_columns(tree: exp.Expression) -> bool:
    """Whether any expression of the (unscoped) query could run on a view column's value.
    False only for one SELECT over one view made of _BARE nodes: bare columns, stars and
    constants in its list, and LIMIT/OFFSET; no WHERE, ORDER BY, function, subquery or join.
    Conservative: any other node counts as computing."""
    if not isinstance(tree, exp.Select):
        return True
    for node in tree.walk():
        if not isinstance(node, _BARE) or (isinstance(node, exp.Select) and node is not tree):
            return True
    return len(view_references(tree)) != 1


def scoped_relation(principal: Principal, view: View, *, guard: bool = True, zone: str | None = None) -> exp.Select:
    """The tenant- and role-scoped SELECT that stands in for one view; ``guard`` wraps each
    column in the tenant predicate (see the module's docstring for when it may be left out);
    ``zone``: the session's TimeZone, which a year_only mask of a timestamptz is cut in."""
    def tenant_matches() -> exp.Expression:
        return exp.EQ(
            this=exp.column(view.tenant_column, quoted=True),
            expression=exp.Literal.string(principal.tenant),
        )

    projections = []
    for col in principal.visible_columns(view):
        value: exp.Expression = exp.column(col.name, quoted=True)
        kind = principal.role.mask_for(view.name, col.name)
        if kind is not None:
            value = _mask(kind, value, zone=zone, instant=col.instant)
        if guard:
            value = exp.Case(ifs=[exp.If(this=tenant_matches(), true=value)])
        projections.append(exp.alias_(value, col.name, quoted=True))
    schema, _, name = view.relation.rpartition(".")
    source = exp.Table(
        this=exp.to_identifier(name, quoted=True),
        db=exp.to_identifier(schema, quoted=True) if schema else None,
    )
    return exp.select(*projections).from_(source).where(tenant_matches())


_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def _safe_operand(column_type: str, value: exp.Expression) -> bool:
    """A value a raw column can be compared with without DuckDB casting the *column*: a
    number against a numeric column, a string against a text column, or a parameter (DuckDB
    casts the parameter to the column's type, so a bad value fails on the user's own input)."""
    if isinstance(value, exp.Parameter) or isinstance(value, exp.Placeholder):
        return True
    if isinstance(value, exp.Neg):
        value = value.this
    if not isinstance(value, exp.Literal):
        return False
    upper = column_type.upper()
    if value.is_string:
        return upper == "VARCHAR"
    return upper.startswith(_NUMERIC)


def pushed_down(select: exp.Select, alias: str, view: View, principal: Principal) -> list[exp.Expression]:
    """Top-level conjuncts of ``select``'s WHERE that compare one of this view's raw columns with
    a constant: copied inside the scoped subquery (next to the tenant predicate) so DuckDB can use
    zone maps and table filters, which the per-column tenant guard would otherwise hide. Only
    comparisons that cannot raise on any row qualify, and never on a masked column."""
    where = select.args.get("where")
    if where is None:
        return []
    sources = [select.args.get("from_")] + list(select.args.get("joins") or [])
    single = len(sources) == 1
    types = {c.name: c.type for c in principal.visible_columns(view)}
    out = []
    for conjunct in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        if isinstance(conjunct, exp.Paren):
            continue
        if isinstance(conjunct, _COMPARISONS):
            pairs = [(conjunct.this, conjunct.expression), (conjunct.expression, conjunct.this)]
        elif isinstance(conjunct, exp.In) and not conjunct.args.get("query"):
            values = conjunct.expressions
            pairs = [(conjunct.this, v) for v in values] if values else []
            if pairs and not all(_safe_operand(types.get(conjunct.this.name, ""), v) for _, v in pairs
                                 if isinstance(conjunct.this, exp.Column)):
                continue
            pairs = pairs[:1]
        elif isinstance(conjunct, exp.Between):
            col = conjunct.this
            if isinstance(col, exp.Column) and all(_safe_operand(types.get(col.name, ""), conjunct.args[k])
                                                   for k in ("low", "high")):
                pairs = [(col, conjunct.args["low"])]
            else:
                continue
        else:
            continue
        for column, value in pairs:
            if not isinstance(column, exp.Column) or not isinstance(column.this, exp.Identifier):
                continue
            owner = fold(column.args.get("table")) if column.args.get("table") else None
            if not (owner == alias or (owner is None and single)):
                continue
            name = fold(column.this)
            if name not in types or principal.role.mask_for(view.name, name) is not None:
                continue
            if not _safe_operand(types[name], value):
                continue
            raw = conjunct.copy()
            for col in raw.find_all(exp.Column):
                if fold(col.this) == name:
                    col.set("table", None)
            out.append(raw)
            break
    return out


def scope_tenant(ctx: Context) -> None:
    guard = computes_on_columns(ctx.tree)
    for table in view_references(ctx.tree):
        view = ctx.catalog.view(fold(table.this))
        assert view is not None and view.name in ctx.views_used  # resolve_views ran first
        alias = table.args.get("alias")
        if alias is None:
            alias = exp.TableAlias(this=exp.to_identifier(view.name))
        scoped = scoped_relation(ctx.principal, view, guard=guard, zone=ctx.zone)
        select = table.find_ancestor(exp.Select)
        if isinstance(select, exp.Select) and (select.args.get("from_") and select.args["from_"].this is table
                                               or any(j.this is table for j in select.args.get("joins") or [])):
            for predicate in pushed_down(select, fold(alias.this), view, ctx.principal):
                if any(isinstance(c, exp.Column) and c.args.get("table") for c in predicate.find_all(exp.Column)):
                    continue
                scoped = scoped.where(predicate)
        sub = exp.Subquery(this=scoped, alias=alias.copy())
        table.replace(sub)
