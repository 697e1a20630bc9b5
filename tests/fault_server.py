"""Small misbehaving HTTP servers on 127.0.0.1 for network-fault tests.

Each request is answered by a function of the handler; helpers build the usual faults.

Example::

    with FaultServer(drip(b"x" * 40, every=0.1)) as server:      # one byte every 0.1 s
        fetch_image_bytes(server.url + "/a.png", timeout=1, max_bytes=100, allow_private=True)
"""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

Respond = Callable[["http.server.BaseHTTPRequestHandler", "FaultServer"], None]


class FaultServer:
    """A threaded HTTP/1.1 server on ``host`` (127.0.0.1 by default) calling ``respond``;
    HTTPS with ``tls`` (a server-side ``ssl.SSLContext``).

    ``requests`` records ``(method, path, headers, body)`` of every request; ``stop`` is set on
    close so endless responders end.
    """

    def __init__(
        self,
        respond: Respond,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.respond = respond
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.stop = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append((self.command, self.path, dict(self.headers), body))
                try:
                    server.respond(self, server)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up

            do_GET = do_POST = _any

        self._httpd = http.server.ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.scheme = "https" if tls else "http"
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self._httpd.server_address[0]}:{self.port}"

    def close(self) -> None:
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def send(status: int, body: bytes, headers: dict[str, str] | None = None) -> Respond:
    """A plain answer."""

    def respond(handler: Any, server: FaultServer) -> None:
        handler.send_response(status)
        for name, value in {"Content-Type": "image/png", **(headers or {})}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return respond


def drip(
    body: bytes, *, every: float, headers_too: bool = False, ctype: str = "image/png"
) -> Respond:
    """Answer 200 with ``body`` one byte every ``every`` seconds (the headers too, if asked)."""

    def respond(handler: Any, server: FaultServer) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        if not headers_too:
            handler.wfile.write(head)
            handler.wfile.flush()
            head = b""
        for byte in head + body:
            if server.stop.wait(every):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    return respond


def endless(
    chunk: bytes, *, ctype: str = "application/json", prefix: bytes = b"", total: int = 0
) -> Respond:
    """Answer 200 with a chunked body that goes on until the client hangs up (or ``total``
    bytes, then ends properly)."""

    def respond(handler: Any, server: FaultServer) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        if prefix:
            handler.wfile.write(f"{len(prefix):x}\r\n".encode() + prefix + b"\r\n")
        deadline, sent = time.monotonic() + 60, 0
        while not server.stop.is_set() and time.monotonic() < deadline:
            if total and sent >= total:
                handler.wfile.write(b"0\r\n\r\n")
                return
            handler.wfile.write(frame)
            sent += len(chunk)

    return respond


def redirect(location: str | Callable[[], str], status: int = 302) -> Respond:
    """Answer with a redirect to ``location`` (a string, or a function giving one)."""

    def respond(handler: Any, server: FaultServer) -> None:
        handler.send_response(status)
        handler.send_header("Location", location() if callable(location) else location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return respond


def bomb(encoding: str, size: int) -> bytes:
    """``size`` bytes of spaces compressed with ``encoding`` (gzip, deflate, br, zstd): a few
    kilobytes on the wire that decode to ``size`` bytes (a decompression bomb).

    ``size`` is a whole number of MiB. gzip and deflate repeat one compressed MiB (the window
    holds only spaces, so every MiB after the first compresses to the same bytes): fast to make.
    """
    import struct
    import zlib

    block, count = b" " * 2**20, size // 2**20
    if encoding == "br":
        import brotli

        brc = brotli.Compressor(quality=1)
        return b"".join([*(brc.process(block) for _ in range(count)), brc.finish()])
    if encoding == "zstd":
        import zstandard

        zsc = zstandard.ZstdCompressor(level=1).compressobj(size=size)
        return b"".join([*(zsc.compress(block) for _ in range(count)), zsc.flush()])
    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = raw.compress(block) + raw.flush(zlib.Z_SYNC_FLUSH)
    again = raw.compress(block) + raw.flush(zlib.Z_SYNC_FLUSH)
    deflated = first + again * (count - 1) + raw.flush()
    crc, adler = zlib.crc32(block), zlib.adler32(block)
    for _ in range(count - 1):
        crc, adler = zlib.crc32(block, crc), zlib.adler32(block, adler)
    if encoding == "gzip":
        head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
        return head + deflated + struct.pack("<II", crc, size & 0xFFFFFFFF)
    return b"\x78\xda" + deflated + struct.pack(">I", adler)  # deflate: the zlib format
