"""What the rules share while one query passes through them."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from sql.model import Catalog, Principal, View


@dataclass
class Context:
    principal: Principal
    catalog: Catalog
    text: str  # the query as given (for positions)
    tree: exp.Expression  # rewritten in place by the rules, in order
    base: int = 0  # offset of this statement in the text the client sent
    row_cap: int | None = None
    zone: str | None = None  # the session's TimeZone (an IANA name); None for UTC
    # the type a client declared for $n (Parse), where it decides how the query computes: a
    # timestamp or date parameter meeting a timestamptz is read on the session's clock
    param_types: dict[int, str] = field(default_factory=dict)
    views_used: set[str] = field(default_factory=set)

    def position(self, node: exp.Expression | None) -> int | None:
        """1-based character position of a node (PostgreSQL's P field), if the parser saw it.
        A qualified column (`c.nope`) starts at its qualifier, as PostgreSQL points at it."""
        if isinstance(node, exp.Column):
            starts = [part.meta["start"] for part in node.parts if part.meta and isinstance(part.meta.get("start"), int)]
            if starts:
                return min(starts) + 1 + self.base
        while node is not None:
            for candidate in node.walk():
                start = candidate.meta.get("start") if candidate.meta else None
                if isinstance(start, int):
                    return start + 1 + self.base
            node = node.parent
        return None

    def visible_view(self, name: str) -> View | None:
        view = self.catalog.view(name)
        if view is None or not self.principal.role.may_see_view(view.name):
            return None
        return view
