"""The functions user SQL may call: an allowlist, never a denylist.

Names are sqlglot's expression keys for functions it models (``exp.Sum`` -> ``sum``) and the
lowercased name for those it passes through as ``exp.Anonymous``. Anything not listed (read_*,
glob, query, query_table, duckdb_*, current_setting, getenv, pragma_*, ...) is refused with
42883, so a DuckDB upgrade that adds a file-reading function adds nothing users can reach.
"""

from __future__ import annotations

from sqlglot import exp

AGGREGATES = frozenset(
    """
    count sum avg min max median mode stddev stddevpop stddevsamp variance variancepop corr
    covarpop covarsamp anyvalue first last argmax argmin arrayagg groupconcat countif
    approxdistinct approxquantile percentilecont percentiledisc quantile_cont quantile_disc
    logicaland logicalor every bitwiseandagg bitwiseoragg bool_and bool_or list string_agg
    product kurtosis skewness entropy histogram regr_slope regr_intercept fsum jsonarrayagg
    """.split()
)

WINDOW = frozenset(
    "rownumber rank denserank ntile lag lead firstvalue lastvalue nthvalue percentrank cumedist".split()
)

SCALAR = frozenset(
    """
    cast trycast coalesce nullif if greatest least abs ceil floor round sign sqrt cbrt pow exp ln
    log log10 log2 mod trunc pi isfinite isnan isinf
    lower upper length trim ltrim rtrim substring concat concatws replace left right pad
    splitpart startswith endswith strposition initcap reverse md5 sha256 hash ascii chr repeat
    contains levenshtein regexplike regexpreplace regexpextract regexp_matches regexp_full_match
    string_split stringtoarray arraytostring format printf octet_length bitlength char_length
    strlen lpad rpad btrim instr like_escape ilike_escape translate unicode prefix suffix
    date datefromparts make_date make_timestamp year month day quarter week dayofweek dayofyear
    dayofmonth hour minute second epoch extract dateadd datesub datediff date_diff datetrunc
    timestamptrunc date_trunc date_part strftime strptime timetostr strtodate strtotime
    unixtotime to_timestamp timezone age justifydays justifyhours last_day monthname dayname
    currentdate currenttimestamp currenttime now today yearweek isodow
    to_json jsonextract jsonextractscalar jsonobject json_array json_extract_string
    struct_pack row array list_value list_contains arraysize cardinality array_length
    array_contains unnest explode generate_series explodinggenerateseries range columns
    list_extract list_slice list_sort list_distinct array_distinct
    uuid gen_random_uuid encode decode tobase64 frombase64 typeof nullifzero quote_literal quote_nullable
    quote_ident json_build_object jsonb_build_object array_to_json json_array_length json_typeof row_to_json
    sha2digest regexp_split_to_array
    """.split()
)

ALLOWED: frozenset[str] = AGGREGATES | WINDOW | SCALAR

# Names PostgreSQL and DuckDB both have, with different answers: refused (0A000) rather than
# answered DuckDB's way. PostgreSQL's regexp_matches returns the matches as text[] rows;
# DuckDB's returns a boolean.
DIFFERENT: dict[str, str] = {
    "regexp_matches": "use ~ or regexp_like() to test for a match, substring(text from pattern) for the matched text",
}


def function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.key


def display_name(node: exp.Func) -> str:
    """The name as the user wrote it, for messages."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    # as PostgreSQL spells the call (json_agg, not sqlglot's class name J_S_O_N_ARRAY_AGG)
    head = node.sql(dialect="postgres").split("(", 1)[0].strip()
    return head.lower() if head.replace("_", "").isalnum() else node.sql_name().lower()


# sqlglot models some operators as Func subclasses (AND, OR, EXISTS, CASE): not calls.
_OPERATORS = (exp.Connector, exp.Binary, exp.Unary, exp.Predicate, exp.SubqueryPredicate, exp.Case, exp.If)


def is_allowed(node: exp.Func) -> bool:
    return isinstance(node, _OPERATORS) or function_name(node) in ALLOWED
