"""Haystack components for jina-clip-v1 text and image embeddings, built on clipbridge.

Example::

    from haystack_integrations.components.embedders.clipbridge import (
        ClipBridgeDocumentEmbedder,
        ClipBridgeDocumentImageEmbedder,
        ClipBridgeTextEmbedder,
    )
"""

from .document_embedder import ClipBridgeDocumentEmbedder
from .document_image_embedder import ClipBridgeDocumentImageEmbedder
from .text_embedder import ClipBridgeTextEmbedder

__all__ = [
    "ClipBridgeDocumentEmbedder",
    "ClipBridgeDocumentImageEmbedder",
    "ClipBridgeTextEmbedder",
]
