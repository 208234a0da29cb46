"""COPY statements: `COPY <view | (query)> [(columns)] TO STDOUT [WITH] (options)`.

The source goes through the policy engine like any query; the options are read from tokens
(sqlglot does not model every COPY option, e.g. FORMAT binary). COPY ... FROM is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from sql.errors import FeatureNotSupported, InsufficientPrivilege, SyntaxError_
from sql.parse import parse_one, tokenize


@dataclass(frozen=True)
class CopySpec:
    query: exp.Expression  # a SELECT over the source, ready for compile_query
    target: str  # "STDOUT" or a file name (server-side export)
    options: dict[str, str] = field(default_factory=dict)  # lower-case keys, e.g. format, header
    text: str = ""  # the query as written inside `COPY (...)` ("" for a view): compiled by text, so cached
    base: int = 0  # where that text starts in the statement the client sent, for error positions

    @property
    def format(self) -> str:
        return self.options.get("format", "text").lower()


def _depth_scan(tokens: list[Token]) -> list[int]:
    depth, out = 0, []
    for t in tokens:
        if t.token_type == TokenType.L_PAREN:
            depth += 1
        out.append(depth)
        if t.token_type == TokenType.R_PAREN:
            depth -= 1
    return out


def _value(tok: Token) -> str:
    return tok.text


def parse_copy(text: str, *, base: int = 0) -> CopySpec:
    tokens = tokenize(text)
    if not tokens or tokens[0].text.upper() != "COPY":
        raise SyntaxError_("not a COPY statement", position=base + 1)
    depths = _depth_scan(tokens)
    direction = next((i for i, t in enumerate(tokens) if depths[i] == 0 and t.text.upper() in ("TO", "FROM")
                      and i > 1), None)
    if direction is None:
        raise SyntaxError_("COPY needs TO STDOUT or TO 'file'", position=base + len(text))
    if tokens[direction].text.upper() == "FROM":
        raise InsufficientPrivilege("permission denied: COPY FROM is not available; egress is read-only",
                                    position=base + tokens[direction].start + 1)
    source = text[tokens[1].start: tokens[direction - 1].end + 1]
    src_base = base + tokens[1].start
    inner = ""
    if tokens[1].token_type == TokenType.L_PAREN:
        inner = source.strip()[1:-1]
        query = parse_one(inner, base=src_base + 1)
        if not isinstance(query, exp.Query):
            raise FeatureNotSupported("COPY (...) needs a query", position=src_base + 1)
    else:
        # a view, maybe with a column list: build SELECT cols FROM view with sqlglot builders
        cols: list[str] = []
        name_tokens = tokens[1:direction]
        if name_tokens and name_tokens[-1].token_type == TokenType.R_PAREN:
            open_at = next(i for i, t in enumerate(name_tokens) if t.token_type == TokenType.L_PAREN)
            cols = [t.text for t in name_tokens[open_at + 1:-1] if t.token_type != TokenType.COMMA]
            name_tokens = name_tokens[:open_at]
        table_text = text[name_tokens[0].start: name_tokens[-1].end + 1]
        table = exp.to_table(table_text, dialect="postgres")
        projections = [exp.column(c) for c in cols] or [exp.Star()]
        query = exp.select(*projections).from_(table)
    rest = tokens[direction + 1:]
    if not rest:
        raise SyntaxError_("COPY needs a target after TO", position=base + len(text))
    target_tok = rest[0]
    if target_tok.token_type == TokenType.STRING:
        target = target_tok.text
    elif target_tok.text.upper() == "STDOUT":
        target = "STDOUT"
    else:
        raise FeatureNotSupported(f"COPY TO {target_tok.text} is not supported", position=base + target_tok.start + 1,
                                  hint="use TO STDOUT, or TO 'name.ext' for a server-side export")
    options = _options(rest[1:], base)
    return CopySpec(query=query, target=target, options=options, text=inner, base=src_base + 1 if inner else 0)


_LEGACY = {"CSV": ("format", "csv"), "BINARY": ("format", "binary"), "HEADER": ("header", "true")}
COLUMN_SEPARATOR = "\x00"  # between the names of an option's column list (no name holds NUL)


def _options(tokens: list[Token], base: int) -> dict[str, str]:
    if tokens and tokens[0].text.upper() == "WITH":
        tokens = tokens[1:]
    options: dict[str, str] = {}
    if tokens and tokens[0].token_type == TokenType.L_PAREN:
        if tokens[-1].token_type != TokenType.R_PAREN:
            raise SyntaxError_("unterminated COPY option list", position=base + tokens[-1].end + 1)
        groups: list[list[Token]] = [[]]
        depth = 0
        for t in tokens[1:-1]:
            depth += (t.token_type == TokenType.L_PAREN) - (t.token_type == TokenType.R_PAREN)
            if t.token_type == TokenType.COMMA and depth == 0:
                groups.append([])
            else:
                groups[-1].append(t)
        for g in groups:
            if not g:
                continue
            key = g[0].text.lower()
            if g[1:] and g[1].token_type == TokenType.L_PAREN:  # FORCE_QUOTE (a, "B c"): names as PostgreSQL folds them
                value = COLUMN_SEPARATOR.join(t.text if t.token_type == TokenType.IDENTIFIER else t.text.lower()
                                              for t in g[2:-1] if t.token_type != TokenType.COMMA)
            else:
                value = " ".join(_value(t) for t in g[1:]) if len(g) > 1 else "true"
            options[key] = value
        return options
    i = 0
    while i < len(tokens):
        word = tokens[i].text.upper()
        if word in _LEGACY:
            k, v = _LEGACY[word]
            options[k] = v
            i += 1
        elif word in ("DELIMITER", "NULL", "QUOTE", "ESCAPE", "ENCODING") and i + 1 < len(tokens):
            j = i + 1
            if tokens[j].text.upper() == "AS":
                j += 1
            options[word.lower()] = tokens[j].text
            i = j + 1
        else:
            raise SyntaxError_(f'syntax error at or near "{tokens[i].text}"', position=base + tokens[i].start + 1)
    return options
