"""The built-in formats; importing this package registers each one."""

from exporters.formats import csv, json, parquet, pdf, xlsx  # noqa: F401
