"""Real clients no one here wrote, pointed at `clipbridge serve` on 127.0.0.1 by their base-URL
setting (or their module's URL constant where they have none): vectors equal the in-process
local backend's to 1e-5."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from serve_helpers import FIXTURES, JPG, KEY, PNG, b64

from clipbridge import Embedder, EmbedderConfig
from clipbridge.config import QUERY_TASK
from clipbridge.serve import ServeSettings, serve_in_thread

TEXTS = ["a photo of a cat", "a bridge at dusk over the river"]
NAME = "jina-clip-v1"  # the tiny fixture model served under the hosted model's name


@pytest.fixture(scope="module")
def server(tiny_model_path: str) -> Iterator[str]:
    settings = ServeSettings(
        config=EmbedderConfig(model=tiny_model_path),
        served_model_name=NAME,
        api_keys=(KEY,),
    )
    with serve_in_thread(settings) as url:
        yield url


@pytest.fixture(scope="module")
def want(local) -> dict[str, np.ndarray]:
    return {"texts": local.embed_texts(TEXTS), "images": local.embed_images([PNG, JPG])}


def close(got, want: np.ndarray) -> None:
    np.testing.assert_allclose(np.asarray(got, dtype=np.float32), want, atol=1e-5)


def test_the_plain_requests_snippet(server, want):
    import requests

    url = f"{server}/v1/embeddings"  # was https://api.jina.ai/v1/embeddings
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    data = {
        "model": "jina-clip-v1",
        "normalized": True,
        "embedding_type": "float",
        "input": [{"text": TEXTS[0]}, {"text": TEXTS[1]}, {"image": b64(PNG)}],
    }
    response = requests.post(url, headers=headers, json=data, timeout=60)
    assert response.status_code == 200, response.text
    rows = [d["embedding"] for d in response.json()["data"]]
    close(rows, np.concatenate([want["texts"], want["images"][:1]]))


def test_the_requests_snippet_with_a_url_item(tiny_model_path, image_host, want):
    import requests

    settings = ServeSettings(
        config=EmbedderConfig(model=tiny_model_path),
        served_model_name=NAME,
        allow_image_urls=True,
        allow_private_urls=True,
    )
    with serve_in_thread(settings) as server:
        data = {
            "model": "jina-clip-v1",
            "input": [{"url": f"{image_host.url}/images/rgb_wide_96x48.jpg"}, {"text": TEXTS[0]}],
        }
        response = requests.post(f"{server}/v1/embeddings", json=data, timeout=60)
    assert response.status_code == 200, response.text
    rows = [d["embedding"] for d in response.json()["data"]]
    close(rows, np.stack([want["images"][1], want["texts"][0]]))
    assert image_host.hits == ["/images/rgb_wide_96x48.jpg"]


@pytest.fixture
def tiny_v1_width(monkeypatch):
    # The API backend knows jina-clip-v1 as 768-d; the tiny model served under that name is 96-d
    # (and jina-clip-v1 takes no dimensions= other than its width, as the server's 422).
    from clipbridge.backends import api

    monkeypatch.setitem(api.KNOWN_DIMENSIONS, NAME, 96)


def test_clipbridge_api_backend(server, want, tiny_v1_width):
    # ... and its images are 32 px, not 224: image_size is what the API backend shrinks to.
    emb = Embedder(NAME, backend="api", base_url=server, api_key=KEY, image_size=32)
    close(emb.embed_texts(TEXTS), want["texts"])
    close(emb.embed_images([PNG, JPG]), want["images"])
    exact = Embedder(NAME, backend="api", base_url=server, api_key=KEY, api_image_shrink=False)
    close(exact.embed_images([PNG, JPG]), want["images"])


async def test_clipbridge_api_backend_async(server, want, tiny_v1_width):
    emb = Embedder(NAME, backend="api", base_url=server, api_key=KEY)
    close(await emb.aembed_texts(TEXTS), want["texts"])


def test_langchain_community_jina_embeddings(server, want, monkeypatch):
    from langchain_community.embeddings import jina

    # JinaEmbeddings has no base-URL setting: its module constant is the URL it posts to.
    monkeypatch.setattr(jina, "JINA_API_URL", f"{server}/v1/embeddings")
    emb = jina.JinaEmbeddings(jina_api_key=KEY, model_name=NAME)
    close(emb.embed_documents(TEXTS), want["texts"])
    close([emb.embed_query(TEXTS[1])], want["texts"][1:])
    close(emb.embed_images([str(PNG), str(JPG)]), want["images"])  # sent as {"bytes": b64}


def test_llama_index_jina_embedding(server, want):
    from llama_index.embeddings.jinaai import JinaEmbedding

    emb = JinaEmbedding(model=NAME, api_key=KEY)
    # JinaEmbedding takes no base URL (a ``base_url`` keyword is not passed on to its API
    # caller, which binds https://api.jina.ai/v1 at import): point the caller's URL instead.
    assert emb._api.api_url == "https://api.jina.ai/v1/embeddings"
    emb._api.api_url = f"{server}/v1/embeddings"
    close(emb.get_text_embedding_batch(TEXTS), want["texts"])
    close([emb.get_query_embedding(TEXTS[0])], want["texts"][:1])
    close([emb.get_image_embedding(str(PNG))], want["images"][:1])
    close(emb.get_image_embedding_batch([str(PNG), str(JPG)]), want["images"])


@pytest.mark.parametrize("kind", ["ubinary", "binary"])
def test_llama_index_jina_embedding_binary_encodings(server, want, kind):
    """JinaEmbedding unpacks Jina's binary/ubinary answers into bits: the signs of our vectors."""
    from llama_index.embeddings.jinaai import JinaEmbedding

    emb = JinaEmbedding(model=NAME, api_key=KEY, encoding_queries=kind, encoding_documents=kind)
    emb._api.api_url = f"{server}/v1/embeddings"
    signs = (want["texts"] > 0).astype(int).tolist()
    assert emb.get_text_embedding_batch(TEXTS) == signs
    assert [emb.get_query_embedding(TEXTS[1])] == signs[1:]


async def test_llama_index_jina_embedding_async(server, want):
    from llama_index.embeddings.jinaai import JinaEmbedding

    emb = JinaEmbedding(model=NAME, api_key=KEY)
    emb._api.api_url = f"{server}/v1/embeddings"
    close(await emb.aget_text_embedding_batch(TEXTS), want["texts"])


def test_haystack_jina_text_and_document_embedders(server, want):
    from haystack import Document
    from haystack.utils import Secret
    from haystack_integrations.components.embedders.jina import (
        JinaDocumentEmbedder,
        JinaTextEmbedder,
    )

    url, key = f"{server}/v1/embeddings", Secret.from_token(KEY)
    text = JinaTextEmbedder(api_key=key, model=NAME, base_url=url)
    out = text.run(TEXTS[0])
    close([out["embedding"]], want["texts"][:1])
    assert out["meta"]["model"] == NAME and out["meta"]["usage"]["total_tokens"] > 0
    docs = JinaDocumentEmbedder(api_key=key, model=NAME, base_url=url)
    result = docs.run([Document(content=t) for t in TEXTS])
    close([d.embedding for d in result["documents"]], want["texts"])


def test_haystack_jina_document_image_embedder(server, want):
    from haystack import Document
    from haystack.utils import Secret
    from haystack_integrations.components.embedders.jina import JinaDocumentImageEmbedder

    embedder = JinaDocumentImageEmbedder(
        api_key=Secret.from_token(KEY), model=NAME, base_url=f"{server}/v1/embeddings"
    )
    docs = [Document(content="", meta={"file_path": str(p)}) for p in (PNG, JPG)]
    result = embedder.run(docs)  # sends data:image/...;base64 URIs as plain strings
    close([d.embedding for d in result["documents"]], want["images"])


def test_openai_client_embeddings_create(server, want):
    import openai

    client = openai.OpenAI(base_url=f"{server}/v1", api_key=KEY)
    response = client.embeddings.create(model=NAME, input=TEXTS)  # base64 on the wire
    close([d.embedding for d in response.data], want["texts"])
    floats = client.embeddings.create(model=NAME, input=TEXTS[0], encoding_format="float")
    close([floats.data[0].embedding], want["texts"][:1])
    assert response.usage.total_tokens == response.usage.prompt_tokens > 0


# -- jina-clip-v2 queries: what each client must send (docs/serve.md, "Queries on jina-clip-v2") --
V2 = str(FIXTURES / "tiny-jina-clip-v2")


@pytest.fixture(scope="module")
def v2_server() -> Iterator[str]:
    settings = ServeSettings(
        config=EmbedderConfig(model=V2), served_model_name="jina-clip-v2", api_keys=(KEY,)
    )
    with serve_in_thread(settings) as url:
        yield url


@pytest.fixture(scope="module")
def v2_want() -> dict[str, np.ndarray]:
    emb = Embedder(V2)
    queries, documents = emb.embed_texts(TEXTS, task=QUERY_TASK), emb.embed_texts(TEXTS)
    assert np.abs(queries - documents).max() > 1e-2  # the instruction matters
    return {"queries": queries, "documents": documents}


def test_v2_clients_without_task_get_document_vectors(v2_server, v2_want, monkeypatch):
    from langchain_community.embeddings import jina

    monkeypatch.setattr(jina, "JINA_API_URL", f"{v2_server}/v1/embeddings")
    emb = jina.JinaEmbeddings(jina_api_key=KEY, model_name="jina-clip-v2")
    close([emb.embed_query(TEXTS[0])], v2_want["documents"][:1])  # not the query vector


def test_v2_queries_with_the_task_in_each_client(v2_server, v2_want):
    import openai
    import requests
    from haystack.utils import Secret
    from haystack_integrations.components.embedders.jina import JinaTextEmbedder
    from llama_index.embeddings.jinaai import JinaEmbedding

    url = f"{v2_server}/v1/embeddings"
    body = {"model": "jina-clip-v2", "input": TEXTS, "task": QUERY_TASK}
    reply = requests.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    close([d["embedding"] for d in reply.json()["data"]], v2_want["queries"])

    text = JinaTextEmbedder(
        api_key=Secret.from_token(KEY), model="jina-clip-v2", base_url=url, task=QUERY_TASK
    )
    close([text.run(TEXTS[0])["embedding"]], v2_want["queries"][:1])

    queries = JinaEmbedding(model="jina-clip-v2", api_key=KEY, task=QUERY_TASK)
    queries._api.api_url = url
    close([queries.get_query_embedding(TEXTS[1])], v2_want["queries"][1:])
    close(queries.get_text_embedding_batch(TEXTS), v2_want["queries"])  # documents too

    client = openai.OpenAI(base_url=f"{v2_server}/v1", api_key=KEY)
    result = client.embeddings.create(
        model="jina-clip-v2", input=TEXTS, extra_body={"task": QUERY_TASK}
    )
    close([d.embedding for d in result.data], v2_want["queries"])

    api = Embedder(  # the tiny model's width, not the hosted model's 1024
        "jina-clip-v2", backend="api", base_url=v2_server, api_key=KEY, dimensions=64
    )
    close(api.embed_texts(TEXTS, task=QUERY_TASK), v2_want["queries"])
    api.close()
