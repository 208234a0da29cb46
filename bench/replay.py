"""A server that costs nothing: PostgreSQL's own answers replayed from memory (the ideal anchor).

`python -m bench.replay UPSTREAM_PORT` listens on a free loopback port (printed on stdout) and
passes every connection through to the PostgreSQL on UPSTREAM_PORT, authentication included.
Client messages are grouped into requests, each ending with a Sync or a Query message; a request
whose answer (up to its ReadyForQuery) was at least LARGE bytes is remembered, and when the same
request bytes arrive again on a connection with nothing outstanding, the answer is written from
memory and PostgreSQL never sees the request. So from the second pull on, a client receives
exactly PostgreSQL's bytes, as fast as it takes them, from a server that does nothing else: no
server costs less, and bench/pgwire.py measures it beside PostgreSQL and egress in the same
rounds.

Only the benchmark uses it. It reads no statement and keeps at most KEEP answers.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from collections import OrderedDict, deque

LARGE = 1 << 20  # an answer this big is worth replaying
KEEP = 2  # answers kept (the benchmark measures one client at a time)
SLICE = 256 * 1024
SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104

answers: OrderedDict[bytes, bytes] = OrderedDict()


async def _relay_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        upstream: asyncio.StreamWriter, waiting: deque[bytes]) -> None:
    """Client to PostgreSQL: the startup packets as they come, then messages grouped into requests."""
    while True:  # untyped startup packets; SSL and GSS encryption are declined here
        size = struct.unpack("!i", await reader.readexactly(4))[0]
        body = await reader.readexactly(size - 4)
        code = struct.unpack("!i", body[:4])[0]
        if code in (SSL_REQUEST, GSSENC_REQUEST):
            writer.write(b"N")
            continue
        upstream.write(struct.pack("!i", size) + body)
        break
    request = bytearray()
    while True:
        head = await reader.readexactly(5)
        body = await reader.readexactly(struct.unpack("!i", head[1:])[0] - 4)
        request += head + body
        if head[:1] not in (b"S", b"Q"):
            if head[:1] in (b"p", b"X", b"H", b"d", b"c", b"f"):  # these are answered (or not) as they come
                upstream.write(bytes(request))
                request.clear()
            continue
        key = bytes(request)
        request.clear()
        answer = answers.get(key)
        if answer is not None and not waiting:
            view = memoryview(answer)
            for start in range(0, len(view), SLICE):
                writer.write(view[start:start + SLICE])
                await writer.drain()
            continue
        waiting.append(key)
        upstream.write(key)
        await upstream.drain()


async def _relay_server(upstream: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        waiting: deque[bytes]) -> None:
    """PostgreSQL to client, as it comes; each ReadyForQuery ends the oldest request's answer."""
    answer = bytearray()
    pending = b""
    while data := await upstream.read(1 << 18):
        writer.write(data)
        buffer = pending + data
        at = 0
        while at + 5 <= len(buffer):
            size = struct.unpack_from("!i", buffer, at + 1)[0]
            if at + 1 + size > len(buffer):
                break
            end = at + 1 + size
            if waiting:
                answer += buffer[at:end]
                if buffer[at:at + 1] == b"Z":
                    key = waiting.popleft()
                    if len(answer) >= LARGE:
                        answers[key] = bytes(answer)
                        answers.move_to_end(key)
                        while len(answers) > KEEP:
                            answers.popitem(last=False)
                    answer = bytearray()
            at = end
        pending = buffer[at:]
        await writer.drain()


async def _connection(port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
    waiting: deque[bytes] = deque()
    tasks = [asyncio.create_task(_relay_client(reader, writer, up_writer, waiting)),
             asyncio.create_task(_relay_server(up_reader, writer, waiting))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for w in (writer, up_writer):
            w.close()


async def _main(port: int) -> None:
    server = await asyncio.start_server(lambda r, w: _connection(port, r, w), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1])))
