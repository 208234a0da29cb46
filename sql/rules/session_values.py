"""Who is asking, as PostgreSQL's session functions answer it, next to a view.

``current_user``, ``session_user``, ``user`` and ``current_role`` are the principal's user name,
``current_schema`` is ``public`` (the only schema a principal sees). Alone, they are catalog
queries the gateway answers from its shadow catalog; in a query that reads a view (``SELECT
name, current_user FROM companies``) they reach the policy engine, which writes each as a
string literal: nothing from DuckDB's own session (its user, its schemas) is ever asked.
``user`` and ``current_role`` parse as columns; they are read as PostgreSQL reads them only when
unquoted and not qualified, as PostgreSQL's grammar has them as keywords.
"""

from __future__ import annotations

from sqlglot import exp

from sql.rules.context import Context

_USER_KEYWORDS = ("user", "current_role")


def session_value(node: exp.Expression, user: str) -> exp.Expression | None:
    """The literal PostgreSQL's session functions answer for ``node`` (named as PostgreSQL names
    it, when it is a select-list item), or None if it is none of them. The shadow catalog's
    rewrite (gateway/catalog.py) asks this too, so DuckDB's own session user never answers."""
    if isinstance(node, (exp.CurrentUser, exp.SessionUser)):
        return _named(exp.Literal.string(user), node)
    if isinstance(node, exp.CurrentSchema):
        return _named(exp.Literal.string("public"), node)
    if isinstance(node, exp.Column) and not node.table and isinstance(node.this, exp.Identifier) \
            and not node.this.quoted and node.name.lower() in _USER_KEYWORDS:
        return _named(exp.Literal.string(user), node)
    return None


def session_values(ctx: Context) -> None:
    user = ctx.principal.user

    def value(node: exp.Expression) -> exp.Expression:
        known = session_value(node, user)
        return node if known is None else known

    ctx.tree = ctx.tree.transform(value, copy=False)


def _named(literal: exp.Expression, node: exp.Expression) -> exp.Expression:
    """The literal, named in a select list as PostgreSQL names the call (current_user, ...)."""
    if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
        name = node.name.lower() if isinstance(node, exp.Column) else node.sql(dialect="postgres").lower()
        return exp.alias_(literal, name.split("(", 1)[0], quoted=True)
    return literal
