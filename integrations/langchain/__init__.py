"""LangChain adapter for clipbridge: jina-clip-v1 text and image embeddings.

Example::

    from langchain_clipbridge import ClipBridgeEmbeddings

    embeddings = ClipBridgeEmbeddings(model="jinaai/jina-clip-v1")
    vectors = embeddings.embed_image(uris=["photo.jpg"])
"""

try:
    from .embeddings import ClipBridgeEmbeddings
    from .store import add_index
except ModuleNotFoundError as exc:  # the framework is an extra: say which one to install
    if (exc.name or "").split(".")[0] not in ("langchain_core", "pydantic"):
        raise
    raise ImportError(
        f"clipbridge's LangChain adapter needs langchain-core ({exc.name} is missing): "
        'pip install "clipbridge[langchain]"',
        name=exc.name,
    ) from exc

__all__ = ["ClipBridgeEmbeddings", "add_index"]
