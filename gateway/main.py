"""The `egress` console script: process settings that must come before pyarrow is imported, then the CLI."""

from __future__ import annotations

import os
import sys


def process_defaults(*, serving: bool) -> None:
    """Which allocator Arrow's buffers come from, unless ARROW_DEFAULT_MEMORY_POOL names one.
    pyarrow reads the variable once, when it is first imported, hence this module.

    - One-shot commands (export, query): the C library's malloc, which hands large freed
      blocks back. pyarrow's default, mimalloc, keeps them for reuse, so a long export's peak
      grew with its length: a Parquet export of 2.5M rows peaked at 1.21-1.27x the RSS of a
      500k-row one with mimalloc, 1.14-1.20x with malloc, at the same speed.
    - `egress serve`: mimalloc. A server runs one batch after another, and reusing memory is
      what mimalloc is for: malloc's returned pages came back as page faults, and the server
      spent 2.9-3.5 s of CPU instead of 2.5-2.7 s sending 2.5M rows as binary COPY."""
    if not serving:
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def main() -> None:
    process_defaults(serving="serve" in sys.argv[1:])
    from gateway.cli import main as cli

    cli()
