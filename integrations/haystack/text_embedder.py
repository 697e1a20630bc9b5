"""`ClipBridgeTextEmbedder`: embeds a query string with jina-clip-v1."""

from __future__ import annotations

from typing import Any, Literal

from clipbridge import config as _cfg
from haystack import component
from haystack.utils import ComponentDevice, Secret

from ._base import EmbedderComponent, metered, task_from

__all__ = ["ClipBridgeTextEmbedder"]


@component
class ClipBridgeTextEmbedder(EmbedderComponent):
    """Embeds a string into jina-clip-v1's text-image space, e.g. a query for image retrieval.

    ### Usage example
    ```python
    from haystack_integrations.components.embedders.clipbridge import ClipBridgeTextEmbedder

    embedder = ClipBridgeTextEmbedder(model="jinaai/jina-clip-v1")
    result = embedder.run(text="a red bridge at dusk")
    print(len(result["embedding"]))  # 768
    ```

    Every :class:`clipbridge.EmbedderConfig` field is an init parameter of the same name
    (``backend="api"`` uses the Jina API with the key from ``JINA_API_KEY``).
    """

    def __init__(
        self,
        model: str = _cfg.DEFAULT_MODEL,
        *,
        api_key: Secret = Secret.from_env_var("JINA_API_KEY", strict=False),  # noqa: B008
        prefix: str = "",
        suffix: str = "",
        query_task: str | None = _cfg.QUERY_TASK,
        task: str | None = None,
        progress_bar: bool = True,
        backend: Literal["local", "onnx", "api"] = "local",
        revision: str | None = None,
        cache_dir: str | None = None,
        device: str | ComponentDevice | dict[str, Any] | None = "auto",
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
        :param prefix: text put before the input string.
        :param suffix: text put after the input string.
        :param query_task: the core ``task`` of the text (``"retrieval.query"``: jina-clip-v2
            prepends its query instruction; None: embedded as a document).
        :param task: ``JinaTextEmbedder``'s name for ``query_task``; stored as ``query_task``.
        :param progress_bar: show a progress bar while embedding (``show_progress`` in the core).
        :param backend: ``"local"`` (PyTorch), ``"onnx"`` (ONNX Runtime) or ``"api"`` (Jina
            Embeddings API). Every other parameter is the :class:`clipbridge.EmbedderConfig` field
            of the same name; ``device`` may also be a ``ComponentDevice`` (or its dict, or None
            for ``"auto"``) and ``base_url`` Jina's full endpoint
            (``https://api.jina.ai/v1/embeddings``).
        """
        self.prefix = prefix
        self.suffix = suffix
        self.query_task = task_from(query_task, "query_task", _cfg.QUERY_TASK, task)
        self._store_config(locals())

    def to_dict(self) -> dict[str, Any]:
        """Serialize the component; the API key is written as its env var name only."""
        return self._serialize(prefix=self.prefix, suffix=self.suffix, query_task=self.query_task)

    def _prepare(self, text: Any) -> list[str]:
        if not isinstance(text, str):
            raise TypeError(
                f"ClipBridgeTextEmbedder expects a string, got {type(text).__name__}. "
                "To embed Documents, use ClipBridgeDocumentEmbedder."
            )
        return [self.prefix + text + self.suffix]

    @component.output_types(embedding=list[float], meta=dict[str, Any])
    def run(self, text: str) -> dict[str, Any]:
        """Embed one string.

        :param text: the text to embed.
        :returns: ``{"embedding": list[float], "meta": {"model": ..., "usage": ...}}``; usage
            (the tokens billed) only with the API backend.
        :raises TypeError: if ``text`` is not a string.
        """
        texts = self._prepare(text)
        embedder = self._warm_embedder()
        with metered(embedder) as meta:
            vectors = embedder.embed_texts(
                texts, task=self.query_task, show_progress=self.progress_bar
            )
        return {"embedding": vectors[0].tolist(), "meta": meta}

    @component.output_types(embedding=list[float], meta=dict[str, Any])
    async def run_async(self, text: str) -> dict[str, Any]:
        """Asynchronously embed one string; same input and output as :meth:`run`."""
        texts = self._prepare(text)
        embedder = await self._awarm_embedder()
        with metered(embedder) as meta:
            vectors = await embedder.aembed_texts(
                texts, task=self.query_task, show_progress=self.progress_bar
            )
        return {"embedding": vectors[0].tolist(), "meta": meta}
