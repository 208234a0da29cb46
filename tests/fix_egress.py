"""Fixtures for a real egress: a demo warehouse made by `egress demo-data`, an App over it,
and a helper that runs the real `egress` console script in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

COMPANIES = 3000  # acme 1500, globex 900, initech 600
EGRESS = shutil.which("egress") or ""


@dataclass
class EgressHome:
    path: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EGRESS_")}
        env["EGRESS_HOME"] = str(self.path)
        env.update(extra)
        return env


def run_egress(home: EgressHome, *args: str, input: str | None = None, cwd: Path | None = None,
               timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    cmd = [EGRESS] if EGRESS else [sys.executable, "-m", "gateway"]
    return subprocess.run(cmd + list(args), input=input, capture_output=True, text=True,
                          env=home.env(**env), cwd=cwd, timeout=timeout)


@pytest.fixture(scope="session")
def egress_home(tmp_path_factory: pytest.TempPathFactory) -> EgressHome:
    home = EgressHome(tmp_path_factory.mktemp("egress-home"))
    done = run_egress(home, "demo-data", "--companies", str(COMPANIES), "--seed", "7")
    assert done.returncode == 0, done.stderr
    assert (home.path / "warehouse.duckdb").exists()
    return home


@pytest.fixture(scope="session")
def app(egress_home: EgressHome):  # type: ignore[no-untyped-def]
    from service import config as cfg
    from service.app import App

    os.environ["EGRESS_HOME"] = str(egress_home.path)
    application = App(cfg.demo_config(), None)
    yield application
    application.close()


@pytest.fixture(scope="session")
def reference(app):  # type: ignore[no-untyped-def]
    """Run SQL straight on the warehouse, bypassing the policy: the answer a rewrite must match."""

    def run(sql: str, params: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
        cur = app.warehouse.cursor()
        try:
            return cur.sql(sql, params=params).to_arrow_table() if params else cur.sql(sql).to_arrow_table()
        finally:
            cur.close()

    return run
