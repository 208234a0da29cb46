"""The state store: a small SQLite database (WAL) in the home directory.

For now it holds users added with `egress users add` (verifiers only, never passwords); jobs,
schedules, quotas and audit join it as those features land.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    role TEXT NOT NULL,
    verifier TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""
MIGRATIONS = ("ALTER TABLE users ADD COLUMN md5 TEXT",)


@dataclass(frozen=True)
class StoredUser:
    name: str
    tenant: str
    role: str
    verifier: str
    md5: str | None = None


class StateStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA busy_timeout=5000")
        self._con.executescript(SCHEMA)
        columns = {row[1] for row in self._con.execute("PRAGMA table_info(users)")}
        if "md5" not in columns:
            for statement in MIGRATIONS:
                self._con.execute(statement)

    def close(self) -> None:
        self._con.close()

    def put_user(self, user: StoredUser) -> None:
        self._con.execute(
            "INSERT INTO users(name, tenant, role, verifier, md5, created_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET tenant=excluded.tenant, role=excluded.role, "
            "verifier=excluded.verifier, md5=excluded.md5",
            (user.name, user.tenant, user.role, user.verifier, user.md5, time.time()),
        )

    def user(self, name: str) -> StoredUser | None:
        row = self._con.execute("SELECT name, tenant, role, verifier, md5 FROM users WHERE name = ?",
                                (name,)).fetchone()
        return StoredUser(*row) if row else None

    def users(self) -> list[StoredUser]:
        rows = self._con.execute("SELECT name, tenant, role, verifier, md5 FROM users ORDER BY name").fetchall()
        return [StoredUser(*row) for row in rows]
