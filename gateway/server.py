"""The asyncio server: sockets, TLS and backpressure only. Everything else is Session's.

Each message's output is pulled from the session's generator on a worker thread (DuckDB blocks)
and written to the socket, awaiting drain() after every chunk: a slow client slows its query,
never the server. A client that goes away mid-result closes its generator, which cancels and
frees its query. Protocol garbage ends that one connection with 08P01.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import ssl
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

from gateway import messages as m
from gateway.catalog import ShadowCatalogs
from gateway.codec import FrontendParser, ProtocolViolation, encode
from gateway.metrics import Metrics
from gateway.session import Session
from service.app import App
from sql.errors import EgressError, InvalidAuthorization, InvalidPassword

log = logging.getLogger("egress.gateway")
AUTH_FAILURE_DELAY = 0.3  # seconds before a failed login is answered


class TooManyConnections(EgressError, code="53300"):
    pass


class IdleSessionTimeout(EgressError, code="57P05"):
    pass


class GatewayServer:
    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 5433, *,
                 ssl_context: ssl.SSLContext | None = None, max_connections: int = 100,
                 workers: int = 32, idle_timeout: float = 0, max_message: int = 64 << 20) -> None:
        self.idle_timeout, self.max_message = idle_timeout, max_message
        self.app, self.host, self.port = app, host, port
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.shadows = ShadowCatalogs(app.catalog)
        self.sessions: dict[int, Session] = {}
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="egress-session")
        self._pids = itertools.count(1000)
        self.metrics = Metrics()
        self._server: asyncio.base_events.Server | None = None
        self._clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, self.host, self.port, limit=1 << 20)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        return self.port

    async def serve_forever(self) -> None:
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening, cancel every session's query, end the connections, then the workers.

        The connections end before the worker threads go: each one closes its session on a
        worker, and on Python 3.11 wait_closed() does not wait for the connections."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for session in list(self.sessions.values()):
            session.cancel()
        for writer in self._clients.values():
            writer.transport.abort()  # the connection's read ends, and it closes its session
        if self._clients:
            await asyncio.wait(list(self._clients), timeout=CLOSE_WAIT_S)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.shadows.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients[task] = writer
        task.add_done_callback(lambda done: self._clients.pop(done, None))  # type: ignore[arg-type]
        pid = next(self._pids)
        # Only what the kernel did not take waits in asyncio's buffer, and the next piece is
        # written once that is sent (see _pump)
        writer.transport.set_write_buffer_limits(high=0)
        session = Session(self.app, self.shadows, pid, secrets.randbits(31), metrics=self.metrics)
        self.metrics.connections.inc()
        self.metrics.active.inc()
        parser = FrontendParser(self.max_message)
        registered = False
        try:
            while not session.closed:
                if self.idle_timeout and session.state == "ready":
                    try:
                        data = await asyncio.wait_for(reader.read(1 << 16), self.idle_timeout)
                    except asyncio.TimeoutError:
                        raise IdleSessionTimeout("terminating connection due to idle-session timeout") from None
                else:
                    data = await reader.read(1 << 16)
                if not data:
                    break
                parser.receive(data)
                batch: list[m.FrontendMessage] = []  # extended-protocol messages, handled in one go
                for msg in parser:
                    if isinstance(msg, (m.Parse, m.Bind, m.Describe, m.Execute, m.Close, m.Sync, m.Flush)):
                        batch.append(msg)
                        continue
                    if batch:
                        await self._pump(_chain(session, batch), writer, session)
                        batch = []
                    if isinstance(msg, m.SSLRequest):
                        if self.ssl_context is not None and not session.tls:
                            writer.write(b"S")
                            await writer.drain()
                            await writer.start_tls(self.ssl_context)
                            session.tls = True
                        else:
                            writer.write(b"N")
                            await writer.drain()
                        continue
                    if isinstance(msg, m.GSSENCRequest):
                        writer.write(b"N")
                        await writer.drain()
                        continue
                    if isinstance(msg, m.CancelRequest):
                        target = self.sessions.get(msg.pid)
                        if target is not None and target.key == msg.key:
                            target.cancel()
                        return
                    if isinstance(msg, m.StartupMessage):
                        parser.end_startup()
                        if len(self.sessions) >= self.max_connections:
                            raise TooManyConnections("sorry, too many clients already")
                        self.sessions[pid] = session
                        registered = True
                    await self._pump(session.handle(msg), writer, session)
                    if session.closed:
                        break
                if batch and not session.closed:
                    await self._pump(_chain(session, batch), writer, session)
        except ProtocolViolation as err:
            await self._fatal(writer, err)
        except (InvalidPassword, InvalidAuthorization) as err:  # 28P01 / 28000, after a short delay
            await asyncio.sleep(AUTH_FAILURE_DELAY)
            await self._fatal(writer, InvalidPassword(f'password authentication failed for user "{session.user}"')
                              if isinstance(err, InvalidPassword) else err)
        except EgressError as err:
            await self._fatal(writer, err)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:  # never the server: log it, end this connection with a generic error
            log.exception("connection %d failed", pid)
            await self._fatal(writer, EgressError("internal error"))
        finally:
            self.metrics.active.dec()
            if registered:
                self.sessions.pop(pid, None)
            session.cancel()
            await asyncio.get_running_loop().run_in_executor(self.executor, session.close)
            try:
                writer.close()
                await writer.wait_closed()
            except (ConnectionError, OSError, ssl.SSLError):
                pass

    async def _pump(self, chunks: Iterator[bytes], writer: asyncio.StreamWriter, session: Session) -> None:
        """Write each chunk while the next ones are being produced, in order, one at a time on a
        worker thread: at most AHEAD made and waiting, so memory stays bounded, and a chunk that
        is slow to make (DuckDB starting a row group) is covered by one already made. Tells the
        session whether the client is the slower side (the socket was full when a chunk went
        out)."""
        loop = asyncio.get_running_loop()
        made: deque[tuple[bytes, bool]] = deque()
        pending: asyncio.Future[tuple[bytes, bool]] | None = None  # the chunk being made
        failed: list[asyncio.Future[tuple[bytes, bool]]] = []
        ready = asyncio.Event()
        exhausted = closing = False

        def begin() -> None:
            nonlocal pending
            if pending is None and not (exhausted or closing or failed) and len(made) < AHEAD:
                pending = loop.run_in_executor(self.executor, _gather, chunks)
                pending.add_done_callback(finished)

        def finished(future: asyncio.Future[tuple[bytes, bool]]) -> None:  # on the loop, as it is made
            nonlocal pending, exhausted
            pending = None
            if future.cancelled() or future.exception() is not None:
                failed.append(future)
            else:
                chunk, last = future.result()
                made.append((chunk, last))
                exhausted = last
                begin()
            ready.set()

        try:
            begin()
            while True:
                while not made:
                    if failed:
                        failed[0].result()  # a failure to make the next chunk ends here, between chunks
                    ready.clear()
                    await ready.wait()
                chunk, last = made.popleft()
                begin()
                # A large chunk (a batch of rows) goes in slices, each written when the last one
                # is out: the socket takes most of each slice at once, where a whole batch
                # written in one go was mostly copied into asyncio's buffer first (and moved
                # again as it drained), 6% of the server's CPU in a large pull
                view = memoryview(chunk)
                full = False
                for start in range(0, len(view), WRITE_SLICE):
                    writer.write(view[start:start + WRITE_SLICE])
                    full = full or writer.transport.get_write_buffer_size() > 0  # the kernel took less
                    await writer.drain()
                session.client_behind = full
                self.metrics.bytes.inc(len(view))
                if last:
                    return
        finally:
            closing = True  # nothing more is begun
            if pending is not None:
                try:
                    await pending  # let the producer finish its step before closing it
                except BaseException:
                    pass
            if not exhausted:
                await loop.run_in_executor(self.executor, _close_generator, chunks)

    async def _fatal(self, writer: asyncio.StreamWriter, err: EgressError) -> None:
        try:
            writer.write(encode(m.ErrorResponse("FATAL", err.sqlstate, err.message, None, err.detail, err.hint)))
            await writer.drain()
        except (ConnectionError, OSError):
            pass


COALESCE = 256 * 1024  # small outputs travel together: one thread hop, one write
AHEAD = 2  # chunks made (or being made) while one is written
WRITE_SLICE = 256 * 1024  # the most written to a connection's socket before its buffer is sent
CLOSE_WAIT_S = 5.0  # how long a stopping server waits for its connections to end


def _gather(chunks: Iterator[bytes]) -> tuple[bytes, bool]:
    """The next piece to send: chunks joined until COALESCE bytes or an empty chunk (a flush),
    and whether that was the last of them. A short answer (most statements) is one piece that
    ends its generator, so it costs the event loop one hop to a worker thread, not three."""
    parts: list[bytes] = []
    size = 0
    finished = True
    for chunk in chunks:
        if not chunk:
            if parts:
                finished = False
                break
            continue
        parts.append(chunk)
        size += len(chunk)
        if size >= COALESCE:
            finished = False
            break
    return (parts[0] if len(parts) == 1 else b"".join(parts)), finished


def _chain(session: Session, messages: list[m.FrontendMessage]) -> Iterator[bytes]:
    for msg in messages:
        yield from session.handle(msg)


def _close_generator(gen: Iterator[bytes]) -> None:
    close = getattr(gen, "close", None)
    if close is not None:
        try:
            close()
        except EgressError:
            pass


def self_signed_context(directory: str) -> ssl.SSLContext:
    """A throwaway certificate for trying TLS (`egress serve --tls-self-signed`)."""
    import datetime as dt
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
