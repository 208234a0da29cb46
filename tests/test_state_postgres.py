"""Two gateway replicas sharing a PostgreSQL state store (Debian's server on loopback): jobs
started on one are seen and cancelled from the other, quotas hold across both, schedules run
once (on the replica holding the lease) and move to the other when it stops."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.fix_gateway import start_custom, stop_gateway

BIG = "SELECT a.*, b.description AS other FROM companies a, companies b"


def _async(conn: psycopg.Connection, sql: str) -> str:
    seen: list[str] = []
    conn.add_notice_handler(lambda d: seen.append(d.message_primary or ""))
    conn.execute(sql)
    return next(m.split()[2] for m in seen if "queued" in m)


def _state(conn: psycopg.Connection, job_id: str) -> str:
    row = conn.execute("SELECT state FROM egress.jobs WHERE id = %s", (job_id,)).fetchone()
    return row[0] if row else "missing"


def _until(fn, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_replicas_share_jobs_quotas_and_schedules(egress_home, tmp_path, postgres_server) -> None:  # type: ignore[no-untyped-def]
    shared = tmp_path / "shared-exports"
    extra = (f'[state]\nurl = "{postgres_server.url}"\n[exports]\ndirectory = "{shared}"\n'
             "[quotas.users.dave]\nconcurrent_jobs = 1\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, _ = start_custom(egress_home, tmp_path / "a", extra)
    second, _ = start_custom(egress_home, tmp_path / "b", extra)
    try:
        with psycopg.connect(first.dsn("carol"), autocommit=True) as a, \
                psycopg.connect(second.dsn("carol"), autocommit=True) as b:
            job_id = _async(a, f"COPY ({BIG}) TO 'shared.csv' (ASYNC)")
            assert _until(lambda: _state(b, job_id) == "running")  # seen from the other replica
            assert b.execute("SELECT egress.cancel_job(%s)", (job_id,)).fetchone()[0] in ("running", "cancelled")
            assert _until(lambda: _state(a, job_id) == "cancelled")  # stopped on the replica running it
            done = _async(b, "COPY (SELECT name FROM companies LIMIT 3) TO 'small.csv' (ASYNC)")
            assert _until(lambda: _state(a, done) == "succeeded")
        assert (shared / "carol" / "small.csv").exists()
        # a quota of one concurrent job holds across both replicas
        with psycopg.connect(first.dsn("dave"), autocommit=True) as a, \
                psycopg.connect(second.dsn("dave"), autocommit=True) as b:
            running = _async(a, f"COPY ({BIG}) TO 'd1.csv' (ASYNC)")
            with pytest.raises(psycopg.errors.ConfigurationLimitExceeded):
                b.execute(f"COPY ({BIG}) TO 'd2.csv' (ASYNC)")
            a.execute("SELECT egress.cancel_job(%s)", (running,))
        # one schedule, two schedulers: every run happens once
        with psycopg.connect(first.dsn("alice"), autocommit=True) as a:
            a.execute("SELECT egress.add_schedule('both', 'every 1s', "
                      "'COPY (SELECT 1 AS x) TO ''both/{datetime}-{run}.csv''')")
        time.sleep(4)
        stop_gateway(first)  # the other replica takes the schedules over
        time.sleep(8)
        with psycopg.connect(second.dsn("alice"), autocommit=True) as b:
            runs = b.execute("SELECT job_id, started_at FROM egress.schedule_runs WHERE schedule = 'both' "
                             "AND job_id IS NOT NULL ORDER BY started_at").fetchall()
            b.execute("SELECT egress.remove_schedule('both')")
        assert len(runs) >= 6
        gaps = [(y[1] - x[1]).total_seconds() for x, y in zip(runs, runs[1:])]
        assert min(gaps) > 0.5, gaps  # never two runs for one tick
        assert runs[-1][1].timestamp() > time.time() - 4  # still firing after the first replica stopped
    finally:
        stop_gateway(first)
        stop_gateway(second)
