"""Fixtures live in tests/fix_*.py (one module per kind of real part they start)."""

pytest_plugins = ["tests.fix_egress", "tests.fix_gateway"]
