"""A role's row cap: the query may return at most ``cap`` rows, or it fails with 54000.

The SQL asks for cap + 1 rows so the executor can tell "exactly cap" from "more than cap"
without reading further; the executor raises when row cap + 1 arrives.
"""

from __future__ import annotations

from sqlglot import exp

from sql.rules.context import Context


def cap_rows(ctx: Context) -> None:
    cap = ctx.principal.role.max_rows if ctx.row_cap is None else ctx.row_cap
    if not cap:
        return
    ctx.row_cap = cap
    wrapped = exp.select(exp.Star()).from_(exp.Subquery(this=ctx.tree, alias=exp.TableAlias(
        this=exp.to_identifier("egress_capped")))).limit(cap + 1)
    ctx.tree = wrapped
