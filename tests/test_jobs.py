"""Export jobs through a real `egress serve`: COPY TO 'file' (sync and ASYNC), egress.* tables and
functions, cancel (SQL and CLI), quotas, download links, retention, and crashes.

Files are read back with pyarrow and the csv module; every count is checked against the warehouse.
"""

from __future__ import annotations

import concurrent.futures
import csv
import datetime as dt
import json
import os
import signal
import subprocess
import time
import urllib.error
from dataclasses import dataclass
import urllib.request
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from tests.fix_egress import run_egress
from tests.fix_gateway import start_custom, start_gateway, stop_gateway

BIG = "SELECT a.*, b.description AS other FROM companies a, companies b"  # 2.25M wide rows: seconds to write


@dataclass
class Notice:
    message_primary: str
    message_detail: str | None


def _notices(conn: psycopg.Connection) -> list[Notice]:
    """NOTICEs the server sends (copied: psycopg's Diagnostic is only valid inside the handler)."""
    seen: list[Notice] = []
    conn.add_notice_handler(lambda d: seen.append(Notice(d.message_primary or "", d.message_detail)))
    return seen


def _area(home: Path, user: str) -> Path:
    return home / "exports" / user


def _job(conn: psycopg.Connection, job_id: str) -> dict:
    cur = conn.execute("SELECT * FROM egress.jobs WHERE id = %s", (job_id,))
    names = [d.name for d in cur.description]
    row = cur.fetchone()
    assert row is not None, job_id
    return dict(zip(names, row))


def _wait(conn: psycopg.Connection, job_id: str, states=("succeeded", "failed", "cancelled"), timeout=60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = _job(conn, job_id)
        if job["state"] in states or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def _running_with_rows(conn: psycopg.Connection, job_id: str, timeout: float = 30) -> dict:
    """The job once it is running and has written rows (or as it is when the time is up)."""
    job = _wait(conn, job_id, states=("running",))
    deadline = time.monotonic() + timeout
    while job["rows_done"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        job = _job(conn, job_id)
    return job


def _async(conn: psycopg.Connection, sql: str) -> str:
    notices = _notices(conn)
    conn.execute(sql)
    return next(n.message_primary.split()[2] for n in notices if "queued" in n.message_primary)


@pytest.fixture(scope="module")
def jobs_gw(egress_home, tmp_path_factory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("jobs")
    gw, _ = start_custom(egress_home, tmp, "[jobs]\nworkers = 2\n")
    yield gw, tmp / "home"
    stop_gateway(gw)


def test_copy_to_file_is_a_synchronous_job_with_notice_and_files(jobs_gw, reference) -> None:  # type: ignore[no-untyped-def]
    gw, home = jobs_gw
    with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
        notices = _notices(conn)
        cur = conn.execute("COPY (SELECT company_id, name, industry FROM companies WHERE industry = 'SaaS') "
                           "TO 'saas/list.csv' (FORMAT csv, DELIMITER ';')")
        assert cur.statusmessage.startswith("COPY ")
        rows = int(cur.statusmessage.split()[1])
        detail = json.loads(notices[-1].message_detail)
        assert notices[-1].message_primary.startswith(f"export job {detail['job_id']} wrote 1 file")
        job = _job(conn, detail["job_id"])
        # egress.* answers run outside the policy, and write to_char's names as it does
        shown = conn.execute("SELECT to_char(created_at, 'YYYY-MM-DD Dy FMMonth') FROM egress.jobs WHERE id = %s",
                             (detail["job_id"],)).fetchone()[0]
        assert shown == job["created_at"].astimezone(dt.timezone.utc).strftime("%Y-%m-%d %a %B")
    want = reference("SELECT count(*) AS n FROM curated.companies WHERE tenant_id = 'acme' AND industry = 'SaaS'")
    assert rows == want.column("n")[0].as_py() > 0
    assert job["state"] == "succeeded" and job["rows_done"] == rows and job["source"] == "copy"
    path = _area(home, "alice") / "saas" / "list.csv"
    with path.open(newline="") as f:
        data = list(csv.reader(f, delimiter=";"))
    assert data[0] == ["company_id", "name", "industry"] and len(data) == rows + 1
    assert {r[2] for r in data[1:]} == {"SaaS"}
    assert json.loads(job["checksums"]) == {"saas/list.csv": detail["files"][0]["sha256"]}
    assert (_area(home, "alice") / "saas" / "list.csv.manifest.json").exists()
    # the link in the notice downloads the same bytes; a Range request gets part of them
    body = urllib.request.urlopen(detail["download_url"], timeout=10).read()
    assert body == path.read_bytes()
    ranged = urllib.request.Request(detail["download_url"], headers={"Range": "bytes=10-19"})
    with urllib.request.urlopen(ranged, timeout=10) as answer:
        assert answer.status == 206 and answer.read() == path.read_bytes()[10:20]
    forged = detail["download_url"].replace("sig=", "sig=0")
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(forged, timeout=10)
    assert denied.value.code == 403


def test_copy_to_file_computes_on_the_session_clock(jobs_gw) -> None:  # type: ignore[no-untyped-def]
    # a New York session's file cuts days and hours where its COPY TO STDOUT does (PostgreSQL's
    # reading, tested against PostgreSQL in test_gateway_clients), not on UTC's clock; the
    # manifest says which clock
    gw, home = jobs_gw
    query = ("SELECT company_id, created_at::date AS day, extract(hour from created_at) AS hour, "
             "created_at >= '2021-01-01' AS recent FROM companies ORDER BY company_id")
    with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'America/New_York'")
        with conn.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
            shown = [row.split(",") for row in b"".join(bytes(c) for c in copy).decode().splitlines()]
        conn.execute(f"COPY ({query}) TO 'clock/ny.csv' (FORMAT csv)")
        conn.execute("SET TIME ZONE 'UTC'")
        with conn.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
            in_utc = [row.split(",") for row in b"".join(bytes(c) for c in copy).decode().splitlines()]
    with (_area(home, "alice") / "clock" / "ny.csv").open(newline="") as f:
        written = list(csv.reader(f))[1:]
    assert [(r[0], r[1], str(int(float(r[2]))), r[3][0]) for r in written] == \
        [(r[0], r[1], str(int(float(r[2]))), r[3][0]) for r in shown]
    assert shown != in_utc  # the two clocks cut differently here, so the comparison means something
    manifest = json.loads((_area(home, "alice") / "clock" / "ny.csv.manifest.json").read_text())
    assert manifest["time_zone"] == "America/New_York"


def test_async_copy_parquet_and_tenant_rules(jobs_gw, reference) -> None:  # type: ignore[no-untyped-def]
    gw, home = jobs_gw
    with psycopg.connect(gw.dsn("bob"), autocommit=True) as conn:
        job_id = _async(conn, "COPY companies TO 'all.parquet' (ASYNC, ROW_GROUP_SIZE 4096)")
        job = _wait(conn, job_id)
        assert job["state"] == "succeeded", job
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("COPY (SELECT contact_email FROM companies) TO 'mail.csv'")
    table = pq.read_table(_area(home, "bob") / "all.parquet")
    assert table.num_rows == 900  # globex only
    assert "contact_email" not in table.column_names and "tenant_id" not in table.column_names
    assert not (_area(home, "bob") / "mail.csv").exists()


@pytest.mark.parametrize("name", ["../escape.csv", "/tmp/egress-abs-9f3.csv", ".hidden.csv", "a/../../b.csv",
                                  "link/egress-link-9f3.csv"])
def test_export_names_outside_the_area_are_refused(jobs_gw, name) -> None:  # type: ignore[no-untyped-def]
    gw, home = jobs_gw
    area = _area(home, "dave")
    area.mkdir(parents=True, exist_ok=True)
    if not (area / "link").exists():
        (area / "link").symlink_to("/tmp")
    with psycopg.connect(gw.dsn("dave"), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
            conn.execute(f"COPY companies TO '{name}' (FORMAT csv)")
    assert "not allowed" in str(info.value)
    assert not Path("/tmp/egress-abs-9f3.csv").exists() and not Path("/tmp/egress-link-9f3.csv").exists()


@pytest.mark.parametrize("name", ["big.csv", "big.parquet"])  # Parquet: row groups still on its workers
def test_cancel_by_sql_removes_partial_files(jobs_gw, name) -> None:  # type: ignore[no-untyped-def]
    gw, home = jobs_gw
    with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
        job_id = _async(conn, f"COPY ({BIG}) TO '{name}' (ASYNC)")
        job = _running_with_rows(conn, job_id)
        assert job["state"] == "running" and job["rows_done"] > 0, job
        assert conn.execute("SELECT egress.cancel_job(%s)", (job_id,)).fetchone()[0] in ("running", "cancelled")
        job = _wait(conn, job_id)
        assert job["state"] == "cancelled" and job["sqlstate"] == "57014"
    leftovers = [p.name for p in _area(home, "carol").iterdir() if p.name.startswith((".big", "big"))]
    assert leftovers == []


def test_jobs_visibility_and_the_cli(jobs_gw, egress_home) -> None:  # type: ignore[no-untyped-def]
    gw, home = jobs_gw
    with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
        conn.execute("COPY (SELECT name FROM companies LIMIT 10) TO 'ten.ndjson'")
        alice_jobs = {r[0] for r in conn.execute("SELECT id FROM egress.jobs")}
    with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:  # tenant admin of acme
        carol_sees = {r[0] for r in conn.execute("SELECT id FROM egress.jobs")}
        owners = {r[0] for r in conn.execute("SELECT DISTINCT owner FROM egress.jobs")}
    with psycopg.connect(gw.dsn("bob"), autocommit=True) as conn:
        bob_sees = {r[0] for r in conn.execute("SELECT id FROM egress.jobs")}
        some = next(iter(alice_jobs))
        with pytest.raises(psycopg.errors.UndefinedObject):
            conn.execute("SELECT egress.cancel_job(%s)", (some,))
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute("SELECT j.id FROM egress.jobs j JOIN companies c ON true")
    assert alice_jobs <= carol_sees and owners <= {"alice", "carol"}
    assert not (alice_jobs & bob_sees)
    config = home.parent / "egress.toml"
    listed = run_egress(egress_home, "--config", str(config), "jobs", "list", "--user", "alice", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {json.loads(line)["id"] for line in listed.stdout.splitlines()} == alice_jobs
    shown = run_egress(egress_home, "--config", str(config), "jobs", "show", some, "--user", "bob")
    assert shown.returncode == 1 and "42704" in shown.stderr
    # a running job cancelled from another process (the CLI) stops within about a second
    with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
        job_id = _async(conn, f"COPY ({BIG}) TO 'cli-cancel.csv' (ASYNC)")
        _wait(conn, job_id, states=("running",))
        done = run_egress(egress_home, "--config", str(config), "jobs", "cancel", job_id, "--user", "carol")
        assert done.returncode == 0, done.stderr
        waited = run_egress(egress_home, "--config", str(config), "jobs", "wait", job_id, "--user", "carol",
                            "--timeout", "30")
        assert waited.returncode == 1 and "cancelled" in waited.stdout
        assert _job(conn, job_id)["state"] == "cancelled"


def test_quotas_are_atomic_and_named(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    extra = ("[jobs]\nworkers = 8\n[quotas.default]\nconcurrent_jobs = 3\n"
             "[quotas.users.dave]\nexports_per_day = 2\n[quotas.users.bob]\nrows_per_export = 100\n"
             "[quotas.users.alice]\nbytes_per_file = 20000\n")
    gw, _ = start_custom(egress_home, tmp_path, extra)
    try:
        def submit(i: int) -> str:
            with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
                try:
                    conn.execute(f"COPY ({BIG}) TO 'par-{i}.csv' (ASYNC)")
                    return "queued"
                except psycopg.errors.ConfigurationLimitExceeded as err:
                    assert "concurrent_jobs" in str(err)
                    return "refused"

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            outcomes = list(pool.map(submit, range(20)))
        assert outcomes.count("queued") == 3 and outcomes.count("refused") == 17
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
            quota = {r[0]: r[1:] for r in conn.execute('SELECT quota, "limit", used FROM egress.quota')}
            assert quota["concurrent_jobs"] == (3, 3)
            for (job_id,) in conn.execute("SELECT id FROM egress.jobs").fetchall():
                conn.execute("SELECT egress.cancel_job(%s)", (job_id,))
        with psycopg.connect(gw.dsn("dave"), autocommit=True) as conn:
            conn.execute("COPY (SELECT 1 AS x) TO 'one.csv'")
            conn.execute("COPY (SELECT 2 AS x) TO 'two.csv'")
            with pytest.raises(psycopg.errors.ConfigurationLimitExceeded) as third:
                conn.execute("COPY (SELECT 3 AS x) TO 'three.csv'")
            assert "exports_per_day" in str(third.value) and "resets at" in (third.value.diag.message_hint or "")
        with psycopg.connect(gw.dsn("bob"), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.ProgramLimitExceeded) as big:
                conn.execute("COPY companies TO 'too-many.csv'")
            assert "rows_per_export" in str(big.value)
        assert not (tmp_path / "home" / "exports" / "bob" / "too-many.csv").exists()
        with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.ProgramLimitExceeded) as wide:
                conn.execute("COPY (SELECT name, description FROM companies) TO 'wide.csv'")
            assert "bytes_per_file" in str(wide.value)
            conn.execute("COPY (SELECT name FROM companies LIMIT 100) TO 'narrow.csv'")  # under the limit
        alice_files = [p.name for p in (tmp_path / "home" / "exports" / "alice").iterdir()]
        assert "narrow.csv" in alice_files and "wide.csv" not in alice_files
        assert not [n for n in alice_files if ".partial-" in n]
    finally:
        stop_gateway(gw)


def test_queued_jobs_run_at_most_the_limit_at_once(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    extra = "[jobs]\nworkers = 8\n[quotas]\non_concurrency = \"queue\"\n[quotas.default]\nconcurrent_jobs = 3\n"
    gw, _ = start_custom(egress_home, tmp_path, extra)
    try:
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
            ids = [_async(conn, "COPY (SELECT a.company_id, b.name FROM companies a, companies b "
                                f"WHERE a.company_id % 10 = {i % 10}) TO 'q-{i}.csv' (ASYNC)") for i in range(20)]
            jobs = [_wait(conn, job_id, timeout=180) for job_id in ids]
        assert [j["state"] for j in jobs] == ["succeeded"] * 20
        events = sorted([(j["started_at"], 1) for j in jobs] + [(j["finished_at"], -1) for j in jobs],
                        key=lambda e: (e[0], e[1]))
        running, peak = 0, 0
        for _, step in events:
            running += step
            peak = max(peak, running)
        assert peak == 3
    finally:
        stop_gateway(gw)


def test_links_expire_and_exports_expire(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    extra = "[http]\nlink_ttl_s = 1\n[jobs]\nretention_days = 0.00004\nsweep_interval_s = 0.5\n"  # ~3.5 s
    gw, _ = start_custom(egress_home, tmp_path, extra)
    try:
        with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
            notices = _notices(conn)
            conn.execute("COPY (SELECT name FROM companies LIMIT 5) TO 'short.csv'")
            detail = json.loads(notices[-1].message_detail)
            time.sleep(1.5)
            with pytest.raises(urllib.error.HTTPError) as gone:
                urllib.request.urlopen(detail["download_url"], timeout=10)
            assert gone.value.code == 410
            job = _wait(conn, detail["job_id"], states=("expired",), timeout=20)
            assert job["state"] == "expired"
        assert not (tmp_path / "home" / "exports" / "alice" / "short.csv").exists()
        assert not (tmp_path / "home" / "exports" / "alice" / "short.csv.manifest.json").exists()
    finally:
        stop_gateway(gw)


def test_kill_9_mid_export_fails_the_job_and_leaves_nothing_final(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gw, config = start_custom(egress_home, tmp_path)
    area = tmp_path / "home" / "exports" / "carol"
    with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
        job_id = _async(conn, f"COPY ({BIG}) TO 'crash.csv' (ASYNC)")
        _running_with_rows(conn, job_id)  # rows are on disk under the partial name
    assert any(".partial-" in p.name for p in area.iterdir())
    os.kill(gw.process.pid, signal.SIGKILL)
    gw.process.wait()
    assert not (area / "crash.csv").exists()
    gw = start_gateway(egress_home, "--config", str(config), prefix=True)
    try:
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
            job = _job(conn, job_id)
            assert job["state"] == "failed" and "stopped" in job["error"]
            # schedules still fire after the crash (the dead gateway's scheduler lease lapses)
            conn.execute("SELECT egress.add_schedule('after-crash', 'every 1s', "
                         "'COPY (SELECT 1 AS x) TO ''after-{run}.csv''')")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not list(area.glob("after-*.csv")):
                time.sleep(0.2)
            assert list(area.glob("after-*.csv"))
            conn.execute("SELECT egress.remove_schedule('after-crash')")
        assert not (area / "crash.csv").exists()
        # the crashed export's partial file is gone (a schedule run may still be mid-write)
        assert not [p for p in area.iterdir() if p.name.startswith(".crash.csv.partial-")]
    finally:
        stop_gateway(gw)


def test_a_full_disk_fails_the_job_cleanly(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    disk = tmp_path / "small"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        gw, _ = start_custom(egress_home, tmp_path, f'[exports]\ndirectory = "{disk}"\n')
        try:
            with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
                with pytest.raises(psycopg.errors.DiskFull) as full:
                    conn.execute(f"COPY ({BIG}) TO 'full.csv'")
                assert "no space left" in str(full.value)
                conn.execute("COPY (SELECT 1 AS x) TO 'after.csv'")  # the gateway carries on
            names = [p.name for p in (disk / "carol").iterdir()]
            assert "full.csv" not in names and not [n for n in names if ".partial-" in n]
            assert "after.csv" in names
        finally:
            stop_gateway(gw)
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_client_leaving_mid_copy_to_stdout_frees_its_query(egress_home) -> None:  # type: ignore[no-untyped-def]
    import socket

    gw = start_gateway(egress_home, "--metrics-port", "0")

    def active() -> float:
        return gw.metric("egress_connections_active")

    try:
        conn = psycopg.connect(gw.dsn("carol"), autocommit=True)
        conn.pgconn.send_query(f"COPY ({BIG}) TO STDOUT (FORMAT csv)".encode())
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
        sock.settimeout(10)
        assert sock.recv(1 << 16)  # CopyOutResponse and the first rows are here
        sock.close()
        conn.pgconn.finish()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and active() != 0:
            time.sleep(0.2)
        assert active() == 0
        with psycopg.connect(gw.dsn("alice")) as again:
            assert again.execute("SELECT 1").fetchone() == (1,)
    finally:
        stop_gateway(gw)


def test_rows_per_day_quota(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gw, _ = start_custom(egress_home, tmp_path, "[quotas.roles.analyst]\nrows_per_day = 6\n")
    try:
        with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.ProgramLimitExceeded) as over:
                conn.execute("COPY (SELECT name FROM companies LIMIT 9) TO 'nine.csv'")  # more than is left
            assert "rows_per_day" in str(over.value)
            conn.execute("COPY (SELECT name FROM companies LIMIT 6) TO 'six.csv'")
            with pytest.raises(psycopg.errors.ConfigurationLimitExceeded) as spent:
                conn.execute("COPY (SELECT name FROM companies LIMIT 1) TO 'one.csv'")
            assert "rows_per_day" in str(spent.value) and "resets at" in (spent.value.diag.message_hint or "")
            used = conn.execute("SELECT used, remaining FROM egress.quota WHERE quota = 'rows_per_day'").fetchone()
            assert used == (6, 0)
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:  # a manager: no such quota
            conn.execute("COPY (SELECT name FROM companies LIMIT 9) TO 'nine.csv'")
    finally:
        stop_gateway(gw)
