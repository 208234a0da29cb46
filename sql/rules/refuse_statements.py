"""Only a read query gets through: nothing nested in it may write, attach or configure."""

from __future__ import annotations

from sqlglot import exp

from sql.errors import FeatureNotSupported, InsufficientPrivilege, ReadOnly
from sql.rules.context import Context

_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
           exp.TruncateTable)
_ENGINE = (exp.Pragma, exp.Set, exp.Command, exp.Copy, exp.Use, exp.Describe, exp.Attach,
           exp.Detach, exp.Install, exp.Export)


def refuse_statements(ctx: Context) -> None:
    if not isinstance(ctx.tree, exp.Query):
        raise FeatureNotSupported("only queries are supported here", position=ctx.position(ctx.tree))
    for node in ctx.tree.walk():
        if isinstance(node, _WRITES):
            raise ReadOnly(
                f"cannot execute {node.key.upper()} in a read-only transaction",
                position=ctx.position(node),
                hint="egress exposes read-only views",
            )
        if isinstance(node, _ENGINE):
            raise InsufficientPrivilege(
                "permission denied: engine statements are not available", position=ctx.position(node)
            )
        if isinstance(node, exp.Into):
            raise ReadOnly("cannot execute SELECT INTO in a read-only transaction",
                           position=ctx.position(node))
        if isinstance(node, exp.Placeholder) and node.name and not node.name.isdigit():
            raise FeatureNotSupported("named placeholders are not supported", position=ctx.position(node))
