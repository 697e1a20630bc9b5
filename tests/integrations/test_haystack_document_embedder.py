"""ClipBridgeDocumentEmbedder: init, serialization, text composition, run/run_async, checks."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from haystack import Document, Pipeline
from haystack.utils import Secret

from clipbridge import DEFAULT_MODEL, Embedder, EmbedderConfig
from haystack_integrations.components.embedders.clipbridge import ClipBridgeDocumentEmbedder

TYPE = (
    "haystack_integrations.components.embedders.clipbridge.document_embedder."
    "ClipBridgeDocumentEmbedder"
)
CUSTOM = {
    "model": "jina-clip-v1",
    "api_key": Secret.from_env_var(["MY_JINA_KEY", "JINA_API_KEY"], strict=False),
    "prefix": "passage: ",
    "suffix": " [end]",
    "meta_fields_to_embed": ["title", "year"],
    "embedding_separator": " | ",
    "progress_bar": False,
    "backend": "api",
    "batch_size": 4,
    "max_length": 77,
    "base_url": "http://127.0.0.1:9",
    "max_concurrency": 2,
    "image_workers": 1,
}


@pytest.fixture
def docs() -> list[Document]:
    return [
        Document(content="A photo of a cat sitting on a red sofa.", meta={"title": "Cat"}),
        Document(content="a dog", meta={"title": "Dog", "year": 2024}),
        Document(content=None, meta={"title": None, "year": 1999}),
    ]


def test_init_default():
    embedder = ClipBridgeDocumentEmbedder()
    assert embedder.model == DEFAULT_MODEL
    assert embedder.api_key == Secret.from_env_var("JINA_API_KEY", strict=False)
    assert embedder.prefix == embedder.suffix == ""
    assert embedder.meta_fields_to_embed == []
    assert embedder.embedding_separator == "\n"
    assert embedder.progress_bar is True
    assert embedder._config() == EmbedderConfig(show_progress=True)
    assert embedder._embedder is None


def test_init_with_params(monkeypatch):
    """The parameters take effect: the core Embedder is built from them (the key resolved from
    the env var the Secret names) and the text fields shape what gets embedded."""
    monkeypatch.setenv("MY_JINA_KEY", "jina_doc_key")
    embedder = ClipBridgeDocumentEmbedder(**CUSTOM)
    embedder.warm_up()  # the API backend: builds the client, sends nothing
    assert embedder._embedder.config == EmbedderConfig(
        model="jina-clip-v1",
        backend="api",
        api_key="jina_doc_key",
        batch_size=4,
        max_length=77,
        base_url="http://127.0.0.1:9",
        max_concurrency=2,
        image_workers=1,
        show_progress=False,
    )
    doc = Document(content="a dog", meta={"title": "Dog", "year": 2024, "other": "x"})
    assert embedder._prepare([doc]) == ["passage: Dog | 2024 | a dog [end]"]
    embedder._embedder.close()


def test_to_dict_and_from_dict(monkeypatch):
    monkeypatch.setenv("MY_JINA_KEY", "jina_secret_doc_key")
    embedder = ClipBridgeDocumentEmbedder(**CUSTOM)
    data = embedder.to_dict()
    assert data["type"] == TYPE
    assert data["init_parameters"]["meta_fields_to_embed"] == ["title", "year"]
    assert data["init_parameters"]["api_key"] == {
        "type": "env_var",
        "env_vars": ["MY_JINA_KEY", "JINA_API_KEY"],
        "strict": False,
    }
    assert "jina_secret_doc_key" not in json.dumps(data)
    restored = ClipBridgeDocumentEmbedder.from_dict(data)
    for name, value in CUSTOM.items():
        assert getattr(restored, name) == value, name
    assert restored.to_dict() == data


def test_texts_to_embed(docs):
    embedder = ClipBridgeDocumentEmbedder(
        prefix="P:", suffix=":S", meta_fields_to_embed=["title", "year", "absent"]
    )
    assert embedder._prepare(docs) == [
        "P:Cat\nA photo of a cat sitting on a red sofa.:S",
        "P:Dog\n2024\na dog:S",
        "P:1999\n:S",  # None meta values are skipped, None content is ""
    ]
    joined = ClipBridgeDocumentEmbedder(meta_fields_to_embed=["title"], embedding_separator=" | ")
    assert joined._prepare(docs[:1]) == ["Cat | A photo of a cat sitting on a red sofa."]


def test_run_equals_embedder_and_keeps_inputs(tiny_model_path, docs):
    before = copy.deepcopy(docs)
    embedder = ClipBridgeDocumentEmbedder(
        model=tiny_model_path, meta_fields_to_embed=["title"], progress_bar=False, batch_size=2
    )
    result = embedder.run(documents=docs)
    out = result["documents"]
    assert result["meta"] == {"model": tiny_model_path}  # no usage: the local backend bills none
    assert docs == before  # inputs untouched
    assert all(doc.embedding is None for doc in docs)
    assert [d.id for d in out] == [d.id for d in docs]
    assert [d.content for d in out] == [d.content for d in docs]
    assert [d.meta for d in out] == [d.meta for d in docs]
    assert all(o is not d and o.meta is not d.meta for o, d in zip(out, docs, strict=True))
    reference = Embedder(tiny_model_path, batch_size=2).embed_texts(embedder._prepare(docs))
    got = np.asarray([d.embedding for d in out], dtype=np.float32)
    np.testing.assert_array_equal(got, reference)
    # rows belong to their documents: the three texts give three different vectors
    assert not np.allclose(got[0], got[1]) and not np.allclose(got[1], got[2])


async def test_run_async_equals_run(tiny_model_path, docs):
    embedder = ClipBridgeDocumentEmbedder(model=tiny_model_path, progress_bar=False)
    result = await embedder.run_async(documents=docs)
    assert result == embedder.run(documents=docs)
    assert docs[0].embedding is None


async def test_empty_list(tiny_model_path):
    embedder = ClipBridgeDocumentEmbedder(model=tiny_model_path)
    empty = {"documents": [], "meta": {"model": tiny_model_path}}
    assert embedder.run(documents=[]) == empty
    assert await embedder.run_async(documents=[]) == empty
    assert embedder._embedder is None  # nothing to embed: no model loaded


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("a string", "expects a list of Documents, got str"),
        (Document(content="x"), "expects a list of Documents, got Document"),
        ([Document(content="x"), "y"], "item 1 is str"),
        (("a tuple",), "got tuple"),
    ],
)
async def test_wrong_input_type(tiny_model_path, bad, message):
    embedder = ClipBridgeDocumentEmbedder(model=tiny_model_path)
    with pytest.raises(TypeError, match=message):
        embedder.run(documents=bad)
    with pytest.raises(TypeError, match=message):
        await embedder.run_async(documents=bad)


def test_pipeline_round_trip(tiny_model_path):
    pipeline = Pipeline()
    pipeline.add_component(
        "embedder",
        ClipBridgeDocumentEmbedder(model=tiny_model_path, meta_fields_to_embed=["title"]),
    )
    restored = Pipeline.loads(pipeline.dumps())
    assert restored == pipeline
    assert restored.get_component("embedder").meta_fields_to_embed == ["title"]
