"""`ClipBridgeDocumentImageEmbedder`: embeds the image (or PDF page) a Document points at."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Literal

from clipbridge import config as _cfg
from clipbridge.errors import InvalidInputError
from clipbridge.images import ImageInput
from clipbridge.pdf import render_pdf_page
from haystack import Document, component
from haystack.utils import Secret

from ._base import EmbedderComponent, check_documents, documents_named, with_embeddings

__all__ = ["ClipBridgeDocumentImageEmbedder"]

_PDF_MIME_TYPE = "application/pdf"


@component
class ClipBridgeDocumentImageEmbedder(EmbedderComponent):
    """Embeds the image file each Document refers to, in the same space as the text embedders.

    The path is read from ``meta[file_path_meta_field]`` and resolved under ``root_path``.
    A PDF (``meta["mime_type"] == "application/pdf"`` or a ``.pdf`` path) is embedded one page
    at a time: ``meta["page_number"]`` (1-based) says which page to render.

    ### Usage example
    ```python
    from haystack.components.converters.image import ImageFileToDocument
    from haystack_integrations.components.embedders.clipbridge import (
        ClipBridgeDocumentImageEmbedder,
    )

    docs = ImageFileToDocument().run(sources=["photos/bridge.jpg"])["documents"]
    embedder = ClipBridgeDocumentImageEmbedder(root_path="photos")
    result = embedder.run(documents=docs)
    print(result["documents"][0].meta["embedding_source"])
    # {'type': 'image', 'file_path_meta_field': 'file_path'}
    ```
    """

    def __init__(
        self,
        model: str = _cfg.DEFAULT_MODEL,
        *,
        api_key: Secret = Secret.from_env_var("JINA_API_KEY", strict=False),  # noqa: B008
        file_path_meta_field: str = "file_path",
        root_path: str | None = None,
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
        :param file_path_meta_field: the meta key holding the image or PDF path.
        :param root_path: folder the paths are relative to. When set, a path that resolves
            outside it (``../``, absolute paths, symlinks) is refused; set it whenever the
            Documents' meta comes from an untrusted source.
        :param progress_bar: show a progress bar while embedding (``show_progress`` in the core).
        :param backend: ``"local"`` (PyTorch), ``"onnx"`` (ONNX Runtime) or ``"api"`` (Jina
            Embeddings API). Every other
            parameter is the :class:`clipbridge.EmbedderConfig` field of the same name.
        """
        self.file_path_meta_field = file_path_meta_field
        self.root_path = root_path
        self._store_config(locals())

    def to_dict(self) -> dict[str, Any]:
        """Serialize the component; the API key is written as its env var name only."""
        return self._serialize(
            file_path_meta_field=self.file_path_meta_field, root_path=self.root_path
        )

    def _resolve_path(self, doc: Document, index: int) -> Path:
        raw = doc.meta.get(self.file_path_meta_field)
        if not isinstance(raw, (str, os.PathLike)) or not str(raw):
            raise InvalidInputError(
                index,
                f"document {doc.id!r} has no image path in meta[{self.file_path_meta_field!r}] "
                f"(found {raw!r}); set it to the image or PDF file to embed",
            )
        if not self.root_path:
            return Path(raw)
        root = Path(self.root_path).resolve()
        path = (root / raw).resolve()
        if not path.is_relative_to(root):
            raise InvalidInputError(
                index,
                f"document {doc.id!r}: file path {str(raw)!r} escapes root_path "
                f"{self.root_path!r} (it resolves to {str(path)!r})",
            )
        return path

    def _prepare(self, documents: Any) -> list[ImageInput]:
        """One core image input per Document: the file path, or a rendered PDF page."""
        check_documents(documents, "ClipBridgeDocumentImageEmbedder")
        images: list[ImageInput] = []
        for index, doc in enumerate(documents):
            path = self._resolve_path(doc, index)
            if doc.meta.get("mime_type") != _PDF_MIME_TYPE and path.suffix.lower() != ".pdf":
                images.append(str(path))
                continue
            page_number = doc.meta.get("page_number")
            if page_number is None:
                raise InvalidInputError(
                    index,
                    f"document {doc.id!r} points at the PDF {str(path)!r} but has no "
                    "meta['page_number']; set it to the page to embed (1-based)",
                )
            try:
                page = render_pdf_page(path, page_number, index, max_pixels=self.max_image_pixels)
            except InvalidInputError as exc:
                raise InvalidInputError(index, f"document {doc.id!r}: {exc.reason}") from exc
            images.append(page)
        return images

    def _parse(self, documents: list[Document], vectors: Any) -> dict[str, list[Document]]:
        source = {"type": "image", "file_path_meta_field": self.file_path_meta_field}
        return {"documents": with_embeddings(documents, vectors, {"embedding_source": source})}

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:
        """Embed the image behind each Document.

        :param documents: Documents whose meta names an image or PDF file.
        :returns: ``{"documents": ...}``: copies of the inputs with ``embedding`` and
            ``meta["embedding_source"]`` set, same order.
        :raises TypeError: if ``documents`` is not a list of Documents.
        :raises InvalidInputError: (a ``ValueError``) naming the Document whose file is missing,
            unreadable, outside ``root_path``, or a PDF without ``page_number``.
        """
        images = self._prepare(documents)
        if not images:
            return {"documents": []}
        with documents_named(documents):
            vectors = self._warm_embedder().embed_images(images, show_progress=self.progress_bar)
        return self._parse(documents, vectors)

    @component.output_types(documents=list[Document])
    async def run_async(self, documents: list[Document]) -> dict[str, list[Document]]:
        """Asynchronously embed the images; same input and output as :meth:`run`."""
        check_documents(documents, "ClipBridgeDocumentImageEmbedder")
        images = await asyncio.to_thread(self._prepare, documents)  # PDF pages render off-loop
        if not images:
            return {"documents": []}
        with documents_named(documents):
            embedder = await self._awarm_embedder()
            vectors = await embedder.aembed_images(images, show_progress=self.progress_bar)
        return self._parse(documents, vectors)
