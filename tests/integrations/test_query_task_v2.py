"""With jina-clip-v2, the adapters' query methods add the query instruction; documents never do.

Each adapter's query path equals ``Embedder.embed_texts(texts, task="retrieval.query")`` and its
document path equals ``Embedder.embed_texts(texts)``, to 1e-6, through the frameworks' own entry
points (sync and async).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from haystack import Document

from clipbridge import Embedder
from haystack_integrations.components.embedders.clipbridge import (
    ClipBridgeDocumentEmbedder,
    ClipBridgeTextEmbedder,
)
from langchain_clipbridge import ClipBridgeEmbeddings
from llama_index.embeddings.clipbridge import ClipBridgeEmbedding

V2 = str(Path(__file__).parents[1] / "fixtures" / "tiny-jina-clip-v2")
TEXTS = ["Ein Hund im Schnee.", "海滩上的日落"]
ATOL = 1e-6


@pytest.fixture(scope="module")
def core() -> Embedder:
    return Embedder(V2)


@pytest.fixture(scope="module")
def queries(core) -> np.ndarray:
    got = core.embed_texts(TEXTS, task="retrieval.query")
    # The instruction visibly changes the vectors, so equality below tells the two paths apart.
    assert np.abs(got - core.embed_texts(TEXTS)).max() > 1e-2
    return got


@pytest.fixture(scope="module")
def documents(core) -> np.ndarray:
    return core.embed_texts(TEXTS)


def test_llama_index(queries, documents):
    model = ClipBridgeEmbedding(model_name=V2)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(model.get_query_embedding(text), queries[i], atol=ATOL)
        np.testing.assert_allclose(model.get_text_embedding(text), documents[i], atol=ATOL)
    np.testing.assert_allclose(model.get_text_embedding_batch(TEXTS), documents, atol=ATOL)


async def test_llama_index_async(queries, documents):
    model = ClipBridgeEmbedding(model_name=V2)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(await model.aget_query_embedding(text), queries[i], atol=ATOL)
        np.testing.assert_allclose(await model.aget_text_embedding(text), documents[i], atol=ATOL)


def test_langchain(queries, documents):
    model = ClipBridgeEmbeddings(model=V2)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(model.embed_query(text), queries[i], atol=ATOL)
    np.testing.assert_allclose(model.embed_documents(TEXTS), documents, atol=ATOL)


async def test_langchain_async(queries, documents):
    model = ClipBridgeEmbeddings(model=V2)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(await model.aembed_query(text), queries[i], atol=ATOL)
    np.testing.assert_allclose(await model.aembed_documents(TEXTS), documents, atol=ATOL)


def test_haystack(queries, documents):
    text_embedder = ClipBridgeTextEmbedder(model=V2, progress_bar=False)
    doc_embedder = ClipBridgeDocumentEmbedder(model=V2, progress_bar=False)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(text_embedder.run(text=text)["embedding"], queries[i], atol=ATOL)
    docs = doc_embedder.run(documents=[Document(content=t) for t in TEXTS])["documents"]
    np.testing.assert_allclose([d.embedding for d in docs], documents, atol=ATOL)


async def test_haystack_async(queries, documents):
    text_embedder = ClipBridgeTextEmbedder(model=V2, progress_bar=False)
    doc_embedder = ClipBridgeDocumentEmbedder(model=V2, progress_bar=False)
    got = await text_embedder.run_async(text=TEXTS[0])
    np.testing.assert_allclose(got["embedding"], queries[0], atol=ATOL)
    docs = (await doc_embedder.run_async(documents=[Document(content=t) for t in TEXTS]))[
        "documents"
    ]
    np.testing.assert_allclose([d.embedding for d in docs], documents, atol=ATOL)


def test_haystack_prefix_goes_after_the_instruction(core):
    embedder = ClipBridgeTextEmbedder(model=V2, prefix="query: ", progress_bar=False)
    want = core.embed_texts(["query: " + TEXTS[0]], task="retrieval.query")[0]
    np.testing.assert_allclose(embedder.run(text=TEXTS[0])["embedding"], want, atol=ATOL)
