"""LangChain adapter for clipbridge: jina-clip-v1 text and image embeddings.

Example::

    from langchain_clipbridge import ClipBridgeEmbeddings

    embeddings = ClipBridgeEmbeddings(model="jinaai/jina-clip-v1")
    vectors = embeddings.embed_image(uris=["photo.jpg"])
"""

from .embeddings import ClipBridgeEmbeddings

__all__ = ["ClipBridgeEmbeddings"]
