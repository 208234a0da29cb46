"""to_char(date or timestamp, template) as PostgreSQL formats it, in DuckDB expressions.

sqlglot turns PostgreSQL's template into a strftime format token by token, and knows only
the numeric fields: `to_char(d, 'Day Mon DD')` became strftime(d, '%uay Mon %d'), a weekday
number followed by the letters "ay Mon". Here each PostgreSQL field becomes its strftime field
or, where strftime has none or pads differently, an expression:

    Month, Day     the name blank-padded to 9 characters (FM: not padded); MONTH/month and
                   DAY/day in upper and lower case
    Mon, Dy        the short name (MON/mon, DY/dy)
    FMDD, FMHH24   without the leading zero (%-d, %-H ...)
    D              day of the week, Sunday 1 (strftime's %w is Sunday 0)
    Q              the quarter
    "text"         text as it stands; any other character too

Fields PostgreSQL has and this does not (time zone names and offsets, Julian days, week of
the year counted from 1 January, ordinal suffixes, the three-digit and one-digit year) are
refused with 0A000, never written as something else.
"""

from __future__ import annotations

from sqlglot import exp

from sql.errors import FeatureNotSupported

# PostgreSQL fields with a plain strftime equivalent: (field, strftime, strftime under FM)
_PLAIN: list[tuple[str, str, str | None]] = [
    ("HH24", "%H", "%-H"), ("HH12", "%I", "%-I"), ("HH", "%I", "%-I"), ("MI", "%M", "%-M"), ("SS", "%S", "%-S"),
    ("MS", "%g", "%g"), ("US", "%f", "%f"), ("YYYY", "%Y", "%Y"), ("YY", "%y", "%-y"), ("DDD", "%j", "%-j"),
    ("DD", "%d", "%-d"), ("MM", "%m", "%-m"), ("IW", "%V", None), ("ID", "%u", "%u"),
]
# Names, matched with their case: (field, strftime, case, padded to 9 unless FM)
_NAMES = [
    ("MONTH", "%B", "upper", True), ("Month", "%B", None, True), ("month", "%B", "lower", True),
    ("MON", "%b", "upper", False), ("Mon", "%b", None, False), ("mon", "%b", "lower", False),
    ("DAY", "%A", "upper", True), ("Day", "%A", None, True), ("day", "%A", "lower", True),
    ("DY", "%a", "upper", False), ("Dy", "%a", None, False), ("dy", "%a", "lower", False),
    ("AM", "%p", None, False), ("PM", "%p", None, False), ("am", "%p", "lower", False), ("pm", "%p", "lower", False),
]
_REFUSED = ("TZH", "TZM", "TZ", "OF", "SSSSS", "SSSS", "A.M.", "P.M.", "B.C.", "A.D.", "BC", "AD", "YYY", "Y,YYY",
            "IYYY", "IYY", "IY", "WW", "W", "CC", "J", "RM", "TH", "SP", "I", "Y")


def is_number_template(template: str) -> bool:
    """Whether a to_char template formats a number (9s and 0s), not a date."""
    body = template.upper().replace("FM", "")
    return any(c in body for c in "90") and all(c in "90.,DGSLPRMIV $" for c in body)


def written(node: exp.Expression) -> exp.Expression:
    """A transform for trees that skip the policy's rewrites (catalog queries, egress.* answers):
    each to_char of a date or time with a constant template, written here; anything else as it is."""
    template = node.args.get("format") if isinstance(node, exp.TimeToStr) else None
    if isinstance(template, exp.Literal) and template.is_string and not is_number_template(template.this):
        return to_char(node.this.transform(written), template.this)
    return node


def to_char(subject: exp.Expression, template: str) -> exp.Expression:
    pieces: list[exp.Expression] = []
    fmt: list[str] = []  # strftime text not yet made a piece

    def strftime(code: str) -> exp.Expression:
        return exp.Anonymous(this="strftime", expressions=[subject.copy(), exp.Literal.string(code)])

    def flush() -> None:
        if fmt:
            pieces.append(strftime("".join(fmt)))
            fmt.clear()

    def piece(value: exp.Expression) -> None:
        flush()
        pieces.append(value)

    i, fill = 0, False
    while i < len(template):
        rest = template[i:]
        if rest[:2].upper() == "FM":
            fill, i = True, i + 2
            continue
        if rest[0] == '"':  # quoted text, with \" inside it
            end, text = i + 1, []
            while end < len(template) and template[end] != '"':
                if template[end] == "\\" and end + 1 < len(template):
                    end += 1
                text.append(template[end])
                end += 1
            fmt.append("".join(text).replace("%", "%%"))
            i, fill = end + 1, False
            continue
        if rest[0] == "\\" and len(rest) > 1:
            fmt.append(rest[1].replace("%", "%%"))
            i += 2
            continue
        named = next((n for n in _NAMES if rest.startswith(n[0])), None)
        plain = next((p for p in _PLAIN if rest[:len(p[0])].upper() == p[0]), None)
        refused = next((r for r in _REFUSED if rest[:len(r)].upper() == r), None)
        known = max(len(named[0]) if named else 0, len(plain[0]) if plain else 0)
        if refused is not None and len(refused) > known:  # SSSS is not SS twice
            named = plain = None
        if named is not None and (plain is None or len(named[0]) >= len(plain[0])):
            field, code, case, padded = named
            padded = padded and not fill
            if case is None and not padded:
                fmt.append(code)
            else:
                value = strftime(code)
                if padded:
                    value = exp.Anonymous(this="rpad", expressions=[value, exp.Literal.number(9), exp.Literal.string(" ")])
                piece(exp.Upper(this=value) if case == "upper" else exp.Lower(this=value) if case == "lower" else value)
            i, fill = i + len(field), False
            continue
        if plain is not None and fill and plain[2] is None:  # strftime has no unpadded form: via a number
            piece(exp.cast(exp.cast(strftime(plain[1]), "INTEGER"), "VARCHAR"))
            i, fill = i + len(plain[0]), False
            continue
        if plain is not None:
            fmt.append(plain[2] if fill and plain[2] else plain[1])
            i, fill = i + len(plain[0]), False
            continue
        if rest[0].upper() == "D":  # day of the week, Sunday 1
            piece(exp.cast(exp.Add(this=exp.cast(strftime("%w"), "INTEGER"), expression=exp.Literal.number(1)), "VARCHAR"))
            i, fill = i + 1, False
            continue
        if rest[0].upper() == "Q":
            piece(exp.cast(exp.Anonymous(this="quarter", expressions=[subject.copy()]), "VARCHAR"))
            i, fill = i + 1, False
            continue
        if refused is not None:
            raise FeatureNotSupported(f'to_char field "{refused}" is not supported',
                                      hint="fields: YYYY YY MM Mon Month DD DDD D Day Dy ID IW Q HH24 HH12 MI SS MS US AM, "
                                           "with FM; other text as it stands, or in double quotes")
        fmt.append(rest[0].replace("%", "%%"))
        i += 1
    flush()
    if not pieces:
        return exp.Literal.string("")
    out = pieces[0]
    for p in pieces[1:]:
        out = exp.DPipe(this=out, expression=p)
    return exp.paren(out, copy=False) if len(pieces) > 1 else out
