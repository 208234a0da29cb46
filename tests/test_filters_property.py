"""Property tests for filter expressions: any filter over visible columns returns exactly what the
same condition returns on the tenant's own rows; any filter touching a hidden column is refused."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.exports import ExportRequest, build_query
from sql.errors import EgressError

NUMERIC = ["employee_count", "company_id"]
TEXT = ["industry", "business_model", "company_size", "growth_stage", "country"]
HIDDEN = ["annual_revenue", "contact_email", "tenant_id"]
WORDS = ["SaaS", "FinTech", "B2B", "B2C", "seed", "growth", "Germany", "Japan", "51-200", "it's"]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@st.composite
def atoms(draw, columns_num=NUMERIC, columns_text=TEXT):  # type: ignore[no-untyped-def]
    kind = draw(st.sampled_from(["num", "text", "null", "in", "like"]))
    if kind == "num":
        col = draw(st.sampled_from(columns_num))
        op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
        return f"{col} {op} {draw(st.integers(-10, 3000))}"
    col = draw(st.sampled_from(columns_text))
    if kind == "text":
        return f"{col} {draw(st.sampled_from(['=', '<>']))} {_literal(draw(st.sampled_from(WORDS)))}"
    if kind == "null":
        return f"{col} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
    if kind == "in":
        values = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
        return f"{col} IN ({', '.join(_literal(v) for v in values)})"
    return f"{col} LIKE {_literal(draw(st.sampled_from(['S%', '%a%', '_2%'])))}"


@st.composite
def conditions(draw, depth: int = 0):  # type: ignore[no-untyped-def]
    if depth >= 2 or draw(st.booleans()):
        return draw(atoms())
    left, right = draw(conditions(depth + 1)), draw(conditions(depth + 1))
    joined = f"({left}) {draw(st.sampled_from(['AND', 'OR']))} ({right})"
    return f"NOT ({joined})" if draw(st.integers(0, 4)) == 0 else joined


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(condition=conditions(), user=st.sampled_from(["alice", "bob", "dave"]))
def test_filter_matches_the_condition_on_the_tenants_rows(app, reference, condition, user) -> None:  # type: ignore[no-untyped-def]
    principal = app.principal(user)
    tree = build_query(app, principal, ExportRequest(view="companies", filter=condition,
                                                     fields=["company_id"], sort=["company_id"]))
    _, stream = app.stream(principal, tree)
    got = [r["company_id"] for b in stream for r in b.to_pylist()]
    want = reference(
        "SELECT company_id FROM curated.companies WHERE tenant_id = $t AND (" + condition + ") ORDER BY company_id",
        params={"t": principal.tenant},
    ).column("company_id").to_pylist()
    assert got == want


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(condition=conditions(), hidden=st.sampled_from(HIDDEN), op=st.sampled_from(["AND", "OR"]))
def test_any_filter_touching_a_hidden_column_is_refused(app, condition, hidden, op) -> None:  # type: ignore[no-untyped-def]
    principal = app.principal("alice")
    smuggled = f"({condition}) {op} {hidden} IS NOT NULL"
    with pytest.raises(EgressError) as info:
        tree = build_query(app, principal, ExportRequest(view="companies", filter=smuggled))
        app.compile(principal, tree)
    assert info.value.sqlstate == "42501"


@pytest.mark.parametrize("bad,code", [
    ("industry = ", "42601"),
    ("1; DROP VIEW companies", "42601"),
    ("industry = 'SaaS') OR (1 = 1", "42601"),
    ("read_csv('/etc/passwd') IS NOT NULL", "42883"),
    ("company_id IN (SELECT company_id FROM raw.companies)", "42P01"),
    ("employee_count > (SELECT max(annual_revenue) FROM companies)", "42501"),
])
def test_malformed_or_smuggling_filters(app, bad, code) -> None:  # type: ignore[no-untyped-def]
    principal = app.principal("alice")
    with pytest.raises(EgressError) as info:
        app.compile(principal, build_query(app, principal, ExportRequest(view="companies", filter=bad)))
    assert info.value.sqlstate == code, info.value
