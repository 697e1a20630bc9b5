"""Running the app with uvicorn: in the foreground (the CLI) or in a background thread.

Example::

    with serve_in_thread(ServeSettings(config=EmbedderConfig(model=path))) as base_url:
        httpx.post(f"{base_url}/v1/embeddings", json={"input": ["a cat"]})
"""

from __future__ import annotations

import errno
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from ..embedder import Embedder
from ..errors import ClipBridgeError
from .app import create_app, load_embedder
from .settings import ServeSettings, ServeStartError

__all__ = ["OnReady", "ReadyServer", "bind_socket", "run", "serve_in_thread"]


OnReady = Callable[[str, str], None]
"""Called with the base URL and the model's device once the server listens."""


def _device(app: Any) -> str:
    embedder = app.state.serve.embedder
    if embedder is None:
        return "?"
    return str(getattr(embedder.backend, "device", embedder.config.backend))


class ReadyServer(uvicorn.Server):
    """A uvicorn server that calls ``on_ready(base_url, device)`` once it listens, and records
    the signal that stopped it (``stop_signal``)."""

    def __init__(self, config: uvicorn.Config, on_ready: OnReady | None) -> None:
        super().__init__(config)
        self.on_ready = on_ready
        self.base_url: str | None = None
        self.stop_signal: signal.Signals | None = None

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.stop_signal is None:
            self.stop_signal = signal.Signals(sig)
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


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` as uvicorn binds it; a port in use, a host that does
    not resolve or is not this machine's is a :class:`ServeStartError` (one sentence)."""
    if not 0 <= port <= 65535:
        raise ServeStartError(f"port {port} is not a TCP port (0 to 65535; 0: a free one)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror):
            reason = f"cannot listen on {host!r}: no such host ({exc.strerror})"
        elif exc.errno == errno.EADDRINUSE:
            reason = (
                f"port {port} on {host} is already in use (another server is listening there); "
                "pick another --port, or --port 0 for a free one"
            )
        elif exc.errno == errno.EACCES:
            reason = f"no permission to listen on port {port} (ports below 1024 need root)"
        else:
            reason = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise ServeStartError(reason) from None
    return sock


def _config(
    settings: ServeSettings,
    host: str,
    port: int,
    embedder: Embedder | None = None,
    **uvicorn_options: Any,
) -> Any:
    options = {"log_level": "warning", "timeout_graceful_shutdown": 30, **uvicorn_options}
    app = create_app(settings, embedder=embedder)
    return uvicorn.Config(app, host=host, port=port, lifespan="on", **options)


def run(
    settings: ServeSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: OnReady | None = None,
    **uvicorn_options: Any,
) -> signal.Signals | None:
    """Serve in the foreground until SIGINT/SIGTERM (in-flight requests finish first); return
    the signal that stopped the server.

    The port is bound, then the model loaded, before uvicorn starts: a port in use or a model
    that cannot be loaded raises :class:`ServeStartError` (one sentence, no uvicorn log).
    """
    sock = bind_socket(host, port)
    try:
        try:
            embedder = load_embedder(settings)
        except ClipBridgeError:
            raise
        except Exception as exc:  # a broken checkpoint: torch, safetensors, json, ...
            raise ServeStartError(
                f"cannot load the model {settings.config.model!r}: {type(exc).__name__}: {exc}"
            ) from exc
        server = ReadyServer(_config(settings, host, port, embedder, **uvicorn_options), on_ready)
        server.run(sockets=[sock])
    finally:
        sock.close()
    return server.stop_signal


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
