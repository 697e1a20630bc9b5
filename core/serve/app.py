"""The app factory: ``create_app(settings)`` -> a FastAPI app any ASGI server can host.

The model is loaded in the lifespan's start-up (in a thread), before the server accepts
requests; shut-down lets queued work finish, then stops the batcher.

Example::

    app = create_app(ServeSettings(config=EmbedderConfig(model="jinaai/jina-clip-v1")))
    # uvicorn.run(app, host="127.0.0.1", port=8080)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from .. import __version__
from ..api_wire import EMBEDDINGS_PATH
from ..embedder import Embedder
from ..images import ImageLimits
from .batcher import Batcher
from .errors import install_handlers
from .limits import RequestBodyLimit
from .metrics import ServeMetrics
from .routes import ServerState, router
from .security import ApiKeys
from .settings import ServeSettings
from .urls import UrlPolicy

__all__ = ["create_app", "load_embedder"]


class _RequestMetrics:
    """Counts ``POST /v1/embeddings`` answers by status and times them."""

    def __init__(self, app: Any, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != EMBEDDINGS_PATH:
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def record(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            self.metrics.requests.labels(status=str(status)).inc()
            self.metrics.latency.observe(time.perf_counter() - start)


def load_embedder(settings: ServeSettings) -> Embedder:
    """The model as the server runs it: raw float rows (the server normalizes and quantizes per
    request: ``normalized``, ``embedding_type``)."""
    config = settings.config.replace(normalize=False, show_progress=False, precision="float32")
    return Embedder.from_config(config)


def create_app(
    settings: ServeSettings | None = None, *, embedder: Embedder | None = None
) -> FastAPI:
    """A Jina-compatible embeddings app serving ``settings.config``'s model.

    The model loads in the app's start-up, unless ``embedder`` (from :func:`load_embedder`) is
    given: the app then serves that one and closes it when it stops.
    """
    settings = settings or ServeSettings()
    preloaded = [embedder] if embedder is not None else []
    metrics = ServeMetrics()
    state = ServerState(
        settings=settings,
        keys=ApiKeys(settings.api_keys),
        metrics=metrics,
        limits=ImageLimits.from_config(settings.config),
        urls=UrlPolicy(
            allow_urls=settings.allow_image_urls, allow_private=settings.allow_private_urls
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedder = (
            preloaded.pop() if preloaded else await asyncio.to_thread(load_embedder, settings)
        )
        # Requests read embedder.dimension on the event loop: learn it here, in a thread, where
        # it takes a request (an API model the backend does not know).
        await asyncio.to_thread(embedder.probe_dimension)
        batcher = Batcher(
            embedder,
            max_batch_size=settings.max_batch_size,
            max_wait_ms=settings.max_wait_ms,
            max_queue=settings.max_queue,
            # Decoded images held at once: a batch in the model, a batch waiting, one per worker.
            max_pixel_items=2 * settings.max_batch_size + settings.workers,
            metrics=metrics,
        )
        state.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="clipbridge-decode")
        state.fetch_pool = ThreadPoolExecutor(
            settings.fetch_workers, thread_name_prefix="clipbridge-fetch"
        )
        state.embedder = embedder
        await batcher.start()
        state.batcher = batcher
        try:
            yield
        finally:
            state.batcher = None
            await batcher.stop()
            state.pool.shutdown(wait=True)
            state.fetch_pool.shutdown(wait=True)
            embedder.close()

    app = FastAPI(
        title="clipbridge serve",
        version=__version__,
        description=f"Jina-compatible embeddings for {settings.model_name}",
        lifespan=lifespan,
    )
    app.state.serve = state
    install_handlers(app)
    app.include_router(router)
    app.add_middleware(_RequestMetrics, metrics=metrics)
    app.add_middleware(RequestBodyLimit, max_bytes=settings.max_request_bytes)
    return app
