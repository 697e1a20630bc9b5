"""`Embedder`: the one entry point every adapter calls."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .backends import Backend, Progress, create_backend
from .backends.base import no_progress
from .config import DEFAULT_MODEL, EmbedderConfig, check_task
from .errors import BackendError, ClipBridgeError, InvalidInputError
from .images import ImageInput, ImageLimits, check_image_input, decode_pixels
from .precision import output_dtype, output_width, quantize
from .pricing import text_tokens
from .results import EmbedResult, Kind, Recording
from .texts import check_text

__all__ = ["Embedder", "normalize_rows"]

_EPS = 1e-12


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """L2-normalize each row (``x / max(||x||, 1e-12)``, as ``F.normalize``)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, _EPS)).astype(np.float32, copy=False)


def _as_list(items: Any, what: str) -> list[Any]:
    if (
        isinstance(items, (str, bytes, bytearray))
        or hasattr(items, "read")
        or not hasattr(items, "__iter__")
    ):
        raise TypeError(
            f"{what} expects a list of inputs, got {type(items).__name__}; "
            "wrap a single input in a list"
        )
    return list(items)


class Embedder:
    """Embeds texts and images into one vector space with jina-clip-v1 or jina-clip-v2.

    Example::

        from clipbridge import Embedder

        emb = Embedder("jinaai/jina-clip-v1")               # local PyTorch backend
        texts = emb.embed_texts(["a bridge at dusk"])        # float32 (1, 768), L2-normalized
        images = emb.embed_images(["photo.jpg"])
        scores = texts @ images.T                            # cosine similarities

        v2 = Embedder("jina-clip-v2", dimensions=256)        # first 256 Matryoshka dimensions
        queries = v2.embed_texts(["Brücke"], task="retrieval.query")  # query instruction added

        small = Embedder("jinaai/jina-clip-v1", precision="ubinary")   # uint8 (n, 96) sign bits

    Every config field can be passed as a keyword (``Embedder(model, backend="api",
    batch_size=16)``) or as an :class:`EmbedderConfig` via :meth:`from_config`.
    """

    def __init__(
        self, model: str | None = None, *, config: EmbedderConfig | None = None, **fields: Any
    ) -> None:
        if config is None:
            config = EmbedderConfig(model=model or DEFAULT_MODEL, **fields)
        elif model is not None or fields:
            config = config.replace(**({"model": model} if model else {}), **fields)
        self._config = config
        self._backend: Backend = create_backend(config)

    @classmethod
    def from_config(cls, config: EmbedderConfig) -> Embedder:
        """Build an Embedder from a ready config."""
        return cls(config=config)

    @property
    def config(self) -> EmbedderConfig:
        return self._config

    @property
    def model(self) -> str:
        return self._config.model

    @property
    def dimension(self) -> int:
        """The width of every vector: ``dimensions`` when set, else the model's full width.

        Never sends a request: the API backend raises ``BackendError`` for a model it does not
        know before its first answer (see :meth:`probe_dimension`)."""
        return self._backend.dimension

    def probe_dimension(self) -> int:
        """:attr:`dimension`, first learned with one request where that is the only way (the
        API backend, a model it does not know, no answer yet); other backends send nothing."""
        probe = getattr(self._backend, "probe_dimension", None)
        return probe() if probe is not None else self._backend.dimension

    @property
    def matryoshka_dimensions(self) -> tuple[int, ...]:
        """Widths the model was trained to be cut to with ``dimensions`` (jina-clip-v2: 32 to
        1024); empty for a model whose shorter prefixes were never trained (jina-clip-v1)."""
        return self._backend.matryoshka_dimensions

    @property
    def backend(self) -> Backend:
        return self._backend

    def __repr__(self) -> str:
        try:
            dimension: int | None = self.dimension
        except BackendError:  # an API model's width before its first answer: not asked for
            dimension = None
        return (
            f"Embedder(model={self.model!r}, backend={self._config.backend!r}, "
            f"dimension={dimension})"
        )

    # -- shared, I/O-free steps -----------------------------------------------------------------
    def _check_texts(self, texts: Any) -> list[str]:
        items = _as_list(texts, "embed_texts")
        for index, text in enumerate(items):
            check_text(text, index)  # every text, for every backend: one boundary
        return items

    @staticmethod
    def _check_task(task: str | None) -> str | None:
        return check_task(task)

    def _check_images(self, images: Any) -> list[ImageInput]:
        items = _as_list(images, "embed_images")
        for index, image in enumerate(items):
            check_image_input(image, index)
        return items

    @contextmanager
    def _progress(self, total: int, kind: str, show: bool | None) -> Iterator[Progress]:
        """A tqdm bar's ``update`` while enabled, else a no-op callback."""
        enabled = self._config.show_progress if show is None else show
        if not enabled:
            yield no_progress
            return
        from tqdm.auto import tqdm

        with tqdm(total=total, desc=f"Embedding {kind}", unit=kind) as bar:
            yield bar.update

    def _finish(self, raw: np.ndarray, n: int) -> np.ndarray:
        """Raw backend rows -> the output: normalized, then quantized to ``precision``."""
        vectors = np.asarray(raw, dtype=np.float32).reshape(n, -1)
        if self._config.normalize:
            vectors = normalize_rows(vectors)
        return quantize(vectors, self._config.precision)

    @contextmanager
    def _finishing_partial(self) -> Iterator[None]:
        """An error's ``partial`` rows leave in the output's form (normalized, quantized)."""
        try:
            yield
        except ClipBridgeError as exc:
            if exc.partial:
                rows = self._finish(np.stack(list(exc.partial.values())), len(exc.partial))
                exc.partial = dict(zip(exc.partial, rows, strict=True))
            raise

    def _zeros(self, n: int) -> np.ndarray:
        """``n`` zero rows of the output's width and dtype (``precision``)."""
        precision = self._config.precision
        width = output_width(self.probe_dimension(), precision)
        return np.zeros((n, width), output_dtype(precision))

    def _embed(
        self, unit: str, items: list[Any], show: bool | None, run: Callable[..., np.ndarray]
    ) -> np.ndarray:
        """``run(items, progress)`` -> the output rows, with the bar (counting ``unit``) and the
        partial rows finished."""
        if not items:
            return self._zeros(0)
        with self._progress(len(items), unit, show) as progress, self._finishing_partial():
            raw = run(items, progress)
        return self._finish(raw, len(items))

    async def _aembed(
        self, unit: str, items: list[Any], show: bool | None, run: Callable[..., Awaitable[Any]]
    ) -> np.ndarray:
        """Async :meth:`_embed`."""
        if not items:
            return self._zeros(0)
        with self._progress(len(items), unit, show) as progress, self._finishing_partial():
            raw = await run(items, progress)
        return self._finish(raw, len(items))

    # -- public verbs ---------------------------------------------------------------------------
    def embed_texts(
        self,
        texts: Sequence[str],
        *,
        task: str | None = None,
        show_progress: bool | None = None,
    ) -> np.ndarray:
        """Embed texts -> float32 ``(len(texts), dimension)``, row i for text i (another
        ``precision`` changes dtype and width: :mod:`clipbridge.precision`).

        ``task="retrieval.query"`` marks the texts as search queries: models trained with a
        query instruction (jina-clip-v2) get it prepended; for jina-clip-v1 nothing changes.
        Documents are embedded with ``task=None``.
        """
        run = functools.partial(self._backend.embed_texts, task=self._check_task(task))
        return self._embed("texts", self._check_texts(texts), show_progress, run)

    def embed_images(
        self, images: Sequence[ImageInput], *, show_progress: bool | None = None
    ) -> np.ndarray:
        """Embed images (paths, URLs, data URIs, bytes, file objects, PIL images)."""
        items = self._check_images(images)
        return self._embed("images", items, show_progress, self._backend.embed_images)

    async def aembed_texts(
        self,
        texts: Sequence[str],
        *,
        task: str | None = None,
        show_progress: bool | None = None,
    ) -> np.ndarray:
        """Async :meth:`embed_texts`."""
        run = functools.partial(self._backend.aembed_texts, task=self._check_task(task))
        return await self._aembed("texts", self._check_texts(texts), show_progress, run)

    async def aembed_images(
        self, images: Sequence[ImageInput], *, show_progress: bool | None = None
    ) -> np.ndarray:
        """Async :meth:`embed_images`."""
        items = self._check_images(images)
        return await self._aembed("images", items, show_progress, self._backend.aembed_images)

    # -- bad items recorded, not raised ---------------------------------------------------------
    def _recording(self, kind: Kind, items: Any, verbs: tuple[Any, Any]) -> tuple[Recording, Any]:
        """The run state and the verb of ``verbs`` (texts', images') for ``kind``."""
        if kind not in ("text", "image"):
            raise ValueError(f"kind must be 'text' or 'image', not {kind!r}")
        run = Recording(_as_list(items, "embed_or_record"))
        check = check_text if kind == "text" else check_image_input
        for index, item in enumerate(run.items):  # a wrong type is recorded before any work
            try:
                check(item, index)
            except InvalidInputError as exc:
                run.skip(index, exc.reason)
        return run, verbs[kind == "image"]

    def embed_or_record(self, kind: Kind, items: Sequence[Any], **options: Any) -> EmbedResult:
        """Embed texts (``kind="text"``) or images (``"image"``), recording the items that
        cannot be embedded instead of raising: one bad file does not cost the others their
        vectors, and no item reaches the model twice. ``options`` are the plain call's
        (``task``, ``show_progress``).

        Every vector is exactly the plain call's (:meth:`embed_texts`, :meth:`embed_images`:
        normalized, cut to ``dimensions``, at ``precision``); a failed item's row is zeros and
        the result's ``errors`` maps its index to the reason. Only an item's own fault
        (:class:`~clipbridge.errors.InvalidInputError`) is recorded: anything else (backend
        down, bad key) raises, its ``partial`` holding the rows finished before it.

        Example::

            result = emb.embed_or_record("image", ["a.jpg", "missing.jpg", "b.png"])
            result.errors              # {1: "file not found: 'missing.jpg'"}
            result.vectors[result.ok]  # == emb.embed_images(["a.jpg", "b.png"])
        """
        run, embed = self._recording(kind, items, (self.embed_texts, self.embed_images))
        while run.pending:
            with run.recording():
                run.done(embed(run.todo(), **options))
        return run.result(self._zeros)

    async def aembed_or_record(
        self, kind: Kind, items: Sequence[Any], **options: Any
    ) -> EmbedResult:
        """Async :meth:`embed_or_record` (the API backend's requests run concurrently)."""
        run, embed = self._recording(kind, items, (self.aembed_texts, self.aembed_images))
        while run.pending:
            with run.recording():
                run.done(await embed(run.todo(), **options))
        return run.result(self._zeros)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as the model reads it: the backend's tokenizer (special tokens
        included, after truncation to ``max_length``) where it has one (``tokenize``, the local
        backend); else the billing estimate of :func:`clipbridge.pricing.text_tokens` per text.
        """
        items = self._check_texts(texts)
        tokenize = getattr(self._backend, "tokenize", None)
        if tokenize is None:
            return [text_tokens([text]) for text in items]
        return [len(ids) for ids in tokenize(items)]

    # -- prepared inputs: decode and tokenize once, elsewhere, then embed ----------------------
    @property
    def prepares_inputs(self) -> bool:
        """Whether the backend embeds prepared inputs (:meth:`tokenize` + :meth:`embed_token_ids`,
        :meth:`image_pixels` + :meth:`embed_pixels`); True for the local backend, False for the
        API backend (which takes only texts and encoded images)."""
        backend = self._backend
        return all(
            hasattr(backend, name)
            for name in ("tokenize", "embed_token_ids", "embed_pixels", "spec")
        )

    def _prepared(self, verb: str) -> Any:
        if not self.prepares_inputs:
            raise TypeError(f"{verb} needs a backend that embeds prepared inputs (the local one)")
        return self._backend

    def tokenize(self, texts: Sequence[str], *, task: str | None = None) -> list[list[int]]:
        """The token ids :meth:`embed_texts` would run (``task``'s instruction included), for
        :meth:`embed_token_ids`: a server tokenizes in its request threads, the model thread
        only runs the forward pass.

        Example::

            ids = emb.tokenize(["a cat"])
            emb.embed_token_ids(ids)      # == emb.embed_texts(["a cat"])
        """
        task = self._check_task(task)
        return self._prepared("tokenize").tokenize(self._check_texts(texts), task=task)

    def embed_token_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Embed texts tokenized by :meth:`tokenize` -> float32 ``(len(ids), dimension)``."""
        backend = self._prepared("embed_token_ids")
        if not ids:
            return self._zeros(0)
        return self._finish(backend.embed_token_ids(ids), len(ids))

    def image_pixels(
        self, data: bytes, index: int = 0, limits: ImageLimits | None = None
    ) -> tuple[np.ndarray, tuple[int, int]]:
        """Encoded image bytes -> (the pixel array :meth:`embed_images` would run, the image's
        ``(width, height)``), by one guarded decode (``limits``: the config's by default); a bad
        image raises ``InvalidInputError(index)``. For :meth:`embed_pixels`."""
        backend = self._prepared("image_pixels")
        return decode_pixels(data, index, backend.spec, limits or backend.limits)

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Embed a stack of :meth:`image_pixels` arrays (float32 ``(n, 3, S, S)``)."""
        backend = self._prepared("embed_pixels")
        if not len(pixels):
            return self._zeros(0)
        return self._finish(backend.embed_pixels(pixels), len(pixels))

    def close(self) -> None:
        """Release the backend's resources (HTTP connections); the Embedder is unusable after."""
        self._backend.close()

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
