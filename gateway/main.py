"""The `egress` console script: process settings that must come before pyarrow is imported, then the CLI."""

from __future__ import annotations

import os


def process_defaults() -> None:
    """Arrow buffers from the C library's malloc, unless ARROW_DEFAULT_MEMORY_POOL names a pool.

    pyarrow reads the variable once, when it is first imported, hence this module. Its default
    allocator, mimalloc, keeps freed blocks for its threads to reuse, so a long export's memory
    grew with the rows written: a Parquet export of 2.5M rows peaked at 1.27x the RSS of a
    500k-row one with mimalloc and at 1.14x with malloc, at the same speed (CSV: 581 against
    512 MB), because malloc hands large freed blocks back to the system."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def main() -> None:
    process_defaults()
    from gateway.cli import main as cli

    cli()
