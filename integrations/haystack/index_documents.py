"""Haystack ``Document`` objects from a ``clipbridge index`` Parquet file, with its vectors.

Each document carries its row's ``embedding``, so a ``DocumentWriter`` (or
``document_store.write_documents``) stores it as it is: nothing is embedded again. Queries go
through :class:`ClipBridgeTextEmbedder` with the index's model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from clipbridge.index_file import IndexRow, read_rows
from haystack import Document

__all__ = ["index_documents"]


def _document(row: IndexRow) -> Document:
    meta = dict(row.metadata)
    if row.kind == "image":
        meta["file_path"] = row.image or row.source  # where Haystack's image components look
        if row.page is not None:
            meta["page_number"] = row.page
    return Document(id=row.id, content=row.text, embedding=row.embedding, meta=meta)


def index_documents(
    path: str | os.PathLike, *, kinds: Sequence[str] = ("image", "text")
) -> list[Document]:
    """One ``Document`` per row of the index at ``path`` that holds a vector.

    ``id`` is the row's id and ``embedding`` its vector; a text row's ``content`` is its
    passage; an image row has no content and ``meta["file_path"]`` (and ``meta["page_number"]``
    for a PDF page), as Haystack's image components expect. ``meta`` also holds the row's other
    columns (``source``, ``kind``, ``page``, ``width``, ``height``, carried ``--meta-column``
    values). Error rows are skipped and their count logged as a warning on the ``clipbridge``
    logger.

    Example::

        from haystack.components.writers import DocumentWriter
        from haystack.document_stores.in_memory import InMemoryDocumentStore
        from haystack_integrations.components.embedders.clipbridge import index_documents

        store = InMemoryDocumentStore(embedding_similarity_function="cosine")
        DocumentWriter(store).run(documents=index_documents("photos.parquet"))
    """
    return [_document(row) for row in read_rows(path, kinds=kinds).rows]
