"""The gateway's HTTP port: signed, time-limited downloads of exports (and /healthz).

GET and HEAD /download/<user>/<file>?expires=..&sig=..: 403 for a forged link, 410 once it has
expired, 404 for a file that is gone (an expired export), 206 for a Range request, streamed in
1 MiB reads. http.server is enough here: every request is one file read off local disk.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from service import links
from service.jobs import export_area, safe_target
from sql.errors import EgressError

log = logging.getLogger("egress.http")
CHUNK = 1 << 20


class DownloadServer:
    def __init__(self, app: Any, host: str, port: int) -> None:
        self.app = app
        self.key = links.signing_key(app)
        handler = type("Handler", (_Handler,), {"owner": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self.base_url = app.config.http.public_url or f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="egress-http", daemon=True)
        self._thread.start()

    def link(self, user: str, name: str) -> str:
        return links.sign(self.key, self.base_url, user, name, self.app.config.http.link_ttl_s)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    owner: DownloadServer
    server_version = "egress"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        # the path carries the signature: log the route only
        log.debug("%s %s -> %s", self.command, self.path.split("?", 1)[0], args[1] if len(args) > 1 else "")

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._serve(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def _plain(self, status: HTTPStatus, text: str) -> None:
        data = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _serve(self, body: bool) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            self._plain(HTTPStatus.OK, "ok")
            return
        parts = url.path.split("/", 3)
        if len(parts) != 4 or parts[1] != "download" or not parts[2] or not parts[3]:
            self._plain(HTTPStatus.NOT_FOUND, "not found")
            return
        user, name = urllib.parse.unquote(parts[2]), urllib.parse.unquote(parts[3])
        query = urllib.parse.parse_qs(url.query)
        verdict = links.check(self.owner.key, user, name, (query.get("expires") or [""])[0],
                              (query.get("sig") or [""])[0])
        if verdict == "bad":
            self._plain(HTTPStatus.FORBIDDEN, "this link is not valid")
            return
        if verdict == "expired":
            self._plain(HTTPStatus.GONE, "this link has expired; ask for a new one")
            return
        try:
            path = safe_target(export_area(self.owner.app, user), name)
        except EgressError:
            self._plain(HTTPStatus.FORBIDDEN, "this link is not valid")
            return
        try:
            handle = open(path, "rb")
        except (FileNotFoundError, IsADirectoryError):
            self._plain(HTTPStatus.NOT_FOUND, "the export is gone (expired or removed)")
            return
        with handle:
            size = handle.seek(0, 2)
            start, end = 0, size - 1
            status = HTTPStatus.OK
            wanted = self.headers.get("Range")
            if wanted:
                parsed = _range(wanted, size)
                if parsed is None:
                    self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, end = parsed
                status = HTTPStatus.PARTIAL_CONTENT
            length = max(0, end - start + 1)
            self.send_response(status)
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Disposition", f'attachment; filename="{path.name}"')
            if status == HTTPStatus.PARTIAL_CONTENT:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if not body:
                return
            handle.seek(start)
            left = length
            try:
                while left > 0:
                    data = handle.read(min(CHUNK, left))
                    if not data:
                        break
                    self.wfile.write(data)
                    left -= len(data)
            except (BrokenPipeError, ConnectionResetError):
                pass


def _range(header: str, size: int) -> tuple[int, int] | None:
    """One 'bytes=a-b' range (a-, -n too) within size; None if it cannot be satisfied."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return None
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)
