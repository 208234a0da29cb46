"""Every function call must be on the allowlist (sql/functions.py); table functions included."""

from __future__ import annotations

from sqlglot import exp

from sql import functions
from sql.errors import FeatureNotSupported, UndefinedFunction
from sql.rules.context import Context


def check_functions(ctx: Context) -> None:
    for node in ctx.tree.walk():
        if isinstance(node, exp.SHA2Digest) and node.args.get("length") is not None \
                and node.args["length"].name != "256":  # DuckDB has SHA-256 alone; sqlglot would write it
            raise FeatureNotSupported(f"function sha{node.args['length'].name} is not supported",
                                      position=ctx.position(node), hint="sha256() and md5() are")
        if isinstance(node, exp.Func) and functions.function_name(node) in functions.DIFFERENT:
            name = functions.function_name(node)
            raise FeatureNotSupported(f"function {name} is not supported: it answers differently here",
                                      position=ctx.position(node), hint=functions.DIFFERENT[name])
        if isinstance(node, exp.Func) and not functions.is_allowed(node):
            name = functions.display_name(node)
            raise UndefinedFunction(
                f"function {name} does not exist",
                position=ctx.position(node),
                hint="egress allows a fixed set of functions; files, settings and the engine's "
                "own catalog are not reachable from SQL",
            )
