"""`ClipBridgeDocumentEmbedder`: embeds the text of Documents with jina-clip-v1."""

from __future__ import annotations

from typing import Any, Literal

from clipbridge import config as _cfg
from haystack import Document, component
from haystack.utils import Secret

from ._base import EmbedderComponent, check_documents, documents_named, with_embeddings

__all__ = ["ClipBridgeDocumentEmbedder"]


@component
class ClipBridgeDocumentEmbedder(EmbedderComponent):
    """Embeds Documents' text (and chosen meta fields) into jina-clip-v1's text-image space.

    ### Usage example
    ```python
    from haystack import Document
    from haystack_integrations.components.embedders.clipbridge import ClipBridgeDocumentEmbedder

    embedder = ClipBridgeDocumentEmbedder(meta_fields_to_embed=["title"])
    docs = [Document(content="A red bridge at dusk", meta={"title": "Golden Gate"})]
    result = embedder.run(documents=docs)
    print(len(result["documents"][0].embedding))  # 768
    ```

    The text embedded for a Document is ``prefix + embedding_separator.join(meta values +
    [content]) + suffix``. Documents are returned as new objects; the inputs are not changed.
    """

    def __init__(
        self,
        model: str = _cfg.DEFAULT_MODEL,
        *,
        api_key: Secret = Secret.from_env_var("JINA_API_KEY", strict=False),  # noqa: B008
        prefix: str = "",
        suffix: str = "",
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        progress_bar: bool = True,
        backend: Literal["local", "onnx", "api"] = "local",
        revision: str | None = None,
        cache_dir: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = _cfg.DEFAULT_BATCH_SIZE,
        max_length: int = _cfg.DEFAULT_MAX_LENGTH,
        max_batch_tokens: int = _cfg.DEFAULT_MAX_BATCH_TOKENS,
        normalize: bool = True,
        base_url: str = _cfg.DEFAULT_BASE_URL,
        timeout: float = _cfg.DEFAULT_TIMEOUT,
        max_retries: int = _cfg.DEFAULT_MAX_RETRIES,
        max_concurrency: int = _cfg.DEFAULT_MAX_CONCURRENCY,
        api_batch_size: int = _cfg.DEFAULT_API_BATCH_SIZE,
        api_max_request_bytes: int = _cfg.DEFAULT_API_MAX_REQUEST_BYTES,
        api_image_shrink: bool = True,
        send_image_urls: bool = False,
        embedding_type: str = "base64",
        dimensions: int | None = None,
        image_size: int | None = None,
        max_image_pixels: int = _cfg.DEFAULT_MAX_IMAGE_PIXELS,
        max_image_bytes: int = _cfg.DEFAULT_MAX_IMAGE_BYTES,
        image_fetch_timeout: float = _cfg.DEFAULT_IMAGE_FETCH_TIMEOUT,
        allow_private_urls: bool = False,
        image_workers: int = _cfg.DEFAULT_IMAGE_WORKERS,
        fast_image_decode: bool = False,
    ) -> None:
        """Store the settings; the model loads in :meth:`warm_up` (or on the first run).

        :param model: a Hugging Face repo id, a local folder, or the API model name.
        :param api_key: the Jina API key (only the API backend uses it).
        :param prefix: text put before each Document's text.
        :param suffix: text put after each Document's text.
        :param meta_fields_to_embed: meta keys whose values are embedded before the content.
        :param embedding_separator: joins the meta values and the content.
        :param progress_bar: show a progress bar while embedding (``show_progress`` in the core).
        :param backend: ``"local"`` (PyTorch), ``"onnx"`` (ONNX Runtime) or ``"api"`` (Jina
            Embeddings API). Every other
            parameter is the :class:`clipbridge.EmbedderConfig` field of the same name.
        """
        self.prefix = prefix
        self.suffix = suffix
        self.meta_fields_to_embed = list(meta_fields_to_embed or [])
        self.embedding_separator = embedding_separator
        self._store_config(locals())

    def to_dict(self) -> dict[str, Any]:
        """Serialize the component; the API key is written as its env var name only."""
        return self._serialize(
            prefix=self.prefix,
            suffix=self.suffix,
            meta_fields_to_embed=self.meta_fields_to_embed,
            embedding_separator=self.embedding_separator,
        )

    def _prepare(self, documents: Any) -> list[str]:
        check_documents(documents, "ClipBridgeDocumentEmbedder")
        texts = []
        for doc in documents:
            parts = [
                str(doc.meta[key])
                for key in self.meta_fields_to_embed
                if doc.meta.get(key) is not None
            ]
            parts.append(doc.content or "")
            texts.append(self.prefix + self.embedding_separator.join(parts) + self.suffix)
        return texts

    @staticmethod
    def _parse(documents: list[Document], vectors: Any) -> dict[str, list[Document]]:
        return {"documents": with_embeddings(documents, vectors)}

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:
        """Embed Documents' text.

        :param documents: the Documents to embed.
        :returns: ``{"documents": ...}``: copies of the inputs with ``embedding`` set, same order.
        :raises TypeError: if ``documents`` is not a list of Documents.
        """
        texts = self._prepare(documents)
        if not texts:
            return {"documents": []}
        with documents_named(documents):
            vectors = self._warm_embedder().embed_texts(texts, show_progress=self.progress_bar)
        return self._parse(documents, vectors)

    @component.output_types(documents=list[Document])
    async def run_async(self, documents: list[Document]) -> dict[str, list[Document]]:
        """Asynchronously embed Documents' text; same input and output as :meth:`run`."""
        texts = self._prepare(documents)
        if not texts:
            return {"documents": []}
        with documents_named(documents):
            embedder = await self._awarm_embedder()
            vectors = await embedder.aembed_texts(texts, show_progress=self.progress_bar)
        return self._parse(documents, vectors)
