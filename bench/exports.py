"""`python -m bench exports`: egress's export path against DuckDB's own COPY, same run, same query.

Every measurement runs in a fresh subprocess so its peak RSS is its own. The parent builds the
5M-company warehouse if it is missing, then measures:

- egress: companies as carol, through service.exports.export (the CLI's code path), per format;
- anchors: DuckDB's COPY of the identical rewritten query to Parquet, CSV and NDJSON (and CSV
  with gzip and zstd), in a plain DuckDB connection on the same file;
- XLSX: 1,000,000 rows with egress's writer; openpyxl (write-only) and xlsxwriter
  (constant_memory) on a 50,000-row slice of the same batches, for rows/s side by side;
- PDF: 100,000 rows;
- memory: peak RSS of the 5M-row CSV and Parquet exports against their 500k-row runs.

Results print as a table and go to bench/results/exports.json.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results"
WAREHOUSE = DATA / "warehouse-5m.duckdb"
OUT = DATA / "out"
COMPANIES = 5_000_000
REPEATS = 3


def hwm_mb(pid: int | str = "self") -> float:
    """A process's own high-water RSS (VmHWM), in MB; 0.0 once it is gone. Not getrusage's
    ru_maxrss: Linux carries that over from the parent through fork and exec, so every child
    would report the parent's peak."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _peak_rss_mb() -> float:
    return hwm_mb("self")


def _app(warehouse: Path) -> Any:
    from service import config as cfg
    from service.app import App

    conf = cfg.demo_config().model_copy(update={
        "warehouse": cfg.WarehouseConfig(path=str(warehouse), demo=False),
        "home": str(DATA / "home"),
    })
    return App(conf, None)


def _rewritten(warehouse: Path, limit: int | None) -> str:
    from service.exports import ExportRequest, build_query

    app = _app(warehouse)
    try:
        principal = app.principal("carol")
        return app.compile(principal, build_query(app, principal, ExportRequest(view="companies", limit=limit))).sql
    finally:
        app.close()


# -- children: one measurement each ----------------------------------------------------------
def child_egress(fmt: str, limit: int | None, compression: str | None, warehouse: Path) -> dict[str, Any]:
    from service.exports import ExportRequest, export

    app = _app(warehouse)
    out = OUT / f"egress-{fmt}-{limit or 'all'}.{fmt}"
    started = time.perf_counter()
    outcome = export(app, app.principal("carol"), ExportRequest(view="companies", limit=limit),
                     fmt=fmt, output=out, compression=compression)
    seconds = time.perf_counter() - started
    result = outcome.result
    for f in result.files:
        (out.parent / f.name).unlink(missing_ok=True)
    app.close()
    return {"rows": result.rows, "bytes": result.bytes, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def child_duckdb(fmt: str, limit: int | None, compression: str | None, warehouse: Path) -> dict[str, Any]:
    import duckdb

    sql = _rewritten(warehouse, limit)
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("SET enable_progress_bar = false")
    ext = {"csv": "csv", "parquet": "parquet", "ndjson": "ndjson"}[fmt]
    out = OUT / f"duckdb-{fmt}-{limit or 'all'}.{ext}"
    options = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet, COMPRESSION zstd",
               "ndjson": "FORMAT json"}[fmt]
    if compression:
        options += f", COMPRESSION {compression}"
    started = time.perf_counter()
    con.execute(f"COPY ({sql}) TO '{out}' ({options})")
    seconds = time.perf_counter() - started
    size = out.stat().st_size
    out.unlink()
    rows = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]  # type: ignore[index]
    return {"rows": rows, "bytes": size, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def child_xlsx_libraries(rows: int, warehouse: Path) -> dict[str, Any]:
    """openpyxl (write-only) and xlsxwriter (constant_memory) on the same Arrow batches."""
    import openpyxl
    import xlsxwriter

    from service.exports import ExportRequest, build_query

    app = _app(warehouse)
    principal = app.principal("carol")
    _, stream = app.stream(principal, build_query(app, principal, ExportRequest(view="companies", limit=rows)))
    batches = list(stream)
    names = batches[0].schema.names

    def py_rows():  # type: ignore[no-untyped-def]
        for b in batches:
            cols = [c.to_pylist() for c in b.columns]
            for row in zip(*cols):
                yield [v.replace(tzinfo=None) if hasattr(v, "tzinfo") and getattr(v, "tzinfo", None) else v
                       for v in row]

    out: dict[str, Any] = {}
    started = time.perf_counter()
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("data")
    ws.append(names)
    for row in py_rows():
        ws.append(row)
    wb.save(OUT / "openpyxl.xlsx")
    out["openpyxl_rows_per_s"] = rows / (time.perf_counter() - started)
    started = time.perf_counter()
    book = xlsxwriter.Workbook(str(OUT / "xlsxwriter.xlsx"), {
        "constant_memory": True, "strings_to_urls": False, "strings_to_formulas": False,
        "strings_to_numbers": False, "remove_timezone": True})
    sheet = book.add_worksheet("data")
    sheet.write_row(0, 0, names)
    for r, row in enumerate(py_rows(), start=1):
        sheet.write_row(r, 0, row)
    book.close()
    out["xlsxwriter_rows_per_s"] = rows / (time.perf_counter() - started)
    for name in ("openpyxl.xlsx", "xlsxwriter.xlsx"):
        (OUT / name).unlink(missing_ok=True)
    app.close()
    return out


def _run_child(*args: str) -> dict[str, Any]:
    # the previous run's gigabyte of dirty pages would otherwise be written back during this one
    # (measured: DuckDB's CSV COPY took 1.8 to 3.3 s without this, 2.1 to 2.4 s with it)
    os.sync()
    done = subprocess.run([sys.executable, "-m", "bench", "child", *args], capture_output=True, text=True,
                          cwd=HERE.parent, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"bench child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_main(argv: list[str]) -> None:
    kind, fmt, limit_s, comp = argv[:4]
    warehouse = Path(argv[4]) if len(argv) > 4 else WAREHOUSE
    limit = None if limit_s == "all" else int(limit_s)
    compression = None if comp == "none" else comp
    OUT.mkdir(parents=True, exist_ok=True)
    if kind == "egress":
        result = child_egress(fmt, limit, compression, warehouse)
    elif kind == "duckdb":
        result = child_duckdb(fmt, limit, compression, warehouse)
    else:
        result = child_xlsx_libraries(int(limit_s), warehouse)
    print(json.dumps(result))


# -- parent --------------------------------------------------------------------------------------
def save(name: str, results: dict[str, Any], ratios: dict[str, float], heading: str) -> None:
    """bench/results/<name> (JSON), and the ratios printed under ``heading``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{heading}:")
    width = max(len(k) for k in ratios) + 2
    for k, v in ratios.items():
        print(f"  {k:<{width}} {v:6.2f}x")


def ensure_warehouse(companies: int = COMPANIES, path: Path = WAREHOUSE) -> Path:
    if not path.exists():
        from views import demo

        print(f"building the {companies:,}-company warehouse at {path} ...", file=sys.stderr)
        stats = demo.build(path, companies=companies)
        print(f"built in {stats.seconds:.0f}s", file=sys.stderr)
    # the anchors read curated.* directly; egress creates those views on its first open, which a
    # fresh warehouse has not had yet
    import duckdb

    from views.warehouse import apply_views, views_current

    with duckdb.connect(str(path), read_only=True) as con:
        current = views_current(con)
    if not current:
        apply_views(path)
    return path


def main(argv: list[str]) -> None:
    quick = "--quick" in argv  # a small warehouse, to check the benchmark itself runs
    path = ensure_warehouse(200_000, DATA / "warehouse-200k.duckdb") if quick else ensure_warehouse()
    w = str(path)
    rows: list[dict[str, Any]] = []

    Spec = tuple[str, str, str, "int | None", "str | None"]  # label, kind, format, limit, compression

    def measure_together(*specs: Spec) -> list[dict[str, Any]]:
        """Median of REPEATS runs of each spec, the specs taking turns (A B A B A B): a slow
        minute on this machine then slows the anchor and egress alike, instead of whichever
        happened to run in it. Peak RSS: the max over the runs."""
        runs: list[list[dict[str, Any]]] = [[] for _ in specs]
        for _ in range(REPEATS):
            for i, (_, kind, fmt, limit, comp) in enumerate(specs):
                runs[i].append(_run_child(kind, fmt, str(limit) if limit else "all", comp or "none", w))
        out = []
        for (label, *_), mine in zip(specs, runs, strict=True):
            mine.sort(key=lambda x: x["seconds"])
            r = dict(mine[len(mine) // 2])
            r["peak_rss_mb"] = max(x["peak_rss_mb"] for x in mine)
            r["all_seconds"] = [round(x["seconds"], 3) for x in mine]
            r.update(label=label, rows_per_s=r["rows"] / r["seconds"], mb_per_s=r["bytes"] / r["seconds"] / 1e6)
            rows.append(r)
            print(f"  {label:<34} {r['rows']:>10,} rows {r['seconds']:>7.2f}s {r['rows_per_s']:>11,.0f} rows/s "
                  f"{r['mb_per_s']:>7.1f} MB/s  peak {r['peak_rss_mb']:>6.0f} MB", file=sys.stderr)
            out.append(r)
        return out

    def measure(label: str, kind: str, fmt: str, limit: int | None, comp: str | None = None) -> dict[str, Any]:
        return measure_together((label, kind, fmt, limit, comp))[0]

    ratios: dict[str, float] = {}
    for fmt in ("parquet", "csv", "ndjson"):
        d, e = measure_together((f"duckdb COPY {fmt}", "duckdb", fmt, None, None),
                                (f"egress {fmt}", "egress", fmt, None, None))
        ratios[f"{fmt} vs duckdb COPY"] = e["rows_per_s"] / d["rows_per_s"]
    for comp in ("gzip", "zstd"):
        d, e = measure_together((f"duckdb COPY csv {comp}", "duckdb", "csv", None, comp),
                                (f"egress csv {comp}", "egress", "csv", None, comp))
        ratios[f"csv {comp} vs duckdb COPY"] = e["rows_per_s"] / d["rows_per_s"]
    small = 500_000 if not quick else 20_000
    for fmt in ("csv", "parquet"):
        s = measure(f"egress {fmt} ({small:,} rows)", "egress", fmt, small)
        big = next(r for r in rows if r["label"] == f"egress {fmt}")
        ratios[f"peak RSS {fmt} all rows / {small:,} rows"] = big["peak_rss_mb"] / s["peak_rss_mb"]
    x = measure("egress xlsx (1,000,000 rows)" if not quick else "egress xlsx", "egress", "xlsx",
                1_000_000 if not quick else 100_000)
    libs = _run_child("libs", "xlsx", "50000" if not quick else "5000", "none", w)
    p = measure("egress pdf (100,000 rows)", "egress", "pdf", 100_000 if not quick else 20_000)

    summary = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "warehouse": str(path), "rows": rows, "ratios": ratios,
        "xlsx": {"egress_rows_per_s": x["rows_per_s"], "egress_seconds": x["seconds"], **libs},
        "pdf_rows_per_s": p["rows_per_s"],
    }
    name = "exports-quick.json" if quick else "exports.json"
    save(name, summary, ratios, "ratios (goal: formats >= 0.9x DuckDB COPY, gzip >= 5x, zstd >= 0.9x, RSS <= 1.25x)")
    print(f"  xlsx: egress {x['rows_per_s']:,.0f} rows/s ({x['seconds']:.1f}s for {x['rows']:,} rows); "
          f"openpyxl write-only {libs['openpyxl_rows_per_s']:,.0f} rows/s; "
          f"xlsxwriter constant_memory {libs['xlsxwriter_rows_per_s']:,.0f} rows/s")
    print(f"  pdf: {p['rows_per_s']:,.0f} rows/s")
    print(f"wrote {RESULTS / name}")
