"""Haystack components for jina-clip-v1 text and image embeddings, built on clipbridge.

Example::

    from haystack_integrations.components.embedders.clipbridge import (
        ClipBridgeDocumentEmbedder,
        ClipBridgeDocumentImageEmbedder,
        ClipBridgeTextEmbedder,
    )
"""

from clipbridge.extras import raise_missing_extra

try:
    from .document_embedder import ClipBridgeDocumentEmbedder
    from .document_image_embedder import ClipBridgeDocumentImageEmbedder
    from .index_documents import index_documents
    from .text_embedder import ClipBridgeTextEmbedder
except ModuleNotFoundError as exc:  # the framework is an extra: say which one to install
    raise_missing_extra(exc, ("haystack",), "Haystack", "haystack-ai", "haystack")

__all__ = [
    "ClipBridgeDocumentEmbedder",
    "ClipBridgeDocumentImageEmbedder",
    "ClipBridgeTextEmbedder",
    "index_documents",
]
