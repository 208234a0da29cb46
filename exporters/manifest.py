"""name.manifest.json: what an export wrote and how to check it.

Written last, atomically, after every data file is under its final name: a manifest that exists
describes a complete export. `egress verify MANIFEST` re-reads every file and compares sizes and
SHA-256.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from exporters.pipeline import ExportResult
from exporters.sink import sha256_file

MANIFEST_VERSION = 1


def manifest_path(output: Path) -> Path:
    """companies.csv.gz -> companies.csv.gz.manifest.json (chunks share their output's name)."""
    return output.with_name(f"{output.name}.manifest.json")


def schema_json(schema: pa.Schema | None) -> list[dict[str, Any]]:
    if schema is None:
        return []
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def write_manifest(path: Path, result: ExportResult, meta: dict[str, Any]) -> dict[str, Any]:
    doc = {
        "manifest_version": MANIFEST_VERSION,
        **meta,
        "format": result.format,
        "compression": result.compression,
        "rows": result.rows,
        "bytes": result.bytes,
        "seconds": round(result.seconds, 3),
        "schema": schema_json(result.schema),
        "files": [
            {"name": f.name, "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256} for f in result.files
        ],
    }
    temp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    with open(temp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)
    return doc


@dataclass(frozen=True)
class Problem:
    file: str
    issue: str


def verify(path: Path) -> tuple[dict[str, Any], list[Problem]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for entry in doc.get("files", []):
        file = path.parent / entry["name"]
        if not file.exists():
            problems.append(Problem(entry["name"], "missing"))
            continue
        size = file.stat().st_size
        if size != entry["bytes"]:
            problems.append(Problem(entry["name"], f"size {size} != {entry['bytes']}"))
            continue
        if sha256_file(file) != entry["sha256"]:
            problems.append(Problem(entry["name"], "sha256 mismatch"))
    return doc, problems
