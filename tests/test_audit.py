"""The audit trail: every query and export, from every front door, in egress.audit and the JSON
log; tenant admins read their tenant's records, everyone else only their own."""

from __future__ import annotations

import json
import time

import adbc_driver_flightsql.dbapi as flightsql
import psycopg
import pytest

from tests.fix_egress import run_egress
from tests.fix_gateway import start_custom, stop_gateway

pytestmark = pytest.mark.filterwarnings("ignore:Cannot disable autocommit")


def test_queries_exports_and_flight_are_audited(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gw, config = start_custom(egress_home, tmp_path)
    try:
        with psycopg.connect(gw.dsn("alice", application_name="audit-test"), autocommit=True) as conn:
            conn.execute("SELECT count(*) FROM companies WHERE industry = %s", ("SaaS",)).fetchone()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT contact_email FROM companies")
            conn.execute("COPY (SELECT name FROM companies LIMIT 7) TO 'audited.csv'")
        with flightsql.connect(f"grpc://{gw.host}:{gw.flight_port}",
                               db_kwargs={"username": "alice", "password": "alice"}) as conn, conn.cursor() as cur:
            cur.execute("SELECT company_id FROM companies LIMIT 11")
            assert cur.fetch_arrow_table().num_rows == 11
        with psycopg.connect(gw.dsn("bob"), autocommit=True) as conn:
            conn.execute("SELECT 1 AS x FROM companies LIMIT 1").fetchone()
        cli = run_egress(egress_home, "--config", str(config), "query", "--user", "alice", "--format", "csv",
                         "SELECT name FROM companies LIMIT 3")
        assert cli.returncode == 0, cli.stderr
        time.sleep(1.0)  # records are written in the background

        def audit(user: str) -> list[dict]:
            with psycopg.connect(gw.dsn(user), autocommit=True) as conn:
                cur = conn.execute("SELECT * FROM egress.audit ORDER BY id")
                names = [d.name for d in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]

        seen = audit("carol")  # the acme tenant admin
        mine = [r for r in seen if r["user"] == "alice"]
        ok_query = next(r for r in mine if r["kind"] == "query" and "industry" in (r["sql_given"] or ""))
        assert ok_query["outcome"] == "ok" and ok_query["rows"] == 1 and ok_query["application"] == "audit-test"
        assert "tenant_id" in ok_query["sql_run"] and "$1" in ok_query["sql_given"]  # no parameter values
        denied = next(r for r in mine if r["outcome"] == "error")
        assert denied["sqlstate"] == "42501" and "contact_email" in denied["sql_given"]
        export = next(r for r in mine if r["kind"] == "export")
        assert export["outcome"] == "succeeded" and export["rows"] == 7 and export["job_id"]
        assert json.loads(export["files"])[0]["sha256"]
        flight = next(r for r in mine if r["kind"] == "flight")
        assert flight["rows"] == 11 and flight["outcome"] == "ok"
        assert any(r["application"] == "egress-cli" and r["rows"] == 3 for r in mine)
        assert {r["tenant"] for r in seen} == {"acme"}  # bob's (globex) record is not carol's to see
        bob = audit("bob")
        assert bob and {r["user"] for r in bob} == {"bob"}
        alice = audit("alice")
        assert {r["user"] for r in alice} == {"alice"}
    finally:
        gw.process.terminate()
        gw.process.wait(timeout=20)
        err = gw.logged()
        stop_gateway(gw)
    lines = [line for line in err.splitlines() if '{"audit"' in line]
    assert lines and all("alice" in line or "bob" in line or "carol" in line for line in lines)
    assert not any("SaaS" in line for line in lines)  # parameter values never reach the log


def test_flush_waits_for_records_the_writer_is_still_gathering(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The writer lingers after a batch's first record (so its write does not land while that
    statement's answer goes out); flush() must still mean stored, not merely dequeued. A state
    store of its own: the session's App must not hold the shared home's database open early."""
    import types

    import sqlalchemy as sa

    from service import state as st
    from service.audit import Audit
    from sql.model import Principal, Role

    store = st.StateStore(tmp_path / "state.db")
    audit = Audit(types.SimpleNamespace(state=store))
    try:
        principal = Principal("alice", "acme", Role("analyst"))
        audit.record(principal=principal, kind="query", outcome="ok", sql_given="SELECT 0")
        time.sleep(0.05)  # the writer has taken it off the queue (which is now empty) and is gathering more
        audit.flush()
        with store.tx() as conn:
            stored = conn.execute(sa.select(st.audit.c.user, st.audit.c.sql_given)).all()
        assert [tuple(r) for r in stored] == [("alice", "SELECT 0")]
    finally:
        audit.close()
        store.close()
