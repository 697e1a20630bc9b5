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
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import httpx
import numpy as np

from .. import api_wire as wire
from ..config import EmbedderConfig, api_model_name
from ..content_encoding import ACCEPT_ENCODING, ContentEncodingError, aiter_decoded, iter_decoded
from ..errors import AuthenticationError, BackendError, InvalidInputError
from ..fetch import deadline, deadline_transport
from ..images import ImageInput, ImageLimits, PreprocessSpec, encode_for_upload, load_image
from ..pricing import estimate_tokens as _estimate_tokens
from ..urls import is_http_url
from .base import Progress, check_dimensions, no_progress

__all__ = ["KNOWN_DIMENSIONS", "KNOWN_IMAGE_SIZES", "KNOWN_MATRYOSHKA", "ApiBackend", "Usage"]

log = logging.getLogger("clipbridge")

KNOWN_DIMENSIONS = {"jina-clip-v1": 768, "jina-clip-v2": 1024}
"""Output size per API model name, so ``dimension`` is known before any answer."""
KNOWN_MATRYOSHKA = {"jina-clip-v2": (32, 64, 128, 256, 512, 768, 1024)}
"""Widths a hosted model was trained to be cut to (jina-clip-v2's config.json)."""
KNOWN_IMAGE_SIZES = {"jina-clip-v1": 224, "jina-clip-v2": 512}
"""The model's image preprocessing size: what ``api_image_shrink`` shrinks to."""
TASKLESS_MODELS = frozenset({"jina-clip-v1"})
"""API models that take no ``task`` field: queries and documents are embedded alike."""
DEFAULT_IMAGE_SIZE = 224
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


@dataclass(frozen=True)
class _Answer:
    """A finished HTTP exchange: status, headers and the (size-capped) body."""

    status: int
    headers: httpx.Headers
    content: bytes


class _CappedResponse:
    """Reads a response body while it streams in; stops it at the cap before buffering more.

    The body is counted decoded (see :mod:`clipbridge.content_encoding`: gzip and deflate are
    undone in bounded pieces, other encodings refused). A successful answer above ``cap`` is an
    error (the server sent far more than the vectors asked for); an error answer is only cut
    (its first bytes hold the message).
    """

    def __init__(self, response: httpx.Response, cap: int) -> None:
        self.ok = 200 <= response.status_code < 300
        self.cap = cap if self.ok else wire.MAX_ERROR_BODY_BYTES
        self.chunks: list[bytes] = []
        self.size = 0
        declared = response.headers.get("content-length", "")
        if self.ok and declared.isdigit() and int(declared) > self.cap:
            raise self._too_large(f"declares {int(declared)} bytes")

    def _too_large(self, what: str) -> BackendError:
        return BackendError(
            f"the server's response {what}, above the {self.cap} bytes the requested vectors "
            "can take; not read further (a wrong base_url, or a broken server?)"
        )

    def add(self, chunk: bytes) -> bool:
        """Keep a chunk; False once an error body has enough."""
        self.size += len(chunk)
        if self.size > self.cap:
            if self.ok:
                raise self._too_large(f"is more than {self.cap} bytes")
            self.chunks.append(chunk[: len(chunk) - (self.size - self.cap)])
            return False
        self.chunks.append(chunk)
        return True

    def undecodable(self, exc: ContentEncodingError) -> None:
        """A body that cannot be decoded: an error for a success; an error answer keeps what
        was read (its status still decides)."""
        if self.ok:
            raise BackendError(f"cannot read the server's response: {exc}") from exc

    def answer(self, response: httpx.Response) -> _Answer:
        return _Answer(response.status_code, response.headers, b"".join(self.chunks))

    def read(self, response: httpx.Response) -> _Answer:
        """The answer, its body read (decoded) up to the cap."""
        try:
            for chunk in iter_decoded(response):
                if not self.add(chunk):
                    break
        except ContentEncodingError as exc:
            self.undecodable(exc)
        return self.answer(response)

    async def aread(self, response: httpx.Response) -> _Answer:
        """:meth:`read` for an async response."""
        try:
            async for chunk in aiter_decoded(response):
                if not self.add(chunk):
                    break
        except ContentEncodingError as exc:
            self.undecodable(exc)
        return self.answer(response)


class _Attempts:
    """One batch's tries: the retry policy between them (no I/O), and how a failure leaves."""

    def __init__(self, backend: ApiBackend, batch: range, results: _Collector) -> None:
        self.backend, self.batch, self.results = backend, batch, results
        self.attempt = 0
        self.delay = 0.0

    def settle(self, result: _Answer | httpx.HTTPError) -> np.ndarray | None:
        """The vectors of this try, or None: try again after ``delay`` seconds (logged). No
        try left: the error is raised."""
        backend, attempt = self.backend, self.attempt
        if isinstance(result, httpx.HTTPError):
            outcome = backend._transport_outcome(result, attempt)
        else:
            outcome = backend._outcome(result, len(self.batch), attempt, self.batch.start)
        if not isinstance(outcome, _Retry):
            return outcome
        backend._log_retry(outcome, attempt)
        self.delay, self.attempt = outcome.delay, attempt + 1
        return None

    @contextlib.contextmanager
    def failing(self) -> Iterator[None]:
        """A failure stops the call's queued batches and leaves without the API key in it."""
        try:
            yield
        except BackendError as exc:
            self.results.stopped.set()
            raise self.backend._sanitized(exc) from exc.__cause__


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
        """Record one finished request: its vectors, or its failure (cancelled: never sent)."""
        if finished.cancelled():
            return
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
                f"{len(self.done)} of {self.n} inputs were embedded before the failure and "
                "are kept with this error]"
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

    ``dimension`` never sends a request: it is ``dimensions`` if set, else the model's known
    width (768 for jina-clip-v1, 1024 for jina-clip-v2), else the width of the first answer. For
    another model name (e.g. a test server) that has not answered yet, :meth:`probe_dimension`
    sends one one-word request to learn it (the server does so at start-up, in a thread).

    Images are loaded with :mod:`clipbridge.images`; with ``api_image_shrink`` (default) each is
    resized and centre-cropped exactly as the model's preprocessing would (``image_size``, else
    224) and sent as lossless PNG, so vectors match the local backend and each image is one tile.
    """

    def __init__(self, config: EmbedderConfig) -> None:
        self.config = config
        key = config.resolved_api_key()
        self._key = wire.clean_api_key(key) if key else ""
        if not self._key:
            raise AuthenticationError(
                "the 'api' backend needs a Jina API key: pass api_key=... or set $JINA_API_KEY"
            )
        self._secrets = wire.secret_forms(self._key)
        if not is_http_url(config.base_url):
            raise ValueError(f"base_url must be an http(s) URL, not {config.base_url!r}")
        self.model_name = api_model_name(config.model)
        self.url = config.base_url.rstrip("/") + wire.EMBEDDINGS_PATH
        self.image_size = config.image_size or KNOWN_IMAGE_SIZES.get(
            self.model_name, DEFAULT_IMAGE_SIZE
        )
        self.limits = ImageLimits.from_config(config)
        self.usage = Usage()
        known = KNOWN_DIMENSIONS.get(self.model_name)
        check_dimensions(self.model_name, config.dimensions, known, self.matryoshka_dimensions)
        self._dimension: int | None = config.dimensions or known
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._aclients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        # Per loop: an async generator whose ``finally`` closes that loop's client when the loop
        # shuts down (``asyncio.run`` and ``asyncio.Runner`` close async generators first).
        self._guards: dict[asyncio.AbstractEventLoop, AsyncIterator[None]] = {}

    def __repr__(self) -> str:
        return (
            f"ApiBackend(model={self.model_name!r}, base_url={self.config.base_url!r}, "
            f"max_concurrency={self.config.max_concurrency})"
        )

    @property
    def known_dimension(self) -> int | None:
        """The output width if known without a request (``dimensions``, the model's name, or an
        answer already received), else None. Never sends anything."""
        return self._dimension

    @property
    def dimension(self) -> int:
        """The output width; never sends a request (see :meth:`probe_dimension`).

        :raises BackendError: for a model the backend does not know (e.g. a test server's name)
            before its first answer.
        """
        if self._dimension is None:
            raise BackendError(
                f"the output width of model {self.model_name!r} is not known before its first "
                "answer: set dimensions=, embed something first, or call probe_dimension()"
            )
        return self._dimension

    def probe_dimension(self) -> int:
        """The output width, learned with one one-word request when it is not known yet."""
        if self._dimension is None:
            self.embed_texts(["dimension"])  # learns it from the response
        return self.dimension

    @property
    def matryoshka_dimensions(self) -> tuple[int, ...]:
        return KNOWN_MATRYOSHKA.get(self.model_name, ())

    # -- pure-ish helpers shared by sync and async ---------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,  # only what is decoded with a bound
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
        """``text`` without the API key in any form it might take (see ``secret_forms``)."""
        for form in self._secrets:
            text = text.replace(form, "***")
        return text

    def _mentions_key(self, exc: BaseException) -> bool:
        if isinstance(exc, httpx.HTTPError):
            return True  # it holds the request, and the request holds the Authorization header
        texts = [str(exc), repr(exc), *map(repr, exc.args)]
        texts += [repr(v) for v in vars(exc).values() if isinstance(v, (str, bytes, bytearray))]
        return any(form in text for text in texts for form in self._secrets)

    def _sanitized(self, exc: BackendError) -> BackendError:
        """``exc`` with the key scrubbed from its message and cut out of its chain."""
        message = self._scrub(exc.message)
        if message != exc.message or any(self._scrub(str(a)) != str(a) for a in exc.args):
            exc.message, exc.args = message, (message,)
        seen: set[int] = set()
        stack: list[BaseException] = [exc]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            for attr in ("__cause__", "__context__"):
                linked = getattr(node, attr)
                if linked is None:
                    continue
                if self._mentions_key(linked):
                    setattr(node, attr, None)
                    node.__suppress_context__ = True
                else:
                    stack.append(linked)
        return exc

    def _image_value(self, image: ImageInput, index: int) -> str:
        """What goes in ``{"image": ...}``: a URL passed through, or base64 of encoded bytes."""
        if self.config.send_image_urls and is_http_url(image):
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

    def _cap(self, expected: int) -> int:
        return wire.response_byte_cap(expected, self._dimension, self.config.embedding_type)

    def _outcome(
        self, response: _Answer, expected: int, attempt: int, offset: int
    ) -> np.ndarray | _Retry:
        """A finished response -> vectors, a retry decision, or a raised error."""
        status = response.status
        if 200 <= status < 300:
            parsed = wire.parse_embeddings(response.content, expected, offset, self._scrub)
            self._accept(parsed)
            return parsed.vectors
        message = wire.error_message(response.content, self._scrub)
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
        log.info("embeddings request %s; retry %d in %.2fs", retry.reason, attempt + 1, retry.delay)

    def _deadline_passed(self) -> httpx.TimeoutException:
        return httpx.ReadTimeout(
            f"no complete answer within {self.config.timeout:g}s "
            "(the deadline covers connect, headers and body)"
        )

    # -- sync -----------------------------------------------------------------------------------
    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                # Its transport clamps every socket operation to the request's deadline.
                limits = httpx.Limits(max_connections=max(self.config.max_concurrency, 10))
                self._client = httpx.Client(
                    timeout=self.config.timeout,
                    transport=deadline_transport(limits=limits),
                    trust_env=True,
                )
            return self._client

    def _post(self, client: httpx.Client, body: bytes, expected: int) -> _Answer | httpx.HTTPError:
        """One POST within one deadline (connect + send + headers + body), body size-capped;
        a transport failure is returned, for :meth:`_Attempts.settle` to judge."""
        started = time.monotonic()
        try:
            with (
                deadline(self.config.timeout),
                client.stream("POST", self.url, content=body, headers=self._headers()) as response,
            ):
                return _CappedResponse(response, self._cap(expected)).read(response)
        except httpx.TimeoutException as exc:
            late = time.monotonic() - started >= self.config.timeout - 1e-3
            return self._deadline_passed() if late else exc
        except httpx.HTTPError as exc:
            return exc

    def _send(
        self, items: list[bytes], batch: range, results: _Collector, task: str | None = None
    ) -> np.ndarray | None:
        if results.stopped.is_set():
            return None  # another batch failed first: do not send this one
        body, client = self._body(items, task), self._sync_client()
        tries = _Attempts(self, batch, results)
        with tries.failing():
            while (vectors := tries.settle(self._post(client, body, len(items)))) is None:
                time.sleep(tries.delay)
        return vectors

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
                    pool.submit(self._send, chunk, batch, results, task): batch
                    for batch, chunk in self._plan(items, window)
                }
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        results.settle(futures[future], future)
                    if results.failure is not None:
                        # Queued requests are never sent; those in flight still finish (they
                        # are paid for and their vectors are kept with the error).
                        pending = {future for future in pending if not future.cancel()}
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
    async def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            for old in [lp for lp in self._aclients if lp.is_closed()]:
                self._aclients.pop(old, None)  # closed by its guard (or lost with its loop)
                self._guards.pop(old, None)
            client = self._aclients.get(loop)
            if client is not None:
                return client
            client = self._aclients[loop] = httpx.AsyncClient(
                timeout=self.config.timeout,
                limits=httpx.Limits(max_connections=max(self.config.max_concurrency, 10)),
            )
            guard = self._guards[loop] = _close_with_loop(client)
        await guard.__anext__()  # started: the loop now tracks it and closes it at shutdown
        return client

    async def _apost(
        self, client: httpx.AsyncClient, body: bytes, expected: int
    ) -> _Answer | httpx.HTTPError:
        """:meth:`_post` on the event loop."""
        try:
            async with (
                asyncio.timeout(self.config.timeout),
                client.stream("POST", self.url, content=body, headers=self._headers()) as response,
            ):
                return await _CappedResponse(response, self._cap(expected)).aread(response)
        except TimeoutError:
            return self._deadline_passed()
        except httpx.HTTPError as exc:
            return exc

    async def _asend(
        self,
        items: list[bytes],
        batch: range,
        gate: asyncio.Semaphore,
        results: _Collector,
        task: str | None = None,
    ) -> np.ndarray | None:
        body, client = self._body(items, task), await self._async_client()
        tries = _Attempts(self, batch, results)
        async with gate:
            if results.stopped.is_set():
                return None  # another batch failed first: do not send this one
            with tries.failing():
                while (
                    vectors := tries.settle(await self._apost(client, body, len(items)))
                ) is None:
                    await asyncio.sleep(tries.delay)
            return vectors

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
                asyncio.ensure_future(self._asend(chunk, batch, gate, results, task)): batch
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
                    for future in finished:
                        results.settle(tasks[future], future)
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
            sent_as_url = self.config.send_image_urls and is_http_url(image)
            if self.config.api_image_shrink and not sent_as_url:
                sizes.append((self.image_size, self.image_size))
            else:
                sizes.append(load_image(image, index, self.limits).size)
        return _estimate_tokens(texts, sizes)

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP clients: the sync one, and each async one on its own event loop.

        An async client is closed by its loop's shutdown (``asyncio.run`` ends by closing it);
        here, one whose loop still exists is closed on that loop (at once if it is idle, as a
        task if it is running).
        """
        with self._lock:
            client, self._client = self._client, None
            aclients, self._aclients = self._aclients, {}
            guards, self._guards = self._guards, {}
        if client is not None:
            client.close()
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, aclient in aclients.items():
            guard = guards.get(loop)
            if loop.is_closed():
                continue  # closed by its guard when the loop shut down
            if loop is current:
                loop.create_task(_aclose(aclient, guard))
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(_aclose(aclient, guard), loop)
            else:
                loop.run_until_complete(_aclose(aclient, guard))

    async def aclose(self) -> None:
        """Close the clients from inside an event loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            aclient = self._aclients.pop(loop, None)
            guard = self._guards.pop(loop, None)
        if aclient is not None:
            await _aclose(aclient, guard)
        self.close()


async def _close_with_loop(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Suspended for the life of its loop; the loop's shutdown closes it, and with it the client."""
    try:
        yield  # never resumed: only closed
    finally:
        await client.aclose()


async def _aclose(client: httpx.AsyncClient, guard: AsyncIterator[None] | None) -> None:
    await client.aclose()
    if guard is not None:
        await guard.aclose()  # type: ignore[attr-defined]


async def _cancel(tasks: set[asyncio.Future]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
