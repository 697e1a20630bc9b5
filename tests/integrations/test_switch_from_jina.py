"""Code written for Jina's own integrations runs with only the class name changed.

For each framework, the constructor call and the calls of the official Jina integration's
documentation (LlamaIndex ``JinaEmbedding``, LangChain community ``JinaEmbeddings``, Haystack
``JinaTextEmbedder``/``JinaDocumentEmbedder``/``JinaDocumentImageEmbedder``) are made on our class
and give the vectors a direct :class:`clipbridge.Embedder` gives. The model is a tiny local
fixture (the name the user types is the only other difference); the API cases talk to the local
Jina-API server on 127.0.0.1 (``tests/api_server.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from api_server import TEST_API_KEY, JinaApiServer
from haystack import Document, Pipeline
from haystack.utils import ComponentDevice, Secret

from clipbridge import AuthenticationError, Embedder
from haystack_integrations.components.embedders.clipbridge import (
    ClipBridgeDocumentEmbedder,
    ClipBridgeDocumentImageEmbedder,
    ClipBridgeTextEmbedder,
)
from langchain_clipbridge import ClipBridgeEmbeddings
from llama_index.embeddings.clipbridge import ClipBridgeEmbedding

FIXTURES = Path(__file__).parents[1] / "fixtures"
V1 = str(FIXTURES / "tiny-jina-clip-v1")
V2 = str(FIXTURES / "tiny-jina-clip-v2")
IMAGE = str(FIXTURES / "images" / "rgb_square_64.png")
CAPTION = "Logo of a pink blue llama on dark background"
TEXTS = ["This is the text to embed", "More text can be provided in a batch"]
QUERY = "This is the query to embed"
ATOL = 1e-6
KEY_NAMES = ("JINA_API_KEY", "JINAAI_API_KEY", "JINA_AUTH_TOKEN")


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def v1() -> Embedder:
    return Embedder(V1)


@pytest.fixture(scope="module")
def v2() -> Embedder:
    return Embedder(V2)


@pytest.fixture(scope="module")
def v2_server():
    with JinaApiServer(V2, model_name="jina-clip-v2") as server:
        yield server


def close(a, b) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=ATOL)


# -- LlamaIndex: JinaEmbedding ------------------------------------------------------------------
def test_llama_index_jina_readme_calls(v1: Embedder) -> None:
    embed_model = ClipBridgeEmbedding(api_key="jina_*", model=V1)
    assert embed_model.model_name == V1  # model= was silently ignored before: jina-clip-v1 ran
    close(embed_model.get_image_embedding(IMAGE), v1.embed_images([IMAGE])[0])
    close(embed_model.get_text_embedding(CAPTION), v1.embed_texts([CAPTION])[0])
    close(embed_model.get_query_embedding(QUERY), v1.embed_texts([QUERY])[0])

    batched = ClipBridgeEmbedding(api_key="jina_*", model=V1, embed_batch_size=16)
    close(batched.get_text_embedding_batch(TEXTS), v1.embed_texts(TEXTS))


def test_llama_index_unknown_keywords_raise() -> None:
    with pytest.raises(ValueError, match="late_chunking"):
        ClipBridgeEmbedding(model=V1, late_chunking=True)
    with pytest.raises(ValueError, match=r"query_task .* document_task"):
        ClipBridgeEmbedding(model=V1, task="retrieval.passage")
    with pytest.raises(ValueError, match="model= and model_name="):
        ClipBridgeEmbedding(model=V1, model_name=V2)


def test_llama_index_tasks(v2: Embedder) -> None:
    default = ClipBridgeEmbedding(model=V2)
    close(default.get_query_embedding(QUERY), v2.embed_texts([QUERY], task="retrieval.query")[0])
    close(default.get_text_embedding_batch(TEXTS), v2.embed_texts(TEXTS))
    swapped = ClipBridgeEmbedding(model=V2, query_task=None, document_task="retrieval.query")
    close(swapped.get_query_embedding(QUERY), v2.embed_texts([QUERY])[0])
    close(swapped.get_text_embedding_batch(TEXTS), v2.embed_texts(TEXTS, task="retrieval.query"))
    with pytest.raises(ValueError, match="document_task"):
        ClipBridgeEmbedding(model=V2, document_task="retrieval.passage")


def test_llama_index_large_list_reaches_the_core_whole(api_server, monkeypatch) -> None:
    """LlamaIndex slices by embed_batch_size; the default lets the core batch (and run API
    requests concurrently) instead of one slice at a time."""
    model = ClipBridgeEmbedding(**api_server.embedder_kwargs(api_batch_size=10))
    calls: list[int] = []
    embed_texts = model.embedder.embed_texts

    def counting(texts, **kwargs):
        calls.append(len(texts))
        return embed_texts(texts, **kwargs)

    monkeypatch.setattr(model.embedder, "embed_texts", counting)
    texts = [f"text number {i}" for i in range(100)]
    got = model.get_text_embedding_batch(texts)
    assert calls == [100] and api_server.hits == 10
    close(got, Embedder(**api_server.embedder_kwargs()).embed_texts(texts))


def test_llama_index_api_key_order(api_server, monkeypatch, v1: Embedder) -> None:
    settings = api_server.embedder_kwargs()
    del settings["api_key"]
    monkeypatch.setenv("JINAAI_API_KEY", TEST_API_KEY)  # what Jina's LlamaIndex docs set
    model = ClipBridgeEmbedding(**settings)
    np.testing.assert_allclose(
        model.get_text_embedding(CAPTION), v1.embed_texts([CAPTION])[0], atol=1e-5
    )
    model.close()
    monkeypatch.setenv("JINA_API_KEY", "wrong-key")  # ours comes first
    with pytest.raises(AuthenticationError):
        ClipBridgeEmbedding(**settings).get_text_embedding(CAPTION)
    explicit = ClipBridgeEmbedding(**settings, api_key=TEST_API_KEY)  # explicit beats both
    assert len(explicit.get_text_embedding(CAPTION)) == v1.dimension
    explicit.close()


# -- LangChain: JinaEmbeddings ------------------------------------------------------------------
def test_langchain_jina_readme_calls(v1: Embedder) -> None:
    text_embeddings = ClipBridgeEmbeddings(jina_api_key="jina_*", model_name=V1)
    assert text_embeddings.api_key is not None
    assert text_embeddings.api_key.get_secret_value() == "jina_*"
    close(text_embeddings.embed_query(QUERY), v1.embed_texts([QUERY])[0])
    close(text_embeddings.embed_documents([QUERY]), v1.embed_texts([QUERY]))

    multimodal_embeddings = ClipBridgeEmbeddings(jina_api_key="jina_*", model_name=V1)
    image_result = multimodal_embeddings.embed_images([IMAGE])
    description_result = multimodal_embeddings.embed_documents([CAPTION])
    close(image_result, v1.embed_images([IMAGE]))
    close(description_result, v1.embed_texts([CAPTION]))


def test_langchain_tasks(v2: Embedder) -> None:
    default = ClipBridgeEmbeddings(model_name=V2)
    close(default.embed_query(QUERY), v2.embed_texts([QUERY], task="retrieval.query")[0])
    close(default.embed_documents(TEXTS), v2.embed_texts(TEXTS))
    swapped = ClipBridgeEmbeddings(model=V2, query_task=None, document_task="retrieval.query")
    close(swapped.embed_query(QUERY), v2.embed_texts([QUERY])[0])
    close(swapped.embed_documents(TEXTS), v2.embed_texts(TEXTS, task="retrieval.query"))


def test_langchain_api_key_order(api_server, monkeypatch, v1: Embedder) -> None:
    settings = api_server.embedder_kwargs()
    del settings["api_key"]
    monkeypatch.setenv("JINA_AUTH_TOKEN", TEST_API_KEY)  # JinaEmbeddings' second name
    model = ClipBridgeEmbeddings(**settings)
    np.testing.assert_allclose(model.embed_documents(TEXTS), v1.embed_texts(TEXTS), atol=1e-5)
    model.close()
    monkeypatch.setenv("JINA_API_KEY", "wrong-key")
    with pytest.raises(AuthenticationError):
        ClipBridgeEmbeddings(**settings).embed_query(QUERY)
    explicit = ClipBridgeEmbeddings(**settings, jina_api_key=TEST_API_KEY)
    assert len(explicit.embed_query(QUERY)) == v1.dimension
    explicit.close()


# -- Haystack: jina-haystack's three components -------------------------------------------------
def test_haystack_jina_docstring_calls(v2: Embedder) -> None:
    text_embedder = ClipBridgeTextEmbedder(model=V2, task="retrieval.query")
    result = text_embedder.run("I love pizza!")
    close(result["embedding"], v2.embed_texts(["I love pizza!"], task="retrieval.query")[0])
    assert result["meta"]["model"] == V2

    document_embedder = ClipBridgeDocumentEmbedder(model=V2, task="retrieval.query")
    doc = Document(content="I love pizza!")
    result = document_embedder.run([doc])
    # Jina's example gives its documents the query task; ours then embeds them as queries.
    close(
        result["documents"][0].embedding,
        v2.embed_texts(["I love pizza!"], task="retrieval.query")[0],
    )
    assert document_embedder.to_dict()["init_parameters"]["document_task"] == "retrieval.query"

    embedder = ClipBridgeDocumentImageEmbedder(model=V2)
    documents = [
        Document(content="A photo of a cat", meta={"file_path": IMAGE}),
        Document(
            content="A photo of a dog",
            meta={"file_path": IMAGE.replace("rgb_square_64.png", "rgba_40.png")},
        ),
    ]
    result = embedder.run(documents=documents)
    close(
        [d.embedding for d in result["documents"]],
        v2.embed_images([d.meta["file_path"] for d in documents]),
    )


def test_haystack_task_defaults_and_conflicts(v2: Embedder) -> None:
    assert ClipBridgeTextEmbedder(model=V2).query_task == "retrieval.query"
    assert ClipBridgeDocumentEmbedder(model=V2).document_task is None
    plain = ClipBridgeTextEmbedder(model=V2, query_task=None, progress_bar=False)
    close(plain.run(text=QUERY)["embedding"], v2.embed_texts([QUERY])[0])
    with pytest.raises(ValueError, match="give one"):
        ClipBridgeDocumentEmbedder(document_task="retrieval.query", task="other")
    with pytest.raises(ValueError, match="query_task must be None or one of"):
        ClipBridgeTextEmbedder(task="retrieval.passage")


def test_haystack_api_with_jinas_url_gives_meta_usage(v2_server, v2: Embedder) -> None:
    common = {
        "api_key": Secret.from_token(v2_server.api_key),
        "model": "jina-clip-v2",
        "base_url": f"{v2_server.url}/v1/embeddings",  # Jina's form: the full endpoint
        "backend": "api",
        "dimensions": 64,  # the tiny checkpoint's width (the real model's is 1024)
        "progress_bar": False,
    }
    text_embedder = ClipBridgeTextEmbedder(**common, task="retrieval.query")
    assert text_embedder.base_url == v2_server.url
    result = text_embedder.run(text=QUERY)
    np.testing.assert_allclose(
        result["embedding"], v2.embed_texts([QUERY], task="retrieval.query")[0], atol=1e-5
    )
    assert v2_server.requests[-1]["task"] == "retrieval.query"
    reference = Embedder(
        "jina-clip-v2",
        backend="api",
        base_url=v2_server.url,
        api_key=v2_server.api_key,
        dimensions=64,
    )
    reference.embed_texts([QUERY], task="retrieval.query")
    billed = reference.backend.usage
    assert billed.total_tokens > 0
    assert result["meta"] == {
        "model": "jina-clip-v2",
        "usage": {"prompt_tokens": billed.prompt_tokens, "total_tokens": billed.total_tokens},
    }
    again = text_embedder.run(text=QUERY)["meta"]["usage"]  # per run, not a running total
    assert again == result["meta"]["usage"]

    docs = ClipBridgeDocumentEmbedder(**common).run(documents=[Document(content=t) for t in TEXTS])
    np.testing.assert_allclose(
        [d.embedding for d in docs["documents"]], v2.embed_texts(TEXTS), atol=1e-5
    )
    assert "task" not in v2_server.requests[-1] and docs["meta"]["usage"]["total_tokens"] > 0


def test_haystack_image_size_tuple_is_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match=r"image_size is one int.*\(512, 512\)"):
        ClipBridgeDocumentImageEmbedder(model="jina-clip-v2", image_size=(512, 512))
    assert ClipBridgeDocumentImageEmbedder(image_size=512).image_size == 512


def test_haystack_device_takes_component_device() -> None:
    from_object = ClipBridgeTextEmbedder(model=V1, device=ComponentDevice.from_str("cpu"))
    assert from_object.device == "cpu"
    data = from_object.to_dict()
    assert data["init_parameters"]["device"] == "cpu"
    as_dict = {"type": "single", "device": "cpu"}  # sentence-transformers components' YAML
    assert ClipBridgeTextEmbedder(model=V1, device=as_dict).device == "cpu"
    assert ClipBridgeTextEmbedder(model=V1, device=None).device == "auto"
    assert len(ClipBridgeTextEmbedder.from_dict(data).run(text="x")["embedding"]) == 96
    with pytest.raises(ValueError, match="one device"):
        ClipBridgeTextEmbedder(device={"type": "multiple", "device_map": {"a": "cpu"}})


async def test_haystack_async_pipeline_warms_up_off_the_loop_and_closes(monkeypatch) -> None:
    import threading

    loop_thread = threading.current_thread()
    threads: list[threading.Thread] = []
    real = ClipBridgeTextEmbedder.warm_up

    def recording(self):
        threads.append(threading.current_thread())
        real(self)

    monkeypatch.setattr(ClipBridgeTextEmbedder, "warm_up", recording)
    embedder = ClipBridgeTextEmbedder(model=V1, progress_bar=False)
    pipeline = Pipeline()
    pipeline.add_component("embedder", embedder)
    result = await pipeline.run_async({"embedder": {"text": QUERY}})
    assert len(result["embedder"]["embedding"]) == 96
    assert result["embedder"]["meta"] == {"model": V1}
    assert threads and loop_thread not in threads  # the model loaded in a worker thread
    await pipeline.close_async()
    assert embedder._embedder is None


async def test_haystack_close_async_closes_the_api_client(api_server) -> None:
    settings = api_server.embedder_kwargs()
    settings["api_key"] = Secret.from_token(settings["api_key"])
    embedder = ClipBridgeTextEmbedder(**settings, progress_bar=False)
    await embedder.warm_up_async()
    await embedder.run_async(text=QUERY)
    backend = embedder._embedder.backend
    clients = list(backend._aclients.values())
    assert clients and not any(c.is_closed for c in clients)
    await embedder.close_async()
    assert all(c.is_closed for c in clients) and embedder._embedder is None


# -- the stores of each framework: queries get query_task, documents document_task ----------------
CORPUS = ["A stone bridge at dusk.", "A cat on a red sofa.", "Ein Hund im Schnee.", "海滩上的日落"]
STORE_QUERY = "sunset at the beach"  # its best hit differs with and without the query task


def expected_scores(v2: Embedder, query: str) -> list[tuple[str, float]]:
    """(text, cosine) best first, as the core scores a query against the corpus."""
    scores = v2.embed_texts(CORPUS) @ v2.embed_texts([query], task="retrieval.query")[0]
    plain = v2.embed_texts(CORPUS) @ v2.embed_texts([query])[0]
    assert np.argmax(scores) != np.argmax(plain)  # the query task decides the best hit
    assert np.diff(np.sort(scores)).min() > 1e-3  # no near-tie a store's float math could flip
    order = np.argsort(-scores)
    return [(CORPUS[i], float(scores[i])) for i in order]


def assert_ranked(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [text for text, _ in got] == [text for text, _ in want[: len(got)]]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want[: len(got)]], atol=1e-5)


def test_llama_index_vector_store_index(v2: Embedder) -> None:
    from llama_index.core import Document as LlamaDocument
    from llama_index.core import VectorStoreIndex

    embed_model = ClipBridgeEmbedding(model=V2, embed_batch_size=16)  # Jina's RAG example
    index = VectorStoreIndex.from_documents(
        [LlamaDocument(text=text) for text in CORPUS], embed_model=embed_model
    )
    hits = index.as_retriever(similarity_top_k=3).retrieve(STORE_QUERY)
    assert_ranked([(h.node.get_content(), h.score) for h in hits], expected_scores(v2, STORE_QUERY))


def test_langchain_in_memory_store(v2: Embedder) -> None:
    from langchain_core.vectorstores import InMemoryVectorStore

    store = InMemoryVectorStore.from_texts(CORPUS, embedding=ClipBridgeEmbeddings(model_name=V2))
    hits = store.similarity_search_with_score(STORE_QUERY, k=3)
    assert_ranked(
        [(doc.page_content, score) for doc, score in hits], expected_scores(v2, STORE_QUERY)
    )


def test_haystack_pipelines(v2: Embedder) -> None:
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
    from haystack.components.writers import DocumentWriter
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    indexing = Pipeline()
    indexing.add_component("embedder", ClipBridgeDocumentEmbedder(model=V2, progress_bar=False))
    indexing.add_component("writer", DocumentWriter(document_store=store))
    indexing.connect("embedder.documents", "writer.documents")
    indexing.run({"embedder": {"documents": [Document(content=text) for text in CORPUS]}})

    search = Pipeline()
    search.add_component("embedder", ClipBridgeTextEmbedder(model=V2, progress_bar=False))
    search.add_component("retriever", InMemoryEmbeddingRetriever(document_store=store, top_k=3))
    search.connect("embedder.embedding", "retriever.query_embedding")
    docs = search.run({"embedder": {"text": STORE_QUERY}})["retriever"]["documents"]
    assert_ranked([(d.content, d.score) for d in docs], expected_scores(v2, STORE_QUERY))
