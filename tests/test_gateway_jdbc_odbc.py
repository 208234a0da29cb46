"""pgjdbc (Debian's libpostgresql-jdbc-java, driven by a small Java program compiled here) and
psqlODBC through unixODBC and pyodbc, against a real `egress serve`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JAR = Path("/usr/share/java/postgresql.jar")
SOURCE = Path(__file__).parent / "java" / "EgressJdbcCheck.java"


def test_pgjdbc_metadata_prepared_booleans_and_streaming(gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    javac, java = shutil.which("javac"), shutil.which("java")
    assert javac and java and JAR.exists(), "install a JDK and libpostgresql-jdbc-java (see .ci/run)"
    subprocess.run([javac, "-d", str(tmp_path), str(SOURCE)], check=True, timeout=120)
    done = subprocess.run([java, "-cp", f"{tmp_path}:{JAR}", "EgressJdbcCheck",
                           f"jdbc:postgresql://{gateway.host}:{gateway.port}/egress", "alice", "alice"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert out["product"].startswith("PostgreSQL 16")
    assert out["tables"] == "companies,company_metrics,company_similarities"
    columns = out["columns"].split(",")
    assert "employee_count:int4" in columns and "created_at:timestamptz" in columns
    assert not any(c.startswith(("annual_revenue", "contact_email", "tenant_id")) for c in columns)
    assert "public" in out["schemas"].split(",")
    assert out["primary_keys"] == "0" and out["imported_keys"] == "0" and out["type_info"] == "true"
    rows, big = out["prepared_rows"].split(" big=")
    assert int(rows) > 0 and 0 < int(big) < int(rows)  # getBoolean reads t/f correctly
    assert out["streamed_rows"] == "1500"
    assert out["hidden_sqlstate"] == "42501"
    assert out["array_ids"] == "1,2,3"  # createArrayOf sent as text {3,1,2}, getArray read back
    assert out["dated"] == "true"


def test_psqlodbc_tables_and_parameters(gateway) -> None:  # type: ignore[no-untyped-def]
    pyodbc = pytest.importorskip("pyodbc")
    drivers = [d for d in pyodbc.drivers() if "PostgreSQL Unicode" in d]
    assert drivers, "install odbc-postgresql and unixodbc (see .ci/run)"
    conn = pyodbc.connect(f"DRIVER={{{drivers[0]}}};SERVER={gateway.host};PORT={gateway.port};"
                          "DATABASE=egress;UID=bob;PWD=bob;SSLmode=disable", timeout=20)
    try:
        cur = conn.cursor()
        tables = sorted(row.table_name for row in cur.tables(schema="public"))
        assert tables == ["companies", "company_metrics", "company_similarities"]
        cur.execute("SELECT company_id, name FROM companies WHERE company_id < ? ORDER BY 1", 1505)
        rows = cur.fetchall()
        assert [r[0] for r in rows] == [1501, 1502, 1503, 1504]
        with pytest.raises(pyodbc.Error) as info:
            cur.execute("SELECT annual_revenue FROM companies")
        assert "42501" in str(info.value)
    finally:
        conn.close()
