"""Running the app with uvicorn: in the foreground (the CLI) or in a background thread.

Example::

    with serve_in_thread(ServeSettings(config=EmbedderConfig(model=path))) as base_url:
        httpx.post(f"{base_url}/v1/embeddings", json={"input": ["a cat"]})
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from .app import create_app
from .settings import ServeSettings

__all__ = ["OnReady", "ReadyServer", "run", "serve_in_thread"]


OnReady = Callable[[str, str], None]
"""Called with the base URL and the model's device once the server listens."""


def _device(app: Any) -> str:
    embedder = app.state.serve.embedder
    if embedder is None:
        return "?"
    return str(getattr(embedder.backend, "device", embedder.config.backend))


class ReadyServer(uvicorn.Server):
    """A uvicorn server that calls ``on_ready(base_url, device)`` once it listens."""

    def __init__(self, config: uvicorn.Config, on_ready: OnReady | None) -> None:
        super().__init__(config)
        self.on_ready = on_ready
        self.base_url: str | None = None

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        # SIGINT/SIGTERM asked for this graceful stop: return normally (exit status 0, no
        # KeyboardInterrupt traceback) instead of uvicorn re-raising the signal afterwards.
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if not self.started or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{host}:{port}"
        if self.on_ready is not None:
            self.on_ready(self.base_url, _device(self.config.app))


def _config(settings: ServeSettings, host: str, port: int, **uvicorn_options: Any) -> Any:
    options = {"log_level": "warning", "timeout_graceful_shutdown": 30, **uvicorn_options}
    return uvicorn.Config(create_app(settings), host=host, port=port, lifespan="on", **options)


def run(
    settings: ServeSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: OnReady | None = None,
    **uvicorn_options: Any,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (in-flight requests finish first)."""
    ReadyServer(_config(settings, host, port, **uvicorn_options), on_ready).run()


@contextmanager
def serve_in_thread(
    settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 120.0
) -> Iterator[str]:
    """Start the server in a daemon thread on a free port; yield its base URL; stop it."""
    server = ReadyServer(_config(settings, host, port), None)
    thread = threading.Thread(target=server.run, name="clipbridge-serve", daemon=True)
    thread.start()
    try:
        waited = 0.0
        while server.base_url is None:
            if not thread.is_alive():
                raise RuntimeError("clipbridge serve failed to start (see the log above)")
            thread.join(0.02)
            waited += 0.02
            if waited > timeout:
                raise TimeoutError(f"clipbridge serve did not start within {timeout} s")
        yield server.base_url
    finally:
        server.should_exit = True
        thread.join(timeout)
