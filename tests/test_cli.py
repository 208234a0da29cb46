"""The real `egress` console script in a subprocess: commands, output, exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq

from tests.fix_egress import EGRESS, run_egress


def test_query_prints_a_table_and_csv(egress_home) -> None:  # type: ignore[no-untyped-def]
    done = run_egress(egress_home, "query", "--user", "alice",
                      "SELECT industry, count(*) AS n FROM companies GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3")
    assert done.returncode == 0, done.stderr
    assert "industry" in done.stdout and "(3 rows)" in done.stdout
    done = run_egress(egress_home, "query", "--user", "alice", "--format", "csv",
                      "SELECT company_id, name FROM companies ORDER BY 1 LIMIT 2")
    lines = done.stdout.splitlines()
    assert lines[0] == "company_id,name" and len(lines) == 3 and lines[1].startswith("1,")
    done = run_egress(egress_home, "query", "--user", "bob", "--format", "json",
                      "SELECT min(company_id) AS m FROM companies")
    assert json.loads(done.stdout)["m"] == 1501  # globex's first id (acme has 1..1500)


def test_refusals_exit_1_with_sqlstate(egress_home) -> None:  # type: ignore[no-untyped-def]
    done = run_egress(egress_home, "query", "--user", "alice", "SELECT annual_revenue FROM companies")
    assert done.returncode == 1
    assert "SQLSTATE 42501" in done.stderr and "position 8" in done.stderr
    assert "Traceback" not in done.stderr
    done = run_egress(egress_home, "query", "--user", "mallory", "SELECT 1")
    assert done.returncode == 1 and "28000" in done.stderr


def test_usage_errors_exit_2(egress_home) -> None:  # type: ignore[no-untyped-def]
    done = run_egress(egress_home, "export", "--user", "alice", "--view", "companies")
    assert done.returncode == 2
    done = run_egress(egress_home, "export", "--user", "alice", "--view", "companies", "--format",
                      "parquet", "-o", "x.parquet", "--delimiter", ";")
    assert done.returncode == 2 and "--delimiter" in done.stderr


def test_views_lists_only_visible_columns(egress_home) -> None:  # type: ignore[no-untyped-def]
    alice = run_egress(egress_home, "views", "--user", "alice").stdout
    carol = run_egress(egress_home, "views", "--user", "carol").stdout
    dave = run_egress(egress_home, "views", "--user", "dave").stdout
    assert "annual_revenue" not in alice and "contact_email" not in alice and "tenant_id" not in alice
    assert "annual_revenue" in carol and "contact_email" in carol
    assert "masked: email_domain" in dave.replace("\n", " ").replace("│", " ").replace("  ", " ") or "masked" in dave
    assert "company_metrics" in alice and "Firmographics" in alice


def test_export_with_filters_fields_rename_sort(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "saas.parquet"
    done = run_egress(egress_home, "export", "--user", "carol", "--view", "companies",
                      "--industry", "SaaS", "--filter", "employee_count > 10", "--location", "germany",
                      "--date-range", "1990-01-01:", "--fields", "company_id,name,annual_revenue,founded_on,country",
                      "--rename", "name=company_name", "--sort", "-annual_revenue,company_id",
                      "--limit", "50", "--format", "parquet", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert f"{out}:" in done.stdout and "rows" in done.stdout and "sha256" in done.stdout
    table = pq.read_table(out)
    assert table.schema.names == ["company_id", "company_name", "annual_revenue", "founded_on", "country"]
    assert 0 < table.num_rows <= 50
    assert set(table.column("country").to_pylist()) == {"Germany"}
    revenue = [r for r in table.column("annual_revenue").to_pylist() if r is not None]
    assert revenue == sorted(revenue, reverse=True)
    assert min(d for d in table.column("founded_on").to_pylist() if d).year >= 1990
    manifest = json.loads((tmp_path / "saas.parquet.manifest.json").read_text())
    assert manifest["filters"]["industry"] == "SaaS" and manifest["filters"]["location"] == "germany"
    verify = run_egress(egress_home, "verify", str(tmp_path / "saas.parquet.manifest.json"))
    assert verify.returncode == 0 and "ok: 1 files" in verify.stdout
    out.write_bytes(b"broken")
    verify = run_egress(egress_home, "verify", str(tmp_path / "saas.parquet.manifest.json"))
    assert verify.returncode == 1 and "size" in verify.stderr


def test_export_refuses_hidden_column_in_filter(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = run_egress(egress_home, "export", "--user", "alice", "--view", "companies",
                      "--filter", "annual_revenue > 100", "--format", "csv", "-o", str(tmp_path / "x.csv"))
    assert done.returncode == 1 and "42501" in done.stderr
    assert not list(tmp_path.iterdir())


def test_export_query_and_exclude_fields(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "q.csv"
    done = run_egress(egress_home, "export", "--user", "alice", "--query",
                      "SELECT company_id, name, industry FROM companies WHERE company_id < 100",
                      "--exclude-fields", "industry", "--format", "csv", "-o", str(out), "--compress", "gzip")
    assert done.returncode == 0, done.stderr
    import gzip

    lines = gzip.decompress((tmp_path / "q.csv.gz").read_bytes()).decode().splitlines()
    assert lines[0] == "company_id,name" and len(lines) == 100


def test_users_add_stores_only_a_verifier(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = run_egress(egress_home, "users", "add", "erin", "--tenant", "globex", "--role", "manager",
                      "--password-stdin", input="s3cret-pass\n")
    assert done.returncode == 0, done.stderr
    assert "s3cret" not in done.stdout + done.stderr
    # The WAL too. Read in another process: closing a file descriptor of state.db in this one
    # drops the POSIX locks that any SQLite connection of this process (the session's App
    # fixture) holds on it, and a CLI process writing next then corrupted the App's view.
    read = subprocess.run([sys.executable, "-c", "import sys, glob; sys.stdout.buffer.write(b''.join("
                           "open(p, 'rb').read() for p in sorted(glob.glob(sys.argv[1] + '/state.db*'))))",
                           str(egress_home.path)], capture_output=True, check=True, timeout=60)
    db = read.stdout
    assert b"s3cret-pass" not in db and b"SCRAM-SHA-256$4096:" in db
    listed = run_egress(egress_home, "users", "list").stdout
    assert "erin\ttenant=globex\trole=manager" in listed
    done = run_egress(egress_home, "query", "--user", "erin", "--format", "json",
                      "SELECT count(*) AS n, max(annual_revenue) IS NOT NULL AS sees_revenue FROM companies")
    assert json.loads(done.stdout) == {"n": 900, "sees_revenue": True}
    bad = run_egress(egress_home, "users", "add", "x", "--tenant", "nope", "--role", "manager",
                     "--password-stdin", input="p\n")
    assert bad.returncode == 1 and "tenant" in bad.stderr


def test_config_check_names_file_key_and_fix(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ok = run_egress(egress_home, "config", "check")
    assert ok.returncode == 0 and "embedded default" in ok.stdout
    bad = tmp_path / "egress.toml"
    bad.write_text('[server]\nport = "many"\nhots = "x"\n[warehouse]\nstream_memory_limit = "lots"\nwire_memory_limit = "off"\n[roles.r]\nmask = { companies = { name = "blur" } }\n'
                   '[users.u]\ntenant = "acme"\nrole = "r"\npassword = "plain"\n')
    done = run_egress(egress_home, "--config", str(bad), "config", "check")
    assert done.returncode == 1
    err = done.stderr
    assert f"{bad}: server.port:" in err and "fix:" in err
    assert f"{bad}: server.hots:" in err and "remove it" in err
    assert "roles.r.mask" in err and "blur" in err
    assert f"{bad}: warehouse.stream_memory_limit: must be a memory size such as '64MB'" in err
    assert f"{bad}: warehouse.wire_memory_limit: must be a memory size such as '24MB'" in err  # no 'off'
    assert "users.u.password" in err and "egress users add" in err
    missing = run_egress(egress_home, "--config", str(tmp_path / "nope.toml"), "config", "check")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\n")
    done = run_egress(egress_home, "--config", str(broken), "config", "check")
    assert done.returncode == 1 and "not valid TOML" in done.stderr


def test_demo_data_is_deterministic(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import duckdb

    for name in ("a", "b"):
        done = run_egress(egress_home, "demo-data", "--companies", "200", "--seed", "3",
                          "--out", str(tmp_path / f"{name}.duckdb"))
        assert done.returncode == 0, done.stderr
    rows = []
    for name in ("a", "b"):
        con = duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True)
        rows.append(con.sql("SELECT * FROM raw.companies ORDER BY company_id").fetchall())
        con.close()
    assert rows[0] == rows[1] and len(rows[0]) == 200


def test_first_use_creates_the_embedded_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.fix_egress import EgressHome

    home = EgressHome(tmp_path / "fresh")
    done = run_egress(home, "query", "--user", "alice", "--format", "json",
                      "SELECT count(*) AS n FROM companies")
    # the embedded default builds 100,000 companies; this proves it happens and says where
    assert done.returncode == 0, done.stderr
    assert "creating the demo warehouse" in done.stderr and str(home.path) in done.stderr
    assert json.loads(done.stdout)["n"] == 50_000


def test_killed_export_leaves_no_file_under_the_final_name(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """kill -9 a real export midway: nothing under the final name, no manifest."""
    out = tmp_path / "big.ndjson"
    cmd = [EGRESS, "export", "--user", "carol", "--query",
           "SELECT c.*, s.similarity_score FROM companies c JOIN company_similarities s USING (company_id) "
           "CROSS JOIN range(20) r", "--format", "ndjson", "-o", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, env=egress_home.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        partial = []
        while time.monotonic() < deadline:
            partial = [p for p in tmp_path.iterdir() if ".partial-" in p.name and p.stat().st_size > 1_000_000]
            if partial or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert partial, "the export should have been writing a temporary file"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not out.exists()
    assert not (tmp_path / "big.ndjson.manifest.json").exists()
    assert all(p.name.startswith(".big.ndjson.partial-") for p in tmp_path.iterdir())


def test_unwritable_output_is_a_message_not_a_traceback(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = run_egress(egress_home, "export", "--user", "alice", "--view", "companies", "--format", "csv",
                      "-o", str(blocker / "sub" / "out.csv"))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "egress: error:" in done.stderr
