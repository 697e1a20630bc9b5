"""Servers for the serve tests: each started on 127.0.0.1 (a free port) and stopped by the test."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from serve_helpers import FIXTURES

from clipbridge import Embedder, EmbedderConfig
from clipbridge.serve import ServeSettings, serve_in_thread

ServerFactory = Callable[..., AbstractContextManager[str]]


@pytest.fixture(scope="session")
def local(tiny_model_path: str) -> Embedder:
    """The in-process local backend every server answer is compared with."""
    return Embedder(tiny_model_path)


@pytest.fixture
def make_server(tiny_model_path: str) -> ServerFactory:
    """``with make_server(max_wait_ms=..., config_fields...) as base_url:`` a fresh server."""

    @contextmanager
    def start(
        config: dict[str, Any] | None = None, *, model: str | None = None, **fields: Any
    ) -> Iterator[str]:
        cfg = EmbedderConfig(model=model or tiny_model_path, **(config or {}))
        with serve_in_thread(ServeSettings(config=cfg, **fields)) as url:
            yield url

    return start


@pytest.fixture(scope="module")
def server(tiny_model_path: str) -> Iterator[str]:
    """One default server (no key, no URLs) shared by a module's tests."""
    settings = ServeSettings(config=EmbedderConfig(model=tiny_model_path))
    with serve_in_thread(settings) as url:
        yield url


class _Recorder(http.server.SimpleHTTPRequestHandler):
    """Serves tests/fixtures, records each path, and redirects ``/redirect?to=URL``."""

    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def image_host() -> Iterator[http.server.ThreadingHTTPServer]:
    """A 127.0.0.1 file server (``.hits`` lists the paths requested); ``.url`` is its base."""
    handler = functools.partial(_Recorder, directory=str(FIXTURES))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.hits = []  # type: ignore[attr-defined]
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
