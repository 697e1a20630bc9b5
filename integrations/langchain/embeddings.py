"""`ClipBridgeEmbeddings`: jina-clip-v1 as LangChain ``Embeddings``, texts and images.

The pydantic fields are the :class:`clipbridge.EmbedderConfig` fields under the same names and
defaults, plus ``query_task`` and ``document_task``. ``JinaEmbeddings``' names are accepted too:
``model_name=`` for ``model`` and ``jina_api_key=`` for ``api_key``. ``api_key`` is a
``SecretStr`` read, when not given, from ``$JINA_API_KEY``, else ``$JINA_AUTH_TOKEN``. Every
method forwards one whole batch to the core :class:`~clipbridge.Embedder`, built on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.utils import secret_from_env
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    create_model,
    model_validator,
)

from clipbridge import EmbedderConfig
from clipbridge.config import API_KEY_ENV
from clipbridge.config_fields import adapter_checks, field_definitions, task_fields
from clipbridge.images import ImageInput
from clipbridge.lazy import EmbedderOwner, LazyEmbedder

__all__ = ["ClipBridgeEmbeddings"]

NOT_EXPOSED = ("precision",)
"""EmbedderConfig fields that are not fields here: LangChain's ``Embeddings`` return
``list[float]``, so vectors stay float32 (compact vectors: docs/precision.md)."""

LANGCHAIN_KEY_ENV = "JINA_AUTH_TOKEN"
"""The variable LangChain's ``JinaEmbeddings`` falls back to; ``$JINA_API_KEY`` comes first."""
JINA_NAMES: dict[str, str] = {"model_name": "model", "jina_api_key": "api_key"}
"""``JinaEmbeddings``' keyword -> our field."""

# Every EmbedderConfig field, same name, type and default (api_key is redeclared below), the
# task of each kind of text (Embedder.embed_texts(..., task=...)) and the checks of both.
_ConfigFields = create_model(
    "_ConfigFields",
    __base__=BaseModel,
    __validators__=adapter_checks(),
    **field_definitions(exclude=NOT_EXPOSED),
    **task_fields(),
)


class ClipBridgeEmbeddings(EmbedderOwner, _ConfigFields, Embeddings):
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

    # The EmbedderConfig fields come from _ConfigFields; the key is a secret here.
    api_key: SecretStr | None = Field(
        default_factory=secret_from_env([API_KEY_ENV, LANGCHAIN_KEY_ENV], default=None),
        exclude=True,
        repr=False,
        description=f"Jina API key; else ${API_KEY_ENV}, else ${LANGCHAIN_KEY_ENV}.",
    )
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

    def to_config(self) -> EmbedderConfig:
        """The core config these fields describe (the API key included)."""
        values = {
            name: getattr(self, name)
            for name in EmbedderConfig.field_names()
            if name not in NOT_EXPOSED
        }
        key = self.api_key
        values["api_key"] = key.get_secret_value() if key is not None else None
        return EmbedderConfig(**values)

    # -- texts: documents get document_task, queries query_task ----------------------------------
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts; one list of floats per text, in order (``[]`` for ``[]``)."""
        return self.embedder.embed_texts(texts, task=self.document_task).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one search query (``task=query_task``: jina-clip-v2 adds its instruction)."""
        return self.embedder.embed_texts([text], task=self.query_task).tolist()[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents` (the core's native async path)."""
        embedder = await self._aembedder()
        return (await embedder.aembed_texts(texts, task=self.document_task)).tolist()

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        embedder = await self._aembedder()
        return (await embedder.aembed_texts([text], task=self.query_task)).tolist()[0]

    # -- images ----------------------------------------------------------------------------------
    def embed_image(self, uris: Sequence[ImageInput]) -> list[list[float]]:
        """Embed images given as paths, http(s) URLs or ``data:`` URIs, one vector each.

        This is the name and keyword LangChain vector stores call
        (``Chroma.add_images``, ``similarity_search_by_image``).
        """
        return self.embedder.embed_images(uris).tolist()

    def embed_images(self, uris: Sequence[ImageInput]) -> list[list[float]]:
        """Same as :meth:`embed_image` (the name ``JinaEmbeddings`` uses)."""
        return self.embed_image(uris)

    async def aembed_image(self, uris: Sequence[ImageInput]) -> list[list[float]]:
        """Async :meth:`embed_image` (the core's native async path)."""
        embedder = await self._aembedder()
        return (await embedder.aembed_images(uris)).tolist()

    async def aembed_images(self, uris: Sequence[ImageInput]) -> list[list[float]]:
        """Same as :meth:`aembed_image`."""
        return await self.aembed_image(uris)
