"""A column the role may not see is refused wherever it is named (42501).

Refusing, rather than leaving DuckDB to fail, matters in WHERE / ORDER BY / GROUP BY / JOIN:
a hidden column used there would leak by inference. Analysis runs on a qualified *copy*; the
query that runs is the user's own tree with only its view references replaced (scope_tenant).
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope, walk_in_scope

from sql.errors import FeatureNotSupported, InsufficientPrivilege, UndefinedColumn
from sql.parse import DIALECT
from sql.rules.context import Context
from sql.rules.names import fold


def _columns_of_used_views(ctx: Context) -> tuple[dict[str, str], set[str], dict[str, dict[str, str]]]:
    """Over the views this query uses: hidden column -> a view hiding it; every visible name;
    and the schema qualify() sees (visible columns only)."""
    hidden: dict[str, str] = {}
    visible_anywhere: set[str] = set()
    schema: dict[str, dict[str, str]] = {}
    for name in sorted(ctx.views_used):
        view = ctx.catalog.view(name)
        assert view is not None
        visible = [c.name for c in ctx.principal.visible_columns(view)]
        visible_anywhere.update(visible)
        schema[view.name] = {c: "unknown" for c in visible}
        for col in view.columns:
            if col.name not in visible:
                hidden.setdefault(col.name, view.name)
    return hidden, visible_anywhere, schema


def _without_ordinals(tree: exp.Expression) -> exp.Expression:
    """The tree with ORDER BY and GROUP BY ordinals (`ORDER BY 1`) made NULL, for analysis only:
    an ordinal names an item of the select list, which is analysed itself, and sqlglot cannot
    expand one that names a star (`SELECT * ... ORDER BY 1` failed an assertion)."""
    def ordinal(node: exp.Expression) -> bool:
        return isinstance(node, exp.Literal) and not node.is_string

    for ordered in tree.find_all(exp.Ordered):
        if ordinal(ordered.this):
            ordered.set("this", exp.Null())
    for group in tree.find_all(exp.Group):
        for item in list(group.expressions):
            if ordinal(item):
                item.replace(exp.Null())
    return tree


def check_columns(ctx: Context) -> None:
    hidden, visible_anywhere, schema = _columns_of_used_views(ctx)
    # Cheap, certain refusals first: a hidden name that no visible source could supply.
    produced = {fold(a.args["alias"]) for a in ctx.tree.find_all(exp.Alias) if a.args.get("alias")}
    renamed = {fold(c) for table_alias in ctx.tree.find_all(exp.TableAlias) for c in table_alias.columns}
    produced |= renamed
    for column in ctx.tree.find_all(exp.Column):
        name = fold(column.this)
        if name in hidden and name not in visible_anywhere and name not in produced:
            raise _denied(ctx, column, name, hidden[name])
    _refuse_output_names_out_of_place(ctx, produced - renamed, {n: v for n, v in hidden.items()
                                                                if n not in visible_anywhere})
    try:
        analysed = qualify(
            _without_ordinals(ctx.tree.copy()), schema=schema, dialect=DIALECT, validate_qualify_columns=False,
            expand_stars=False, quote_identifiers=False,
        )
        scopes = traverse_scope(analysed)
    except OptimizeError as err:
        name = str(err).removeprefix("Unknown column: ").strip()
        if str(err).startswith("Unknown column: "):
            node = next((c for c in ctx.tree.find_all(exp.Column) if fold(c.this) == fold(name)), None)
            if fold(name) in hidden:
                raise _denied(ctx, node, fold(name), hidden[fold(name)]) from None
            shown = f"{node.table}.{name}" if node is not None and node.table else name  # as PostgreSQL words it
            raise UndefinedColumn(f"column {shown} does not exist", position=ctx.position(node)) from None
        raise FeatureNotSupported("query shape not supported", position=ctx.position(ctx.tree),
                                  detail=str(err)[:200]) from None
    except (SqlglotError, KeyError, ValueError, AttributeError, TypeError, AssertionError) as err:
        raise FeatureNotSupported(
            "query shape not supported", position=ctx.position(ctx.tree),
            detail=err.__class__.__name__,
        ) from None

    for scope in scopes:
        for column in scope.columns:
            name = fold(column.this)
            table = column.table
            if not table:
                if name in hidden and name not in visible_anywhere and name not in scope.sources:
                    raise _denied(ctx, column, name, hidden[name])
                if name not in produced and _names_nothing(ctx, scope, name):
                    raise UndefinedColumn(f'column "{name}" does not exist', position=ctx.position(column))
                continue
            owner = scope
            while owner is not None and table not in owner.sources:
                owner = owner.parent  # correlated and lateral references reach outer scopes
            source = owner.sources.get(table) if owner is not None else None
            if not isinstance(source, exp.Table):
                continue  # a derived table or CTE: it can only carry what its own scope allowed
            view = ctx.catalog.view(fold(source.this))
            if view is None or view.name not in ctx.views_used:
                continue
            if name in {c.name for c in ctx.principal.visible_columns(view)}:
                continue
            if view.column(name) is not None:
                raise _denied(ctx, column, name, view.name)
            raise UndefinedColumn(f"column {table}.{name} does not exist", position=ctx.position(column))


def _refuse_output_names_out_of_place(ctx: Context, outputs: set[str], hidden: dict[str, str]) -> None:
    """PostgreSQL reads an output column's name (a select-list alias) only as a whole item of its
    own query's ORDER BY, GROUP BY or DISTINCT ON; anywhere else (WHERE, HAVING, JOIN ... ON, an
    expression in ORDER BY, a later select item, a subquery) the name must be a column, or it is
    42703. DuckDB reads aliases in all those places, so without this a query PostgreSQL refuses
    was answered. Checked on the tree as written: sqlglot's qualify() expands these references.
    Only names no source could supply are refused (see _names_nothing); a name that is a column
    the role may not see is that column there, refused with 42501 (an alias named like it
    cannot be used to stand in for it)."""
    if not outputs:
        return
    try:
        scopes = traverse_scope(ctx.tree.copy())
    except (SqlglotError, KeyError, ValueError, AttributeError, TypeError, AssertionError):
        return  # check_columns' analysis below refuses shapes it cannot read
    for scope in scopes:
        if not isinstance(scope.expression, exp.Select):
            continue  # a set operation's ORDER BY names its output columns; DuckDB checks those
        for column in walk_in_scope(scope.expression):
            if not isinstance(column, exp.Column) or column.table or not isinstance(column.this, exp.Identifier):
                continue
            name = fold(column.this)
            if name not in outputs or _output_name_in_place(column, name):
                continue
            if name in hidden:
                raise _denied(ctx, column, name, hidden[name])
            if _names_nothing(ctx, scope, name):
                raise UndefinedColumn(f'column "{name}" does not exist', position=ctx.position(column))


def _output_name_in_place(column: exp.Column, name: str) -> bool:
    """Whether ``column`` is a whole ORDER BY, GROUP BY (grouping sets included) or DISTINCT ON
    item of a SELECT with an output column of that name."""
    parent = column.parent
    if isinstance(parent, exp.Ordered) and parent.this is column:
        owner = parent.parent.parent if isinstance(parent.parent, exp.Order) else None
    else:
        while isinstance(parent, (exp.Tuple, exp.Rollup, exp.Cube, exp.GroupingSets)):
            parent = parent.parent
        owner = parent.parent if isinstance(parent, (exp.Group, exp.Distinct)) else None
    if not isinstance(owner, exp.Select):
        return False
    return any(isinstance(item, exp.Star) or isinstance(item, exp.Alias) and fold(item.args.get("alias")) == name
               for item in owner.expressions)


def _names_nothing(ctx: Context, scope: Scope, name: str) -> bool:
    """Whether an unqualified name can be no column at all: every source of its scope and of the
    scopes around it (a subquery may name an outer query's columns) is a view this query reads,
    and none of them has a column of that name. Anything else in FROM (a derived table, a CTE, a
    table function) may supply any name; DuckDB's binder decides those."""
    owner: Scope | None = scope
    while owner is not None:
        for source in owner.sources.values():
            if not isinstance(source, exp.Table):
                return False
            view = ctx.catalog.view(fold(source.this))
            if view is None or view.name not in ctx.views_used or view.column(name) is not None:
                return False
        owner = owner.parent
    return True


def _denied(ctx: Context, column: exp.Column | None, name: str, view: str) -> InsufficientPrivilege:
    return InsufficientPrivilege(
        f'permission denied for column "{name}" of relation "{view}"',
        position=ctx.position(column),
        hint=f"role {ctx.principal.role.name} does not include this column",
    )
