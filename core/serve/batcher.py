"""Dynamic batching: items of concurrent requests coalesced into model calls.

One coordinator task on the event loop forms batches (texts and images separately, at most
``max_batch_size`` items, waiting at most ``max_wait_ms`` after the oldest item arrived) and
runs each on a single model thread, so the event loop is never blocked by the model. Results
are written back to each request's row, in order. Admission is bounded: :meth:`Batcher.reserve`
refuses items beyond ``max_queue`` (the server answers 429).

An item is either raw (a text ``str``, encoded image ``bytes``: the model thread tokenizes or
decodes it) or prepared by the request's worker threads while the model runs the batch before
(token ids from :meth:`Embedder.tokenize <clipbridge.Embedder.tokenize>`, a pixel array from
:meth:`Embedder.image_pixels <clipbridge.Embedder.image_pixels>`): the model thread then only
pads or stacks them and runs the forward pass. Decoded pixels are far larger than encoded bytes,
so :attr:`Batcher.pixels` bounds how many are held at once (:class:`PixelBudget`).

Example::

    batcher = Batcher(embedder, max_batch_size=32, max_wait_ms=5, max_queue=512)
    await batcher.start()
    vectors = await batcher.submit([("text", "a cat"), ("image", png_bytes)])   # (2, dim)
    ids = embedder.tokenize(["a cat"])
    vectors = await batcher.submit([("text", ids[0])])                          # prepared
    await batcher.stop()
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..batching import plan_token_batches
from ..embedder import Embedder
from ..errors import InvalidInputError
from ..results import EmbedResult, Kind
from .metrics import ServeMetrics

__all__ = ["Batcher", "Kind", "PixelBudget"]

# (kind, task, prepared): raw texts of different tasks never share a batch (prepared token ids
# carry their instruction already), and raw items never share one with prepared items.
_Queue = tuple[Kind, str | None, bool]
# How far into a text queue (in batches) a batch may pick texts of like length.
_LENGTH_WINDOW = 8


def _is_prepared(kind: Kind, payload: Any) -> bool:
    return not isinstance(payload, str) if kind == "text" else isinstance(payload, np.ndarray)


class PixelBudget:
    """How many decoded images may be held at once (FIFO, so no request starves).

    A request takes places for all its images before decoding them and gives them back when its
    vectors are done, so at most ``capacity`` pixel arrays wait for the model (a request with
    more images than that takes the whole budget and runs alone).

    Example::

        budget = PixelBudget(72)
        taken = await budget.acquire(3)   # waits while fewer than 3 places are free
        ...                               # decode, submit, await the vectors
        budget.release(taken)
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.free = capacity
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def acquire(self, n: int) -> int:
        """Take ``min(n, capacity)`` places, waiting in line for them; returns how many."""
        n = min(n, self.capacity)
        if not self._waiters and self.free >= n:
            self.free -= n
            return n
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((n, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # granted, then cancelled: give back
                self.release(n)
            else:
                self._waiters.remove((n, waiter))
                self._grant()
            raise
        return n

    def release(self, n: int) -> None:
        self.free += n
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self._waiters[0][0] <= self.free:
            n, waiter = self._waiters.popleft()
            self.free -= n
            waiter.set_result(None)


class _Job:
    """One request: its output rows and the future its handler awaits."""

    def __init__(self, n: int, dimension: int, loop: asyncio.AbstractEventLoop) -> None:
        self.out = np.empty((n, dimension), dtype=np.float32)
        self.remaining = n
        self.future: asyncio.Future[np.ndarray] = loop.create_future()

    @property
    def done(self) -> bool:
        return self.future.done()

    def put(self, row: int, vector: np.ndarray) -> None:
        if self.done:
            return
        self.out[row] = vector
        self.remaining -= 1
        if self.remaining == 0:
            self.future.set_result(self.out)

    def fail(self, exc: BaseException) -> None:
        if not self.done:
            self.future.set_exception(exc)


@dataclass
class _Entry:
    job: _Job
    row: int
    payload: Any
    arrived: float = field(default_factory=time.monotonic)


class Batcher:
    """Coalesces items of concurrent requests into model batches on one model thread."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        max_pixel_items: int | None = None,
        metrics: ServeMetrics | None = None,
    ) -> None:
        self.embedder = embedder
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.metrics = metrics or ServeMetrics()
        # Decoded images held at once: by default one batch in the model and one waiting.
        self.pixels = PixelBudget(max_pixel_items or 2 * max_batch_size)
        self._queues: dict[_Queue, deque[_Entry]] = {}
        self._admitted = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._model = ThreadPoolExecutor(1, thread_name_prefix="clipbridge-model")

    # -- admission --------------------------------------------------------------------------
    @property
    def admitted(self) -> int:
        """Items admitted and not yet released (being prepared, queued or in the model)."""
        return self._admitted

    def reserve(self, n: int) -> bool:
        """Admit ``n`` items if the queue has room (False: answer 429)."""
        if self._stopping or self._admitted + n > self.max_queue:
            return False
        self._admitted += n
        self.metrics.queue_depth.set(self._admitted)
        return True

    def release(self, n: int) -> None:
        self._admitted -= n
        self.metrics.queue_depth.set(self._admitted)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="clipbridge-batcher")

    async def stop(self) -> None:
        """Finish what is queued, then stop the coordinator and the model thread."""
        self._stopping = True
        if self._task is not None:
            assert self._wakeup is not None
            self._wakeup.set()
            await self._task
        self._model.shutdown(wait=True)

    # -- requests ---------------------------------------------------------------------------
    async def submit(
        self, items: Sequence[tuple[Kind, Any]], *, task: str | None = None
    ) -> np.ndarray:
        """Embed ``items`` -> raw float32 rows. An item is ``("text", str)`` or
        ``("image", bytes)``, or prepared: ``("text", token_ids)`` from ``Embedder.tokenize``,
        ``("image", pixels)`` from ``Embedder.image_pixels``.

        ``task`` applies to raw texts (``Embedder.embed_texts(..., task=task)``), which are
        batched only with texts of the same task; prepared ids were tokenized with theirs.

        The request fails whole: the first error of any of its items is raised (a bad raw item
        is recorded by :meth:`Embedder.embed_or_record <clipbridge.Embedder.embed_or_record>`,
        so the other requests of its batch keep their vectors), and its other items still
        queued are dropped, not computed.
        """
        if self._task is None or self._wakeup is None:
            raise RuntimeError("the batcher is not running")
        job = _Job(len(items), self.embedder.dimension, asyncio.get_running_loop())
        if not items:
            return job.out
        now = time.monotonic()
        for row, (kind, payload) in enumerate(items):
            prepared = _is_prepared(kind, payload)
            key: _Queue = (kind, task if kind == "text" and not prepared else None, prepared)
            self._queues.setdefault(key, deque()).append(_Entry(job, row, payload, now))
        self._wakeup.set()
        return await job.future

    # -- the coordinator --------------------------------------------------------------------
    def _live(self, key: _Queue) -> deque[_Entry]:
        queue = self._queues[key]
        while queue and queue[0].job.done:  # failed or cancelled requests: drop, don't compute
            queue.popleft()
        return queue

    def _next_queue(self) -> _Queue | None:
        """The queue whose oldest live item has waited longest."""
        heads = [
            (q[0].arrived, i, key) for i, key in enumerate(self._queues) if (q := self._live(key))
        ]
        return min(heads)[2] if heads else None

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            key = self._next_queue()
            if key is None:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            queue = self._queues[key]
            while len(queue) < self.max_batch_size and not self._stopping:
                # The oldest live item sets the deadline: requests whose clients left are gone.
                if not self._live(key):
                    break
                left = queue[0].arrived + self.max_wait - time.monotonic()
                if left <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), left)
                except TimeoutError:
                    break
            batch = self._take(key, queue)
            if batch:
                await self._embed(key, batch)

    def _take(self, key: _Queue, queue: deque[_Entry]) -> list[_Entry]:
        """The next batch of ``queue``: its oldest live item and at most ``max_batch_size`` - 1
        others, the next in arrival order; with more prepared texts waiting than one batch
        holds, those of like length (:meth:`_take_by_length`)."""
        kind, _, prepared = key
        if kind == "text" and prepared and len(queue) > self.max_batch_size:
            return self._take_by_length(queue)
        batch: list[_Entry] = []
        while queue and len(batch) < self.max_batch_size:
            entry = queue.popleft()
            if not entry.job.done:
                batch.append(entry)
        return batch

    def _take_by_length(self, queue: deque[_Entry]) -> list[_Entry]:
        """The batch :func:`~clipbridge.batching.plan_token_batches` puts the oldest live text
        in, over the first :data:`_LENGTH_WINDOW` batches' worth of the queue, so a burst is
        padded as ``embed_texts`` pads it; the rest stays queued in arrival order."""
        live = [entry for entry in queue if not entry.job.done]
        window = live[: _LENGTH_WINDOW * self.max_batch_size]
        if len(window) <= self.max_batch_size:
            chosen = set(range(len(window)))
        else:
            plan = plan_token_batches(
                [len(entry.payload) for entry in window],
                batch_size=self.max_batch_size,
                max_batch_tokens=self.embedder.config.max_batch_tokens,
            )
            chosen = set(next(b for b in plan if 0 in b))
        queue.clear()
        queue.extend(entry for i, entry in enumerate(live) if i not in chosen)
        return [window[i] for i in sorted(chosen)]

    def _verb(self, key: _Queue) -> Any:
        """What the model thread calls on a batch's payloads -> an :class:`EmbedResult`."""
        kind, task, prepared = key
        if not prepared:  # a bad item is recorded, the others keep their vectors
            options = {"task": task} if kind == "text" else {}
            return functools.partial(self.embedder.embed_or_record, kind, **options)
        embed = self.embedder.embed_token_ids if kind == "text" else _embed_pixels(self.embedder)
        return lambda payloads: EmbedResult(embed(payloads))

    async def _embed(self, key: _Queue, batch: list[_Entry]) -> None:
        loop = asyncio.get_running_loop()
        kind = key[0]
        self.metrics.batch_size.labels(kind=kind).observe(len(batch))
        payloads = [entry.payload for entry in batch]
        try:
            result = await loop.run_in_executor(self._model, self._verb(key), payloads)
        except Exception as exc:  # a fault of the model or backend: every request fails
            for entry in batch:
                entry.job.fail(exc)
            return
        for index, reason in result.errors.items():  # its request fails, naming its own row
            entry = batch[index]
            entry.job.fail(InvalidInputError(entry.row, reason))
        for entry, vector in zip(batch, result.vectors, strict=True):
            entry.job.put(entry.row, vector)
        self.metrics.inputs.labels(kind=kind).inc(len(batch) - len(result.errors))


def _embed_pixels(embedder: Embedder) -> Any:
    def embed(pixels: list[np.ndarray]) -> np.ndarray:  # stacked on the model thread
        return embedder.embed_pixels(np.stack(pixels))

    return embed
