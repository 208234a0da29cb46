"""Arrow Flight SQL against a real `egress serve`: the ADBC Flight SQL driver and plain pyarrow.flight.

Every answer is checked against the warehouse read directly (the ``reference`` fixture), so the
tenant and column rules are proved on the Flight path too, metadata included.
"""

from __future__ import annotations

import base64
import datetime as dt
import time

import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from google.protobuf import any_pb2

from flight.protocol import EgressFlightAdditions_pb2 as extra
from flight.protocol import FlightSql_pb2 as pb
from tests.fix_gateway import start_custom, start_gateway, stop_gateway

# egress has no transactions; the ADBC dbapi warns that it cannot turn autocommit off
pytestmark = pytest.mark.filterwarnings("ignore:Cannot disable autocommit")


def _uri(gw) -> str:  # type: ignore[no-untyped-def]
    return f"grpc://{gw.host}:{gw.flight_port}"


def _adbc(gw, user: str = "alice", password: str | None = None, **kwargs: str):  # type: ignore[no-untyped-def]
    db_kwargs = {"username": user, "password": user if password is None else password, **kwargs}
    return flightsql.connect(_uri(gw), db_kwargs=db_kwargs)


def _pack(message) -> bytes:  # type: ignore[no-untyped-def]
    wrapped = any_pb2.Any()
    wrapped.Pack(message)
    return wrapped.SerializeToString()


def _client(gw, user: str = "alice"):  # type: ignore[no-untyped-def]
    client = fl.FlightClient(_uri(gw))
    header = client.authenticate_basic_token(user, user)
    return client, fl.FlightCallOptions(headers=[header])


def _no_traceback(err: BaseException) -> str:
    text = str(err)
    assert "Traceback" not in text and 'File "' not in text and ".py" not in text, text
    return text


# -- ADBC ----------------------------------------------------------------------------------------
def test_adbc_query_matches_the_tenant_rows(gateway, reference) -> None:  # type: ignore[no-untyped-def]
    with _adbc(gateway) as conn, conn.cursor() as cur:
        cur.execute("SELECT company_id, name, country FROM companies ORDER BY company_id")
        got = cur.fetch_arrow_table()
    want = reference("SELECT company_id, name, country FROM curated.companies "
                     "WHERE tenant_id = 'acme' ORDER BY company_id")
    assert got.num_rows == want.num_rows == 1500
    assert got.column("company_id").to_pylist() == want.column("company_id").to_pylist()
    assert got.column("name").to_pylist() == want.column("name").to_pylist()


def test_adbc_parameters_int_string_date(gateway, reference) -> None:  # type: ignore[no-untyped-def]
    sql = ("SELECT company_id, name, founded_on FROM companies "
           "WHERE company_id > ? AND industry = ? AND founded_on >= ? ORDER BY company_id")
    args = (100, "SaaS", dt.date(2000, 1, 1))
    with _adbc(gateway) as conn, conn.cursor() as cur:
        cur.execute(sql, parameters=args)
        got = cur.fetch_arrow_table()
        cur.execute(sql, parameters=(2000, "FinTech", dt.date(2010, 6, 1)))  # same statement, new values
        again = cur.fetch_arrow_table()
    want = reference("SELECT company_id FROM curated.companies WHERE tenant_id = 'acme' AND company_id > 100 "
                     "AND industry = 'SaaS' AND founded_on >= DATE '2000-01-01' ORDER BY company_id")
    assert got.num_rows > 0
    assert got.column("company_id").to_pylist() == want.column("company_id").to_pylist()
    want2 = reference("SELECT company_id FROM curated.companies WHERE tenant_id = 'acme' AND company_id > 2000 "
                      "AND industry = 'FinTech' AND founded_on >= DATE '2010-06-01' ORDER BY company_id")
    assert again.column("company_id").to_pylist() == want2.column("company_id").to_pylist()


def test_adbc_parameters_many_rows(gateway, reference) -> None:  # type: ignore[no-untyped-def]
    with _adbc(gateway) as conn, conn.cursor() as cur:
        cur.adbc_prepare("SELECT company_id, name FROM companies WHERE company_id = ?")
        params = pa.record_batch([pa.array([1, 2, 3, 4, 5, 6], pa.int64())], names=["id"])
        cur.execute("SELECT company_id, name FROM companies WHERE company_id = ?", parameters=params)
        got = cur.fetch_arrow_table()
    want = reference("SELECT company_id FROM curated.companies WHERE tenant_id = 'acme' AND company_id <= 6 "
                     "ORDER BY company_id")
    assert sorted(got.column("company_id").to_pylist()) == want.column("company_id").to_pylist()
    with _adbc(gateway) as conn, conn.cursor() as cur:
        # IN (?,?,?) becomes IN ($1,$2,$3), which the tokenizer once took for a dollar-quoted string
        cur.execute("SELECT count(*) AS n FROM companies WHERE company_id IN (?,?,?)", (1, 2, 3))
        assert cur.fetch_arrow_table().column("n").to_pylist() == [len([i for i in want.column("company_id").to_pylist()
                                                                         if i <= 3])]


def test_adbc_authorization_header_login(gateway) -> None:  # type: ignore[no-untyped-def]
    basic = "Basic " + base64.b64encode(b"bob:bob").decode()
    with flightsql.connect(_uri(gateway), db_kwargs={"adbc.flight.sql.authorization_header": basic}) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM companies")
            assert cur.fetchone() == (900,)  # globex
    client, options = _client(gateway, "carol")
    bearer = options.headers[0][1].decode()  # "Bearer <token>" from the Basic handshake
    with flightsql.connect(_uri(gateway), db_kwargs={"adbc.flight.sql.authorization_header": bearer}) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM companies")
            assert cur.fetchone() == (1500,)  # acme, as carol
    client.close()


def test_adbc_wrong_password_is_refused(gateway) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(adbc_driver_manager.Error) as info:
        with _adbc(gateway, "alice", "nope") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    text = _no_traceback(info.value)
    assert "Unauthenticated" in text or "authentication failed" in text
    with pytest.raises(adbc_driver_manager.Error):
        with _adbc(gateway, "mallory", "mallory") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")


def test_adbc_metadata_at_every_depth_lists_only_visible_things(gateway) -> None:  # type: ignore[no-untyped-def]
    with _adbc(gateway) as conn:
        info = conn.adbc_get_info()
        assert info["vendor_name"] == "egress"
        assert info["vendor_version"]
        for depth in ("catalogs", "db_schemas", "tables", "columns", "all"):
            objects = conn.adbc_get_objects(depth=depth).read_all().to_pylist()
            assert [c["catalog_name"] for c in objects] == ["egress"]
            if depth == "catalogs":
                continue
            schemas = objects[0]["catalog_db_schemas"]
            assert [s["db_schema_name"] for s in schemas] == ["public"]
            if depth == "db_schemas":
                continue
            tables = {t["table_name"]: t for t in schemas[0]["db_schema_tables"]}
            assert set(tables) == {"companies", "company_similarities", "company_metrics"}
            assert {t["table_type"] for t in tables.values()} == {"VIEW"}
            if depth in ("columns", "all"):
                columns = [c["column_name"] for c in tables["companies"]["table_columns"]]
                assert "name" in columns and "company_id" in columns
                # alice is an analyst: these are denied to her role; the tenant column is never shown
                assert not {"contact_email", "annual_revenue", "tenant_id"} & set(columns)
        schema = conn.adbc_get_table_schema("companies")
        assert "contact_email" not in schema.names and "tenant_id" not in schema.names
        assert schema.field("company_id").metadata[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"BIGINT"
        assert conn.adbc_get_table_types() == ["VIEW"]
    with _adbc(gateway, "carol") as conn:  # a manager sees every column but the tenant
        schema = conn.adbc_get_table_schema("companies")
        assert "contact_email" in schema.names and "tenant_id" not in schema.names


def test_adbc_refusals_carry_sqlstate_without_traceback(gateway) -> None:  # type: ignore[no-untyped-def]
    cases = {
        "SELECT contact_email FROM companies": "42501",  # denied to the role, as on the PostgreSQL wire
        "SELECT * FROM curated.companies": "42P01",
        "SELECT * FROM read_csv('/etc/passwd')": "42883",  # not an allowed function
        "INSERT INTO companies VALUES (1)": "25006",
        "SELECT FROM WHERE": "42601",
        "SELECT * FROM no_such_view": "42P01",
    }
    with _adbc(gateway) as conn:
        for sql, state in cases.items():
            with conn.cursor() as cur, pytest.raises(adbc_driver_manager.Error) as info:
                cur.execute(sql)
                cur.fetch_arrow_table()
            text = _no_traceback(info.value)
            assert state in text, (sql, text)
        with conn.cursor() as cur:  # the connection still works
            cur.execute("SELECT 1 AS one")
            assert cur.fetchone() == (1,)


# -- plain pyarrow.flight ------------------------------------------------------------------------
def test_pyarrow_statement_query(gateway, reference) -> None:  # type: ignore[no-untyped-def]
    client, options = _client(gateway, "bob")
    descriptor = fl.FlightDescriptor.for_command(_pack(pb.CommandStatementQuery(query="SELECT * FROM companies")))
    info = client.get_flight_info(descriptor, options)
    got = pa.concat_tables([client.do_get(e.ticket, options).read_all() for e in info.endpoints])
    assert got.schema == info.schema
    want = reference("SELECT count(*) AS n FROM curated.companies WHERE tenant_id = 'globex'")
    assert got.num_rows == want.column("n")[0].as_py() == 900
    assert "tenant_id" not in got.schema.names and "contact_email" not in got.schema.names
    # a ticket is read once
    with pytest.raises(fl.FlightError) as again:
        client.do_get(info.endpoints[0].ticket, options).read_all()
    assert "unknown or expired" in _no_traceback(again.value)
    # another user cannot use bob's ticket
    info = client.get_flight_info(descriptor, options)
    other, other_options = _client(gateway, "alice")
    with pytest.raises(fl.FlightError):
        other.do_get(info.endpoints[0].ticket, other_options).read_all()
    client.close()
    other.close()


def test_pyarrow_prepared_statement_by_hand(gateway, reference) -> None:  # type: ignore[no-untyped-def]
    client, options = _client(gateway, "dave")
    request = pb.ActionCreatePreparedStatementRequest(query="SELECT company_id, contact_email FROM companies "
                                                            "WHERE company_id BETWEEN ? AND ? ORDER BY 1")
    results = list(client.do_action(fl.Action("CreatePreparedStatement", _pack(request)), options))
    wrapped = any_pb2.Any()
    wrapped.ParseFromString(results[0].body.to_pybytes())
    prepared = pb.ActionCreatePreparedStatementResult()
    assert wrapped.Unpack(prepared)
    dataset = pa.ipc.read_schema(pa.py_buffer(prepared.dataset_schema))
    assert dataset.names == ["company_id", "contact_email"]
    command = pb.CommandPreparedStatementQuery(prepared_statement_handle=prepared.prepared_statement_handle)
    descriptor = fl.FlightDescriptor.for_command(_pack(command))
    params = pa.record_batch([pa.array([1], pa.int64()), pa.array([3000], pa.int64())], names=["lo", "hi"])
    writer, meta = client.do_put(descriptor, params.schema, options)
    writer.write_batch(params)
    writer.done_writing()
    answer = meta.read()
    writer.close()
    put = extra.DoPutPreparedStatementResult()
    put.ParseFromString(answer.to_pybytes())
    assert put.prepared_statement_handle == prepared.prepared_statement_handle
    info = client.get_flight_info(descriptor, options)
    got = client.do_get(info.endpoints[0].ticket, options).read_all()
    want = reference("SELECT company_id, CASE WHEN contact_email IS NULL THEN NULL "
                     "ELSE '***@' || split_part(contact_email, '@', 2) END AS masked FROM curated.companies "
                     "WHERE tenant_id = 'initech' ORDER BY 1")
    assert got.num_rows == 600
    assert got.column("company_id").to_pylist() == want.column("company_id").to_pylist()
    # dave's role (support) masks contact_email down to its domain
    assert got.column("contact_email").to_pylist() == want.column("masked").to_pylist()
    close = pb.ActionClosePreparedStatementRequest(prepared_statement_handle=prepared.prepared_statement_handle)
    list(client.do_action(fl.Action("ClosePreparedStatement", _pack(close)), options))
    with pytest.raises(fl.FlightError) as closed:
        client.get_flight_info(descriptor, options)
    assert "unknown or expired" in _no_traceback(closed.value)
    client.close()


def test_pyarrow_updates_and_garbage_are_refused(gateway) -> None:  # type: ignore[no-untyped-def]
    client, options = _client(gateway)
    update = fl.FlightDescriptor.for_command(_pack(pb.CommandStatementUpdate(query="DELETE FROM companies")))
    writer, _ = client.do_put(update, pa.schema([]), options)
    with pytest.raises(fl.FlightError) as info:
        writer.close()
    assert "25006" in _no_traceback(info.value) and "read-only" in str(info.value)
    for body in (b"\xff\x00garbage", b""):
        with pytest.raises((fl.FlightError, pa.ArrowInvalid)) as bad:
            client.get_flight_info(fl.FlightDescriptor.for_command(body), options)
        _no_traceback(bad.value)
    with pytest.raises((fl.FlightError, pa.ArrowException)):
        list(client.do_action(fl.Action("BeginTransaction", b""), options))
    # no credentials at all
    bare = fl.FlightClient(_uri(gateway))
    with pytest.raises(fl.FlightUnauthenticatedError):
        bare.get_flight_info(fl.FlightDescriptor.for_command(_pack(pb.CommandGetCatalogs())))
    with pytest.raises(fl.FlightUnauthenticatedError):
        bare.authenticate_basic_token("alice", "wrong")
    bare.close()
    client.close()


def test_pyarrow_metadata_commands_use_the_reference_schemas(gateway) -> None:  # type: ignore[no-untyped-def]
    from flight import metadata

    client, options = _client(gateway)
    commands = [
        (pb.CommandGetCatalogs(), metadata.CATALOGS),
        (pb.CommandGetDbSchemas(), metadata.DB_SCHEMAS),
        (pb.CommandGetTables(include_schema=True), metadata.TABLES_WITH_SCHEMA),
        (pb.CommandGetTableTypes(), metadata.TABLE_TYPES),
        (pb.CommandGetPrimaryKeys(table="companies"), metadata.PRIMARY_KEYS),
        (pb.CommandGetXdbcTypeInfo(), metadata.XDBC_TYPE_INFO),
        (pb.CommandGetSqlInfo(info=[0, 3, 8, 504]), metadata.SQL_INFO),
    ]
    for command, schema in commands:
        info = client.get_flight_info(fl.FlightDescriptor.for_command(_pack(command)), options)
        table = client.do_get(info.endpoints[0].ticket, options).read_all()
        assert info.schema.equals(schema) and table.schema.equals(schema), type(command).__name__
        if isinstance(command, pb.CommandGetTables):
            schemas = {r["table_name"]: pa.ipc.read_schema(pa.py_buffer(r["table_schema"]))
                       for r in table.to_pylist()}
            assert "annual_revenue" not in schemas["companies"].names
        if isinstance(command, pb.CommandGetSqlInfo):
            values = dict(zip(table.column("info_name").to_pylist(), table.column("value").to_pylist()))
            assert values == {0: "egress", 3: True, 8: 0, 504: '"'}
    client.close()


def test_batches_are_capped_by_bytes_and_tokens_expire(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gw, _ = start_custom(egress_home, tmp_path, "[flight]\nmax_batch_bytes = 65536\ntoken_ttl_s = 2\n")
    try:
        client, options = _client(gw, "carol")
        query = pb.CommandStatementQuery(query="SELECT * FROM companies")
        info = client.get_flight_info(fl.FlightDescriptor.for_command(_pack(query)), options)
        reader = client.do_get(info.endpoints[0].ticket, options)
        sizes, rows = [], 0
        for chunk in reader:
            sizes.append(chunk.data.nbytes)
            rows += chunk.data.num_rows
        assert rows == 1500 and len(sizes) > 3
        assert max(sizes) <= 65536 * 1.25, sizes  # sliced batches share their string buffers' rounding
        time.sleep(3)  # past token_ttl_s
        with pytest.raises(fl.FlightUnauthenticatedError) as expired:
            client.get_flight_info(fl.FlightDescriptor.for_command(_pack(query)), options)
        assert "expired" in str(expired.value)
        client.close()
    finally:
        stop_gateway(gw)


def test_flight_over_tls(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gateway.server import self_signed_context

    self_signed_context(str(tmp_path / "tls"))
    cert, key = tmp_path / "tls" / "server.crt", tmp_path / "tls" / "server.key"
    gw, _ = start_custom(egress_home, tmp_path, f'[flight]\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    try:
        uri = f"grpc+tls://{gw.host}:{gw.flight_port}"
        client = fl.FlightClient(uri, tls_root_certs=cert.read_bytes())
        header = client.authenticate_basic_token("alice", "alice")
        options = fl.FlightCallOptions(headers=[header])
        query = pb.CommandStatementQuery(query="SELECT count(*) AS n FROM companies")
        info = client.get_flight_info(fl.FlightDescriptor.for_command(_pack(query)), options)
        assert client.do_get(info.endpoints[0].ticket, options).read_all().column("n")[0].as_py() == 1500
        client.close()
        plain = fl.FlightClient(f"grpc://{gw.host}:{gw.flight_port}")
        with pytest.raises(fl.FlightError):
            plain.authenticate_basic_token("alice", "alice")
        plain.close()
    finally:
        stop_gateway(gw)


def test_a_client_that_goes_away_cancels_its_query(egress_home) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway(egress_home, "--metrics-port", "0")

    def active() -> float:
        return gw.metric("egress_flight_streams_active")

    try:
        client, options = _client(gw, "carol")
        query = pb.CommandStatementQuery(query="SELECT a.*, b.name AS other FROM companies a, companies b")
        info = client.get_flight_info(fl.FlightDescriptor.for_command(_pack(query)), options)
        reader = client.do_get(info.endpoints[0].ticket, options)
        first = reader.read_chunk()  # 2.25M rows are on their way
        assert first.data.num_rows > 0 and active() == 1
        reader.cancel()
        client.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and active() != 0:
            time.sleep(0.2)
        assert active() == 0
        again, again_options = _client(gw, "alice")  # and the server serves on
        ok = pb.CommandStatementQuery(query="SELECT 1 AS one")
        info = again.get_flight_info(fl.FlightDescriptor.for_command(_pack(ok)), again_options)
        assert again.do_get(info.endpoints[0].ticket, again_options).read_all().column("one")[0].as_py() == 1
        again.close()
    finally:
        stop_gateway(gw)


def test_generated_protocol_module_matches_the_proto() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "flight.regen", "--check"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "up to date" in done.stdout


def test_jobs_through_flight_sql(gateway) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    with psycopg.connect(gateway.dsn("bob"), autocommit=True) as conn:
        conn.execute("COPY (SELECT name FROM companies LIMIT 4) TO 'flight-visible.csv'")
    with _adbc(gateway, "bob") as conn, conn.cursor() as cur:
        cur.execute("SELECT name, state, rows_done FROM egress.jobs WHERE name = 'flight-visible.csv'")
        assert cur.fetchall() == [("flight-visible.csv", "succeeded", 4)]
        cur.execute("SELECT quota FROM egress.quota ORDER BY quota")
        assert [r[0] for r in cur.fetchall()][:2] == ["bytes_per_file", "concurrent_jobs"]
    with _adbc(gateway, "dave") as conn, conn.cursor() as cur:  # another tenant sees none of bob's jobs
        cur.execute("SELECT count(*) FROM egress.jobs WHERE owner = 'bob'")
        assert cur.fetchone() == (0,)


def test_several_endpoints_share_one_query(egress_home, tmp_path, reference) -> None:  # type: ignore[no-untyped-def]
    gw, _ = start_custom(egress_home, tmp_path, "[flight]\nendpoints = 3\nmax_batch_bytes = 65536\n")
    try:
        client, options = _client(gw, "carol")
        query = pb.CommandStatementQuery(query="SELECT company_id, name FROM companies")
        info = client.get_flight_info(fl.FlightDescriptor.for_command(_pack(query)), options)
        assert len(info.endpoints) == 3
        readers = [client.do_get(e.ticket, options) for e in info.endpoints]  # all three open at once
        ids: list[int] = []
        for reader in readers:
            ids += reader.read_all().column("company_id").to_pylist()
        want = reference("SELECT company_id FROM curated.companies WHERE tenant_id = 'acme'")
        assert sorted(ids) == sorted(want.column("company_id").to_pylist())  # every row once
        client.close()
        with _adbc(gw, "carol") as conn, conn.cursor() as cur:
            cur.execute("SELECT company_id FROM companies")
            assert sorted(cur.fetch_arrow_table().column("company_id").to_pylist()) == sorted(ids)
    finally:
        stop_gateway(gw)


def test_a_busy_flight_port_is_a_clear_error(egress_home) -> None:  # type: ignore[no-untyped-def]
    import socket

    from tests.fix_egress import run_egress

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_egress(egress_home, "serve", "--port", "0", "--http-port", "0", "--flight-port", str(port),
                          timeout=60)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--flight-port" in done.stderr
    assert "Traceback" not in done.stderr and "nanobind" not in done.stderr
