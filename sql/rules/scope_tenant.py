"""Replace each view reference with a subquery scoped to the principal's tenant and role.

    companies AS c
      ->  (SELECT CASE WHEN tenant_id = 'acme' THEN name END AS name, ...
           FROM curated.companies WHERE tenant_id = 'acme') AS c

The subquery projects only the role's columns (masked where configured), so stars, whole-row
references, COLUMNS(*), struct packing and to_json(row) can carry nothing else. Every column is
also guarded by the tenant predicate itself: whatever order the optimizer evaluates filters in,
a user expression (a failing CAST, say) only ever sees this tenant's values or NULL, so another
tenant's value can never surface in an error message.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from sql.model import Principal, View
from sql.rules.context import Context
from sql.rules.names import fold, view_references

# Mask templates: our constants, never client text. `x` stands for the column.
_MASKS = {
    "email_domain": "CASE WHEN x IS NULL THEN NULL ELSE '***@' || split_part(x, '@', 2) END",
    "redact": "CASE WHEN x IS NULL THEN NULL ELSE '***' END",
    "hash": "md5(CAST(x AS VARCHAR))",
    "year_only": "date_trunc('year', x)",
    "null": "NULL",
}


def _mask(kind: str, value: exp.Expression) -> exp.Expression:
    template = sqlglot.parse_one(_MASKS[kind], read="duckdb")

    def put(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name == "x" and not node.table:
            return value.copy()
        return node

    return template.transform(put)


def scoped_relation(principal: Principal, view: View) -> exp.Select:
    """The tenant- and role-scoped SELECT that stands in for one view."""
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
            value = _mask(kind, value)
        guarded = exp.Case(ifs=[exp.If(this=tenant_matches(), true=value)])
        projections.append(exp.alias_(guarded, col.name, quoted=True))
    schema, _, name = view.relation.rpartition(".")
    source = exp.Table(
        this=exp.to_identifier(name, quoted=True),
        db=exp.to_identifier(schema, quoted=True) if schema else None,
    )
    return exp.select(*projections).from_(source).where(tenant_matches())


def scope_tenant(ctx: Context) -> None:
    for table in view_references(ctx.tree):
        view = ctx.catalog.view(fold(table.this))
        assert view is not None and view.name in ctx.views_used  # resolve_views ran first
        alias = table.args.get("alias")
        if alias is None:
            alias = exp.TableAlias(this=exp.to_identifier(view.name))
        sub = exp.Subquery(this=scoped_relation(ctx.principal, view), alias=alias.copy())
        table.replace(sub)
