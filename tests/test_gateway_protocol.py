"""The codec alone (whole and byte by byte, fuzzed) and the live server under abuse and load."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import struct
import time
import urllib.request

import asyncpg
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import messages as m
from gateway.codec import FrontendParser, ProtocolViolation, encode
from tests.fix_gateway import start_gateway, stop_gateway


def _frame(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


STARTUP = struct.pack("!i", 4 + 4 + len(b"user\x00alice\x00\x00")) + struct.pack("!i", 196608) + b"user\x00alice\x00\x00"
EXTENDED = (_frame(b"P", b"s1\x00SELECT $1\x00\x00\x01\x00\x00\x00\x17")
            + _frame(b"B", b"\x00s1\x00\x00\x01\x00\x01\x00\x01\x00\x00\x00\x0242\x00\x01\x00\x01")
            + _frame(b"D", b"P\x00") + _frame(b"E", b"\x00\x00\x00\x00\x00") + _frame(b"S", b""))


def _parse_all(data: bytes, step: int) -> list[object]:
    parser = FrontendParser()
    out: list[object] = []
    first = True
    for i in range(0, len(data), step):
        parser.receive(data[i:i + step])
        for msg in parser:
            out.append(msg)
            if first and isinstance(msg, m.StartupMessage):
                parser.end_startup()
                first = False
    return out


@pytest.mark.parametrize("step", [1, 3, 7, 4096])
def test_codec_parses_whole_or_one_byte_at_a_time(step) -> None:  # type: ignore[no-untyped-def]
    msgs = _parse_all(STARTUP + EXTENDED, step)
    assert msgs == [
        m.StartupMessage(196608, {"user": "alice"}),
        m.Parse("s1", "SELECT $1", (23,)),
        m.Bind("", "s1", (1,), (b"42",), (1,)),
        m.Describe("P", ""),
        m.Execute("", 0),
        m.Sync(),
    ]


def test_codec_encodes_backend_messages() -> None:
    assert encode(m.ReadyForQuery(m.TxStatus.IDLE)) == b"Z\x00\x00\x00\x05I"
    assert encode(m.CommandComplete("SELECT 1")) == b"C\x00\x00\x00\rSELECT 1\x00"
    err = encode(m.ErrorResponse("ERROR", "42501", "no", 8, None, "hint"))
    assert err.startswith(b"E") and b"C42501\x00" in err and b"P8\x00" in err and b"Hhint\x00" in err
    assert encode(m.ParameterDescription((23, 25))) == b"t\x00\x00\x00\x0e\x00\x02\x00\x00\x00\x17\x00\x00\x00\x19"


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), startup=st.booleans())
def test_codec_fuzz_only_ever_raises_protocol_violation(data, startup) -> None:  # type: ignore[no-untyped-def]
    parser = FrontendParser(max_message=1 << 16)
    if not startup:
        parser.end_startup()
    parser.receive(data)
    try:
        for _ in parser:
            pass
    except ProtocolViolation:
        pass


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(
    st.binary(min_size=1, max_size=64),
    st.builds(lambda k, b: k + struct.pack("!i", len(b) + 4) + b, st.sampled_from([b"Q", b"P", b"B", b"E", b"D", b"p"]),
              st.binary(max_size=40)),
))
def test_live_fuzz_after_login_keeps_the_server_serving(gateway, payload) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(gateway.dsn("alice"), connect_timeout=10) as conn:
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
        try:
            sock.settimeout(0.5)
            sock.sendall(payload)
            try:
                sock.recv(4096)
            except (socket.timeout, ConnectionError):
                pass
        finally:
            sock.close()
    with psycopg.connect(gateway.dsn("bob"), connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_out_of_order_messages_close_the_connection(gateway) -> None:  # type: ignore[no-untyped-def]
    with socket.create_connection((gateway.host, gateway.port), timeout=10) as s:
        s.sendall(_frame(b"Q", b"SELECT 1\x00"))  # a query before any startup packet
        reply = s.recv(4096)
        assert reply == b"" or b"08P01" in reply


def test_tls_require_and_verify_full(egress_home) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway(egress_home, "--tls-self-signed")
    try:
        with psycopg.connect(gw.dsn("alice", sslmode="require")) as conn:
            assert conn.pgconn.ssl_in_use
            assert conn.execute("SELECT count(*) FROM companies").fetchone() == (1500,)
        ca = egress_home.path / "tls" / "server.crt"
        with psycopg.connect(gw.dsn("alice", sslmode="verify-full", sslrootcert=str(ca))) as conn:
            assert conn.pgconn.ssl_in_use
        with psycopg.connect(gw.dsn("alice", sslmode="disable")) as conn:  # TLS offered, not forced
            assert not conn.pgconn.ssl_in_use
    finally:
        stop_gateway(gw)


def test_metrics_endpoint(egress_home) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway(egress_home, "--metrics-port", "0")
    try:

        with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
            conn.execute("SELECT count(*) FROM companies").fetchone()
            with pytest.raises(psycopg.Error):
                conn.execute("SELECT annual_revenue FROM companies")
        port = gw.metrics_port
        body = urllib.request.urlopen(f"http://{gw.host}:{port}/metrics", timeout=10).read().decode()
        assert 'egress_statements_total{kind="query"}' in body
        assert 'egress_errors_total{sqlstate="42501"} 1.0' in body
        assert "egress_connections_total" in body and "egress_statement_seconds_bucket" in body
    finally:
        stop_gateway(gw)


def test_bounded_load_100_connections_x_200_queries(gateway) -> None:  # type: ignore[no-untyped-def]
    """100 concurrent connections, 200 queries each, zero errors (bounded: 20,000 queries, 240 s)."""
    errors: list[BaseException] = []

    async def client(i: int) -> int:
        conn = await asyncpg.connect(gateway.url(random.choice(["alice", "bob", "carol", "dave"])), timeout=60)
        try:
            done = 0
            for q in range(200):
                value = await conn.fetchval("SELECT count(*) FROM companies WHERE company_id = $1", q + i)
                assert value in (0, 1)
                done += 1
            return done
        finally:
            await conn.close()

    async def run() -> int:
        results = await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(100)), return_exceptions=True), 240)
        errors.extend(r for r in results if isinstance(r, BaseException))
        return sum(r for r in results if isinstance(r, int))

    started = time.monotonic()
    total = asyncio.run(run())
    assert not errors, errors[:3]
    assert total == 20_000
    assert time.monotonic() - started < 240


def test_client_that_disconnects_mid_result_frees_its_query(egress_home) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway(egress_home, "--metrics-port", "0")
    try:
        conn = psycopg.connect(gw.dsn("carol"), autocommit=True)
        conn.pgconn.send_query(b"SELECT a.*, b.name AS other FROM companies a, companies b")  # 2.25M rows
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
        sock.settimeout(10)
        received = sock.recv(1 << 16)  # the server is streaming
        assert received
        sock.close()
        conn.pgconn.finish()  # the client goes away mid-result
        deadline = time.monotonic() + 20
        active = None
        while time.monotonic() < deadline:
            body = urllib.request.urlopen(f"http://{gw.host}:{gw.metrics_port}/metrics", timeout=10).read().decode()
            active = next(float(line.split()[-1]) for line in body.splitlines()
                          if line.startswith("egress_connections_active "))
            if active == 0:
                break
            time.sleep(0.2)
        assert active == 0
        with psycopg.connect(gw.dsn("alice")) as again:
            assert again.execute("SELECT 1").fetchone() == (1,)
    finally:
        stop_gateway(gw)


def test_stopping_with_connections_open_ends_them_cleanly(egress_home) -> None:  # type: ignore[no-untyped-def]
    # SIGTERM while one client idles, one is inside a transaction and one is mid-result: every
    # connection is ended and its session closed before the worker threads go, so the server
    # exits 0 without a traceback (before, each connection still open logged one).
    gw = start_gateway(egress_home)
    idle = psycopg.connect(gw.dsn("alice"))
    in_tx = psycopg.connect(gw.dsn("bob"))
    in_tx.execute("SELECT count(*) FROM companies").fetchone()  # opens a transaction
    busy = psycopg.connect(gw.dsn("carol"), autocommit=True)
    busy.pgconn.send_query(b"SELECT a.*, b.name AS other FROM companies a, companies b")
    sock = socket.socket(fileno=os.dup(busy.pgconn.socket))
    sock.settimeout(10)
    assert sock.recv(1 << 16)  # rows are flowing
    try:
        gw.process.send_signal(signal.SIGTERM)
        code = gw.process.wait(timeout=20)
        logged = gw.logged()
    finally:
        sock.close()
        for conn in (idle, in_tx, busy):
            conn.close()
        stop_gateway(gw)
    assert code == 0, logged
    assert "Traceback" not in logged and "ERROR" not in logged, logged


def test_idle_timeout_and_oversized_messages(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from service.config import DEMO_VERIFIERS

    config = tmp_path / "egress.toml"
    config.write_text(f'home = "{egress_home.path}"\n[server]\nidle_timeout_s = 1\nmax_message_bytes = 2048\n'
                      '[roles.analyst]\ndeny = { companies = ["contact_email", "annual_revenue"] }\n'
                      f'[users.alice]\ntenant = "acme"\nrole = "analyst"\npassword = "{DEMO_VERIFIERS["alice"]}"\n')
    gw = start_gateway(egress_home, "--config", str(config), prefix=True)
    try:
        with psycopg.connect(gw.dsn("alice")) as conn:
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT '" + "x" * 5000 + "' AS big")
            assert "invalid message length" in str(info.value) or info.value.sqlstate == "08P01" or conn.closed
        conn = psycopg.connect(gw.dsn("alice"), autocommit=True)
        assert conn.execute("SELECT 1").fetchone() == (1,)
        time.sleep(2.0)  # idle past the 1 s timeout
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        conn.close()
    finally:
        stop_gateway(gw)


def _config(egress_home, tmp_path, server: str):  # type: ignore[no-untyped-def]
    from service.config import DEMO_VERIFIERS

    config = tmp_path / "egress.toml"
    config.write_text(f'home = "{egress_home.path}"\n[server]\n{server}\n[roles.analyst]\n'
                      f'[users.alice]\ntenant = "acme"\nrole = "analyst"\npassword = "{DEMO_VERIFIERS["alice"]}"\n')
    return config


def test_cleartext_password_only_over_tls(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = _config(egress_home, tmp_path, 'auth = "password"')
    gw = start_gateway(egress_home, "--config", str(config), prefix=True)
    try:
        with pytest.raises(psycopg.OperationalError) as info:
            psycopg.connect(gw.dsn("alice", sslmode="disable"))
        assert "requires TLS" in str(info.value)
    finally:
        stop_gateway(gw)
    proc_args = ["--config", str(config)]
    gw = start_gateway(egress_home, *proc_args, prefix=True, extra=["--tls-self-signed"])
    try:
        with psycopg.connect(gw.dsn("alice", sslmode="require")) as conn:
            assert conn.pgconn.ssl_in_use and conn.execute("SELECT 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError) as info:
            psycopg.connect(gw.dsn("alice", "wrong", sslmode="require"))
        assert "password authentication failed" in str(info.value)
    finally:
        stop_gateway(gw)


def test_max_connections(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = _config(egress_home, tmp_path, "max_connections = 2")
    gw = start_gateway(egress_home, "--config", str(config), prefix=True)
    try:
        first, second = psycopg.connect(gw.dsn("alice")), psycopg.connect(gw.dsn("alice"))
        with pytest.raises(psycopg.OperationalError) as info:
            psycopg.connect(gw.dsn("alice"))
        assert "too many clients" in str(info.value)
        second.close()
        time.sleep(0.3)
        with psycopg.connect(gw.dsn("alice")) as third:
            assert third.execute("SELECT 1").fetchone() == (1,)
        first.close()
    finally:
        stop_gateway(gw)


def test_md5_login_when_configured(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    from service.config import DEMO_VERIFIERS

    md5 = "md5" + hashlib.md5(b"alicealice").hexdigest()
    config = tmp_path / "egress.toml"
    config.write_text(f'home = "{egress_home.path}"\n[server]\nauth = "md5"\n[roles.analyst]\n'
                      f'[users.alice]\ntenant = "acme"\nrole = "analyst"\npassword = "{DEMO_VERIFIERS["alice"]}"\n'
                      f'md5 = "{md5}"\n')
    gw = start_gateway(egress_home, "--config", str(config), prefix=True)
    try:
        with psycopg.connect(gw.dsn("alice")) as conn:
            assert conn.execute("SELECT count(*) FROM companies").fetchone() == (1500,)
        for user, password in (("alice", "wrong"), ("nobody", "nobody")):
            with pytest.raises(psycopg.OperationalError) as info:
                psycopg.connect(gw.dsn(user, password))
            assert "password authentication failed" in str(info.value)
    finally:
        stop_gateway(gw)


def test_an_error_after_rows_have_streamed_keeps_its_sqlstate(egress_home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """DuckDB raises errors met after the first batch through the Arrow reader (as OSError);
    they still map to their SQLSTATE, not XX000, and the session goes on."""
    config = _config(egress_home, tmp_path, "")
    # a warehouse of its own, big enough that rows stream before the failing one is reached
    config.write_text(config.read_text() + f'[warehouse]\npath = "{tmp_path / "w.duckdb"}"\n'
                      "demo_companies = 20000\nbatch_rows = 1024\n")
    gw = start_gateway(egress_home, "--config", str(config), prefix=True)
    try:
        with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
            last = conn.execute("SELECT max(company_id) FROM companies").fetchone()[0]
            sql = (f"SELECT description, CAST(CASE WHEN company_id > {last - 5} THEN 'x' ELSE '1' END AS INTEGER) "
                   "FROM companies")
            with pytest.raises(psycopg.errors.DataError) as info:
                conn.execute(sql)
            assert info.value.sqlstate == "22P02" and 'invalid input syntax for type integer: "x"' in str(info.value)
            with pytest.raises(psycopg.errors.DataError):
                with conn.cursor().copy(f"COPY ({sql}) TO STDOUT") as copy:
                    list(copy)
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert "internal error" not in gw.logged()
    finally:
        stop_gateway(gw)


def test_chunks_are_made_ahead_of_a_stalled_client_only_so_far_and_leave_in_order(app) -> None:  # type: ignore[no-untyped-def]
    """While the client reads nothing, the server makes the chunk it is writing and AHEAD more
    (one whole in reserve for a chunk that is slow to make), never the whole answer; once the
    client reads, every chunk arrives, in order."""
    from types import SimpleNamespace

    from gateway.server import AHEAD, GatewayServer

    size, count = 4 << 20, 12  # each chunk far larger than the socket's buffers
    made: list[int] = []

    def chunks():  # type: ignore[no-untyped-def]
        for i in range(count):
            made.append(i)
            yield bytes([i]) * size

    async def go() -> tuple[int, bytes]:
        server = GatewayServer(app, port=0)
        ours, theirs = socket.socketpair()
        try:
            _, writer = await asyncio.open_connection(sock=ours)
            writer.transport.set_write_buffer_limits(high=0)  # as the server's connections are
            session = SimpleNamespace(client_behind=False)
            pump = asyncio.create_task(server._pump(chunks(), writer, session))  # type: ignore[arg-type]
            await asyncio.sleep(0.5)
            stalled = len(made)
            theirs.setblocking(False)
            received = bytearray()
            loop = asyncio.get_running_loop()
            while len(received) < size * count:
                received += await loop.sock_recv(theirs, 1 << 20)
            await asyncio.wait_for(pump, 10)
            writer.close()
            return stalled, bytes(received)
        finally:
            theirs.close()
            server.executor.shutdown(wait=True)
            server.shadows.close()

    stalled, received = asyncio.run(go())
    assert stalled == 1 + AHEAD
    assert received == b"".join(bytes([i]) * size for i in range(count))
