"""LlamaIndex integration: jina-clip-v1 text and image embeddings through clipbridge.

Example::

    from llama_index.embeddings.clipbridge import ClipBridgeEmbedding

    model = ClipBridgeEmbedding(model_name="jinaai/jina-clip-v1")
    vector = model.get_image_embedding("photo.jpg")      # list[float], 768 values
"""

from clipbridge.extras import raise_missing_extra

try:
    from .base import ClipBridgeEmbedding
    from .index_nodes import index_nodes
except ModuleNotFoundError as exc:  # the framework is an extra: say which one to install
    raise_missing_extra(
        exc, ("llama_index", "pydantic"), "LlamaIndex", "llama-index-core", "llama-index"
    )

__all__ = ["ClipBridgeEmbedding", "index_nodes"]
