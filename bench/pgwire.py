"""`python -m bench pgwire`: egress's PostgreSQL gateway against a real PostgreSQL, same run.

Starts PostgreSQL (Debian's postgresql package: initdb into a temporary directory as the
unprivileged `postgres` user, loopback port, SCRAM), loads carol's rows of the 5M-company
warehouse (every column of tenant acme: 2.5M rows), starts `egress serve` on the same warehouse,
and measures both with the same clients: psycopg SELECT of all rows (text and binary), asyncpg
fetch, COPY TO STDOUT (csv) through three clients (psql; psycopg counting messages; psycopg
doing Python work on each row's bytes), adbc-driver-postgresql fetch_arrow_table when it is
installed, and connect + SCRAM + a one-row SELECT (p50, p99). Each throughput is the median of
ROUNDS runs per server, the servers taking turns (which one goes first rotates by round);
beside the ratio of the two medians stands the median of each round's own ratio, which a slow
minute of this shared machine moves less, since it slows both runs of its round. Server peak
RSS: egress's VmHWM; PostgreSQL's as the largest backend's. Writes bench/results/pgwire.json.

A third side takes its turn in every round: the ideal server (bench/replay.py), PostgreSQL's
own answer replayed from memory by a server that does nothing else. Its rate over PostgreSQL's
is what a server that costs nothing gets from that client on this machine, measured, not
inferred; where it is near 1.0x, the client sets the pace and the machine's noise the ratio.
`--clients=a,b` measures only the clients whose names contain one of those words.
"""

from __future__ import annotations

import os
import pwd
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import duckdb

from bench.exports import DATA, RESULTS, WAREHOUSE, ensure_warehouse, hwm_mb, save

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ROUNDS = 5  # each server measured this many times per client, taking turns (--rounds=N); medians of 3 moved by +-5% between runs on this noisy 2-core machine
COLUMNS = """company_id bigint, name text, domain text, industry text, business_model text,
company_size text, growth_stage text, country text, city text, employee_count integer,
annual_revenue numeric(18,2), founded_on date, description text, contact_email text,
created_at timestamptz, updated_at timestamptz"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Postgres:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="egress-bench-pg-"))
        self.port = _free_port()
        user = pwd.getpwnam("postgres")
        os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.data = self.dir / "data"
        pwfile = self.dir / "pw"
        pwfile.write_text("postgres\n")
        os.chown(pwfile, user.pw_uid, user.pw_gid)
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "scram-sha-256",
                           f"--pwfile={pwfile}", "-U", "postgres", "-E", "UTF8"])
        conf = self.data / "postgresql.conf"
        with open(conf, "a") as f:
            f.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                    "shared_buffers = 256MB\nmax_connections = 200\n"
                    # the TimeZone egress reports by default: initdb copies the machine's
                    # ('Etc/UTC' here), for which psycopg converts every timestamptz through
                    # zoneinfo, where 'UTC' takes its fast path (25-35% of the client's CPU
                    # in a SELECT of every companies row)
                    "timezone = 'UTC'\n")
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "start"])

    def _as_postgres(self, cmd: list[str], input: str | None = None) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], input=input, text=True, check=True,
                       capture_output=True)

    def dsn(self, user: str = "postgres", password: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={user} password={password} dbname=postgres"

    def backend_peak_mb(self) -> float:
        pids = subprocess.run(["pgrep", "-u", "postgres", "postgres"], capture_output=True, text=True).stdout.split()
        return max((hwm_mb(int(p)) for p in pids), default=0.0)

    def stop(self) -> None:
        try:
            self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def load(pg: Postgres, sql: str) -> int:
    import psycopg

    con = duckdb.connect(str(WAREHOUSE), read_only=True)
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("CREATE ROLE carol LOGIN PASSWORD 'carol'")
        conn.execute(f"CREATE TABLE companies ({COLUMNS})")
        conn.execute("GRANT SELECT ON companies TO carol")
        rows = 0
        with conn.cursor().copy("COPY companies FROM STDIN WITH (FORMAT csv)") as copy:
            for batch in con.sql(sql).to_arrow_reader(65536):
                import io

                import pyarrow.csv as pcsv

                buf = io.BytesIO()
                pcsv.write_csv(batch, buf, write_options=pcsv.WriteOptions(include_header=False))
                copy.write(buf.getvalue())
                rows += batch.num_rows
        conn.execute("ALTER TABLE companies ADD PRIMARY KEY (company_id)")  # as a real deployment would
        conn.execute("VACUUM ANALYZE companies")
    return rows


def start_egress(home: Path) -> tuple[subprocess.Popen[str], int]:
    """`egress serve` on the 5M warehouse as carol's gateway (the PostgreSQL port)."""
    from bench.flight import start_egress as start

    proc, port, _flight = start(home)
    return proc, port


def start_replay(upstream_port: int) -> tuple[subprocess.Popen[str], int]:
    """The ideal server in front of PostgreSQL (bench/replay.py), on a free loopback port."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.replay", str(upstream_port)],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def client_cpu() -> float:
    """CPU seconds of this process and its finished children (psql): the client's side."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(label: str, fn: Callable[[], int]) -> dict[str, Any]:
    cpu, started = client_cpu(), time.perf_counter()
    rows = fn()
    seconds = time.perf_counter() - started
    cpu = client_cpu() - cpu
    print(f"  {label:<44} {rows:>10,} rows {seconds:7.2f}s {rows / seconds:>10,.0f} rows/s"
          f"  client CPU {cpu:5.2f}s", file=sys.stderr)
    return {"label": label, "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "client_cpu_s": cpu}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median time, with every run's seconds beside it."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return {**ordered[len(ordered) // 2], "all_seconds": [round(r["seconds"], 3) for r in runs],
            "median_client_cpu_s": statistics.median(r["client_cpu_s"] for r in runs)}


def clients(dsn: str, url: str, query: str) -> dict[str, Callable[[], int]]:
    import asyncio

    import asyncpg
    import psycopg

    def psycopg_select(binary: bool) -> Callable[[], int]:
        def run() -> int:
            with psycopg.connect(dsn) as conn:
                cur = conn.cursor(binary=binary)
                cur.execute(query)
                n = 0
                while rows := cur.fetchmany(50_000):
                    n += len(rows)
                return n
        return run

    def asyncpg_fetch() -> int:
        async def go() -> int:
            conn = await asyncpg.connect(url)
            try:
                return len(await conn.fetch(query))
            finally:
                await conn.close()
        return asyncio.run(go())

    copy = f"COPY ({query}) TO STDOUT WITH (FORMAT csv)"

    def copy_psql() -> int:
        # psql's \copy, the usual way to save a query's rows: COPY ... TO STDOUT into a file
        # (here /dev/null); psql reports the row count from the server's command tag
        out = subprocess.run(["psql", "-X", dsn, "-c", f"\\copy ({query}) TO '/dev/null' WITH (FORMAT csv)"],
                             check=True, capture_output=True, text=True).stdout
        return int(out.strip().removeprefix("COPY "))

    def copy_messages() -> int:
        # each CopyData message is one row (psycopg's copy.rows() relies on it): count them
        with psycopg.connect(dsn) as conn, conn.cursor().copy(copy) as cp:
            return sum(1 for _ in cp)

    def copy_bytes_per_row() -> int:
        # Python work on every row's bytes: this client uses as much CPU as either server
        with psycopg.connect(dsn) as conn, conn.cursor().copy(copy) as cp:
            rows = lines = 0
            for chunk in cp:
                rows += 1
                lines += bytes(chunk).count(b"\n")
            return rows

    out = {"psycopg SELECT (text)": psycopg_select(False), "psycopg SELECT (binary)": psycopg_select(True),
           "asyncpg fetch": asyncpg_fetch, "COPY TO STDOUT csv (psql)": copy_psql,
           "COPY TO STDOUT csv (psycopg, message count)": copy_messages,
           "COPY TO STDOUT csv (psycopg, bytes(row) counted in Python)": copy_bytes_per_row}
    try:
        import adbc_driver_postgresql.dbapi as adbc

        def adbc_fetch() -> int:
            with adbc.connect(url) as conn, conn.cursor() as cur:
                cur.execute(query)
                return cur.fetch_arrow_table().num_rows
        out["adbc-driver-postgresql fetch_arrow_table"] = adbc_fetch
    except ImportError:
        pass
    return out


def latency(dsns: dict[str, str], n: int = 200) -> dict[str, dict[str, float]]:
    """Connect (SCRAM) + a one-row parameterised SELECT + close, n times per server. The servers
    take turns connection by connection, so a slow spell of this shared machine lands on both
    sides alike (measured one after the other, a slow half hour once put one side at 2.15x and
    the same code at 1.4-1.6x minutes later)."""
    import psycopg

    times: dict[str, list[float]] = {side: [] for side in dsns}
    sides = list(dsns)
    for i in range(n):
        for side in sides if i % 2 == 0 else reversed(sides):
            started = time.perf_counter()
            with psycopg.connect(dsns[side]) as conn:
                conn.execute("SELECT name FROM companies WHERE company_id = %s", (i + 1,)).fetchone()
            times[side].append((time.perf_counter() - started) * 1000)
    out = {}
    for side, samples in times.items():
        samples.sort()
        out[side] = {"p50_ms": statistics.median(samples), "p99_ms": samples[int(len(samples) * 0.99) - 1]}
    return out


def main(argv: list[str]) -> None:
    ensure_warehouse()
    limit = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--rows=")), None)
    rounds = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--rounds=")), ROUNDS)
    query = "SELECT * FROM companies" + (f" ORDER BY company_id LIMIT {limit}" if limit else "")
    source = ("SELECT * EXCLUDE (tenant_id) FROM curated.companies WHERE tenant_id = 'acme' ORDER BY company_id"
              + (f" LIMIT {limit}" if limit else ""))
    wanted = next((a.split("=", 1)[1].split(",") for a in argv if a.startswith("--clients=")), None)
    pg = Postgres()
    egress = replay = None
    try:
        rows = load(pg, source)
        print(f"loaded {rows:,} rows into PostgreSQL 15", file=sys.stderr)
        egress, port = start_egress(DATA / "pgwire-home")
        replay, replay_port = start_replay(pg.port)
        e_dsn = f"host=127.0.0.1 port={port} user=carol password=carol dbname=egress"
        e_url = f"postgresql://carol:carol@127.0.0.1:{port}/egress"
        p_dsn = pg.dsn("carol", "carol")
        p_url = f"postgresql://carol:carol@127.0.0.1:{pg.port}/postgres"
        i_dsn = p_dsn.replace(f"port={pg.port}", f"port={replay_port}")
        i_url = p_url.replace(f":{pg.port}/", f":{replay_port}/")
        results: dict[str, Any] = {"rows": rows, "throughput": [], "latency": {}}
        ratios: dict[str, float] = {}
        paired: dict[str, float] = {}
        ceilings: dict[str, float] = {}
        ideal: dict[str, float] = {}
        # the three sides take turns, ROUNDS times per client, the first one rotating by round;
        # the median of each side is compared, and each round's pair
        for name, pg_fn in clients(p_dsn, p_url, query).items():
            if wanted is not None and not any(w in name for w in wanted):
                continue
            e_fn = clients(e_dsn, e_url, query)[name]
            i_fn = clients(i_dsn, i_url, query)[name]
            i_fn()  # the ideal server's first pull passes through to PostgreSQL, and is remembered
            runs: dict[str, list[dict[str, Any]]] = {"postgres": [], "egress": [], "ideal": []}
            for r in range(rounds):
                turns = [("postgres", pg_fn), ("egress", e_fn), ("ideal", i_fn)]
                for side, fn in turns[r % 3:] + turns[:r % 3]:
                    runs[side].append(measure(f"{side:<8} {name}", fn))
            p, e, i = (median_run(runs["postgres"]), median_run(runs["egress"]), median_run(runs["ideal"]))
            results["throughput"] += [p, e, i]
            ratios[name] = e["rows_per_s"] / p["rows_per_s"]
            paired[name] = statistics.median(
                pr["seconds"] / er["seconds"] for pr, er in zip(runs["postgres"], runs["egress"]))
            # What a server that costs nothing gets from this client on this machine, two ways:
            # the ideal server's rate over PostgreSQL's, measured; and PostgreSQL's time over the
            # client's own CPU time (the lower median of the three sides), inferred. Near 1.0x
            # the client, not the server, sets the pace.
            ideal[name] = i["rows_per_s"] / p["rows_per_s"]
            ceilings[name] = p["seconds"] / min(p["median_client_cpu_s"], e["median_client_cpu_s"],
                                                i["median_client_cpu_s"])
        results["latency"] = latency({"postgres": p_dsn, "egress": e_dsn})
        ratios["connect+query p50 (egress/postgres, lower is better)"] = (
            results["latency"]["egress"]["p50_ms"] / results["latency"]["postgres"]["p50_ms"])
        results["peak_rss_mb"] = {"egress": hwm_mb(egress.pid), "postgres_largest_process": pg.backend_peak_mb()}
        # RSS flat as results grow: a fresh server per size, the same client, 500k rows then all rows
        flat = {}
        for label, rows_wanted in (("500k", 500_000), ("all", None)):
            egress.send_signal(signal.SIGTERM)
            egress.wait(timeout=30)
            egress, port = start_egress(DATA / "pgwire-home")
            dsn = f"host=127.0.0.1 port={port} user=carol password=carol dbname=egress"
            q = query if rows_wanted is None else f"SELECT * FROM companies LIMIT {rows_wanted}"
            clients(dsn, e_url, q)["psycopg SELECT (binary)"]()
            flat[label] = hwm_mb(egress.pid)
        results["peak_rss_mb"]["egress_500k_rows"] = flat["500k"]
        results["peak_rss_mb"]["egress_all_rows"] = flat["all"]
        ratios["server peak RSS all rows / 500k rows (goal <= 1.25x)"] = flat["all"] / flat["500k"]
        results["ratios"] = ratios
        results["paired_round_ratios"] = paired
        results["client_bound_ceilings"] = ceilings
        results["ideal_server_ratios"] = ideal
        save("pgwire.json", results, ratios, "ratios egress / PostgreSQL (goal: SELECT >= 1.0x, COPY >= 1.3x, latency p50 <= 2x)")
        print("  median of each round's egress / PostgreSQL: "
              + ", ".join(f"{k} {v:.2f}x" for k, v in paired.items()))
        print("  client-bound ceilings (PostgreSQL's time / the client's CPU time): "
              + ", ".join(f"{k} {v:.2f}x" for k, v in ceilings.items()))
        print("  the ideal server (PostgreSQL's answer replayed from memory) / PostgreSQL: "
              + ", ".join(f"{k} {v:.2f}x" for k, v in ideal.items()))
        print(f"  latency: {results['latency']}")
        print(f"  peak RSS: {results['peak_rss_mb']}")
        print(f"wrote {RESULTS / 'pgwire.json'}")
    finally:
        if replay is not None:
            replay.kill()
            replay.wait()
        if egress is not None:
            egress.send_signal(signal.SIGTERM)
            try:
                egress.wait(timeout=10)
            except subprocess.TimeoutExpired:
                egress.kill()
        pg.stop()
