"""The audit trail: every query and export, to the state store (egress.audit) and as one JSON
log line each (logger ``egress.audit``).

Records are queued and written by one background thread in batches, so a statement never
waits on the state store. The writer lingers a moment after the first record of a batch: a
record is queued just as its statement's answer is about to go out, and a write at that moment
takes the interpreter from the event loop that sends it (1-3 ms of a 15 ms connect-and-query).
Parameter values are never recorded (the SQL keeps its $n), and the SQL as run is the
policy's rewrite, which names no secret.
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
LINGER_S = 0.25  # how long the writer gathers records before a write


class Audit:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=100_000)
        self._unstored = 0  # queued or being written
        self._lock = threading.Lock()
        self._closing = threading.Event()
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
        with self._lock:
            self._unstored += 1
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            with self._lock:
                self._unstored -= 1
            log.error("audit queue full: a record was not stored")

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every record queued so far is stored (or the timeout passes)."""
        deadline = time.monotonic() + timeout
        while self._unstored and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self._closing.set()  # no more lingering: what is queued is written now
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _writer(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            self._closing.wait(LINGER_S)
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
        finally:
            with self._lock:
                self._unstored -= len(batch)
