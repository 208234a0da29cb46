"""Real delivery servers on loopback for the tests: moto's S3 server, OpenSSH's sshd with a
throwaway host key and a key-authenticated user, aiosmtpd, and a small webhook receiver."""

from __future__ import annotations

import getpass
import http.server
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class S3:
    endpoint: str
    env: dict[str, str]

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.env["EGRESS_TEST_S3_KEY"],
                            aws_secret_access_key=self.env["EGRESS_TEST_S3_SECRET"])


@pytest.fixture(scope="session")
def s3_server():  # type: ignore[no-untyped-def]
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wait_port(port)
    s3 = S3(f"http://127.0.0.1:{port}", {"EGRESS_TEST_S3_KEY": "testing-key", "EGRESS_TEST_S3_SECRET": "testing-secret"})
    s3.client().create_bucket(Bucket="egress-deliveries")
    yield s3
    server.stop()


@dataclass
class Sshd:
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    root: Path  # a directory the sftp user writes into


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory):  # type: ignore[no-untyped-def]
    binary = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(binary).exists():
        pytest.fail("OpenSSH's sshd is missing: apt-get install openssh-server (.ci/run does)")
    tmp = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / name)], check=True)
    authorized = tmp / "authorized_keys"
    authorized.write_text((tmp / "client_key.pub").read_text())
    authorized.chmod(0o600)
    port = free_port()
    user = getpass.getuser()
    config = tmp / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_key'}\nPidFile {tmp / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nAllowUsers {user}\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\n")
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([binary, "-D", "-e", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_port(port)
    except RuntimeError:
        proc.kill()
        pytest.fail("sshd did not start: " + proc.stderr.read().decode() if proc.stderr else "")
    host_pub = (tmp / "host_key.pub").read_text().split()
    known = tmp / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    root = tmp / "inbox"
    root.mkdir()
    yield Sshd(port, user, tmp / "client_key", known, root)
    proc.terminate()
    proc.wait(timeout=10)


@dataclass
class Mailbox:
    port: int
    messages: list[Any] = field(default_factory=list)


@pytest.fixture(scope="session")
def smtp_server():  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    box = Mailbox(free_port())

    class Collect(Message):
        def handle_message(self, message: Any) -> None:
            box.messages.append(message)

    controller = Controller(Collect(), hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@dataclass
class Webhook:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def webhook_server():  # type: ignore[no-untyped-def]
    hook = Webhook("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(hook.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()



@dataclass
class Postgres:
    port: int
    url: str  # SQLAlchemy URL of an empty database for the state store


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):  # type: ignore[no-untyped-def]
    """Debian's PostgreSQL server in a temporary cluster on a loopback port (as the postgres user
    when the tests run as root, since initdb refuses root)."""
    import os
    import pwd

    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins:
        pytest.fail("PostgreSQL server binaries are missing: apt-get install postgresql (.ci/run does)")
    bin_dir = bins[-1].parent
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="egress-test-pg-"))  # not under pytest's 0700 root: postgres must reach it
    as_user: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(tmp, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = tmp / "data", free_port()
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
                   check=True, capture_output=True)
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{tmp}'\n")
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "log"), "-w", "start"],
                   check=True, capture_output=True)
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute("CREATE ROLE egress LOGIN PASSWORD 'egress'")
        conn.execute("CREATE DATABASE egress_state OWNER egress")
    yield Postgres(port, f"postgresql+psycopg://egress:egress@127.0.0.1:{port}/egress_state")
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
