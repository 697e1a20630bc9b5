"""`ClipBridgeEmbeddings`: jina-clip-v1 as LangChain ``Embeddings``, texts and images.

The pydantic fields are the :class:`clipbridge.EmbedderConfig` fields under the same names and
defaults, plus ``query_task`` and ``document_task``. ``JinaEmbeddings``' names are accepted too:
``model_name=`` for ``model`` and ``jina_api_key=`` for ``api_key``. ``api_key`` is a
``SecretStr`` read, when not given, from ``$JINA_API_KEY``, else ``$JINA_AUTH_TOKEN``. Every
method forwards one whole batch to the core :class:`~clipbridge.Embedder`, built on first use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.utils import secret_from_env
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from clipbridge import Embedder, EmbedderConfig
from clipbridge.config import API_KEY_ENV, QUERY_TASK, TASKS, BackendName
from clipbridge.images import ImageInput
from clipbridge.lazy import LazyEmbedder

__all__ = ["ClipBridgeEmbeddings"]

NOT_EXPOSED = ("precision",)
"""EmbedderConfig fields that are not fields here: LangChain's ``Embeddings`` return
``list[float]``, so vectors stay float32 (compact vectors: docs/precision.md)."""
_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(EmbedderConfig) if f.name not in NOT_EXPOSED
}

LANGCHAIN_KEY_ENV = "JINA_AUTH_TOKEN"
"""The variable LangChain's ``JinaEmbeddings`` falls back to; ``$JINA_API_KEY`` comes first."""
JINA_NAMES: dict[str, str] = {"model_name": "model", "jina_api_key": "api_key"}
"""``JinaEmbeddings``' keyword -> our field."""


def _floats(vectors: np.ndarray) -> list[list[float]]:
    return vectors.tolist()  # float32 rows -> lists of Python floats


class ClipBridgeEmbeddings(BaseModel, Embeddings):
    """Text and image embeddings from jina-clip-v1 for LangChain (local PyTorch or Jina API).

    Example::

        from langchain_chroma import Chroma
        from langchain_clipbridge import ClipBridgeEmbeddings

        embeddings = ClipBridgeEmbeddings(model="jinaai/jina-clip-v1")
        store = Chroma(embedding_function=embeddings)
        store.add_images(uris=["cat.jpg", "bridge.png"])          # calls embed_image(uris=...)
        hits = store.similarity_search("a bridge at dusk", k=1)   # text query, image results

    Keyword fields are those of :class:`clipbridge.EmbedderConfig` (``backend="api"``,
    ``device``, ``batch_size``, ``max_retries``, ...) plus ``query_task`` (default
    ``"retrieval.query"``, used by ``embed_query``) and ``document_task`` (default None, used by
    ``embed_documents``); unknown keywords are rejected. ``api_key`` falls back to
    ``$JINA_API_KEY``, then ``$JINA_AUTH_TOKEN``, and is never shown by ``repr`` nor written by
    ``model_dump``/``model_dump_json``. Image URIs may be file paths, http(s) URLs or ``data:``
    URIs (anything :data:`clipbridge.ImageInput` allows); the core loads and checks them.
    """

    model_config = ConfigDict(extra="forbid")

    # Every EmbedderConfig field, same name, same default.
    model: str = _DEFAULTS["model"]
    backend: BackendName = _DEFAULTS["backend"]
    revision: str | None = _DEFAULTS["revision"]
    cache_dir: str | None = _DEFAULTS["cache_dir"]
    device: str = _DEFAULTS["device"]
    dtype: str = _DEFAULTS["dtype"]
    batch_size: int = _DEFAULTS["batch_size"]
    max_length: int = _DEFAULTS["max_length"]
    max_batch_tokens: int = _DEFAULTS["max_batch_tokens"]
    normalize: bool = _DEFAULTS["normalize"]
    show_progress: bool = _DEFAULTS["show_progress"]
    base_url: str = _DEFAULTS["base_url"]
    api_key: SecretStr | None = Field(
        default_factory=secret_from_env([API_KEY_ENV, LANGCHAIN_KEY_ENV], default=None),
        exclude=True,
        repr=False,
        description=f"Jina API key; else ${API_KEY_ENV}, else ${LANGCHAIN_KEY_ENV}.",
    )
    timeout: float = _DEFAULTS["timeout"]
    max_retries: int = _DEFAULTS["max_retries"]
    max_concurrency: int = _DEFAULTS["max_concurrency"]
    api_batch_size: int = _DEFAULTS["api_batch_size"]
    api_max_request_bytes: int = _DEFAULTS["api_max_request_bytes"]
    api_image_shrink: bool = _DEFAULTS["api_image_shrink"]
    send_image_urls: bool = _DEFAULTS["send_image_urls"]
    embedding_type: str = _DEFAULTS["embedding_type"]
    dimensions: int | None = _DEFAULTS["dimensions"]
    image_size: int | None = _DEFAULTS["image_size"]
    max_image_pixels: int = _DEFAULTS["max_image_pixels"]
    max_image_bytes: int = _DEFAULTS["max_image_bytes"]
    image_fetch_timeout: float = _DEFAULTS["image_fetch_timeout"]
    allow_private_urls: bool = _DEFAULTS["allow_private_urls"]
    image_workers: int = _DEFAULTS["image_workers"]
    fast_image_decode: bool = _DEFAULTS["fast_image_decode"]
    # The task of each kind of text (Embedder.embed_texts(..., task=...)).
    query_task: str | None = QUERY_TASK
    document_task: str | None = None

    _embedder: LazyEmbedder = PrivateAttr(default_factory=LazyEmbedder)

    @model_validator(mode="before")
    @classmethod
    def _jina_names(cls, values: Any) -> Any:
        """Accept ``JinaEmbeddings``' keywords (:data:`JINA_NAMES`) for ours."""
        if not isinstance(values, dict) or not JINA_NAMES.keys() & values.keys():
            return values
        values = dict(values)
        for theirs, ours in JINA_NAMES.items():
            if theirs in values:
                value = values.pop(theirs)
                if values.setdefault(ours, value) != value:
                    raise ValueError(f"{theirs}= and {ours}= are the same field: give one")
        return values

    @field_validator("query_task", "document_task")
    @classmethod
    def _known_task(cls, task: str | None) -> str | None:
        if task is not None and task not in TASKS:
            raise ValueError(f"must be None or one of {list(TASKS)}, not {task!r}")
        return task

    @model_validator(mode="after")
    def _check_config(self) -> ClipBridgeEmbeddings:
        self.to_config()  # bad values fail at construction, before any model is loaded
        return self

    def to_config(self) -> EmbedderConfig:
        """The core config these fields describe (the API key included)."""
        values = {name: getattr(self, name) for name in _DEFAULTS}
        key = self.api_key
        values["api_key"] = key.get_secret_value() if key is not None else None
        return EmbedderConfig(**values)

    @property
    def embedder(self) -> Embedder:
        """The core :class:`~clipbridge.Embedder`, built on first use (loads the model) and
        rebuilt after a field changes."""
        return self._embedder.get(self.to_config())

    async def _aembedder(self) -> Embedder:
        """:attr:`embedder` without blocking the event loop while a model loads."""
        return await self._embedder.aget(self.to_config())

    def close(self) -> None:
        """Release the backend (HTTP connections); the next call builds a new one."""
        self._embedder.close()

    # -- texts: documents get document_task, queries query_task ----------------------------------
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts; one list of floats per text, in order (``[]`` for ``[]``)."""
        return _floats(self.embedder.embed_texts(texts, task=self.document_task))

    def embed_query(self, text: str) -> list[float]:
        """Embed one search query (``task=query_task``: jina-clip-v2 adds its instruction)."""
        return _floats(self.embedder.embed_texts([text], task=self.query_task))[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents` (the core's native async path)."""
        embedder = await self._aembedder()
        return _floats(await embedder.aembed_texts(texts, task=self.document_task))

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        embedder = await self._aembedder()
        return _floats(await embedder.aembed_texts([text], task=self.query_task))[0]

    # -- images ----------------------------------------------------------------------------------
    def embed_image(self, uris: Sequence[ImageInput]) -> list[list[float]]:
        """Embed images given as paths, http(s) URLs or ``data:`` URIs, one vector each.

        This is the name and keyword LangChain vector stores call
        (``Chroma.add_images``, ``similarity_search_by_image``).
        """
        return _floats(self.embedder.embed_images(uris))

    def embed_images(self, uris: Sequence[ImageInput]) -> list[list[float]]:
        """Same as :meth:`embed_image` (the name ``JinaEmbeddings`` uses)."""
        return self.embed_image(uris)

    async def aembed_image(self, uris: Sequence[ImageInput]) -> list[list[float]]:
        """Async :meth:`embed_image` (the core's native async path)."""
        embedder = await self._aembedder()
        return _floats(await embedder.aembed_images(uris))

    async def aembed_images(self, uris: Sequence[ImageInput]) -> list[list[float]]:
        """Same as :meth:`aembed_image`."""
        return await self.aembed_image(uris)
