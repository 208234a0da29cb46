"""The policy rules, run in this order by sql.policy. Each is a verb over a Context."""

from sql.rules.cap_rows import cap_rows
from sql.rules.check_columns import check_columns
from sql.rules.check_functions import check_functions
from sql.rules.name_columns import name_columns
from sql.rules.context import Context
from sql.rules.local_time import local_time
from sql.rules.refuse_statements import refuse_statements
from sql.rules.resolve_views import resolve_views
from sql.rules.scope_tenant import scope_tenant
from sql.rules.session_values import session_values
from sql.rules.type_arithmetic import type_arithmetic

RULES = (refuse_statements, session_values, check_functions, resolve_views, check_columns, name_columns, type_arithmetic,
         local_time, scope_tenant, cap_rows)

__all__ = ["RULES", "Context"]
