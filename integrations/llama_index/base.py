"""`ClipBridgeEmbedding`: jina-clip-v1 as a LlamaIndex ``MultiModalEmbedding``.

The pydantic fields are the :class:`clipbridge.EmbedderConfig` fields under the same names and
defaults, except two that LlamaIndex already names: ``model_name`` is ``model`` and
``embed_batch_size`` is ``batch_size``. Every embedding method forwards one whole batch to the
core :class:`~clipbridge.Embedder`, which is built on first use and rebuilt after unpickling.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from clipbridge import Embedder, EmbedderConfig
from clipbridge.config import QUERY_TASK, BackendName
from clipbridge.images import ImageInput
from clipbridge.lazy import LazyEmbedder
from llama_index.core.base.embeddings.base import Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr, model_validator
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.schema import ImageType

__all__ = ["FIELD_FOR_CONFIG", "NOT_EXPOSED", "ClipBridgeEmbedding"]

FIELD_FOR_CONFIG: dict[str, str] = {"model": "model_name", "batch_size": "embed_batch_size"}
"""EmbedderConfig fields that LlamaIndex already names differently: config name -> field name."""

NOT_EXPOSED = ("precision",)
"""EmbedderConfig fields that are not fields here: LlamaIndex's ``Embedding`` is ``list[float]``,
so vectors stay float32 (compact vectors: docs/precision.md)."""
_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(EmbedderConfig) if f.name not in NOT_EXPOSED
}


def _floats(vectors: np.ndarray) -> list[list[float]]:
    return vectors.tolist()


class ClipBridgeEmbedding(MultiModalEmbedding):
    """Text and image embeddings from jina-clip-v1 for LlamaIndex (local PyTorch or Jina API).

    Example::

        from llama_index.core.indices import MultiModalVectorStoreIndex
        from llama_index.embeddings.clipbridge import ClipBridgeEmbedding

        model = ClipBridgeEmbedding(model_name="jinaai/jina-clip-v1", embed_batch_size=16)
        index = MultiModalVectorStoreIndex(nodes, embed_model=model, image_embed_model=model)
        hits = index.as_retriever().text_to_image_retrieve("a red square")

    Keyword fields are those of :class:`clipbridge.EmbedderConfig` (``backend="api"``,
    ``device``, ``max_retries``, ...). ``api_key`` falls back to ``$JINA_API_KEY`` and is never
    written by ``to_dict``/``model_dump``/``to_json``/``repr`` (a pickle keeps it, so that a
    worker process can use the model). Images may be file paths, http(s) URLs, ``data:`` URIs,
    ``bytes``, ``BytesIO`` or PIL images; the core loads and checks them.
    """

    # Renamed EmbedderConfig fields (LlamaIndex's own names).
    model_name: str = Field(
        default=_DEFAULTS["model"],
        description="Hub id, API model name or local folder (EmbedderConfig.model).",
    )
    embed_batch_size: int = Field(
        default=_DEFAULTS["batch_size"],
        gt=0,
        description="Inputs per backend call (EmbedderConfig.batch_size).",
    )
    # Every other EmbedderConfig field, same name, same default.
    backend: BackendName = _DEFAULTS["backend"]
    revision: str | None = _DEFAULTS["revision"]
    cache_dir: str | None = _DEFAULTS["cache_dir"]
    device: str = _DEFAULTS["device"]
    dtype: str = _DEFAULTS["dtype"]
    max_length: int = _DEFAULTS["max_length"]
    max_batch_tokens: int = _DEFAULTS["max_batch_tokens"]
    normalize: bool = _DEFAULTS["normalize"]
    show_progress: bool = _DEFAULTS["show_progress"]
    base_url: str = _DEFAULTS["base_url"]
    api_key: str | None = Field(default=_DEFAULTS["api_key"], exclude=True, repr=False)
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

    _embedder: LazyEmbedder = PrivateAttr(default_factory=LazyEmbedder)

    @model_validator(mode="after")
    def _check_config(self) -> ClipBridgeEmbedding:
        self.to_config()  # bad values fail at construction, before any model is loaded
        return self

    @classmethod
    def class_name(cls) -> str:
        return "ClipBridgeEmbedding"

    def to_config(self) -> EmbedderConfig:
        """The core config these fields describe (the API key included)."""
        return EmbedderConfig(
            **{name: getattr(self, FIELD_FOR_CONFIG.get(name, name)) for name in _DEFAULTS}
        )

    @property
    def embedder(self) -> Embedder:
        """The core :class:`~clipbridge.Embedder`, built on first use (loads the model) and
        rebuilt after a field changes."""
        return self._embedder.get(self.to_config())

    async def _aembedder(self) -> Embedder:
        """:attr:`embedder` without blocking the event loop while a model loads."""
        return await self._embedder.aget(self.to_config())

    def to_payload(self) -> dict[str, Any]:
        return {**super().to_payload(), "backend": self.backend}

    # -- queries (task="retrieval.query": jina-clip-v2 adds its instruction) and texts ---------
    def _get_query_embedding(self, query: str) -> Embedding:
        return _floats(self.embedder.embed_texts([query], task=QUERY_TASK))[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        embedder = await self._aembedder()
        return _floats(await embedder.aembed_texts([query], task=QUERY_TASK))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return _floats(self.embedder.embed_texts(texts))

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        embedder = await self._aembedder()
        return _floats(await embedder.aembed_texts(texts))

    # -- images ----------------------------------------------------------------------------------
    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._get_image_embeddings([img_file_path])[0]

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return (await self._aget_image_embeddings([img_file_path]))[0]

    def _get_image_embeddings(self, img_file_paths: Sequence[ImageInput]) -> list[Embedding]:
        return _floats(self.embedder.embed_images(list(img_file_paths)))

    async def _aget_image_embeddings(self, img_file_paths: Sequence[ImageInput]) -> list[Embedding]:
        embedder = await self._aembedder()
        return _floats(await embedder.aembed_images(list(img_file_paths)))
