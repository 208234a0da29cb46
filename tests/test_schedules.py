"""Schedules through a real `egress serve` (APScheduler, store in the state database), managed by
the CLI and by SQL functions: interval and cron triggers with time zones, pause/resume/remove,
file name templates, incremental exports by watermark across a restart, keep-last-N, retries,
one run at a time, and the owner's current rules at each run."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import psycopg
import pytest

from tests.fix_egress import run_egress
from tests.fix_gateway import demo_config_text, start_custom, start_gateway, stop_gateway


def _runs(gw, user: str, schedule: str) -> list[dict]:  # type: ignore[no-untyped-def]
    with psycopg.connect(gw.dsn(user), autocommit=True) as conn:
        cur = conn.execute("SELECT * FROM egress.schedule_runs WHERE schedule = %s ORDER BY started_at, attempt",
                           (schedule,))
        names = [d.name for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def _until(predicate, timeout: float = 30, step: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def test_interval_schedule_by_cli_with_templates_pause_resume_remove(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gw, config = start_custom(egress_home, tmp_path)
    area = tmp_path / "home" / "exports" / "alice"
    cli = ("--config", str(config))
    try:
        added = run_egress(egress_home, *cli, "schedules", "add", "tick", "--user", "alice", "--every", "1s",
                           "COPY (SELECT company_id, name FROM companies WHERE industry = 'SaaS') "
                           "TO 'ticks/saas-{date}-{run}.csv' (FORMAT csv)")
        assert added.returncode == 0, added.stderr
        runs = _until(lambda: [r for r in _runs(gw, "alice", "tick") if r["state"] == "succeeded"][1:], timeout=30)
        assert runs, "the interval schedule did not run twice"
        today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
        files = sorted(p.name for p in (area / "ticks").iterdir() if p.suffix == ".csv")
        assert f"saas-{today}-00001.csv" in files and f"saas-{today}-00002.csv" in files
        with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
            job = conn.execute("SELECT source, schedule_id, state FROM egress.jobs WHERE schedule_id IS NOT NULL "
                               "LIMIT 1").fetchone()
            assert job[0] == "schedule" and job[2] == "succeeded"
        paused = run_egress(egress_home, *cli, "schedules", "pause", "tick", "--user", "alice")
        assert paused.returncode == 0 and "paused" in paused.stdout
        time.sleep(1.5)  # a run that had already started may finish
        count = len(_runs(gw, "alice", "tick"))
        time.sleep(3)
        assert len(_runs(gw, "alice", "tick")) == count  # nothing while paused
        assert run_egress(egress_home, *cli, "schedules", "resume", "tick", "--user", "alice").returncode == 0
        assert _until(lambda: len(_runs(gw, "alice", "tick")) > count, timeout=20)
        shown = run_egress(egress_home, *cli, "schedules", "show", "tick", "--user", "alice")
        assert json.loads(shown.stdout)["runs"]
        other = run_egress(egress_home, *cli, "schedules", "show", "tick", "--user", "bob")
        assert other.returncode == 1 and "42704" in other.stderr  # bob cannot see alice's schedule
        assert run_egress(egress_home, *cli, "schedules", "remove", "tick", "--user", "alice").returncode == 0
        listed = run_egress(egress_home, *cli, "schedules", "list", "--user", "alice")
        assert "tick" not in listed.stdout
    finally:
        stop_gateway(gw)


def test_cron_schedules_in_a_time_zone_by_sql(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gw, _ = start_custom(egress_home, tmp_path)
    try:
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
            schedule_id = conn.execute(
                "SELECT egress.add_schedule('morning', '0 6 * * *', "
                "'COPY companies TO ''morning/{date}.parquet''', 'Europe/Berlin')").fetchone()[0]
            row = conn.execute("SELECT id, trigger, timezone, next_run_at FROM egress.schedules "
                               "WHERE name = 'morning'").fetchone()
            assert row[0] == schedule_id and row[1] == "0 6 * * *" and row[2] == "Europe/Berlin"
            berlin = row[3].astimezone(ZoneInfo("Europe/Berlin"))
            assert (berlin.hour, berlin.minute) == (6, 0)
            assert dt.timedelta(0) < row[3] - dt.datetime.now(dt.timezone.utc) <= dt.timedelta(days=1)
            for bad in ("'61 * * * *', 'COPY companies TO ''x.csv''', NULL", "'0 6 * * *', 'COPY companies TO ''x.csv''', 'Mars/Base'"):
                with pytest.raises(psycopg.errors.InvalidParameterValue):
                    conn.execute(f"SELECT egress.add_schedule('bad', {bad})")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # refused when added, not at 6 am
                conn.execute("SELECT egress.add_schedule('escape', 'every 1h', 'COPY companies TO ''../x.csv''')")
            assert conn.execute("SELECT egress.pause_schedule('morning')").fetchone() == ("paused",)
            assert conn.execute("SELECT paused FROM egress.schedules WHERE name = 'morning'").fetchone() == (True,)
        with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:  # alice's own, carol sees it too
            conn.execute("SELECT egress.add_schedule('alices', 'every 1h', 'COPY companies TO ''a.csv''')")
            assert [r[0] for r in conn.execute("SELECT name FROM egress.schedules")] == ["alices"]
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
            assert {r[0] for r in conn.execute("SELECT name FROM egress.schedules")} == {"morning", "alices"}
        with psycopg.connect(gw.dsn("bob"), autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM egress.schedules").fetchone() == (0,)
            with pytest.raises(psycopg.errors.UndefinedObject):
                conn.execute("SELECT egress.remove_schedule('morning')")
        # a cron's zone is also the clock its export computes on: days and hours as a session
        # in that zone sees them, whatever zone the session that added it was in
        query = "SELECT company_id, created_at::date, extract(hour from created_at) FROM companies ORDER BY company_id"
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
            conn.execute("SELECT egress.add_schedule('clock', '0 6 * * *', "
                         f"'COPY ({query}) TO ''clock.csv'' (FORMAT csv, HEADER false)', 'America/New_York')")
            assert conn.execute("SELECT egress.run_schedule('clock')").fetchone() == ("started",)
            conn.execute("SET TIME ZONE 'America/New_York'")
            expected = [(str(a), str(b), int(c)) for a, b, c in conn.execute(query).fetchall()]
        assert _until(lambda: any(r["state"] == "succeeded" for r in _runs(gw, "carol", "clock"))), _runs(gw, "carol", "clock")
        written = (tmp_path / "home" / "exports" / "carol" / "clock.csv").read_text().splitlines()
        assert [(a, b, int(float(c))) for a, b, c in (line.split(",") for line in written)] == expected
    finally:
        stop_gateway(gw)


def test_incremental_exports_by_watermark_survive_a_restart(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(egress_home.path / "warehouse.duckdb", warehouse)
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "egress.toml"
    config.write_text(demo_config_text(home, warehouse))
    gw = start_gateway(egress_home, "--config", str(config), prefix=True)
    area = home / "exports" / "carol"
    try:
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
            conn.execute("SELECT egress.add_schedule('inc', 'every 1s', "
                         "'COPY (SELECT company_id, updated_at FROM companies) TO ''inc/{datetime}-{run}.csv'' "
                         "(FORMAT csv, WATERMARK updated_at, KEEP_LAST 2)')")
        first = _until(lambda: [r for r in _runs(gw, "carol", "inc") if r["rows"]], timeout=30)
        assert first and first[0]["rows"] == 1500 and first[0]["watermark_from"] is None
        mark = first[0]["watermark_to"]
        assert _until(lambda: len(_runs(gw, "carol", "inc")) >= 3)  # later runs: nothing new
        assert all(r["rows"] == 0 and r["watermark_to"] == mark for r in _runs(gw, "carol", "inc")[1:])
    finally:
        stop_gateway(gw)
    # new rows arrive while the gateway is down (the warehouse is read-only to egress)
    con = duckdb.connect(str(warehouse))
    con.execute("INSERT INTO raw.companies SELECT * REPLACE (company_id + 1000000 AS company_id, "
                "now() AS updated_at) FROM raw.companies WHERE tenant_id = 'acme' ORDER BY company_id LIMIT 5")
    con.close()
    gw = start_gateway(egress_home, "--config", str(config), prefix=True)
    try:
        second = _until(lambda: [r for r in _runs(gw, "carol", "inc") if r["rows"] and r["watermark_from"]], timeout=30)
        assert second and second[0]["rows"] == 5 and second[0]["watermark_from"] == mark
        new_file = next(p for p in (area / "inc").iterdir() if p.suffix == ".csv" and
                        p.read_text().count("\n") == 6)
        ids = sorted(int(line.split(",")[0]) for line in new_file.read_text().splitlines()[1:])
        assert all(i > 1000000 for i in ids)
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
            assert conn.execute("SELECT watermark FROM egress.schedules WHERE name = 'inc'").fetchone()[0] > mark
        # keep-last 2: the first full export is gone once two newer ones exist
        csvs = [p for p in (area / "inc").iterdir() if p.suffix == ".csv"]
        assert len(csvs) <= 2
    finally:
        stop_gateway(gw)


def test_retries_current_rules_and_one_run_at_a_time(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    extra = "[quotas.users.bob]\nrows_per_export = 10\n"
    gw, config = start_custom(egress_home, tmp_path, extra)
    try:
        with psycopg.connect(gw.dsn("bob"), autocommit=True) as conn:
            conn.execute("SELECT egress.add_schedule('toobig', 'every 1h', "
                         "'COPY companies TO ''big.csv'' (RETRIES 1)')")
            assert conn.execute("SELECT egress.run_schedule('toobig')").fetchone() == ("started",)
        runs = _until(lambda: [r for r in _runs(gw, "bob", "toobig") if r["attempt"] == 2], timeout=30)
        assert runs and runs[0]["state"] == "failed" and "rows_per_export" in runs[0]["error"]
        assert [r["attempt"] for r in _runs(gw, "bob", "toobig")] == [1, 2]
        # a slow export on a 1 s trigger: runs never overlap
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
            conn.execute("SELECT egress.add_schedule('slow', 'every 1s', "
                         "'COPY (SELECT a.*, b.name AS other FROM companies a, companies b "
                         "WHERE b.company_id % 3 = 0) TO ''slow-{run}.csv''')")
        assert _until(lambda: len([r for r in _runs(gw, "carol", "slow") if r["job_id"]]) >= 2, timeout=60)
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
            conn.execute("SELECT egress.remove_schedule('slow')")
            spans = conn.execute("SELECT started_at, finished_at FROM egress.jobs WHERE source = 'schedule' "
                                 "AND finished_at IS NOT NULL ORDER BY started_at").fetchall()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
        with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
            conn.execute("SELECT egress.add_schedule('names', 'every 1h', "
                         "'COPY (SELECT company_id, name FROM companies) TO ''names.csv''')")
    finally:
        stop_gateway(gw)
    # alice's role loses the column: the next run is refused by the rules as they are now
    text = Path(config).read_text().replace('deny = { companies = ["contact_email", "annual_revenue"] }',
                                            'deny = { companies = ["contact_email", "annual_revenue", "name"] }')
    Path(config).write_text(text)
    ran = run_egress(egress_home, "--config", str(config), "schedules", "run-now", "names", "--user", "alice")
    assert ran.returncode == 1 and "failed" in ran.stdout and "permission denied" in ran.stdout
    assert not (tmp_path / "home" / "exports" / "alice" / "names.csv").exists()


def test_missed_runs_coalesce_after_downtime(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gw, config = start_custom(egress_home, tmp_path)
    try:
        with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
            conn.execute("SELECT egress.add_schedule('beat', 'every 1s', 'COPY (SELECT 1 AS x) TO ''beat-{run}.csv''')")
        assert _until(lambda: len(_runs(gw, "alice", "beat")) >= 2)
    finally:
        stop_gateway(gw)
    stopped = dt.datetime.now(dt.timezone.utc)
    time.sleep(5)  # about five ticks are missed while no gateway runs
    gw = start_gateway(egress_home, "--config", str(config), prefix=True)
    try:
        assert _until(lambda: len([r for r in _runs(gw, "alice", "beat") if r["started_at"] > stopped]) >= 3)
        after = [r["started_at"] for r in _runs(gw, "alice", "beat") if r["started_at"] > stopped]
        # one catch-up run, which may fall just before the next regular tick, then one a second:
        # never three within 0.9 s (without coalescing, the five missed runs come in ~0.1 s)
        spans = [(c - a).total_seconds() for a, c in zip(after, after[2:])]
        assert min(spans) > 0.9, spans
    finally:
        stop_gateway(gw)


def test_a_run_missed_by_more_than_the_grace_is_skipped(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Two gateways, each with a 30 s schedule made at t0 and stopped before its first run
    # (t0 + 30 s); both come back at about t0 + 33 s, when that run is 3 s late. With
    # misfire_grace_s = 1 it is skipped, and the next run is the regular one at t0 + 60 s; with
    # 300 it runs as soon as the gateway is back. The wide interval leaves a loaded machine
    # 20 s to restart the gateways and make the late run before the regular one is due.
    gateways = {grace: start_custom(egress_home, tmp_path / f"grace-{grace}",
                                    extra=f"[schedules]\nmisfire_grace_s = {grace}\n") for grace in (1, 300)}
    try:
        for gw, _ in gateways.values():
            with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
                conn.execute("SELECT egress.add_schedule('tick', 'every 30s', 'COPY (SELECT 1 AS x) TO ''tick-{run}.csv''')")
        t0 = time.monotonic()
    finally:
        for gw, _ in gateways.values():
            stop_gateway(gw)
    time.sleep(max(0.0, t0 + 33 - time.monotonic()))
    back = {grace: start_gateway(egress_home, "--config", str(config), prefix=True)
            for grace, (_, config) in gateways.items()}
    try:
        assert time.monotonic() < t0 + 45, "the gateways took too long to come back for this test to judge"
        assert _until(lambda: _runs(back[300], "alice", "tick"), timeout=t0 + 55 - time.monotonic())
        time.sleep(max(0.0, t0 + 55 - time.monotonic()))
        assert len(_runs(back[300], "alice", "tick")) == 1  # the late run, once
        assert _runs(back[1], "alice", "tick") == []  # skipped: 3 s late against 1 s of grace
        assert _until(lambda: _runs(back[1], "alice", "tick"), timeout=20)  # the next regular run
    finally:
        for gw in back.values():
            stop_gateway(gw)
