"""`ClipBridgeTextEmbedder`: embeds a query string with jina-clip-v1."""

from __future__ import annotations

from typing import Any, Literal

from clipbridge import config as _cfg
from haystack import component
from haystack.utils import Secret

from ._base import EmbedderComponent

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
        :param prefix: text put before the input string.
        :param suffix: text put after the input string.
        :param progress_bar: show a progress bar while embedding (``show_progress`` in the core).
        :param backend: ``"local"`` (PyTorch), ``"onnx"`` (ONNX Runtime) or ``"api"`` (Jina
            Embeddings API). Every other
            parameter is the :class:`clipbridge.EmbedderConfig` field of the same name.
        """
        self.prefix = prefix
        self.suffix = suffix
        self._store_config(locals())

    def to_dict(self) -> dict[str, Any]:
        """Serialize the component; the API key is written as its env var name only."""
        return self._serialize(prefix=self.prefix, suffix=self.suffix)

    def _prepare(self, text: Any) -> list[str]:
        if not isinstance(text, str):
            raise TypeError(
                f"ClipBridgeTextEmbedder expects a string, got {type(text).__name__}. "
                "To embed Documents, use ClipBridgeDocumentEmbedder."
            )
        return [self.prefix + text + self.suffix]

    @staticmethod
    def _parse(vectors: Any) -> dict[str, list[float]]:
        return {"embedding": vectors[0].tolist()}

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, list[float]]:
        """Embed one string.

        :param text: the text to embed.
        :returns: ``{"embedding": list[float]}``.
        :raises TypeError: if ``text`` is not a string.
        """
        texts = self._prepare(text)
        return self._parse(
            self._warm_embedder().embed_texts(
                texts, task=_cfg.QUERY_TASK, show_progress=self.progress_bar
            )
        )

    @component.output_types(embedding=list[float])
    async def run_async(self, text: str) -> dict[str, list[float]]:
        """Asynchronously embed one string; same input and output as :meth:`run`."""
        texts = self._prepare(text)
        embedder = await self._awarm_embedder()
        vectors = await embedder.aembed_texts(
            texts, task=_cfg.QUERY_TASK, show_progress=self.progress_bar
        )
        return self._parse(vectors)
