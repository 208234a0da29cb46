"""Delivery of finished exports to real servers on loopback: a local directory, S3 (moto's server,
multipart), SFTP (OpenSSH sshd, key login, host key checked), e-mail (aiosmtpd) and a webhook
(HMAC-signed), with retries recorded and the export area's copy kept when a delivery fails."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from email import message_from_bytes

import psycopg
import pytest

from tests.fix_gateway import start_custom, stop_gateway

WIDE = "SELECT a.*, b.description AS other FROM companies a, companies b WHERE b.company_id % 50 = 1"


def _copy(gw, user: str, sql: str) -> str:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    with psycopg.connect(gw.dsn(user), autocommit=True) as conn:
        conn.add_notice_handler(lambda d: seen.append(d.message_detail or ""))
        conn.execute(sql)
    return json.loads(seen[-1])["job_id"]


def _deliveries(gw, user: str, job_id: str, want: int = 1, timeout: float = 30) -> list[tuple]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    with psycopg.connect(gw.dsn(user), autocommit=True) as conn:
        while True:
            rows = conn.execute("SELECT destination, attempt, state, detail FROM egress.deliveries "
                                "WHERE job_id = %s ORDER BY attempt", (job_id,)).fetchall()
            if len(rows) >= want or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)


def test_local_s3_sftp_email_and_webhook(egress_home, tmp_path, s3_server, sshd_server, smtp_server,
                                        webhook_server) -> None:  # type: ignore[no-untyped-def]
    local = tmp_path / "dropbox"
    extra = f"""
[destinations.box]
type = "local"
path = "{local}"
[destinations.bucket]
type = "s3"
bucket = "egress-deliveries"
prefix = "exports"
endpoint_url = "{s3_server.endpoint}"
access_key_env = "EGRESS_TEST_S3_KEY"
secret_key_env = "EGRESS_TEST_S3_SECRET"
multipart_mb = 5
[destinations.partner]
type = "sftp"
host = "127.0.0.1"
port = {sshd_server.port}
username = "{sshd_server.user}"
key_file = "{sshd_server.key_file}"
known_hosts = "{sshd_server.known_hosts}"
prefix = "{sshd_server.root}"
[destinations.mail]
type = "email"
host = "127.0.0.1"
port = {smtp_server.port}
sender = "egress@example.test"
to = ["analyst@example.test"]
attach_max_bytes = 100000
[destinations.hook]
type = "webhook"
url = "{webhook_server.url}"
hmac_secret_env = "EGRESS_TEST_HOOK_KEY"
"""
    env = {**s3_server.env, "EGRESS_TEST_HOOK_KEY": "hook-secret"}
    gw, _ = start_custom(egress_home, tmp_path, extra, env=env)
    area = tmp_path / "home" / "exports" / "carol"
    try:
        small = _copy(gw, "carol", "COPY (SELECT company_id, name FROM companies LIMIT 50) TO 'small.csv' "
                                   "(FORMAT csv, DELIVER 'box,partner,mail,hook')")
        big = _copy(gw, "carol", f"COPY ({WIDE}) TO 'big.csv' (FORMAT csv, DELIVER 'bucket,mail')")
        for job_id, names in ((small, {"box", "partner", "mail", "hook"}), (big, {"bucket", "mail"})):
            rows = _deliveries(gw, "carol", job_id, want=len(names))
            assert {r[0] for r in rows if r[2] == "delivered"} == names, rows
        small_bytes = (area / "small.csv").read_bytes()
        big_bytes = (area / "big.csv").read_bytes()
        assert len(big_bytes) > 10 * 1024 * 1024  # three 5 MiB parts
        # local
        assert (local / "carol" / "small.csv").read_bytes() == small_bytes
        assert (local / "carol" / "small.csv.manifest.json").exists()
        # sftp, through a real sshd
        assert (sshd_server.root / "carol" / "small.csv").read_bytes() == small_bytes
        # s3, multipart
        client = s3_server.client()
        head = client.head_object(Bucket="egress-deliveries", Key="exports/carol/big.csv")
        assert head["ContentLength"] == len(big_bytes) and "-" in head["ETag"]  # a multipart upload's ETag
        got = client.get_object(Bucket="egress-deliveries", Key="exports/carol/big.csv")["Body"].read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(big_bytes).digest()
        # e-mail: the small file attached, the big one as a link
        mails = [message_from_bytes(m.as_bytes()) for m in smtp_server.messages]
        attached = [m for m in mails if "small.csv" in m["Subject"]]
        linked = [m for m in mails if "big.csv" in m["Subject"]]
        assert attached and linked
        parts = [p for p in attached[-1].walk() if p.get_filename() == "small.csv"]
        assert parts and parts[0].get_payload(decode=True) == small_bytes
        text = linked[-1].get_payload() if not linked[-1].is_multipart() else linked[-1].get_payload()[0].get_payload()
        assert "/download/carol/big.csv?expires=" in text
        # webhook: the job summary, signed with the shared key
        headers, body = webhook_server.received[-1]
        expected = "sha256=" + hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
        assert headers["x-egress-signature"] == expected
        event = json.loads(body)
        assert event["job"]["id"] == small and event["job"]["rows_done"] == 50
        # no secret in what the gateway printed
        gw.process.terminate()
        out, _ = gw.process.communicate(timeout=20)
        err = gw.logged()  # stderr is read as it comes (tests/fix_gateway.py)
        assert "egress.gateway" in err  # the log is there to look in
        assert "testing-secret" not in out + err and "hook-secret" not in out + err
    finally:
        stop_gateway(gw)


def test_failed_delivery_retries_and_keeps_the_export(egress_home, tmp_path, webhook_server) -> None:  # type: ignore[no-untyped-def]
    webhook_server.status = 500
    extra = f'[destinations.hook]\ntype = "webhook"\nurl = "{webhook_server.url}"\nretries = 2\nbackoff_s = 0.1\n'
    gw, _ = start_custom(egress_home, tmp_path, extra)
    try:
        job_id = _copy(gw, "alice", "COPY (SELECT name FROM companies LIMIT 3) TO 'kept.csv' (DELIVER 'hook')")
        rows = _deliveries(gw, "alice", job_id, want=3)
        assert [(r[1], r[2]) for r in rows] == [(1, "failed"), (2, "failed"), (3, "failed")]
        assert "500" in rows[-1][3]
        assert len(webhook_server.received) == 3
        with psycopg.connect(gw.dsn("alice"), autocommit=True) as conn:
            assert conn.execute("SELECT state FROM egress.jobs WHERE id = %s", (job_id,)).fetchone() == ("succeeded",)
            with pytest.raises(psycopg.errors.UndefinedObject):
                conn.execute("COPY (SELECT 1) TO 'x.csv' (DELIVER 'nowhere')")
        assert (tmp_path / "home" / "exports" / "alice" / "kept.csv").exists()
    finally:
        stop_gateway(gw)
