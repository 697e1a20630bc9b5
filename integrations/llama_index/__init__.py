"""LlamaIndex integration: jina-clip-v1 text and image embeddings through clipbridge.

Example::

    from llama_index.embeddings.clipbridge import ClipBridgeEmbedding

    model = ClipBridgeEmbedding(model_name="jinaai/jina-clip-v1")
    vector = model.get_image_embedding("photo.jpg")      # list[float], 768 values
"""

from .base import ClipBridgeEmbedding

__all__ = ["ClipBridgeEmbedding"]
