"""The audit trail: every query and export, to the state store (egress.audit) and as one JSON
log line each (logger ``egress.audit``).

Records are queued and written by one background thread in small batches, so a statement never
waits on the state store. Parameter values are never recorded (the SQL keeps its $n), and the
SQL as run is the policy's rewrite, which names no secret.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

from service import state as st

log = logging.getLogger("egress.audit")
MAX_SQL = 20_000


class Audit:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=100_000)
        self._thread = threading.Thread(target=self._writer, name="egress-audit", daemon=True)
        self._thread.start()

    def record(self, *, principal: Any, kind: str, outcome: str, application: str | None = None,
               sql_given: str | None = None, sql_run: str | None = None, rows: int | None = None,
               bytes_: int | None = None, files: list[dict[str, Any]] | None = None,
               duration_ms: float | None = None, sqlstate: str | None = None, job_id: str | None = None) -> None:
        entry = {
            "at": time.time(), "user": principal.user, "tenant": principal.tenant, "role": principal.role.name,
            "application": (application or "")[:200], "kind": kind,
            "sql_given": (sql_given or "")[:MAX_SQL] or None, "sql_run": (sql_run or "")[:MAX_SQL] or None,
            "rows": rows, "bytes": bytes_, "files": json.dumps(files) if files is not None else None,
            "duration_ms": round(duration_ms, 3) if duration_ms is not None else None,
            "outcome": outcome, "sqlstate": sqlstate, "job_id": job_id,
        }
        if log.isEnabledFor(logging.INFO):  # every statement passes here: no JSON nobody reads
            log.info(json.dumps({"audit": {k: v for k, v in entry.items() if k not in ("sql_run",)}}, default=str))
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            log.error("audit queue full: a record was not stored")

    def flush(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _writer(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < 500:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._store(batch)
                    return
                batch.append(item)
            self._store(batch)

    def _store(self, batch: list[dict[str, Any]]) -> None:
        try:
            with self.app.state.tx() as conn:
                conn.execute(st.audit.insert(), batch)
        except Exception:  # noqa: BLE001 - the trail is also in the log; the gateway goes on
            log.exception("could not store %d audit records", len(batch))
