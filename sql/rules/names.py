"""Identifier folding and CTE visibility, the way PostgreSQL (and DuckDB) resolve names."""

from __future__ import annotations

from sqlglot import exp


def fold(ident: exp.Expression | str | None) -> str:
    """Unquoted identifiers fold to lower case; quoted ones keep their case."""
    if ident is None:
        return ""
    if isinstance(ident, str):
        return ident.lower()
    if isinstance(ident, exp.Identifier):
        return str(ident.this) if ident.quoted else str(ident.this).lower()
    return str(ident.name).lower()


def cte_names(tree: exp.Expression) -> set[str]:
    """Every name a WITH in the tree defines, folded (nested WITHs too)."""
    return {fold(cte.args["alias"].this) for cte in tree.find_all(exp.CTE) if cte.args.get("alias")}


def visible_ctes(table: exp.Table) -> set[str]:
    """Names of the CTEs a table reference can see: enclosing WITHs, earlier siblings only."""
    names: set[str] = set()
    child: exp.Expression = table
    node = table.parent
    while node is not None:
        if isinstance(node, exp.With) and isinstance(child, exp.CTE):
            ctes = list(node.expressions)
            index = ctes.index(child)
            seen = ctes[: index + 1] if node.args.get("recursive") else ctes[:index]
            names.update(fold(c.args["alias"].this) for c in seen)
        elif isinstance(node, exp.Query) and not isinstance(child, exp.With):
            with_ = node.args.get("with_")
            if isinstance(with_, exp.With):
                names.update(fold(c.args["alias"].this) for c in with_.expressions)
        child, node = node, node.parent
    return names


def view_references(tree: exp.Expression) -> list[exp.Table]:
    """Every table reference that is not a CTE reference (so must name a curated view)."""
    refs = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function; check_functions judges it
        if table.args.get("catalog") is None and table.args.get("db") is None:
            if fold(table.this) in visible_ctes(table):
                continue
        refs.append(table)
    return refs
