"""Templates and the built-in reports, read back by independent readers (pdftotext, openpyxl)."""

from __future__ import annotations

import subprocess
import time
import zipfile

import openpyxl
import psycopg
import pytest

from tests.fix_egress import run_egress
from tests.fix_gateway import start_custom, stop_gateway


def _wait(conn: psycopg.Connection, job_id: str, timeout: float = 60) -> tuple:
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute("SELECT state, files, error FROM egress.jobs WHERE id = %s", (job_id,)).fetchone()
        if row[0] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return row
        time.sleep(0.1)


def test_market_overview_pdf_shows_only_the_runners_tenant(egress_home, tmp_path, reference) -> None:  # type: ignore[no-untyped-def]
    gw, config = start_custom(egress_home, tmp_path)
    try:
        done = run_egress(egress_home, "--config", str(config), "templates", "run", "market-overview", "--user", "alice")
        assert done.returncode == 0, done.stderr
        pdf = next((tmp_path / "home" / "exports" / "alice" / "reports").glob("market-overview-*.pdf"))
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        for heading in ("Market overview", "Key figures", "Companies by industry", "Growth trends",
                        "Top companies by headcount"):
            assert heading in text, heading
        acme_top = reference("SELECT name FROM curated.companies WHERE tenant_id = 'acme' "
                             "ORDER BY employee_count DESC, name LIMIT 1").column("name")[0].as_py()
        others = reference("SELECT name FROM curated.companies WHERE tenant_id <> 'acme' "
                           "ORDER BY employee_count DESC, name LIMIT 5").column("name").to_pylist()
        assert acme_top[:30] in text
        assert not [n for n in others if n[:30] in text and n[:30] != acme_top[:30]]
        assert "1,500" in text  # acme's company count, nobody else's
        assert (pdf.parent / (pdf.name + ".manifest.json")).exists()
    finally:
        stop_gateway(gw)


def test_company_list_xlsx_saved_templates_and_schedules(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gw, config = start_custom(egress_home, tmp_path)
    area = tmp_path / "home" / "exports"
    try:
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
            job_id = conn.execute("SELECT egress.run_template('company-list')").fetchone()[0]
            state, files, error = _wait(conn, job_id)
            assert state == "succeeded", error
            names = {r[0] for r in conn.execute("SELECT name FROM egress.templates")}
            assert {"company-list", "market-overview"} <= names
        xlsx = next((area / "carol" / "reports").glob("company-list-*.xlsx"))
        book = openpyxl.load_workbook(xlsx, read_only=True)
        assert book.sheetnames[:2] == ["companies", "summary"]
        assert sum(1 for _ in book["companies"].iter_rows()) == 1501  # header + acme's 1500 companies
        with zipfile.ZipFile(xlsx) as z:
            assert "xl/charts/chart1.xml" in z.namelist()
        with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # checked against alice's rules on save
                conn.execute("SELECT egress.save_template('mails', 'COPY (SELECT contact_email FROM companies) "
                             "TO ''m.csv''')")
            conn.execute("SELECT egress.save_template('saas', 'COPY (SELECT name FROM companies WHERE "
                         "industry = ''SaaS'') TO ''saas-{date:%Y%m%d}.csv''')")
            conn.execute("SELECT egress.add_schedule('saas-hourly', 'every 1h', 'TEMPLATE saas')")
            assert conn.execute("SELECT export FROM egress.schedules").fetchone()[0] == "saas-{date:%Y%m%d}.csv"
        with psycopg.connect(gw.dsn("bob"), autocommit=True) as conn:
            assert "saas" not in {r[0] for r in conn.execute("SELECT name FROM egress.templates")}
            with pytest.raises(psycopg.errors.UndefinedObject):
                conn.execute("SELECT egress.run_template('saas')")
        ran = run_egress(egress_home, "--config", str(config), "templates", "run", "saas", "--user", "carol")
        assert ran.returncode == 0, ran.stderr  # carol runs alice's template with carol's rules, into her area
        assert list((area / "carol").glob("saas-2*.csv"))
        listed = run_egress(egress_home, "--config", str(config), "templates", "list", "--user", "dave")
        assert "market-overview" in listed.stdout and "saas" not in listed.stdout
    finally:
        stop_gateway(gw)


def test_parameterised_templates(egress_home, tmp_path, reference) -> None:  # type: ignore[no-untyped-def]
    gw, config = start_custom(egress_home, tmp_path)
    area = tmp_path / "home" / "exports" / "carol"
    try:
        with psycopg.connect(gw.dsn("carol"), autocommit=True) as conn:
            conn.execute("SELECT egress.save_template('by-industry', 'COPY (SELECT company_id, industry FROM companies "
                         "WHERE industry = $1 AND employee_count > $2) TO ''by-industry-{date}.csv'' "
                         "(FORMAT csv, HEADER false)')")
            job_id = conn.execute("SELECT egress.run_template('by-industry', 'SaaS', 100)").fetchone()[0]
            assert _wait(conn, job_id)[0] == "succeeded"
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                conn.execute("SELECT egress.run_template('by-industry', 'SaaS')")
            conn.execute("SELECT egress.add_schedule('fintech', 'every 1h', 'TEMPLATE by-industry(''FinTech'', 10)')")
            statement = conn.execute("SELECT export FROM egress.schedules WHERE name = 'fintech'").fetchone()[0]
            assert statement.startswith("by-industry-")
        want = reference("SELECT count(*) AS n FROM curated.companies WHERE tenant_id = 'acme' "
                         "AND industry = 'SaaS' AND employee_count > 100").column("n")[0].as_py()
        written = next(area.glob("by-industry-*.csv")).read_text().splitlines()
        assert len(written) == want > 0 and all(line.endswith(",SaaS") for line in written)
        ran = run_egress(egress_home, "--config", str(config), "schedules", "run-now", "fintech", "--user", "carol")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        lines = next(area.glob("by-industry-*.csv")).read_text().splitlines()  # the same name today: replaced
        assert lines and all(line.endswith(",FinTech") for line in lines)
    finally:
        stop_gateway(gw)
