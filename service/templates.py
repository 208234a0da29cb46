"""Templates: named, saved export definitions per tenant, used by the CLI, SQL and schedules.

A template is the statement of an export, ``COPY <view | (query)> TO 'name-{date}.ext' (...)`` or
``REPORT market_overview TO '...pdf'``, checked against its author's rules when saved and run with
the runner's rules when used. Two built-in templates exist for every tenant: company-list (XLSX)
and market-overview (PDF); see service/reports.py.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlglot import exp

from service import reports
from service import state as st
from service.jobs import render_name, spec_from_statement
from sql.errors import EgressError, InsufficientPrivilege, InvalidParameterValue, ObjectNotFound
from sql.model import Principal
from sql.parse import parse_one

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


class Templates:
    def __init__(self, app: Any) -> None:
        self.app = app

    def _jobs(self) -> Any:
        return self.app.start_jobs(dispatch=False)

    def save(self, principal: Principal, name: str, statement: str) -> str:
        if not _NAME.fullmatch(name or ""):
            raise InvalidParameterValue("a template name is 1-100 letters, digits, '_', '.' or '-'")
        if name in reports.BUILTIN:
            raise InvalidParameterValue(f'"{name}" is a built-in template; choose another name')
        spec, _ = spec_from_statement(statement)
        probe = replace(spec, name=render_name(spec.name, dt.datetime.now(dt.timezone.utc)))
        self._jobs().validate(principal, probe)
        t = st.templates
        with self.app.state.tx() as conn:
            found = conn.execute(sa.select(t.c.owner).where(t.c.tenant == principal.tenant, t.c.name == name)).first()
            if found is not None:
                if found[0] != principal.user and not principal.role.tenant_admin:
                    raise InsufficientPrivilege(f'template "{name}" belongs to {found[0]}')
                conn.execute(t.update().where(t.c.tenant == principal.tenant, t.c.name == name)
                             .values(spec=statement, owner=principal.user, created_at=time.time()))
            else:
                conn.execute(t.insert().values(tenant=principal.tenant, name=name, owner=principal.user,
                                               spec=statement, created_at=time.time()))
        return name

    def list(self, principal: Principal) -> list[dict[str, Any]]:
        out = [{"name": n, "kind": "built-in", "owner": None, "statement": s, "description": reports.DESCRIPTIONS[n]}
               for n, s in sorted(reports.BUILTIN.items())]
        t = st.templates
        with self.app.state.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.tenant == principal.tenant).order_by(t.c.name)).mappings().all()
        out += [{"name": r["name"], "kind": "saved", "owner": r["owner"], "statement": r["spec"], "description": None}
                for r in rows]
        return out

    def statement(self, principal: Principal, name: str) -> str:
        if name in reports.BUILTIN:
            return reports.BUILTIN[name]
        t = st.templates
        with self.app.state.engine.connect() as conn:
            row = conn.execute(sa.select(t.c.spec).where(t.c.tenant == principal.tenant, t.c.name == name)).first()
        if row is None:
            raise ObjectNotFound(f'template "{name}" does not exist')
        return str(row[0])

    def delete(self, principal: Principal, name: str) -> str:
        t = st.templates
        with self.app.state.tx() as conn:
            row = conn.execute(sa.select(t.c.owner).where(t.c.tenant == principal.tenant, t.c.name == name)).first()
            if row is None:
                raise ObjectNotFound(f'template "{name}" does not exist')
            if row[0] != principal.user and not principal.role.tenant_admin:
                raise InsufficientPrivilege(f'template "{name}" belongs to {row[0]}')
            conn.execute(t.delete().where(t.c.tenant == principal.tenant, t.c.name == name))
        return "deleted"

    def bound(self, principal: Principal, name: str, params: list[Any] | None = None) -> Any:
        """The template's job with its $1..$n parameters bound to ``params`` (as SQL literals);
        the file name keeps its placeholders (a schedule renders them at each run)."""
        spec, _ = spec_from_statement(self.statement(principal, name))
        query = spec.request.get("query")
        wanted = _parameter_count(query) if query else 0
        given = list(params or [])
        if len(given) != wanted:
            raise InvalidParameterValue(f'template "{name}" takes {wanted} parameter(s), {len(given)} given')
        if wanted:
            spec = replace(spec, request={**spec.request, "query": bind(query, given)})
        return replace(spec, extra_manifest={"template": name, "parameters": [str(p) for p in given]})

    def spec(self, principal: Principal, name: str, params: list[Any] | None = None) -> Any:
        """The template's job for a run now: parameters bound, file name rendered."""
        spec = self.bound(principal, name, params)
        return replace(spec, name=render_name(spec.name, dt.datetime.now(dt.timezone.utc)))

    def submit(self, principal: Principal, name: str, *, inline: bool, params: list[Any] | None = None) -> str:
        """A job from the template, as ``principal`` (their rules, their export area)."""
        return self._jobs().submit(principal, self.spec(principal, name, params), source="template", inline=inline)


def _parameter_count(query: str) -> int:
    tree = parse_one(query)
    numbers = [int(p.name) for p in tree.find_all(exp.Parameter) if str(p.name).isdigit()]
    return max(numbers, default=0)


def bind(query: str, params: list[Any]) -> str:
    """$n -> a literal of params[n-1], in the parsed tree (never by pasting text)."""
    tree = parse_one(query)

    def literal(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Parameter) and str(node.name).isdigit():
            value = params[int(node.name) - 1]
            if value is None:
                return exp.Null()
            if isinstance(value, bool):
                return exp.Boolean(this=value)
            if isinstance(value, (int, float)):
                return exp.Literal.number(value)
            return exp.Literal.string(str(value))
        return node

    return tree.transform(literal).sql(dialect="postgres")


_TEMPLATE_REF = re.compile(r"\s*TEMPLATE\s+([A-Za-z0-9_.-]+)\s*(?:\((.*)\))?\s*;?\s*", re.I | re.S)


def resolve(app: Any, principal: Principal, statement: str) -> Any:
    """'TEMPLATE name' or "TEMPLATE name('SaaS', 100)" -> the template's job with its parameters
    bound (schedules may name a template); None for any other statement."""
    match = _TEMPLATE_REF.fullmatch(statement)
    if match is None:
        return None
    params: list[Any] = []
    if match.group(2) and match.group(2).strip():
        from service.system import literal_value

        try:
            params = [literal_value(node, []) for node in parse_one(f"SELECT {match.group(2)}").expressions]
        except EgressError:
            raise InvalidParameterValue("template parameters are literals: TEMPLATE name('SaaS', 100)") from None
    return Templates(app).bound(principal, match.group(1), params)
