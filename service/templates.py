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

from service import reports
from service import state as st
from service.jobs import render_name, spec_from_statement
from sql.errors import InsufficientPrivilege, InvalidParameterValue, ObjectNotFound
from sql.model import Principal

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


class Templates:
    def __init__(self, app: Any) -> None:
        self.app = app

    def _jobs(self) -> Any:
        return self.app.jobs or self.app.start_jobs(dispatch=False)

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

    def submit(self, principal: Principal, name: str, *, inline: bool) -> str:
        """A job from the template, as ``principal`` (their rules, their export area)."""
        spec, _ = spec_from_statement(self.statement(principal, name))
        spec = replace(spec, name=render_name(spec.name, dt.datetime.now(dt.timezone.utc)),
                       extra_manifest={"template": name})
        return self._jobs().submit(principal, spec, source="template", inline=inline)


def resolve(app: Any, principal: Principal, statement: str) -> str:
    """'TEMPLATE name' -> the template's statement (schedules may name a template)."""
    match = re.fullmatch(r"\s*TEMPLATE\s+([A-Za-z0-9_.-]+)\s*;?\s*", statement, flags=re.I)
    return Templates(app).statement(principal, match.group(1)) if match else statement
