"""Put the rows of a ``clipbridge index`` Parquet file into a LangChain vector store as stored.

A LangChain ``VectorStore`` has no common method for adding ready vectors, so
:func:`add_index` uses, in order: the store's own ``add_embeddings`` (FAISS, PGVector,
OpenSearch, Elasticsearch and more, in either of the two signatures they use), the record
dictionary of ``InMemoryVectorStore``, and the Chroma collection behind ``langchain_chroma.Chroma``
(``upsert`` with ids, embeddings, documents and metadatas). Any other store is refused with a
``TypeError``: the model is never called to embed the index again.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.vectorstores import InMemoryVectorStore, VectorStore

from clipbridge.index_file import IndexRow, read_rows

__all__ = ["add_index"]

Writer = Callable[[list[str], list[list[float]], list[dict[str, Any]], list[str]], None]


def _with_add_embeddings(store: Any) -> Writer | None:
    add = getattr(store, "add_embeddings", None)
    if not callable(add):
        return None
    params = inspect.signature(add).parameters
    if "text_embeddings" in params:  # FAISS, OpenSearch, Elasticsearch, ...

        def write_pairs(texts, embeddings, metadatas, ids):  # type: ignore[no-untyped-def]
            pairs = list(zip(texts, embeddings, strict=True))
            add(text_embeddings=pairs, metadatas=metadatas, ids=ids)

        return write_pairs
    if "texts" in params and "embeddings" in params:  # PGVector, Hologres, ...

        def write_lists(texts, embeddings, metadatas, ids):  # type: ignore[no-untyped-def]
            add(texts=texts, embeddings=embeddings, metadatas=metadatas, ids=ids)

        return write_lists
    return None


def _in_memory(store: Any) -> Writer | None:
    if not isinstance(store, InMemoryVectorStore):
        return None

    def write(texts, embeddings, metadatas, ids):  # type: ignore[no-untyped-def]
        for text, vector, metadata, id_ in zip(texts, embeddings, metadatas, ids, strict=True):
            store.store[id_] = {"id": id_, "vector": vector, "text": text, "metadata": metadata}

    return write


def _chroma(store: Any) -> Writer | None:
    if type(store).__module__.split(".")[0] != "langchain_chroma":
        return None
    collection = store._collection  # the chromadb Collection behind langchain_chroma.Chroma
    batch = int(store._client.get_max_batch_size())

    def write(texts, embeddings, metadatas, ids):  # type: ignore[no-untyped-def]
        for start in range(0, len(ids), batch):
            end = start + batch
            collection.upsert(
                ids=ids[start:end],
                embeddings=embeddings[start:end],
                documents=texts[start:end],
                metadatas=metadatas[start:end],
            )

    return write


def _writer(store: VectorStore) -> Writer:
    for find in (_with_add_embeddings, _in_memory, _chroma):
        writer = find(store)
        if writer is not None:
            return writer
    raise TypeError(
        f"add_index cannot hand stored vectors to {type(store).__name__}: it has no "
        "add_embeddings(texts, embeddings, ...) or add_embeddings(text_embeddings, ...); "
        "InMemoryVectorStore and langchain_chroma.Chroma are supported as well"
    )


def _content(row: IndexRow) -> str:
    if row.kind == "image":
        return row.image or row.source
    return row.text if row.text is not None else row.id


def _metadata(row: IndexRow) -> dict[str, Any]:
    metadata = dict(row.metadata)
    if row.kind == "image":
        metadata.setdefault("path", row.image or row.source)
    return metadata


def add_index(
    vectorstore: VectorStore,
    path: str | os.PathLike,
    *,
    kinds: Sequence[str] = ("image", "text"),
) -> list[str]:
    """Add every row of the index at ``path`` that holds a vector to ``vectorstore``, with
    that vector; returns the ids added (the rows' ids).

    A text row's document is its passage; an image row's is the image's path (also in
    ``metadata["path"]``). ``metadata`` holds the row's other columns (``source``, ``kind``,
    ``page``, ``width``, ``height``, carried ``--meta-column`` values). Error rows are skipped
    and their count logged as a warning on the ``clipbridge`` logger. Queries then go through
    the store's embedding function, a :class:`ClipBridgeEmbeddings` of the index's model.

    Example::

        from langchain_chroma import Chroma
        from langchain_clipbridge import ClipBridgeEmbeddings, add_index

        store = Chroma("notes", embedding_function=ClipBridgeEmbeddings(model=model),
                       persist_directory="chroma")
        ids = add_index(store, "notes.parquet")
        hits = store.similarity_search("when does the bridge open?", k=3)

    :raises TypeError: the store offers no way to add ready vectors (nothing is added).
    """
    write = _writer(vectorstore)
    rows = read_rows(path, kinds=kinds).rows
    ids = [row.id for row in rows]
    if rows:
        write(
            [_content(row) for row in rows],
            [row.embedding for row in rows],
            [_metadata(row) for row in rows],
            ids,
        )
    return ids
