"""LlamaIndex integration: jina-clip-v1 text and image embeddings through clipbridge.

Example::

    from llama_index.embeddings.clipbridge import ClipBridgeEmbedding

    model = ClipBridgeEmbedding(model_name="jinaai/jina-clip-v1")
    vector = model.get_image_embedding("photo.jpg")      # list[float], 768 values
"""

try:
    from .base import ClipBridgeEmbedding
    from .index_nodes import index_nodes
except ModuleNotFoundError as exc:  # the framework is an extra: say which one to install
    if (exc.name or "").split(".")[0] not in ("llama_index", "pydantic"):
        raise
    raise ImportError(
        f"clipbridge's LlamaIndex adapter needs llama-index-core ({exc.name} is missing): "
        'pip install "clipbridge[llama-index]"',
        name=exc.name,
    ) from exc

__all__ = ["ClipBridgeEmbedding", "index_nodes"]
