"""A ``clipbridge index`` Parquet file into each framework's real store, its vectors as stored.

The indexes are built by the real ``clipbridge index`` command (fixture images plus a missing
one; a .jsonl of texts with one line that has no text), so each holds an error row. Each test
loads them into a real vector store (LlamaIndex's SimpleVectorStore, LangChain's Chroma on a
persistent client and InMemoryVectorStore, Haystack's InMemoryDocumentStore), checks that the
model embedded nothing but the query, and that the store's top-k is numpy's over the Parquet.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from clipbridge import Embedder
from clipbridge.cli import main

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "fixtures" / "images"
TEXTS = [
    "A stone bridge at dusk.",
    "a red square on a white sofa",
    "minutes of the harbour board, third meeting",
    "a tall gray picture",
    "Café naïve résumé — 東京 and 北京",
]
QUERY = "a photo of a red square"
TOP_K = 5


@pytest.fixture(scope="module")
def indexes(tmp_path_factory, tiny_model_path) -> dict[str, Path]:
    """``image``: 4 fixture images + 1 missing file; ``text``: 5 texts + 1 line without one."""
    folder = tmp_path_factory.mktemp("indexes")
    photos = folder / "photos"
    shutil.copytree(IMAGES, photos)
    texts = folder / "notes.jsonl"
    lines = [json.dumps({"text": t, "topic": f"t{i}"}) for i, t in enumerate(TEXTS)]
    lines.insert(2, json.dumps({"title": "no text here"}))
    texts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = {"image": folder / "photos.parquet", "text": folder / "notes.parquet"}
    common = ["--model", tiny_model_path, "--no-progress"]
    gone = str(folder / "gone.jpg")
    assert main(["index", str(photos), gone, "--out", str(out["image"]), *common]) == 0
    text = ["index", str(texts), "--kind", "text", "--meta-column", "topic"]
    assert main([*text, "--out", str(out["text"]), *common]) == 0
    return out


def _stored(path: Path) -> tuple[list[str], np.ndarray]:
    """Ids and vectors of the rows without an error, read with pyarrow alone."""
    rows = [r for r in pq.read_table(path).to_pylist() if r["error"] is None]
    return [r["id"] for r in rows], np.array([r["embedding"] for r in rows], dtype=np.float32)


def _numpy_top(paths: list[Path], query: list[float], k: int = TOP_K) -> list[str]:
    ids, matrices = [], []
    for path in paths:
        found, matrix = _stored(path)
        ids += found
        matrices.append(matrix)
    matrix = np.concatenate(matrices)
    scores = matrix @ np.asarray(query, dtype=np.float32) / np.linalg.norm(query)
    order = np.argsort(-scores)
    assert np.all(np.diff(scores[order][: k + 1]) < -1e-5), "near tie: pick another query"
    return [ids[i] for i in order[:k]]


@pytest.fixture
def model_rows(monkeypatch, tiny_model_path) -> dict[str, int]:
    """Rows that reach the tiny model's towers from now on."""
    counts = {"image": 0, "text": 0}
    model = Embedder(tiny_model_path).backend.loaded.model  # shared by every Embedder of it
    for kind, name in (("image", "encode_image"), ("text", "encode_text")):
        real = getattr(model, name)

        def counting(batch, _real=real, _kind=kind):
            counts[_kind] += int(batch.shape[0])
            return _real(batch)

        monkeypatch.setattr(model, name, counting)
    return counts


def test_the_indexes_hold_error_rows(indexes):
    for path in indexes.values():
        errors = pq.read_table(path, columns=["error"]).column("error").to_pylist()
        assert sum(e is not None for e in errors) == 1 and len(errors) in (5, 6)


# -- LlamaIndex ---------------------------------------------------------------------------------
def test_llama_index_nodes(indexes, caplog):
    from llama_index.core.schema import ImageNode, TextNode

    from llama_index.embeddings.clipbridge import index_nodes

    with caplog.at_level(logging.WARNING, logger="clipbridge"):
        nodes = index_nodes(indexes["image"]) + index_nodes(indexes["text"])
    assert caplog.text.count("skipped 1 error rows") == 2
    ids, vectors = _stored(indexes["image"])
    images = [n for n in nodes if isinstance(n, ImageNode)]
    assert [n.id_ for n in images] == ids
    np.testing.assert_array_equal(np.array([n.embedding for n in images], np.float32), vectors)
    assert all(Path(n.image_path).is_file() for n in images)
    assert images[0].metadata["kind"] == "image"
    texts = [n for n in nodes if type(n) is TextNode]
    assert [n.id_ for n in texts] == _stored(indexes["text"])[0]
    assert [n.text for n in texts] == TEXTS
    assert [n.metadata["topic"] for n in texts] == [f"t{i}" for i in range(len(TEXTS))]
    assert all(n.metadata["source"].endswith("notes.jsonl") for n in texts)


def test_llama_index_vector_store_finds_numpys_top_k(indexes, tiny_model_path, model_rows):
    from llama_index.core import VectorStoreIndex
    from llama_index.core.vector_stores import SimpleVectorStore

    from llama_index.embeddings.clipbridge import ClipBridgeEmbedding, index_nodes

    embed_model = ClipBridgeEmbedding(model_name=tiny_model_path)
    nodes = index_nodes(indexes["image"]) + index_nodes(indexes["text"])
    index = VectorStoreIndex(nodes=nodes, embed_model=embed_model)
    assert isinstance(index.vector_store, SimpleVectorStore)
    assert model_rows == {"image": 0, "text": 0}  # the nodes' vectors were stored as they are
    hits = index.as_retriever(similarity_top_k=TOP_K).retrieve(QUERY)
    assert model_rows == {"image": 0, "text": 1}  # the query, nothing else
    query = embed_model.get_query_embedding(QUERY)
    assert [h.node.node_id for h in hits] == _numpy_top(list(indexes.values()), query)


def test_llama_index_multimodal_index_keeps_image_vectors(indexes, tiny_model_path, model_rows):
    from llama_index.core.indices import MultiModalVectorStoreIndex

    from llama_index.embeddings.clipbridge import ClipBridgeEmbedding, index_nodes

    embed_model = ClipBridgeEmbedding(model_name=tiny_model_path)
    nodes = index_nodes(indexes["image"]) + index_nodes(indexes["text"])
    index = MultiModalVectorStoreIndex(
        nodes=nodes, embed_model=embed_model, image_embed_model=embed_model
    )
    assert model_rows == {"image": 0, "text": 0}
    retriever = index.as_retriever(similarity_top_k=3, image_similarity_top_k=2)
    images = retriever.text_to_image_retrieve(QUERY)
    query = embed_model.get_query_embedding(QUERY)
    assert [h.node.node_id for h in images] == _numpy_top([indexes["image"]], query, 2)
    texts = [h for h in retriever.retrieve(QUERY) if h.node.node_id in _stored(indexes["text"])[0]]
    assert [h.node.node_id for h in texts] == _numpy_top([indexes["text"]], query, 3)


# -- LangChain ----------------------------------------------------------------------------------
def test_langchain_chroma_finds_numpys_top_k(indexes, tiny_model_path, tmp_path, model_rows):
    import chromadb
    from langchain_chroma import Chroma

    from langchain_clipbridge import ClipBridgeEmbeddings, add_index

    embeddings = ClipBridgeEmbeddings(model=tiny_model_path)
    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
    store = Chroma(
        collection_name="day",
        embedding_function=embeddings,
        client=client,
        collection_metadata={"hnsw:space": "cosine"},
    )
    added = add_index(store, indexes["image"]) + add_index(store, indexes["text"])
    assert added == _stored(indexes["image"])[0] + _stored(indexes["text"])[0]
    assert model_rows == {"image": 0, "text": 0}
    hits = store.similarity_search_with_score(QUERY, k=TOP_K)
    assert model_rows == {"image": 0, "text": 1}
    query = embeddings.embed_query(QUERY)
    assert [doc.id for doc, _ in hits] == _numpy_top(list(indexes.values()), query)
    got = store.get(ids=[added[0], added[-1]], include=["documents", "metadatas"])
    by_id = dict(zip(got["ids"], zip(got["documents"], got["metadatas"], strict=True), strict=True))
    image_doc, image_meta = by_id[added[0]]
    assert Path(image_doc).is_file() and image_meta["path"] == image_doc
    assert (image_meta["kind"], image_meta["width"], image_meta["height"]) == ("image", 50, 70)
    text_doc, text_meta = by_id[added[-1]]
    assert text_doc == TEXTS[-1] and text_meta["kind"] == "text" and text_meta["topic"] == "t4"


def test_langchain_in_memory_store(indexes, tiny_model_path, model_rows):
    from langchain_core.vectorstores import InMemoryVectorStore

    from langchain_clipbridge import ClipBridgeEmbeddings, add_index

    embeddings = ClipBridgeEmbeddings(model=tiny_model_path)
    store = InMemoryVectorStore(embeddings)
    ids = add_index(store, indexes["text"])
    assert ids == _stored(indexes["text"])[0] and model_rows["text"] == 0
    hits = store.similarity_search(QUERY, k=3)
    assert [d.id for d in hits] == _numpy_top([indexes["text"]], embeddings.embed_query(QUERY), 3)
    assert [d.page_content for d in store.get_by_ids(ids)] == TEXTS


def test_langchain_add_embeddings_is_used_and_other_stores_are_refused(indexes, tiny_model_path):
    from langchain_core.vectorstores import VectorStore

    from langchain_clipbridge import ClipBridgeEmbeddings, add_index

    class Lists(VectorStore):  # the PGVector-style signature
        def __init__(self) -> None:
            self.calls: list[dict] = []

        def add_embeddings(self, texts, embeddings, metadatas=None, ids=None, **kwargs):
            self.calls.append(
                dict(texts=texts, embeddings=embeddings, metadatas=metadatas, ids=ids)
            )
            return ids

        def add_texts(self, texts, metadatas=None, **kwargs):
            raise AssertionError("add_texts embeds again")

        def similarity_search(self, query, k=4, **kwargs):
            return []

        @classmethod
        def from_texts(cls, texts, embedding, metadatas=None, **kwargs):
            raise NotImplementedError

    class Pairs(Lists):  # the FAISS-style signature
        def add_embeddings(self, text_embeddings, metadatas=None, ids=None, **kwargs):
            texts, embeddings = zip(*text_embeddings, strict=True)
            return super().add_embeddings(list(texts), list(embeddings), metadatas, ids)

    class Nothing(Lists):
        add_embeddings = None

    ids, vectors = _stored(indexes["image"])
    for kind in (Lists, Pairs):
        store = kind()
        assert add_index(store, indexes["image"]) == ids
        (call,) = store.calls
        assert call["ids"] == ids and np.array_equal(np.array(call["embeddings"]), vectors)
        assert call["texts"] == [m["path"] for m in call["metadatas"]]
    with pytest.raises(TypeError, match="cannot hand stored vectors to Nothing"):
        add_index(Nothing(), indexes["image"])
    assert ClipBridgeEmbeddings(model=tiny_model_path)  # the adapter itself is untouched


# -- Haystack -----------------------------------------------------------------------------------
def test_haystack_in_memory_store_finds_numpys_top_k(indexes, tiny_model_path, model_rows):
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
    from haystack.components.writers import DocumentWriter
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from haystack_integrations.components.embedders.clipbridge import (
        ClipBridgeTextEmbedder,
        index_documents,
    )

    documents = index_documents(indexes["image"]) + index_documents(indexes["text"])
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    assert DocumentWriter(store).run(documents=documents)["documents_written"] == 9
    assert model_rows == {"image": 0, "text": 0}
    images = [d for d in documents if d.meta["kind"] == "image"]
    assert all(Path(d.meta["file_path"]).is_file() and d.content is None for d in images)
    assert [d.id for d in images] == _stored(indexes["image"])[0]
    assert [d.content for d in documents if d.meta["kind"] == "text"] == TEXTS
    query = ClipBridgeTextEmbedder(model=tiny_model_path).run(text=QUERY)["embedding"]
    hits = InMemoryEmbeddingRetriever(store, top_k=TOP_K).run(query_embedding=query)
    assert [d.id for d in hits["documents"]] == _numpy_top(list(indexes.values()), query)
    assert model_rows == {"image": 0, "text": 1}
