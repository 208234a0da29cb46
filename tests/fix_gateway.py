"""A real `egress serve` on a free loopback port, started once per test session."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fix_egress import EGRESS, EgressHome


@dataclass
class Gateway:
    host: str
    port: int
    process: subprocess.Popen[str]
    metrics_port: int | None = None
    flight_port: int | None = None
    http_port: int | None = None
    # what the server writes to stderr after "ready", read as it comes: a pipe nobody reads
    # fills after 64 KiB of log lines and then blocks the server's next log call
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def logged(self) -> str:
        """Everything logged after "ready" (complete once the process has exited)."""
        if self.reader is not None:
            self.reader.join(timeout=10)
        return "".join(self.lines)

    def dsn(self, user: str = "alice", password: str | None = None, **extra: str) -> str:
        parts = {"host": self.host, "port": str(self.port), "user": user, "dbname": "egress",
                 "password": user if password is None else password, **extra}
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def url(self, user: str = "alice") -> str:
        return f"postgresql://{user}:{user}@{self.host}:{self.port}/egress"

    def metric(self, name: str) -> float:
        """One unlabelled value from the gateway's Prometheus endpoint (needs --metrics-port)."""
        import urllib.request

        body = urllib.request.urlopen(f"http://{self.host}:{self.metrics_port}/metrics", timeout=10).read().decode()
        return next(float(line.split()[-1]) for line in body.splitlines() if line.startswith(name + " "))


def start_gateway(home: EgressHome, *args: str, timeout: float = 60, prefix: bool = False,
                  extra: list[str] | None = None, env: dict[str, str] | None = None) -> Gateway:
    """`egress serve` on a free port; with prefix=True, args go before `serve` (e.g. --config)
    and ``extra`` after it."""
    if prefix:
        cmd = [EGRESS, *args, "serve", "--port", "0", "--flight-port", "0", "--http-port", "0", *(extra or [])]
    else:
        cmd = [EGRESS, "serve", "--port", "0", "--flight-port", "0", "--http-port", "0", *args]
    proc = subprocess.Popen(cmd, env=home.env(**(env or {})),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith("ready "):
            info = json.loads(line[len("ready "):])
            gw = Gateway(info["host"], info["port"], proc, info.get("metrics_port"), info.get("flight_port"),
                         info.get("http_port"))
            gw.reader = threading.Thread(target=_drain, args=(proc.stderr, gw.lines), daemon=True)
            gw.reader.start()
            return gw
        if not line and proc.poll() is not None:
            raise RuntimeError(f"egress serve exited with {proc.returncode}")
    proc.kill()
    raise RuntimeError("egress serve did not become ready")


def _drain(stream: Any, lines: list[str]) -> None:
    lines.extend(iter(stream.readline, ""))


def stop_gateway(gw: Gateway) -> None:
    try:
        gw.process.send_signal(signal.SIGTERM)
        gw.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        gw.process.kill()
        gw.process.wait()


@pytest.fixture(scope="session")
def gateway(egress_home: EgressHome):  # type: ignore[no-untyped-def]
    gw = start_gateway(egress_home)
    try:
        yield gw
    finally:
        stop_gateway(gw)


DEMO_ROLES = """
[roles.analyst]
deny = { companies = ["contact_email", "annual_revenue"] }
[roles.manager]
tenant_admin = true
[roles.support]
deny = { companies = ["annual_revenue"] }
mask = { companies = { contact_email = "email_domain" } }
"""


def demo_config_text(home: Path, warehouse: Path, extra: str = "") -> str:
    """The demo users and roles in a config file of its own (own home and state store, the shared
    test warehouse), with ``extra`` TOML appended (sections such as [quotas.default])."""
    from service.config import DEMO_VERIFIERS

    users = {"alice": ("acme", "analyst"), "bob": ("globex", "analyst"), "carol": ("acme", "manager"),
             "dave": ("initech", "support")}
    text = f'home = "{home}"\n[warehouse]\npath = "{warehouse}"\ndemo = false\n' + DEMO_ROLES
    for name, (tenant, role) in users.items():
        text += f'[users.{name}]\ntenant = "{tenant}"\nrole = "{role}"\npassword = "{DEMO_VERIFIERS[name]}"\n'
    return text + "\n" + extra


def start_custom(egress_home: EgressHome, tmp: Path, extra: str = "",
                 env: dict[str, str] | None = None) -> tuple[Gateway, Path]:
    """A gateway with its own home and config (returns it and the config path)."""
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    config = tmp / "egress.toml"
    config.write_text(demo_config_text(home, egress_home.path / "warehouse.duckdb", extra))
    return start_gateway(egress_home, "--config", str(config), prefix=True, env=env), config
