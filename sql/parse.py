"""Text -> sqlglot trees, with each statement classified before anything else looks at it.

Classification reads the first keyword *token* (never a substring of the text), so statements
sqlglot cannot model (INSTALL, SUMMARIZE, ATTACH, ...) are still named and refused precisely.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenizerCore
from sqlglot.tokens import Token, TokenType

from sql.errors import SyntaxError_


class _ParametersFirst(TokenizerCore):
    """sqlglot's tokenizer core, except that ``$`` before a digit is always a parameter.

    sqlglot reads ``$1,$2`` as the start of a dollar-quoted string tagged ``1,`` and fails at
    the end of the input; psycopg, pgjdbc and postgres.js all send ``IN ($1,$2)``. PostgreSQL
    never starts a dollar-quote tag with a digit."""

    __slots__ = ()

    def _scan_string(self, start: str) -> bool:
        if start == "$" and self._peek.isdigit():
            self._add(TokenType.PARAMETER)
            return True
        return super()._scan_string(start)


class EgressPostgres(Postgres):
    """PostgreSQL as sqlglot reads it, plus arrays of object identifier types (``$1::oid[]``,
    ``regtype[]``), which drivers send in their type-lookup queries (asyncpg's) and which sqlglot
    reads as a subscript with nothing in it, and ``$1,$2`` read as two parameters. Registered by
    sqlglot under the class's lower-cased name; generation is PostgreSQL's."""

    class Tokenizer(Postgres.Tokenizer):
        def _init_core(self) -> TokenizerCore:
            core = super()._init_core()
            core.__class__ = _ParametersFirst  # the same slots: only _scan_string differs
            return core

    class Parser(Postgres.Parser):
        # date_part() and EXTRACT both parse as exp.Extract; PostgreSQL answers the first as a
        # double and the second as numeric (sql/rules/type_arithmetic.py), so date_part's node
        # carries a mark.
        FUNCTION_PARSERS = {**Postgres.Parser.FUNCTION_PARSERS,
                            "DATE_PART": lambda self: _marked(self._parse_date_part(), DATE_PART)}
        # to_char's template as written: sqlglot turns it into strftime's while parsing, knowing
        # only the numeric fields ('Day Mon' became '%uay Mon'); sql/to_char.py reads it whole
        FUNCTIONS = {**Postgres.Parser.FUNCTIONS,
                     "TO_CHAR": lambda args: exp.TimeToStr(this=args[0] if args else None,
                                                           format=args[1] if len(args) > 1 else None)}

        def _parse_function_call(self, *args: object, **kwargs: object) -> exp.Expression | None:
            # The name as written, for the result column's name (sql/rules/name_columns.py):
            # sqlglot keeps strpos() and position() as one node, char_length() as length().
            token = self._curr
            node = super()._parse_function_call(*args, **kwargs)  # type: ignore[arg-type]
            if node is not None and token is not None and token.token_type != TokenType.L_PAREN:
                node.meta.setdefault(CALLED, token.text.lower())
            return node

        def _parse_types(self, *args: object, **kwargs: object) -> exp.Expression | None:
            this = _builtin_type(super()._parse_types(*args, **kwargs))  # type: ignore[arg-type]
            while _is_oid_type(this) and self._curr and self._next \
                    and self._curr.token_type == TokenType.L_BRACKET and self._next.token_type == TokenType.R_BRACKET:
                self._advance(2)
                this = exp.DataType(this=exp.DataType.Type.ARRAY, expressions=[this], nested=True)
            return this

        def _parse_type(self, *args: object, **kwargs: object) -> exp.Expression | None:
            # PostgreSQL casts a typed literal before the casts after it: DATE '2024-03-15'::timestamp
            # is a timestamp. sqlglot applies `::timestamp` to the string and DATE last, which
            # answered a date (and TIMESTAMP '...'::date a timestamp).
            start = self._index
            this = super()._parse_type(*args, **kwargs)  # type: ignore[arg-type]
            tokens = self._tokens
            if (isinstance(this, exp.Cast) and isinstance(this.this, exp.Cast) and start + 2 < len(tokens)
                    and tokens[start].token_type in self.TYPE_TOKENS
                    and tokens[start + 1].token_type == TokenType.STRING
                    and tokens[start + 2].token_type == TokenType.DCOLON):
                casts = this.this
                innermost = casts
                while isinstance(innermost.this, exp.Cast):
                    innermost = innermost.this
                innermost.set("this", exp.Cast(this=innermost.this, to=this.to))
                return casts
            return this


DATE_PART = "egress_date_part"  # meta key on an exp.Extract parsed from date_part()
CALLED = "egress_called"  # meta key: the name a function was called by


def _marked(node: exp.Expression | None, key: str) -> exp.Expression | None:
    if node is not None:
        node.meta[key] = True
    return node


def _builtin_type(node: exp.Expression | None) -> exp.Expression | None:
    """``pg_catalog.int8`` (as asyncpg and psql qualify types; ``_int8`` is its array) as the
    built-in type it names; any other qualified name stays as parsed (and is refused later)."""
    if not (isinstance(node, exp.DataType) and node.this == exp.DataType.Type.USERDEFINED):
        return node
    qualified = node.sql(dialect="postgres").lower()
    if not qualified.replace('"', "").startswith("pg_catalog."):
        return node
    name = qualified.rsplit(".", 1)[-1].strip('"')
    array = name.startswith("_")
    try:
        built = exp.DataType.build(name.lstrip("_"), dialect="postgres")
    except Exception:  # noqa: BLE001 - sqlglot raises several kinds for a name it does not know
        return node
    if built.this == exp.DataType.Type.USERDEFINED:
        return node
    return exp.DataType(this=exp.DataType.Type.ARRAY, expressions=[built], nested=True) if array else built


def _is_oid_type(node: exp.Expression | None) -> bool:
    while isinstance(node, exp.DataType) and node.is_type(exp.DataType.Type.ARRAY) and node.expressions:
        node = node.expressions[0]
    return isinstance(node, exp.ObjectIdentifier)


DIALECT = "egresspostgres"


class Kind(enum.Enum):
    QUERY = "query"  # SELECT / VALUES / set operations / WITH ... SELECT
    COPY = "copy"
    SESSION = "session"  # SET / SHOW / RESET / BEGIN / COMMIT / ... (handled by front doors)
    WRITE = "write"  # INSERT / UPDATE / DELETE / CREATE / DROP / ALTER / ...
    ENGINE = "engine"  # ATTACH / INSTALL / LOAD / PRAGMA / EXPORT / ... (never reachable)
    OTHER = "other"


_SESSION_WORDS = {
    "SET", "SHOW", "RESET", "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "DISCARD",
    "DEALLOCATE", "DECLARE", "FETCH", "MOVE", "CLOSE", "SAVEPOINT", "RELEASE", "PREPARE",
    "EXECUTE", "LISTEN", "UNLISTEN",
}
_WRITE_WORDS = {
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "CREATE", "DROP", "ALTER", "TRUNCATE",
    "GRANT", "REVOKE", "COMMENT", "REINDEX", "CLUSTER", "REFRESH", "LOCK", "REPLACE",
}
_ENGINE_WORDS = {
    "ATTACH", "DETACH", "INSTALL", "LOAD", "PRAGMA", "EXPORT", "IMPORT", "CHECKPOINT", "FORCE",
    "VACUUM", "CALL", "USE", "SUMMARIZE", "DESCRIBE", "EXPLAIN", "ANALYZE", "DO", "PIVOT",
    "UNPIVOT", "NOTIFY", "SECURITY", "UPDATE_EXTENSIONS",
}
_QUERY_WORDS = {"SELECT", "WITH", "VALUES", "TABLE", "FROM", "("}


@dataclass(frozen=True)
class Statement:
    kind: Kind
    keyword: str  # the first keyword, upper case ("SELECT", "INSTALL", ...)
    text: str  # this statement's own text, as given
    offset: int  # where it starts in the full text (0-based characters)


def position_from_parse_error(err: ParseError | TokenError, text: str) -> int | None:
    """1-based character position of a sqlglot error, as PostgreSQL reports it."""
    errors = getattr(err, "errors", None) or []
    if not errors:
        return None
    line, col = errors[0].get("line"), errors[0].get("col")
    if not isinstance(line, int) or not isinstance(col, int):
        return None
    lines = text.split("\n")
    offset = sum(len(lines[i]) + 1 for i in range(min(line - 1, len(lines))))
    # sqlglot's col is the 1-based column of the *end* of the offending token
    highlight = errors[0].get("highlight") or ""
    return max(1, offset + col - max(len(highlight), 1) + 1)


def syntax_error(err: ParseError | TokenError, text: str, base: int = 0) -> SyntaxError_:
    errors = getattr(err, "errors", None) or []
    highlight = (errors[0].get("highlight") if errors else None) or ""
    position = position_from_parse_error(err, text)
    if highlight.strip():
        message = f'syntax error at or near "{highlight.strip()}"'
    else:
        message = "syntax error at end of input"
    return SyntaxError_(message, position=None if position is None else position + base)


def tokenize(text: str) -> list[Token]:
    try:
        return sqlglot.Dialect.get_or_raise(DIALECT).tokenize(text)
    except TokenError as err:
        raise syntax_error(err, text) from None


def statement_tokens(text: str) -> list[Token]:
    """Tokens of a whole statement. sqlglot's tokenizer swallows what follows a COMMAND keyword
    (DECLARE, FETCH, SHOW, ...) as one string; that rest is tokenized again, offsets kept."""
    tokens = tokenize(text)
    swallowed = (len(tokens) == 2 and tokens[1].token_type == TokenType.STRING
                 and text[tokens[0].end + 1:].strip() == tokens[1].text.strip())
    if len(tokens) >= 2 and (tokens[0].token_type == TokenType.COMMAND or swallowed):
        start = tokens[0].end + 1  # the swallowed string's own start offset is not reliable
        rest = tokenize(text[start:])
        for t in rest:
            t.start += start
            t.end += start
        return [tokens[0]] + rest
    return tokens


def _classify(first: Token) -> Kind:
    word = first.text.upper()
    if first.token_type == TokenType.L_PAREN or word in _QUERY_WORDS:
        return Kind.QUERY
    if word == "COPY":
        return Kind.COPY
    if word in _SESSION_WORDS:
        return Kind.SESSION
    if word in _WRITE_WORDS:
        return Kind.WRITE
    if word in _ENGINE_WORDS:
        return Kind.ENGINE
    return Kind.OTHER


def split(text: str) -> list[Statement]:
    """Split on top-level semicolons using the tokenizer, so quoted ';' never splits."""
    tokens = tokenize(text)
    statements: list[Statement] = []
    current: list[Token] = []

    def flush() -> None:
        if not current:
            return
        start, end = current[0].start, current[-1].end + 1
        kind = _classify(current[0])
        statements.append(Statement(kind, current[0].text.upper(), text[start:end], start))
        current.clear()

    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            flush()
        else:
            current.append(tok)
    flush()
    return statements


def filled(template: exp.Expression, **values: exp.Expression) -> exp.Expression:
    """A copy of ``template`` (SQL written once, with placeholder columns) with each column
    named as a keyword replaced by a copy of that expression."""
    return template.transform(
        lambda n: values[n.name].copy() if isinstance(n, exp.Column) and n.name in values else n)


def parse_one(text: str, *, base: int = 0) -> exp.Expression:
    """Parse exactly one statement; positions in errors are offset by ``base``."""
    try:
        trees = [t for t in sqlglot.parse(text, read=DIALECT) if t is not None]
    except (ParseError, TokenError) as err:
        raise syntax_error(err, text, base) from None
    if not trees:
        raise SyntaxError_("syntax error at end of input", position=base + len(text) or None)
    if len(trees) > 1:
        raise SyntaxError_("cannot run several statements in one query; send them one at a time")
    return trees[0]


def parse_condition(text: str) -> exp.Expression:
    """A filter expression (`industry = 'SaaS' AND employee_count > 100`) as a condition tree."""
    try:
        cond = sqlglot.condition(text, dialect=DIALECT)
    except (ParseError, TokenError) as err:
        raise syntax_error(err, text) from None
    except Exception as err:  # sqlglot raises plain errors for some malformed inputs
        raise SyntaxError_(f"invalid filter expression: {err.__class__.__name__}") from None
    if isinstance(cond, (exp.Query, exp.Command)):
        raise SyntaxError_("a filter is a condition, not a statement")
    return cond


__all__ = ["Kind", "Statement", "split", "parse_one", "parse_condition", "tokenize", "statement_tokens"]


def number_placeholders(text: str) -> tuple[str, int]:
    """``?`` placeholders (ADBC, JDBC, ODBC style) renumbered as ``$1``, ``$2``, ... in text order.

    The policy engine may copy a comparison into a view's subquery, so positional ``?`` would
    shift; numbered parameters stay bound to the right value wherever they end up."""
    tokens = statement_tokens(text)
    out, last, count = [], 0, 0
    for token in tokens:
        if token.token_type == TokenType.PLACEHOLDER and token.text == "?":
            count += 1
            out.append(text[last:token.start])
            out.append(f"${count}")
            last = token.end + 1
    out.append(text[last:])
    return "".join(out), count
