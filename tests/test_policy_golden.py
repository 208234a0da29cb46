"""Golden rewrites: the engine's output for each case is pinned, and it runs to the right rows."""

from __future__ import annotations

import pytest

from sql.errors import EgressError
from sql.policy import compile_query
from tests.policy_golden import load

CASES = load()


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 20
    assert any(c.error for c in CASES) and any(c.rewritten for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.title for c in CASES])
def test_golden(case, app, reference) -> None:  # type: ignore[no-untyped-def]
    principal = app.principal(case.user)
    if case.error:
        with pytest.raises(EgressError) as info:
            compile_query(principal, app.catalog, case.sql)
        code, position = case.error
        assert info.value.sqlstate == code, info.value
        assert info.value.position == position
        return
    compiled = compile_query(principal, app.catalog, case.sql)
    assert compiled.sql == case.rewritten
    if case.reference:
        _, stream = app.stream(principal, case.sql)
        got = [row for batch in stream for row in batch.to_pylist()]
        want = reference(case.reference).to_pylist()
        assert len(want) > 0, "a reference that returns nothing proves nothing"
        assert [list(r.values()) for r in got] == [list(r.values()) for r in want]
