"""Haystack components for jina-clip-v1 text and image embeddings, built on clipbridge.

Example::

    from haystack_integrations.components.embedders.clipbridge import (
        ClipBridgeDocumentEmbedder,
        ClipBridgeDocumentImageEmbedder,
        ClipBridgeTextEmbedder,
    )
"""

try:
    from .document_embedder import ClipBridgeDocumentEmbedder
    from .document_image_embedder import ClipBridgeDocumentImageEmbedder
    from .index_documents import index_documents
    from .text_embedder import ClipBridgeTextEmbedder
except ModuleNotFoundError as exc:  # the framework is an extra: say which one to install
    if (exc.name or "").split(".")[0] != "haystack":
        raise
    raise ImportError(
        f"clipbridge's Haystack adapter needs haystack-ai ({exc.name} is missing): "
        'pip install "clipbridge[haystack]"',
        name=exc.name,
    ) from exc

__all__ = [
    "ClipBridgeDocumentEmbedder",
    "ClipBridgeDocumentImageEmbedder",
    "ClipBridgeTextEmbedder",
    "index_documents",
]
