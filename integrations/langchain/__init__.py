"""LangChain adapter for clipbridge: jina-clip-v1 text and image embeddings.

Example::

    from langchain_clipbridge import ClipBridgeEmbeddings

    embeddings = ClipBridgeEmbeddings(model="jinaai/jina-clip-v1")
    vectors = embeddings.embed_image(uris=["photo.jpg"])
"""

from clipbridge.extras import raise_missing_extra

try:
    from .embeddings import ClipBridgeEmbeddings
    from .store import add_index
except ModuleNotFoundError as exc:  # the framework is an extra: say which one to install
    raise_missing_extra(
        exc, ("langchain_core", "pydantic"), "LangChain", "langchain-core", "langchain"
    )

__all__ = ["ClipBridgeEmbeddings", "add_index"]
