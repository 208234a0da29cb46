"""The one door every query passes: principal + SQL text -> DuckDB SQL that is safe to run.

parse (sqlglot, Postgres dialect) -> the rules in sql.rules.RULES, in order -> DuckDB SQL.
Fail closed: anything that does not parse, classify or analyse cleanly is refused with a
SQLSTATE; the original text is never run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from sql.errors import (
    EgressError,
    FeatureNotSupported,
    InsufficientPrivilege,
    InternalError,
    InvalidEscapeSequence,
    InvalidParameterValue,
    ReadOnly,
    SyntaxError_,
    UndefinedFunction,
)
from sql.model import Catalog, Principal
from sql.parse import Kind, Statement, filled, parse_one, split
from sql.rules import RULES, Context
from sql.to_char import is_number_template, to_char


@dataclass(frozen=True)
class Compiled:
    sql: str  # DuckDB SQL to run
    given: str  # the statement as the client sent it
    views: tuple[str, ...]  # curated views it reads
    row_cap: int | None  # executor raises 54000 past this many rows
    streaming: bool = False  # no operator that holds rows (sort, aggregate, join...): see streams()


# Nodes whose operators hold rows or hash tables in memory. A query without any of them is a
# scan, filters and projections (and LIMIT/OFFSET): DuckDB runs it in a few buffers however
# many rows it reads.
_HOLDS_ROWS = (exp.Order, exp.Group, exp.AggFunc, exp.Window, exp.Distinct, exp.Join, exp.SetOperation,
               exp.Having, exp.Qualify, exp.Pivot, exp.With, exp.Exists, exp.TableSample, exp.Lateral)


def streams(tree: exp.Expression) -> bool:
    """Whether a (rewritten) query is a pure stream: no node from _HOLDS_ROWS anywhere, and
    subqueries only as derived tables in FROM (the policy's view scopes), not as values or IN
    lists. Conservative: anything unrecognised counts as holding rows."""
    if not isinstance(tree, exp.Select):
        return False
    for node in tree.walk():
        if isinstance(node, _HOLDS_ROWS):
            return False
        if isinstance(node, exp.Subquery) and not isinstance(node.parent, exp.From):
            return False
        if isinstance(node, exp.Select) and node is not tree and not isinstance(node.parent, exp.Subquery):
            return False
    return True


def refuse_kind(statement: Statement, base: int = 0) -> EgressError:
    """The error for a statement that is not a query, by what it is (``base``: where the text
    the statement was split from starts in what the client sent)."""
    position = base + statement.offset + 1
    word = statement.keyword
    if statement.kind is Kind.WRITE:
        return ReadOnly(f"cannot execute {word} in a read-only transaction", position=position,
                        hint="egress exposes read-only views")
    if statement.kind is Kind.ENGINE:
        return InsufficientPrivilege(f"permission denied: {word} is not available", position=position)
    if statement.kind is Kind.COPY:
        return FeatureNotSupported("COPY is not supported here", position=position,
                                   hint="use COPY (query) TO STDOUT over the PostgreSQL gateway")
    if statement.kind is Kind.SESSION:
        return FeatureNotSupported(f"{word} is not supported here", position=position)
    return SyntaxError_(f'syntax error at or near "{word}"', position=position)


def compile_query(
    principal: Principal,
    catalog: Catalog,
    query: str | exp.Expression,
    *,
    row_cap: int | None = None,
    zone: str | None = None,
    base: int = 0,
    param_types: tuple[tuple[int, str], ...] = (),
) -> Compiled:
    """Validate and rewrite one query for ``principal``; raise an EgressError to refuse.
    ``zone``: the session's TimeZone (an IANA name; None is UTC), for sql/rules/local_time.py;
    ``base``: where a text query starts in what the client sent (inside a COPY), for positions;
    ``param_types``: ($n, DuckDB type) a client declared (see Context.param_types)."""
    if isinstance(query, str):
        statements = split(query)
        if not statements:
            raise SyntaxError_("empty query")
        if len(statements) > 1:
            raise SyntaxError_(
                "cannot run several statements in one query; send them one at a time",
                position=base + statements[1].offset + 1,
            )
        statement = statements[0]
        if statement.kind is not Kind.QUERY:
            raise refuse_kind(statement, base)
        tree = parse_one(statement.text, base=base + statement.offset)
        given, base = query, base + statement.offset
    else:
        tree, given, base = query.copy(), query.sql(dialect="postgres"), 0
    return compile_tree(principal, catalog, tree, given=given, base=base, row_cap=row_cap, zone=zone,
                        param_types=param_types)


_QUOTE_LITERAL = sqlglot.parse_one(
    r"CASE WHEN strpos(v, '\') > 0 THEN 'E''' || replace(replace(v, '\', '\\'), '''', '''''') || '''' "
    r"ELSE '''' || replace(v, '''', '''''') || '''' END", read="duckdb")
_QUOTE_IDENT = sqlglot.parse_one(
    r"""CASE WHEN regexp_full_match(v, '[a-z_][a-z0-9_$]*') THEN v ELSE '"' || replace(v, '"', '""') || '"' END""",
    read="duckdb")


# format()'s specifiers: %[n$][-][width]type, type s, I, L or %
_FORMAT_SPEC = re.compile(r"%(?:([0-9]+)\$)?(-?[0-9]*)([sIL%])|%")


def _format(node: exp.Format) -> exp.Expression:
    """PostgreSQL's format() as DuckDB's printf (DuckDB's own format() reads `{}`, so `%s`
    came back as written): %s is the argument's text or nothing for NULL, %I quote_ident,
    %L quote_nullable, with positions, widths and left-justifying as PostgreSQL reads them."""
    template, args = node.this, list(node.expressions)
    if not isinstance(template, exp.Literal) or not template.is_string:
        raise FeatureNotSupported("format() needs its format string as a literal")
    out, values, last = [], [], 0
    cursor = 0
    for match in _FORMAT_SPEC.finditer(template.this):
        out.append(template.this[cursor:match.start()])
        cursor = match.end()
        position, width, kind = match.groups()
        if kind is None:
            raise InvalidParameterValue("unrecognized format() type specifier")
        if kind == "%":
            out.append("%%")
            continue
        last = int(position) if position else last + 1
        if not 1 <= last <= len(args):
            raise InvalidParameterValue("too few arguments for format()")
        value = args[last - 1].transform(_postgres_functions)  # a new node's children are not visited
        if kind == "s":
            value = exp.Coalesce(this=exp.cast(value, "VARCHAR"), expressions=[exp.Literal.string("")])
        else:
            name = "quote_ident" if kind == "I" else "quote_nullable"
            value = _postgres_functions(exp.Anonymous(this=name, expressions=[value]))
        out.append(f"%{width}s")
        values.append(value)
    out.append(template.this[cursor:])
    return exp.Anonymous(this="printf", expressions=[exp.Literal.string("".join(out)), *values])


def _array_items(text: str) -> list[str | None] | None:
    """A one-dimensional PostgreSQL array literal's items (array_in's reading: quotes,
    backslash escapes, spaces around items, unquoted NULL); None for anything else."""
    text = text.strip()
    if len(text) < 2 or text[0] != "{" or text[-1] != "}":
        return None
    body, items, i = text[1:-1], [], 0
    if not body.strip():
        return []
    while True:
        while i < len(body) and body[i].isspace():
            i += 1
        item, quoted, seen, kept = [], False, False, 0
        while i < len(body) and (quoted or body[i] != ","):
            char = body[i]
            if char in "{}" and not quoted:
                return None  # nested: left to DuckDB
            if char == '"':
                quoted, seen = not quoted, True
                kept = len(item)  # spaces after a closing quote are not the item's
            elif char == "\\" and i + 1 < len(body):
                i += 1
                item.append(body[i])
            else:
                item.append(char)
            i += 1
        if quoted:
            return None
        value = "".join(item[:kept]) + "".join(item[kept:]).rstrip() if seen else "".join(item).rstrip()
        items.append(None if not seen and value.upper() == "NULL" else value)
        if i >= len(body):
            return items
        i += 1  # the comma


def _anonymous(node: exp.Expression) -> str | None:
    """The lower-cased name of a call sqlglot passes through (exp.Anonymous); None otherwise."""
    return str(node.name).lower() if isinstance(node, exp.Anonymous) else None


def _similar_to(node: exp.SimilarTo, escape: exp.Expression | None) -> exp.Expression:
    """``x SIMILAR TO 'pattern' [ESCAPE 'c']`` as PostgreSQL runs it: the SQL pattern made a
    regular expression that must match the whole string (% is .*, _ is ., parentheses group,
    . ^ $ are literal, the escape character (default backslash) makes the next one literal),
    where `.` also matches a newline. DuckDB's own SIMILAR TO reads the pattern as a regular
    expression as it stands, so '%(Labs|Systems)%' matched nothing. A constant pattern only."""
    pattern = node.expression
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise FeatureNotSupported("SIMILAR TO takes a constant pattern here",
                                  hint="write the pattern as a string literal, or use ~ with a regular expression")
    marker: str | None = "\\"
    if escape is not None:
        if not (isinstance(escape, exp.Literal) and escape.is_string):
            raise FeatureNotSupported("SIMILAR TO takes a constant ESCAPE here")
        if len(escape.this) > 1:
            raise InvalidEscapeSequence("invalid escape string",
                                        hint="Escape string must be empty or one character.")
        marker = escape.this or None
    out, escaped, in_class = [], False, False
    for char in pattern.this:
        if escaped:
            if char == '"' and not in_class:
                raise FeatureNotSupported("escape-double-quote separators are for SUBSTRING, not SIMILAR TO here")
            out.append("\\" + char)
            escaped = False
        elif marker is not None and char == marker:
            escaped = True
        elif in_class:
            out.append("\\\\" if char == "\\" else char)
            in_class = char != "]"
        elif char == "[":
            out.append(char)
            in_class = True
        else:
            out.append({"%": ".*", "_": ".", "(": "(?:", "\\": "\\\\", ".": "\\.", "^": "\\^",
                        "$": "\\$"}.get(char, char))
    regex = "(?s)(?:" + "".join(out) + ")"
    subject = node.this.transform(_postgres_functions)
    return exp.Anonymous(this="regexp_full_match", expressions=[subject, exp.Literal.string(regex)])


def _postgres_functions(node: exp.Expression) -> exp.Expression:
    """PostgreSQL functions DuckDB lacks, as DuckDB expressions (after the rules, which checked
    and named them): quote_literal (asyncpg's copy_from_query inlines its arguments with it),
    quote_nullable and quote_ident; json_build_object and json_agg as DuckDB's json_object and
    to_json of a list; format() as printf; octet_length of text as strlen; every() as
    bool_and; encode(bytes, 'hex' | 'base64'); current_date and current_timestamp as calls;
    SIMILAR TO as the regular expression PostgreSQL makes of its pattern."""
    if isinstance(node, exp.TimeToStr):
        template_node = node.args.get("format")
        if not (isinstance(template_node, exp.Literal) and template_node.is_string):
            raise FeatureNotSupported("to_char takes a constant template here")
        template = str(template_node.this)
        if is_number_template(template):
            raise FeatureNotSupported("to_char of a number is not supported",
                                      hint="round() and a cast to text, or format(), give most of what it does")
        return to_char(node.this.transform(_postgres_functions), template)
    if isinstance(node, exp.Escape) and isinstance(node.this, exp.SimilarTo):
        return _similar_to(node.this, node.expression)
    if isinstance(node, exp.SimilarTo):
        return _similar_to(node, None)
    if isinstance(node, exp.Format):
        return _format(node)
    if isinstance(node, (exp.CurrentDate, exp.CurrentTimestamp)) and not node.args:
        # as calls: DuckDB reads a bare current_date as a column when the select list has one
        # of that name, and name_columns names the column current_date, as PostgreSQL does
        return exp.Anonymous(this="today" if isinstance(node, exp.CurrentDate) else "now", expressions=[])
    if (isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.ARRAY and isinstance(node.this, exp.Literal)
            and node.this.is_string):  # '{1,2}'::int[]: DuckDB reads only its own list syntax
        items = _array_items(node.this.this)
        if items is not None:
            array = exp.Array(expressions=[exp.Null() if v is None else exp.Literal.string(v) for v in items])
            return exp.Cast(this=exp.cast(array, "VARCHAR[]"), to=node.to.copy())
    if isinstance(node, exp.Encode) and isinstance(node.args.get("charset"), exp.Literal):
        kind = str(node.args["charset"].this).lower()
        if kind == "hex":
            return exp.Lower(this=exp.Hex(this=node.this.transform(_postgres_functions)))
        if kind == "base64":
            return exp.Anonymous(this="to_base64", expressions=[node.this.transform(_postgres_functions)])
        raise FeatureNotSupported(f'encoding "{kind}" is not supported', hint="use hex or base64")
    if _anonymous(node) == "octet_length" and len(node.expressions) == 1:
        arg = node.expressions[0].transform(_postgres_functions)
        return exp.cast(exp.Anonymous(this="strlen", expressions=[exp.cast(arg, "VARCHAR")]), "INTEGER")
    if _anonymous(node) == "every":
        return exp.Anonymous(this="bool_and", expressions=[e.transform(_postgres_functions) for e in node.expressions])
    agg = node
    while isinstance(agg, (exp.Filter, exp.Window)):
        agg = agg.this
    if isinstance(agg, exp.JSONArrayAgg):
        return _json_agg(node)
    if _anonymous(node) == "json_build_object":
        return _json_build_object([e.transform(_postgres_functions) for e in node.expressions])
    if _anonymous(node) == "jsonb_build_object":  # jsonb's own layout (sorted keys) is not kept
        return exp.Anonymous(this="json_object", expressions=[e.transform(_postgres_functions) for e in node.expressions])
    if _anonymous(node) in ("array_to_json", "row_to_json") and node.expressions:
        # a row or array as compact JSON: DuckDB's to_json of a struct or list writes PostgreSQL's
        # layout ({"a":1,"b":"x"}); the pretty form (a second argument of true) is not offered
        pretty = node.expressions[1:]
        if len(pretty) > 1:  # no such function in PostgreSQL either
            raise UndefinedFunction(f"function {_anonymous(node)}() does not exist with {len(node.expressions)} arguments",
                                    hint="it takes a value and, optionally, a boolean")
        if pretty and not (isinstance(pretty[0], exp.Boolean) and not pretty[0].this):
            raise FeatureNotSupported(f"{_anonymous(node)}() with pretty output is not supported",
                                      hint="leave out the second argument")
        return exp.Anonymous(this="to_json", expressions=[node.expressions[0].transform(_postgres_functions)])
    if _anonymous(node) == "json_array_length" and len(node.expressions) == 1:
        arg = node.expressions[0].transform(_postgres_functions)
        return exp.cast(exp.Anonymous(this="json_array_length", expressions=[arg]), "INTEGER")
    if _anonymous(node) == "json_typeof" and len(node.expressions) == 1:
        return filled(_JSON_TYPEOF, v=node.expressions[0].transform(_postgres_functions))
    if not isinstance(node, exp.Anonymous) or len(node.expressions) != 1:
        return node
    name = str(node.name).lower()
    if name not in ("quote_literal", "quote_nullable", "quote_ident"):
        return node
    value = exp.cast(node.expressions[0].copy(), "VARCHAR")
    template = _QUOTE_IDENT if name == "quote_ident" else _QUOTE_LITERAL
    made = filled(template, v=value)
    if name == "quote_nullable":
        made = exp.Coalesce(this=made, expressions=[exp.Literal.string("NULL")])
    return exp.paren(made, copy=False)


# json_typeof's words for DuckDB's json_type() names (VARCHAR, BIGINT, UBIGINT, DOUBLE, ...)
_JSON_TYPEOF = sqlglot.parse_one(
    "CASE WHEN json_type(v) IS NULL THEN NULL WHEN json_type(v) = 'OBJECT' THEN 'object' "
    "WHEN json_type(v) = 'ARRAY' THEN 'array' WHEN json_type(v) = 'VARCHAR' THEN 'string' "
    "WHEN json_type(v) = 'BOOLEAN' THEN 'boolean' WHEN json_type(v) = 'NULL' THEN 'null' ELSE 'number' END",
    read="duckdb")


def _json_text(value: exp.Expression) -> exp.Expression:
    """A value as JSON text, as PostgreSQL's json builders write it: a json value as it is
    (DuckDB's to_json would compact it), SQL NULL as the JSON null."""
    is_json = exp.EQ(this=exp.Anonymous(this="typeof", expressions=[value.copy()]), expression=exp.Literal.string("JSON"))
    text = exp.If(this=is_json, true=exp.cast(value.copy(), "VARCHAR"),
                  false=exp.cast(exp.Anonymous(this="to_json", expressions=[value]), "VARCHAR"))
    return exp.Coalesce(this=text, expressions=[exp.Literal.string("null")])


def _json_build_object(items: list[exp.Expression]) -> exp.Expression:
    """json_build_object(k1, v1, ...) in PostgreSQL's layout: {"k1" : v1, "k2" : v2}."""
    if len(items) % 2:
        raise InvalidParameterValue("argument list must have even number of elements",
                                    hint="The arguments of json_build_object() must consist of alternating keys and values.")
    parts: list[exp.Expression] = [exp.Literal.string("{")]
    for i in range(0, len(items), 2):
        key = exp.Anonymous(this="to_json", expressions=[exp.cast(items[i], "VARCHAR")])
        parts += [*([exp.Literal.string(", ")] if i else []), key, exp.Literal.string(" : "), _json_text(items[i + 1])]
    parts.append(exp.Literal.string("}"))
    return exp.cast(exp.Concat(expressions=parts), "JSON")


def _json_agg(node: exp.Expression) -> exp.Expression:
    """json_agg(x [ORDER BY ...]) [FILTER (...)] [OVER (...)] in PostgreSQL's layout:
    [a, b, null] (no rows: NULL), as string_agg of each value's JSON text."""
    agg = node
    while isinstance(agg, (exp.Filter, exp.Window)):
        agg = agg.this
    inner = agg.this.transform(_postgres_functions)
    if isinstance(inner, exp.Order):
        inner.set("this", _json_text(inner.this))
    else:
        inner = _json_text(inner)
    joined: exp.Expression = exp.GroupConcat(this=inner, separator=exp.Literal.string(", "))
    if node is not agg:  # the FILTER and OVER clauses around the call go around string_agg
        outer = node.copy()
        level: exp.Expression = outer
        while True:  # each clause's own expressions translated as the rest of the query is
            for key, value in list(level.args.items()):
                if key == "this":
                    continue
                if isinstance(value, exp.Expression):
                    level.set(key, value.transform(_postgres_functions))
                elif isinstance(value, list):
                    level.set(key, [v.transform(_postgres_functions) if isinstance(v, exp.Expression) else v
                                    for v in value])
            if not isinstance(level.this, (exp.Filter, exp.Window)):
                break
            level = level.this
        level.set("this", joined)
        joined = outer
    return exp.cast(exp.DPipe(this=exp.DPipe(this=exp.Literal.string("["), expression=joined),
                              expression=exp.Literal.string("]")), "JSON")


def _values_query(values: exp.Values) -> exp.Query:
    """A bare VALUES list as the query it is in PostgreSQL: columns column1, column2, ..."""
    first = values.expressions[0] if values.expressions else None
    width = len(first.expressions) if isinstance(first, exp.Tuple) else 1
    alias = exp.TableAlias(this=exp.to_identifier("*VALUES*", quoted=True),
                           columns=[exp.to_identifier(f"column{i + 1}") for i in range(width)])
    values = values.copy()
    values.set("alias", alias)
    return exp.select("*").from_(values)


def compile_tree(
    principal: Principal,
    catalog: Catalog,
    tree: exp.Expression,
    *,
    given: str,
    base: int = 0,
    row_cap: int | None = None,
    zone: str | None = None,
    param_types: tuple[tuple[int, str], ...] = (),
) -> Compiled:
    if isinstance(tree, exp.Values) and not tree.alias:
        tree = _values_query(tree)
    ctx = Context(principal=principal, catalog=catalog, text=given, tree=tree, base=base,
                  row_cap=row_cap, zone=zone, param_types=dict(param_types))
    for rule in RULES:
        rule(ctx)
    try:
        sql = ctx.tree.transform(_postgres_functions).sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except EgressError:
        raise
    except SqlglotError as err:
        raise FeatureNotSupported(f"cannot translate this query: {err.__class__.__name__}") from None
    except Exception as err:  # a generator bug must refuse, never run something else
        raise InternalError("could not generate the query") from err
    return Compiled(sql=sql, given=given, views=tuple(sorted(ctx.views_used)), row_cap=ctx.row_cap,
                    streaming=streams(ctx.tree))
