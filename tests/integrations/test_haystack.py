"""Haystack integration as a whole: pipelines, YAML round trips, parameter names, the docs page."""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import numpy as np
import pytest
from haystack import Pipeline
from haystack.components.converters.image import ImageFileToDocument
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore

import haystack_integrations.components.embedders.clipbridge as module
from clipbridge import Embedder, EmbedderConfig
from haystack_integrations.components.embedders.clipbridge import (
    ClipBridgeDocumentEmbedder,
    ClipBridgeDocumentImageEmbedder,
    ClipBridgeTextEmbedder,
)

ROOT = Path(__file__).parents[2]
IMAGES = ROOT / "tests" / "fixtures" / "images"
COMPONENTS = [ClipBridgeTextEmbedder, ClipBridgeDocumentEmbedder, ClipBridgeDocumentImageEmbedder]
# Query texts whose best image differs with the tiny model, so a wrong vector shows.
QUERIES = ["", "A photo of a cat sitting on a red sofa.", "a dog"]


@pytest.fixture(autouse=True)
def _no_allow_list(monkeypatch):
    monkeypatch.delenv("HAYSTACK_DESERIALIZATION_ALLOWLIST", raising=False)
    monkeypatch.delenv("HAYSTACK_UNSAFE_DESERIALIZATION", raising=False)


def test_exports():
    functions = ["index_documents"]  # Documents from a clipbridge index file, stored vectors
    assert sorted(module.__all__) == sorted([*(c.__name__ for c in COMPONENTS), *functions])
    assert all(getattr(module, c.__name__) is c for c in COMPONENTS)


@pytest.mark.parametrize("component", COMPONENTS)
def test_init_parameters_mirror_embedder_config(component):
    """Every EmbedderConfig field is an init parameter with the same default (no drift)."""
    params = inspect.signature(component.__init__).parameters
    defaults = EmbedderConfig()
    assert "precision" not in params  # Document.embedding is list[float] (docs/precision.md)
    with pytest.raises(TypeError, match="precision"):
        component(precision="int8")
    for name in EmbedderConfig.field_names():
        if name in ("api_key", "show_progress", "precision"):  # a Secret, progress_bar, floats
            continue
        assert name in params, name
        assert params[name].default == getattr(defaults, name), name
    assert "api_key" in params and "progress_bar" in params
    # to_dict writes exactly the init parameters, so from_dict can rebuild every one; Jina's
    # task= is an alias, written under our name (query_task / document_task).
    written = set(component().to_dict()["init_parameters"])
    assert written == set(params) - {"self", "task"}


def _indexing(model: str, store: InMemoryDocumentStore) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("converter", ImageFileToDocument())
    pipeline.add_component(
        "embedder",
        ClipBridgeDocumentImageEmbedder(model=model, root_path=str(IMAGES), progress_bar=False),
    )
    pipeline.add_component("writer", DocumentWriter(document_store=store))
    pipeline.connect("converter.documents", "embedder.documents")
    pipeline.connect("embedder.documents", "writer.documents")
    return pipeline


def _query(model: str, store: InMemoryDocumentStore) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("text_embedder", ClipBridgeTextEmbedder(model=model, progress_bar=False))
    pipeline.add_component("retriever", InMemoryEmbeddingRetriever(document_store=store, top_k=4))
    pipeline.connect("text_embedder.embedding", "retriever.query_embedding")
    return pipeline


def _predicted(model: str, images: list[Path], query: str) -> tuple[list[str], np.ndarray]:
    """The ranking a direct Embedder gives: file names best first, and their cosine scores."""
    emb = Embedder(model)
    scores = emb.embed_images(images) @ emb.embed_texts([query])[0]
    order = np.argsort(-scores)
    return [images[i].name for i in order], scores[order]


def _check_results(results: dict[str, list], model: str, images: list[Path]) -> None:
    tops = set()
    for query, docs in results.items():
        names, scores = _predicted(model, images, query)
        assert [d.meta["file_path"] for d in docs] == names, query
        np.testing.assert_allclose([d.score for d in docs], scores, atol=1e-5)
        tops.add(names[0])
    assert len(tops) > 1  # the queries disagree about the best image: the test can tell them apart


def test_index_and_query_pipelines(tiny_model_path, fixture_images):
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    written = _indexing(tiny_model_path, store).run({"converter": {"sources": fixture_images}})
    assert written["writer"]["documents_written"] == len(fixture_images)
    stored = {d.meta["file_path"]: d for d in store.filter_documents()}
    reference = Embedder(tiny_model_path).embed_images(fixture_images)
    for path, vector in zip(fixture_images, reference, strict=True):
        np.testing.assert_array_equal(np.float32(stored[path.name].embedding), vector)
        assert stored[path.name].meta["embedding_source"]["type"] == "image"

    query = _query(tiny_model_path, store)
    results = {
        q: query.run({"text_embedder": {"text": q}})["retriever"]["documents"] for q in QUERIES
    }
    _check_results(results, tiny_model_path, fixture_images)


async def test_index_and_query_pipelines_async(tiny_model_path, fixture_images):
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    indexing = _indexing(tiny_model_path, store)
    written = await indexing.run_async({"converter": {"sources": fixture_images}})
    assert written["writer"]["documents_written"] == len(fixture_images)

    query = _query(tiny_model_path, store)
    results = {}
    for q in QUERIES:
        output = await query.run_async({"text_embedder": {"text": q}})
        results[q] = output["retriever"]["documents"]
    _check_results(results, tiny_model_path, fixture_images)


def test_pipelines_dump_and_load_without_allow_list(tiny_model_path):
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    for pipeline in (_indexing(tiny_model_path, store), _query(tiny_model_path, store)):
        text = pipeline.dumps()
        assert "haystack_integrations.components.embedders.clipbridge." in text
        restored = Pipeline.loads(text)
        assert restored == pipeline
        assert restored.dumps() == text


def test_loaded_pipeline_runs(tiny_model_path, fixture_images):
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    restored = Pipeline.loads(_indexing(tiny_model_path, store).dumps())
    result = restored.run({"converter": {"sources": fixture_images[:2]}})
    assert result["writer"]["documents_written"] == 2
    # what was written: the two images' vectors, in the loaded pipeline's own store
    written = restored.get_component("writer").document_store.filter_documents()
    stored = {d.meta["file_path"]: np.float32(d.embedding) for d in written}
    reference = Embedder(tiny_model_path).embed_images(fixture_images[:2])
    assert sorted(stored) == sorted(p.name for p in fixture_images[:2])
    for path, vector in zip(fixture_images[:2], reference, strict=True):
        np.testing.assert_array_equal(stored[path.name], vector)


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.S | re.M)


def test_docs_page_examples_run(tiny_model_path, monkeypatch, capsys):
    blocks = _python_blocks((ROOT / "docs" / "haystack.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2
    monkeypatch.setenv("CLIPBRIDGE_MODEL", tiny_model_path)
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    monkeypatch.chdir(ROOT)
    for block in blocks:
        exec(compile(block, "docs/haystack.md", "exec"), {"__name__": "__docs__"})
    printed = capsys.readouterr().out
    assert "rgb_" in printed or "gray_" in printed
    assert "{'type': 'image', 'file_path_meta_field': 'file_path'}" in printed
    assert os.environ["CLIPBRIDGE_MODEL"] == tiny_model_path
