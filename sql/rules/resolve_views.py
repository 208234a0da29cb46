"""Every relation a query names must be a curated view the principal may see.

An unknown relation and a hidden one get the same answer (42P01), so the error itself reveals
nothing about what exists.
"""

from __future__ import annotations

from sqlglot import exp

from sql.errors import FeatureNotSupported, UndefinedTable
from sql.rules.context import Context
from sql.rules.names import fold, view_references

EXPOSED_SCHEMA = "public"
_ALLOWED_TABLE_ARGS = {"this", "alias", "db", "catalog"}


def resolve_views(ctx: Context) -> None:
    for table in view_references(ctx.tree):
        name = fold(table.this)
        qualified = ".".join(p for p in (fold(table.args.get("catalog")), fold(table.args.get("db")), name) if p)
        if table.args.get("catalog") is not None or fold(table.args.get("db")) not in ("", EXPOSED_SCHEMA):
            raise UndefinedTable(f'relation "{qualified}" does not exist', position=ctx.position(table))
        view = ctx.visible_view(name)
        if view is None:
            raise UndefinedTable(f'relation "{qualified}" does not exist', position=ctx.position(table))
        extra = {k for k, v in table.args.items() if v and k not in _ALLOWED_TABLE_ARGS}
        if extra:
            raise FeatureNotSupported(
                f"{'/'.join(sorted(extra)).upper()} on a view is not supported",
                position=ctx.position(table),
            )
        alias = table.args.get("alias")
        if isinstance(alias, exp.TableAlias) and alias.columns:
            raise FeatureNotSupported("column aliases on a view are not supported",
                                      position=ctx.position(alias))
        table.set("db", None)
        table.set("catalog", None)
        ctx.views_used.add(view.name)
