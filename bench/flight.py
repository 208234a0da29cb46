"""`python -m bench flight [--rows=N]`: bulk pulls over Arrow Flight SQL, against anchors measured
in the same run.

One `egress serve` on the 5M-company warehouse; carol (tenant acme, role manager) reads
``SELECT * FROM companies`` (every column of her 2.5M rows) through

- the ADBC Flight SQL driver (fetch_arrow_table) and plain pyarrow Flight SQL (DoGet, streamed);
- anchors: DuckDB's in-process ``to_arrow_reader`` read of the same policy-rewritten query (the
  ceiling: no network, no serialisation), raw pyarrow Flight (a bare FlightServerBase in this
  process serving the same rows from memory: the transport alone), and egress's best PostgreSQL
  wire path (adbc-driver-postgresql and psycopg binary, whichever is faster).

Also: server peak RSS (VmHWM) with 500k rows and with all rows, each on a fresh server; and the
p50/p99 of re-executing a prepared statement with new parameters through ADBC. Best of three runs
for each Flight path and anchor (this machine is noisy).
Writes bench/results/flight.json.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.flight as fl

from bench.exports import DATA, RESULTS, WAREHOUSE, _app, ensure_warehouse, hwm_mb, save


def start_egress(home: Path, warehouse: str = "") -> tuple[subprocess.Popen[str], int, int]:
    """`egress serve` on the 5M warehouse for carol; ``warehouse`` adds lines to [warehouse]."""
    from service.config import DEMO_VERIFIERS

    home.mkdir(parents=True, exist_ok=True)
    config = home / "egress.toml"
    config.write_text(f'home = "{home}"\n[warehouse]\npath = "{WAREHOUSE}"\ndemo = false\n{warehouse}\n'
                      '[roles.manager]\n[users.carol]\ntenant = "acme"\nrole = "manager"\n'
                      f'password = "{DEMO_VERIFIERS["carol"]}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config), "serve", "--port", "0",
                             "--flight-port", "0", "--log-level", "WARNING"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    while True:
        line = proc.stderr.readline()
        if line.startswith("ready "):
            info = json.loads(line[6:])
            return proc, int(info["port"]), int(info["flight_port"])
        if not line and proc.poll() is not None:
            raise RuntimeError("egress serve failed to start")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure(label: str, fn: Callable[[], int], repeat: int = 1) -> dict[str, Any]:
    best = None
    rows = 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = fn()
        seconds = time.perf_counter() - started
        best = seconds if best is None else min(best, seconds)
    assert best is not None
    print(f"  {label:<52} {rows:>10,} rows {best:7.2f}s {rows / best:>12,.0f} rows/s", file=sys.stderr)
    return {"label": label, "rows": rows, "seconds": best, "rows_per_s": rows / best}


def _pack(message: Any) -> bytes:
    from google.protobuf import any_pb2

    wrapped = any_pb2.Any()
    wrapped.Pack(message)
    return wrapped.SerializeToString()


def adbc_flight(uri: str, query: str) -> int:
    import warnings

    import adbc_driver_flightsql.dbapi as flightsql

    warnings.filterwarnings("ignore", message="Cannot disable autocommit")
    with flightsql.connect(uri, db_kwargs={"username": "carol", "password": "carol"}) as conn, \
            conn.cursor() as cur:
        cur.execute(query)
        return cur.fetch_arrow_table().num_rows


def pyarrow_flight(uri: str, query: str) -> int:
    from flight.protocol import FlightSql_pb2 as pb

    client = fl.FlightClient(uri)
    try:
        options = fl.FlightCallOptions(headers=[client.authenticate_basic_token("carol", "carol")])
        descriptor = fl.FlightDescriptor.for_command(_pack(pb.CommandStatementQuery(query=query)))
        info = client.get_flight_info(descriptor, options)
        rows = 0
        for endpoint in info.endpoints:
            for chunk in client.do_get(endpoint.ticket, options):
                rows += chunk.data.num_rows
        return rows
    finally:
        client.close()


def duckdb_ceiling(app: Any, sql: str) -> int:
    rows = 0
    for batch in app.warehouse.stream(sql, batch_rows=app.config.warehouse.batch_rows):
        rows += batch.num_rows
    return rows


def ceiling_rss(limit: int | None) -> None:
    """Child process: the in-process DuckDB read alone, printing its peak RSS (the RSS anchor)."""
    app = _app(WAREHOUSE)
    sql = app.compile(app.principal("carol"), "SELECT * FROM companies" + (f" LIMIT {limit}" if limit else "")).sql
    duckdb_ceiling(app, sql)
    print(hwm_mb())


def _ceiling_rss(limit: int | None) -> float:
    done = subprocess.run([sys.executable, "-c", f"from bench.flight import ceiling_rss; ceiling_rss({limit!r})"],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


class _RawServer(fl.FlightServerBase):
    def __init__(self, table: pa.Table) -> None:
        super().__init__("grpc://127.0.0.1:0")
        self.table = table

    def do_get(self, context: fl.ServerCallContext, ticket: fl.Ticket) -> fl.RecordBatchStream:
        return fl.RecordBatchStream(self.table)


def raw_flight(table: pa.Table) -> Callable[[], int]:
    server = _RawServer(table)
    threading.Thread(target=server.serve, daemon=True).start()

    def run() -> int:
        client = fl.FlightClient(f"grpc://127.0.0.1:{server.port}")
        rows = 0
        for chunk in client.do_get(fl.Ticket(b"all")):
            rows += chunk.data.num_rows
        client.close()
        return rows

    run.server = server  # type: ignore[attr-defined]
    return run


def pgwire_paths(port: int, query: str) -> dict[str, Callable[[], int]]:
    """egress's two best PostgreSQL-wire paths, the same clients `python -m bench pgwire` runs."""
    from bench.pgwire import clients

    dsn = f"host=127.0.0.1 port={port} user=carol password=carol dbname=egress"
    paths = clients(dsn, f"postgresql://carol:carol@127.0.0.1:{port}/egress", query)
    return {f"pgwire {name}": paths[name]
            for name in ("adbc-driver-postgresql fetch_arrow_table", "psycopg SELECT (binary)")}


def prepared_latency(uri: str, n: int = 200) -> dict[str, float]:
    import warnings

    import adbc_driver_flightsql.dbapi as flightsql

    warnings.filterwarnings("ignore", message="Cannot disable autocommit")
    times = []
    with flightsql.connect(uri, db_kwargs={"username": "carol", "password": "carol"}) as conn, \
            conn.cursor() as cur:
        sql = "SELECT company_id, name, country FROM companies WHERE company_id = ?"
        cur.execute(sql, parameters=(1,))
        cur.fetch_arrow_table()
        for i in range(n):
            started = time.perf_counter()
            cur.execute(sql, parameters=(i * 7 + 2,))
            cur.fetch_arrow_table()
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(len(times) * 0.99) - 1], "n": n}


def main(argv: list[str]) -> None:
    ensure_warehouse()
    limit = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--rows=")), None)
    query = "SELECT * FROM companies" + (f" LIMIT {limit}" if limit else "")
    app = _app(WAREHOUSE)
    rewritten = app.compile(app.principal("carol"), query).sql
    table = app.warehouse.stream(rewritten, batch_rows=app.config.warehouse.batch_rows).reader.read_all()
    print(f"{table.num_rows:,} rows, {table.nbytes / 1e6:,.0f} MB as Arrow", file=sys.stderr)
    results: dict[str, Any] = {"rows": table.num_rows, "arrow_mb": table.nbytes / 1e6, "throughput": []}
    home = DATA / "flight-home"
    egress, pg_port, flight_port = start_egress(home)
    uri = f"grpc://127.0.0.1:{flight_port}"
    try:
        raw = raw_flight(table)
        runs = {
            "anchor: DuckDB in-process to_arrow_reader": lambda: duckdb_ceiling(app, rewritten),
            "anchor: raw pyarrow Flight (in-memory table)": raw,
            "egress Flight SQL: ADBC fetch_arrow_table": lambda: adbc_flight(uri, query),
            "egress Flight SQL: pyarrow DoGet": lambda: pyarrow_flight(uri, query),
            **{f"egress {k}": v for k, v in pgwire_paths(pg_port, query).items()},
        }
        measured = {label: measure(label, fn, repeat=3 if "pgwire" not in label else 1) for label, fn in runs.items()}
        raw.server.shutdown()  # type: ignore[attr-defined]
        app.close()
        del table
        results["throughput"] = list(measured.values())
        ceiling = measured["anchor: DuckDB in-process to_arrow_reader"]["rows_per_s"]
        transport = measured["anchor: raw pyarrow Flight (in-memory table)"]["rows_per_s"]
        best_pg = max(v["rows_per_s"] for k, v in measured.items() if "pgwire" in k)
        ratios: dict[str, float] = {}
        for label in ("egress Flight SQL: ADBC fetch_arrow_table", "egress Flight SQL: pyarrow DoGet"):
            r = measured[label]["rows_per_s"]
            ratios[f"{label} / DuckDB ceiling (goal >= 0.9x)"] = r / ceiling
            ratios[f"{label} / raw pyarrow Flight"] = r / transport
            ratios[f"{label} / best pgwire path (goal >= 5x)"] = r / best_pg
        results["prepared_reexecute"] = prepared_latency(uri)
        results["peak_rss_mb"] = {"egress_after_all_runs": hwm_mb(egress.pid)}
        stop(egress)
        flat: dict[str, float] = {}
        # a fresh server per size; then the same with every query on the main instance, whose
        # block cache grows with what it scanned (the default runs pure streams on a small one)
        for setting, tag in (("", ""), ('stream_memory_limit = "off"', "_one_instance")):
            for label, rows in (("500k", 500_000), ("all", None)):
                egress, pg_port, flight_port = start_egress(home, setting)
                q = "SELECT * FROM companies" + (f" LIMIT {rows}" if rows else "")
                pyarrow_flight(f"grpc://127.0.0.1:{flight_port}", q)
                flat[label + tag] = hwm_mb(egress.pid)
                stop(egress)
        results["peak_rss_mb"].update({f"egress_{k}_rows": v for k, v in flat.items()})
        ratios["server peak RSS all rows / 500k rows (goal <= 1.25x)"] = flat["all"] / flat["500k"]
        ratios["same, warehouse.stream_memory_limit = off"] = flat["all_one_instance"] / flat["500k_one_instance"]
        anchor = {"500k": _ceiling_rss(500_000), "all": _ceiling_rss(None)}
        results["peak_rss_mb"].update({"duckdb_alone_500k_rows": anchor["500k"], "duckdb_alone_all_rows": anchor["all"]})
        ratios["anchor: DuckDB alone, peak RSS all rows / 500k rows"] = anchor["all"] / anchor["500k"]
        results["ratios"] = ratios
        save("flight.json", results, ratios, "ratios")
        print(f"  prepared re-execute (ADBC, new parameters): {results['prepared_reexecute']}  (goal p50 <= 10 ms)")
        print(f"  peak RSS MB: {results['peak_rss_mb']}")
        print(f"wrote {RESULTS / 'flight.json'}")
    finally:
        if egress.poll() is None:
            stop(egress)
