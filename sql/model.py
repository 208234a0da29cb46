"""The data the policy engine is handed: who is asking, and what they may see.

The engine does no I/O: views/ builds the Catalog from its files, service/ builds Principals from
config, and both arrive here as plain frozen data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MaskKind = Literal["email_domain", "redact", "hash", "year_only", "null"]
MASK_KINDS: tuple[str, ...] = ("email_domain", "redact", "hash", "year_only", "null")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type name as the view produces it, e.g. BIGINT, DECIMAL(18,2)
    description: str = ""
    sensitive: bool = False

    @property
    def instant(self) -> bool:
        """Whether it is a timestamptz: an instant, which a session outside UTC sees and cuts
        on its own clock (sql/rules/local_time.py)."""
        return self.type.upper().startswith(("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"))


@dataclass(frozen=True)
class View:
    """A curated view: the only kind of relation users may name."""

    name: str
    relation: str  # where the engine finds it, e.g. "curated.companies"
    columns: tuple[Column, ...]
    tenant_column: str
    description: str = ""
    date_column: str | None = None  # what --date-range filters on

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None


@dataclass(frozen=True)
class Catalog:
    views: tuple[View, ...]

    def view(self, name: str) -> View | None:
        for v in self.views:
            if v.name == name:
                return v
        return None


@dataclass(frozen=True)
class Role:
    name: str
    views: tuple[str, ...] | None = None  # None: every view
    deny: dict[str, tuple[str, ...]] = field(default_factory=dict)  # view -> hidden columns
    mask: dict[str, dict[str, str]] = field(default_factory=dict)  # view -> column -> mask kind
    max_rows: int | None = None  # cap on rows any one query returns
    tenant_admin: bool = False  # sees and manages the tenant's jobs, schedules and audit

    def may_see_view(self, view: str) -> bool:
        return self.views is None or view in self.views

    def mask_for(self, view: str, column: str) -> str | None:
        return self.mask.get(view, {}).get(column)


@dataclass(frozen=True)
class Principal:
    user: str
    tenant: str
    role: Role

    def visible_columns(self, view: View) -> tuple[Column, ...]:
        """Columns the principal may name: never the tenant column, never a denied one."""
        denied = set(self.role.deny.get(view.name, ()))
        return tuple(
            c for c in view.columns if c.name != view.tenant_column and c.name not in denied
        )

    def visible_views(self, catalog: Catalog) -> tuple[View, ...]:
        return tuple(v for v in catalog.views if self.role.may_see_view(v.name))
