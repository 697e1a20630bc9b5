"""`ClipBridgeEmbedding`: jina-clip-v1 as a LlamaIndex ``MultiModalEmbedding``.

The pydantic fields are the :class:`clipbridge.EmbedderConfig` fields under the same names and
defaults, except ``model``, which LlamaIndex names ``model_name`` (``model=`` is accepted too, as
Jina's ``JinaEmbedding`` spells it). ``embed_batch_size`` stays LlamaIndex's own: the slice size
LlamaIndex cuts lists into before calling us (default 2048, its maximum, so a list reaches the
core whole and the core batches it by ``batch_size``/``api_batch_size``). Every embedding method
forwards one whole slice to the core :class:`~clipbridge.Embedder`, built on first use.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from clipbridge import EmbedderConfig
from clipbridge.config import API_KEY_ENV, DEFAULT_MODEL, QUERY_TASK
from clipbridge.config_fields import adapter_checks, field_definitions, task_fields
from clipbridge.images import ImageInput
from clipbridge.lazy import EmbedderOwner, LazyEmbedder
from llama_index.core.base.embeddings.base import Embedding
from llama_index.core.bridge.pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    create_model,
    model_validator,
)
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.schema import ImageType

__all__ = ["FIELD_FOR_CONFIG", "NOT_EXPOSED", "ClipBridgeEmbedding"]

FIELD_FOR_CONFIG: dict[str, str] = {"model": "model_name"}
"""EmbedderConfig fields that LlamaIndex already names differently: config name -> field name."""

LLAMA_INDEX_KEY_ENV = "JINAAI_API_KEY"
"""The variable LlamaIndex's ``JinaEmbedding`` reads the key from; ours comes first."""
MAX_EMBED_BATCH_SIZE = 2048
"""LlamaIndex's upper bound for ``embed_batch_size``, our default: lists reach the core whole."""
NOT_EXPOSED = ("precision",)
"""EmbedderConfig fields that are not fields here: LlamaIndex's ``Embedding`` is ``list[float]``,
so vectors stay float32 (compact vectors: docs/precision.md)."""


def _key_from_env() -> str | None:
    """``$JINA_API_KEY``, else ``$JINAAI_API_KEY`` (LlamaIndex's name), else None."""
    return os.environ.get(API_KEY_ENV) or os.environ.get(LLAMA_INDEX_KEY_ENV) or None


# Every EmbedderConfig field, same type and default, under LlamaIndex's name for it
# (FIELD_FOR_CONFIG; model_name and api_key are redeclared below), the task of each kind of
# text (Embedder.embed_texts(..., task=...)) and the checks of both.
_ConfigFields = create_model(
    "_ConfigFields",
    __base__=MultiModalEmbedding,
    __validators__=adapter_checks(),
    **field_definitions(FIELD_FOR_CONFIG, exclude=NOT_EXPOSED),
    **task_fields(),
)


class ClipBridgeEmbedding(EmbedderOwner, _ConfigFields):
    """Text and image embeddings from jina-clip for LlamaIndex (local PyTorch or Jina API).

    Example::

        from llama_index.core.indices import MultiModalVectorStoreIndex
        from llama_index.embeddings.clipbridge import ClipBridgeEmbedding

        model = ClipBridgeEmbedding(model_name="jinaai/jina-clip-v1", batch_size=16)
        index = MultiModalVectorStoreIndex(nodes, embed_model=model, image_embed_model=model)
        hits = index.as_retriever().text_to_image_retrieve("a red square")

    Keyword fields are those of :class:`clipbridge.EmbedderConfig` (``backend="api"``,
    ``device``, ``batch_size``, ``max_retries``, ...) plus ``query_task`` (default
    ``"retrieval.query"``: jina-clip-v2 prepends its query instruction) and ``document_task``
    (default None); unknown keywords raise. ``api_key`` is read, when not given, from
    ``$JINA_API_KEY``, else ``$JINAAI_API_KEY``; it is never written by
    ``to_dict``/``model_dump``/``to_json``/``repr`` (a pickle keeps it, so that a worker process
    can use the model). Images may be file paths, http(s) URLs, ``data:`` URIs, ``bytes``,
    ``BytesIO`` or PIL images; the core loads and checks them.
    """

    model_config = ConfigDict(extra="forbid")

    # LlamaIndex's own names.
    model_name: str = Field(
        default=DEFAULT_MODEL,
        description="Hub id, API model name or local folder (EmbedderConfig.model; alias model).",
    )
    embed_batch_size: int = Field(
        default=MAX_EMBED_BATCH_SIZE,
        gt=0,
        le=MAX_EMBED_BATCH_SIZE,
        description="Inputs LlamaIndex hands over per call; the core batches them further.",
    )
    # The other EmbedderConfig fields come from _ConfigFields; the key falls back to the env.
    api_key: str | None = Field(default_factory=_key_from_env, exclude=True, repr=False)
    _embedder: LazyEmbedder = PrivateAttr(default_factory=LazyEmbedder)

    @model_validator(mode="before")
    @classmethod
    def _jina_names(cls, values: Any) -> Any:
        """Accept ``model=`` (``JinaEmbedding``'s name); explain ``task=``."""
        if not isinstance(values, dict):
            return values
        if "task" in values:
            raise ValueError(
                "ClipBridgeEmbedding has no task=: queries use query_task (default "
                f"{QUERY_TASK!r}) and documents document_task (default None)"
            )
        if "model" in values:
            values = dict(values)
            model = values.pop("model")
            if values.setdefault("model_name", model) != model:
                raise ValueError("give the model once: model= and model_name= are the same field")
        return values

    @classmethod
    def class_name(cls) -> str:
        return "ClipBridgeEmbedding"

    def to_config(self) -> EmbedderConfig:
        """The core config these fields describe (the API key included)."""
        return EmbedderConfig(
            **{
                name: getattr(self, FIELD_FOR_CONFIG.get(name, name))
                for name in EmbedderConfig.field_names()
                if name not in NOT_EXPOSED
            }
        )

    def to_payload(self) -> dict[str, Any]:
        return {**super().to_payload(), "backend": self.backend}

    # -- queries (query_task) and documents (document_task) --------------------------------------
    def _get_query_embedding(self, query: str) -> Embedding:
        return self.embedder.embed_texts([query], task=self.query_task).tolist()[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        embedder = await self._aembedder()
        return (await embedder.aembed_texts([query], task=self.query_task)).tolist()[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self.embedder.embed_texts(texts, task=self.document_task).tolist()

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        embedder = await self._aembedder()
        return (await embedder.aembed_texts(texts, task=self.document_task)).tolist()

    # -- images ----------------------------------------------------------------------------------
    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._get_image_embeddings([img_file_path])[0]

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return (await self._aget_image_embeddings([img_file_path]))[0]

    def _get_image_embeddings(self, img_file_paths: Sequence[ImageInput]) -> list[Embedding]:
        return self.embedder.embed_images(list(img_file_paths)).tolist()

    async def _aget_image_embeddings(self, img_file_paths: Sequence[ImageInput]) -> list[Embedding]:
        embedder = await self._aembedder()
        return (await embedder.aembed_images(list(img_file_paths))).tolist()
