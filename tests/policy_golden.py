"""Golden cases for the policy engine: tests/fixtures/policy/*.sql.

Each case:
    -- case: <title>
    -- user: <alice|bob|carol|dave>
    <input SQL, Postgres dialect>
    -- rewritten:            (or: -- error: <SQLSTATE> at <position>)
    <expected DuckDB SQL>
    -- reference:            (optional)
    <SQL run straight on the warehouse that must return the same rows>

`python -m tests.policy_golden` rewrites the `-- rewritten:` sections from the current engine
(review the diff before committing it).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "policy"


@dataclass
class Case:
    file: Path
    title: str
    user: str
    sql: str
    rewritten: str | None
    error: tuple[str, int | None] | None
    reference: str | None


def _sections(block: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    key = "input"
    for line in block.splitlines():
        m = re.match(r"^-- (user|rewritten|error|reference):\s*(.*)$", line)
        if m:
            key = m.group(1)
            out.setdefault(key, [])
            if m.group(2):
                out[key].append(m.group(2))
            if key == "user":
                key = "input"  # one-line field: the SQL follows it
            continue
        out.setdefault(key, []).append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


def load() -> list[Case]:
    cases = []
    for file in sorted(FIXTURES.glob("*.sql")):
        for block in re.split(r"^-- case:", file.read_text(encoding="utf-8"), flags=re.M)[1:]:
            title, _, body = block.partition("\n")
            s = _sections(body)
            error = None
            if "error" in s:
                code, _, pos = s["error"].partition(" at ")
                error = (code.strip(), int(pos) if pos.strip() else None)
            cases.append(Case(file, title.strip(), s["user"], s["input"], s.get("rewritten") or None,
                              error, s.get("reference") or None))
    return cases


def regenerate() -> None:

    from service import config as cfg
    from service.app import App
    from sql.errors import EgressError
    from sql.policy import compile_query

    app = App(cfg.demo_config(), None)
    for file in sorted(FIXTURES.glob("*.sql")):
        text = file.read_text(encoding="utf-8")
        out = []
        for case in [c for c in load() if c.file == file]:
            out.append(f"-- case: {case.title}\n-- user: {case.user}\n{case.sql}\n")
            try:
                sql = compile_query(app.principal(case.user), app.catalog, case.sql).sql
                out.append(f"-- rewritten:\n{sql}\n")
            except EgressError as err:
                out.append(f"-- error: {err.sqlstate} at {err.position}\n" if err.position else f"-- error: {err.sqlstate}\n")
            if case.reference:
                out.append(f"-- reference:\n{case.reference}\n")
            out.append("\n")
        header = text.split("-- case:", 1)[0]
        file.write_text(header + "".join(out).rstrip() + "\n", encoding="utf-8")
    app.close()
    print("regenerated", file=sys.stderr)


if __name__ == "__main__":
    regenerate()
