"""LlamaIndex nodes from a ``clipbridge index`` Parquet file, with the vectors it stores.

Nothing is embedded again: each node carries its row's ``embedding``, so
``VectorStoreIndex(nodes=...)`` and ``MultiModalVectorStoreIndex(nodes=...)`` store them as they
are. Only queries go through :class:`ClipBridgeEmbedding`, which must use the index's model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from clipbridge.index_file import IndexRow, read_rows
from llama_index.core.schema import BaseNode, ImageNode, TextNode

__all__ = ["index_nodes"]


def _node(row: IndexRow) -> BaseNode:
    if row.kind == "image":
        image = row.image or row.source
        where = {"image_url": image} if "://" in image else {"image_path": image}
        return ImageNode(id_=row.id, embedding=row.embedding, metadata=row.metadata, **where)
    return TextNode(id_=row.id, text=row.text or "", embedding=row.embedding, metadata=row.metadata)


def index_nodes(
    path: str | os.PathLike, *, kinds: Sequence[str] = ("image", "text")
) -> list[BaseNode]:
    """One node per row of the index at ``path`` that holds a vector, ``id_`` = the row's id.

    Text rows become ``TextNode`` (``text`` = the passage), image rows ``ImageNode``
    (``image_path``, or ``image_url`` for a URL; a PDF page's ``image_path`` is the PDF and its
    ``metadata["page"]`` the page). ``metadata`` holds the row's other columns (``source``,
    ``kind``, ``page``, ``width``, ``height``, carried ``--meta-column`` values). Error rows are
    skipped and their count logged as a warning on the ``clipbridge`` logger.

    Example::

        from llama_index.core import VectorStoreIndex
        from llama_index.embeddings.clipbridge import ClipBridgeEmbedding, index_nodes

        nodes = index_nodes("notes.parquet")
        index = VectorStoreIndex(nodes=nodes, embed_model=ClipBridgeEmbedding(model_name=model))
        hits = index.as_retriever(similarity_top_k=3).retrieve("when does the bridge open?")
    """
    return [_node(row) for row in read_rows(path, kinds=kinds).rows]
