"""`ApiBackend`: the Jina Embeddings API over httpx, sync and async.

The pure decisions (request bodies, response parsing, retries, batch plans, token estimates)
live in :mod:`clipbridge.api_wire` and :mod:`clipbridge.pricing`; this module adds only I/O:
preparing images, sending requests with retries, and collecting results. The sync path runs up
to ``max_concurrency`` requests in a thread pool over one ``httpx.Client``; the async path the
same number under a semaphore over one ``httpx.AsyncClient`` per event loop.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import httpx
import numpy as np

from .. import api_wire as wire
from ..config import EmbedderConfig, api_model_name
from ..errors import AuthenticationError, BackendError, InvalidInputError
from ..images import ImageInput, ImageLimits, PreprocessSpec, encode_for_upload, load_image
from ..pricing import estimate_tokens as _estimate_tokens
from .base import Progress, no_progress

__all__ = ["KNOWN_DIMENSIONS", "KNOWN_IMAGE_SIZES", "ApiBackend", "Usage"]

log = logging.getLogger("clipbridge.api")

KNOWN_DIMENSIONS = {"jina-clip-v1": 768, "jina-clip-v2": 1024}
"""Output size per API model name, so ``dimension`` needs no request for these."""
KNOWN_IMAGE_SIZES = {"jina-clip-v1": 224, "jina-clip-v2": 512}
"""The model's image preprocessing size: what ``api_image_shrink`` shrinks to."""
TASKLESS_MODELS = frozenset({"jina-clip-v1"})
"""API models that take no ``task`` field: queries and documents are embedded alike."""
DEFAULT_IMAGE_SIZE = 224
_URL_PREFIXES = ("http://", "https://")
# Transport failures worth another attempt: connect/read/write/pool timeouts, refused or reset
# connections, a server that hung up mid-response.
_RETRY_EXCEPTIONS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass
class Usage:
    """Tokens the server reported (billed) and requests that succeeded, accumulated."""

    total_tokens: int = 0
    prompt_tokens: int = 0
    requests: int = 0


@dataclass(frozen=True)
class _Retry:
    delay: float
    reason: str


class _Collector:
    """Results of one call: vectors per input index, and the first failure."""

    def __init__(self, n: int, progress: Progress) -> None:
        self.n = n
        self.progress = progress
        self.done: dict[int, np.ndarray] = {}
        self.failure: tuple[BackendError, range] | None = None
        # Set by the sender whose batch failed, before it frees its slot, so that no queued
        # batch is sent after a failure; requests already in flight still finish.
        self.stopped = threading.Event()

    def add(self, batch: range, vectors: np.ndarray) -> None:
        for offset, index in enumerate(batch):
            self.done[index] = vectors[offset]
        self.progress(len(batch))

    def fail(self, batch: range, exc: BackendError) -> None:
        if self.failure is None:
            self.failure = (exc, batch)

    def settle(self, batch: range, finished: Future | asyncio.Future) -> None:
        """Record one finished request: its vectors, or its failure."""
        try:
            vectors = finished.result()
        except BackendError as exc:
            self.fail(batch, exc)
        else:
            if vectors is not None:
                self.add(batch, vectors)

    def invalid(self, exc: InvalidInputError) -> InvalidInputError:
        return InvalidInputError(exc.index, exc.reason, partial=self.done)

    def result(self) -> np.ndarray:
        if self.failure is not None:
            exc, batch = self.failure
            missing = [i for i in range(self.n) if i not in self.done]
            message = (
                f"{exc.message} [inputs {batch.start}..{batch.stop - 1} failed; "
                f"{len(self.done)} of {self.n} inputs were embedded and are in error.partial]"
            )
            raise type(exc)(
                message, status_code=exc.status_code, partial=self.done, failed_indices=missing
            ) from exc
        return np.stack([self.done[i] for i in range(self.n)]).astype(np.float32, copy=False)


class ApiBackend:
    """Embeds through ``POST {base_url}/v1/embeddings`` (the Jina Embeddings API).

    Example::

        from clipbridge import Embedder

        emb = Embedder("jina-clip-v1", backend="api")        # key from $JINA_API_KEY
        vecs = emb.embed_images(["photo.jpg"])                 # shrunk to 224x224 PNG: 1000 tokens
        emb.backend.usage.total_tokens                         # what the server billed so far
        emb.backend.estimate_tokens(["a caption"], ["photo.jpg"])

    ``dimension`` needs no request when it is known: ``dimensions`` if set, else 768 for
    jina-clip-v1, else the width of the first response. For another model name (e.g. a test
    server) that has not answered yet, reading ``dimension`` sends one one-word probe request.

    Images are loaded with :mod:`clipbridge.images`; with ``api_image_shrink`` (default) each is
    resized and centre-cropped exactly as the model's preprocessing would (``image_size``, else
    224) and sent as lossless PNG, so vectors match the local backend and each image is one tile.
    """

    def __init__(self, config: EmbedderConfig) -> None:
        self.config = config
        self._key = config.resolved_api_key()
        if not self._key:
            raise AuthenticationError(
                "the 'api' backend needs a Jina API key: pass api_key=... or set $JINA_API_KEY"
            )
        if not config.base_url.lower().startswith(_URL_PREFIXES):
            raise ValueError(f"base_url must be an http(s) URL, not {config.base_url!r}")
        self.model_name = api_model_name(config.model)
        self.url = config.base_url.rstrip("/") + wire.EMBEDDINGS_PATH
        self.image_size = config.image_size or KNOWN_IMAGE_SIZES.get(
            self.model_name, DEFAULT_IMAGE_SIZE
        )
        self.limits = ImageLimits.from_config(config)
        self.usage = Usage()
        known = KNOWN_DIMENSIONS.get(self.model_name)
        if config.dimensions is not None and known is not None and config.dimensions > known:
            raise ValueError(
                f"dimensions={config.dimensions} is above the output width {known} of "
                f"{self.model_name!r}"
            )
        self._dimension: int | None = config.dimensions or known
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._aclients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    def __repr__(self) -> str:
        return (
            f"ApiBackend(model={self.model_name!r}, base_url={self.config.base_url!r}, "
            f"max_concurrency={self.config.max_concurrency})"
        )

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.embed_texts(["dimension"])  # learns it from the response
        assert self._dimension is not None
        return self._dimension

    # -- pure-ish helpers shared by sync and async ---------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def _body(self, items: Sequence[bytes], task: str | None = None) -> bytes:
        return wire.build_request_body(
            self.model_name,
            items,
            embedding_type=self.config.embedding_type,
            normalized=self.config.normalize,
            dimensions=self.config.dimensions,
            task=None if self.model_name in TASKLESS_MODELS else task,
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _image_value(self, image: ImageInput, index: int) -> str:
        """What goes in ``{"image": ...}``: a URL passed through, or base64 of encoded bytes."""
        if (
            self.config.send_image_urls
            and isinstance(image, str)
            and image[:8].lower().startswith(_URL_PREFIXES)
        ):
            return image
        spec = (
            PreprocessSpec(size=self.image_size, fast_decode=self.config.fast_image_decode)
            if self.config.api_image_shrink
            else None
        )
        data = encode_for_upload(image, index, spec, self.limits)
        return base64.b64encode(data).decode("ascii")

    def _prepare(self, kind: str, inputs: Sequence, window: range) -> list[bytes]:
        """Encoded ``input`` entries for ``inputs[window]``; bad items raise with their index."""
        if kind == "text":
            items = [wire.text_item(inputs[i]) for i in window]
        else:
            with ThreadPoolExecutor(self.config.image_workers, "clipbridge-api-img") as pool:
                values = list(pool.map(lambda i: self._image_value(inputs[i], i), window))
            items = [wire.image_item(value) for value in values]
        budget = wire.item_budget(self.config.api_max_request_bytes)
        for index, item in zip(window, items, strict=True):
            if len(item) > budget:
                raise InvalidInputError(
                    index,
                    f"encoded {kind} is {len(item)} bytes, above api_max_request_bytes="
                    f"{self.config.api_max_request_bytes}"
                    + ("; enable api_image_shrink" if kind == "image" else ""),
                )
        return items

    def _windows(self, kind: str, n: int) -> list[range]:
        # Images are encoded a window at a time so memory stays bounded; texts are cheap.
        size = n if kind == "text" else self.config.api_batch_size * self.config.max_concurrency
        return [range(start, min(n, start + size)) for start in range(0, n, max(size, 1))]

    def _plan(self, items: list[bytes], window: range) -> list[tuple[range, list[bytes]]]:
        plan = wire.plan_request_batches(
            [len(item) for item in items],
            max_items=self.config.api_batch_size,
            max_bytes=self.config.api_max_request_bytes,
        )
        return [
            (range(window.start + b.start, window.start + b.stop), items[b.start : b.stop])
            for b in plan
        ]

    def _outcome(
        self, response: httpx.Response, expected: int, attempt: int
    ) -> np.ndarray | _Retry:
        """A finished response -> vectors, a retry decision, or a raised error."""
        status = response.status_code
        if 200 <= status < 300:
            parsed = wire.parse_embeddings(response.content, expected)
            self._accept(parsed)
            return parsed.vectors
        message = self._scrub(wire.error_message(response.content))
        if status in wire.RETRYABLE_STATUS and attempt < self.config.max_retries:
            retry_after = response.headers.get("retry-after")
            delay = wire.retry_delay(attempt, retry_after, base=wire.BACKOFF_BASE)
            if delay is not None:
                return _Retry(delay, f"HTTP {status}")
            message += f" (Retry-After {retry_after!r} is above {wire.MAX_RETRY_AFTER:.0f}s)"
        error = wire.error_for_status(status, message)
        if status in wire.RETRYABLE_STATUS and attempt > 0:
            error = type(error)(
                f"{error.message} (after {attempt + 1} attempts)", status_code=status
            )
        raise error

    def _transport_outcome(self, exc: httpx.HTTPError, attempt: int) -> _Retry:
        what = f"{type(exc).__name__}: {self._scrub(str(exc)) or 'no details'}"
        if isinstance(exc, _RETRY_EXCEPTIONS) and attempt < self.config.max_retries:
            return _Retry(wire.backoff_delay(attempt, base=wire.BACKOFF_BASE), what)
        raise BackendError(
            f"request to {self.url} failed after {attempt + 1} attempt(s): {what}"
            + (
                f" (timeout={self.config.timeout}s)"
                if isinstance(exc, httpx.TimeoutException)
                else ""
            )
        ) from exc

    def _accept(self, parsed: wire.ParsedEmbeddings) -> None:
        width = parsed.vectors.shape[1]
        with self._lock:
            if self._dimension is None:
                self._dimension = width
            if width != self._dimension:
                raise BackendError(
                    f"the server returned {width}-d vectors for model {self.model_name!r}, "
                    f"expected {self._dimension} (set dimensions= to match the server)"
                )
            self.usage.total_tokens += parsed.total_tokens
            self.usage.prompt_tokens += parsed.prompt_tokens
            self.usage.requests += 1

    @staticmethod
    def _log_retry(retry: _Retry, attempt: int) -> None:
        log.warning(
            "embeddings request %s; retry %d in %.2fs", retry.reason, attempt + 1, retry.delay
        )

    # -- sync -----------------------------------------------------------------------------------
    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=self.config.timeout,
                    limits=httpx.Limits(max_connections=max(self.config.max_concurrency, 10)),
                )
            return self._client

    def _send(
        self, items: list[bytes], results: _Collector, task: str | None = None
    ) -> np.ndarray | None:
        if results.stopped.is_set():
            return None  # another batch failed first: do not send this one
        body, client = self._body(items, task), self._sync_client()
        attempt = 0
        try:
            while True:
                try:
                    response = client.post(self.url, content=body, headers=self._headers())
                    outcome = self._outcome(response, len(items), attempt)
                except httpx.HTTPError as exc:
                    outcome = self._transport_outcome(exc, attempt)
                if not isinstance(outcome, _Retry):
                    return outcome
                self._log_retry(outcome, attempt)
                time.sleep(outcome.delay)
                attempt += 1
        except BackendError:
            results.stopped.set()
            raise

    def _run(
        self, kind: str, inputs: Sequence, progress: Progress, task: str | None = None
    ) -> np.ndarray:
        results = _Collector(len(inputs), progress)
        with ThreadPoolExecutor(self.config.max_concurrency, "clipbridge-api") as pool:
            for window in self._windows(kind, len(inputs)):
                try:
                    items = self._prepare(kind, inputs, window)
                except InvalidInputError as exc:
                    raise results.invalid(exc) from exc
                futures: dict[Future[np.ndarray | None], range] = {
                    pool.submit(self._send, chunk, results, task): batch
                    for batch, chunk in self._plan(items, window)
                }
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        results.settle(futures[future], future)
                    if results.failure is not None:
                        for future in pending:
                            future.cancel()  # not started: never sent
                if results.failure is not None:
                    break
        return results.result()

    def embed_texts(
        self, texts: Sequence[str], progress: Progress = no_progress, *, task: str | None = None
    ) -> np.ndarray:
        return self._run("text", texts, progress, task)

    def embed_images(
        self, images: Sequence[ImageInput], progress: Progress = no_progress
    ) -> np.ndarray:
        return self._run("image", images, progress)

    # -- async ----------------------------------------------------------------------------------
    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            for old in [lp for lp in self._aclients if lp.is_closed()]:
                del self._aclients[old]  # its connections died with their loop
            client = self._aclients.get(loop)
            if client is None:
                client = self._aclients[loop] = httpx.AsyncClient(
                    timeout=self.config.timeout,
                    limits=httpx.Limits(max_connections=max(self.config.max_concurrency, 10)),
                )
            return client

    async def _asend(
        self,
        items: list[bytes],
        gate: asyncio.Semaphore,
        results: _Collector,
        task: str | None = None,
    ) -> np.ndarray | None:
        body, client = self._body(items, task), self._async_client()
        attempt = 0
        async with gate:
            if results.stopped.is_set():
                return None  # another batch failed first: do not send this one
            try:
                while True:
                    try:
                        response = await client.post(
                            self.url, content=body, headers=self._headers()
                        )
                        outcome = self._outcome(response, len(items), attempt)
                    except httpx.HTTPError as exc:
                        outcome = self._transport_outcome(exc, attempt)
                    if not isinstance(outcome, _Retry):
                        return outcome
                    self._log_retry(outcome, attempt)
                    await asyncio.sleep(outcome.delay)
                    attempt += 1
            except BackendError:
                results.stopped.set()
                raise

    async def _arun(
        self, kind: str, inputs: Sequence, progress: Progress, task: str | None = None
    ) -> np.ndarray:
        results = _Collector(len(inputs), progress)
        gate = asyncio.Semaphore(self.config.max_concurrency)
        for window in self._windows(kind, len(inputs)):
            try:
                items = (
                    self._prepare(kind, inputs, window)
                    if kind == "text"
                    else await asyncio.to_thread(self._prepare, kind, inputs, window)
                )
            except InvalidInputError as exc:
                raise results.invalid(exc) from exc
            tasks = {
                asyncio.ensure_future(self._asend(chunk, gate, results, task)): batch
                for batch, chunk in self._plan(items, window)
            }
            pending = set(tasks)
            try:
                # After a failure, requests already in flight still finish (they are paid for
                # and land in error.partial); queued ones are skipped.
                while pending:
                    finished, pending = await asyncio.wait(
                        pending, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in finished:
                        results.settle(tasks[task], task)
            finally:
                await _cancel(pending)
            if results.failure is not None:
                break
        return results.result()

    async def aembed_texts(
        self, texts: Sequence[str], progress: Progress = no_progress, *, task: str | None = None
    ) -> np.ndarray:
        return await self._arun("text", texts, progress, task)

    async def aembed_images(
        self, images: Sequence[ImageInput], progress: Progress = no_progress
    ) -> np.ndarray:
        return await self._arun("image", images, progress)

    # -- cost -----------------------------------------------------------------------------------
    def estimate_tokens(self, texts: Sequence[str] = (), images: Sequence[ImageInput] = ()) -> int:
        """Tokens the API would bill for these inputs as this backend sends them.

        Shrunk images cost their ``image_size`` tiles (1000 for 224x224) without being read;
        otherwise each image is loaded for its size. See :mod:`clipbridge.pricing`.
        """
        sizes: list[tuple[int, int]] = []
        for index, image in enumerate(images):
            is_url = isinstance(image, str) and image[:8].lower().startswith(_URL_PREFIXES)
            if self.config.api_image_shrink and not (self.config.send_image_urls and is_url):
                sizes.append((self.image_size, self.image_size))
            else:
                sizes.append(load_image(image, index, self.limits).size)
        return _estimate_tokens(texts, sizes)

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP clients (sync, and async ones whose loop can still run them)."""
        with self._lock:
            client, self._client = self._client, None
            aclients, self._aclients = self._aclients, {}
        if client is not None:
            client.close()
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, aclient in aclients.items():
            if loop.is_closed():
                continue  # its connections died with it
            if loop is current:
                loop.create_task(aclient.aclose())
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(aclient.aclose(), loop)
            else:
                loop.run_until_complete(aclient.aclose())

    async def aclose(self) -> None:
        """Close the clients from inside an event loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            aclient = self._aclients.pop(loop, None)
        if aclient is not None:
            await aclient.aclose()
        self.close()


async def _cancel(tasks: set[asyncio.Future]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
