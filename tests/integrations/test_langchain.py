"""ClipBridgeEmbeddings (langchain_clipbridge) on the tiny jina-clip-v1 fixture.

The tiny model has random weights, so rankings are arbitrary but deterministic: every expected
ranking below is computed from a direct :class:`clipbridge.Embedder`, never hard-coded.
The standard langchain-tests suites live in ``test_langchain_standard.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import pickle
import re
import typing
import uuid
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import SecretStr, ValidationError

import langchain_clipbridge
from clipbridge import AuthenticationError, Embedder, EmbedderConfig, InvalidInputError
from langchain_clipbridge import ClipBridgeEmbeddings
from langchain_clipbridge.embeddings import NOT_EXPOSED

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "fixtures" / "images"
DOCS = ROOT / "docs" / "langchain.md"
KEY_ENV = "JINA_API_KEY"
TEXTS = [
    "A photo of a cat sitting on a red sofa.",
    "a dog",
    "A stone bridge at dusk.",
    "HELLO World!! Mixed-Case, punctuation; and numbers: 42, 3.14 -- (done)?",
    "Café naïve résumé — 東京 and 北京 🚀 über",
]
QUERY = "a red square on a white sofa"


@pytest.fixture
def model(tiny_model_path: str) -> ClipBridgeEmbeddings:
    return ClipBridgeEmbeddings(model=tiny_model_path)


@pytest.fixture(scope="module")
def direct(tiny_model_path: str) -> Embedder:
    return Embedder(tiny_model_path)


@pytest.fixture(scope="module")
def image_paths(fixture_images: list[Path]) -> list[str]:
    return [str(path) for path in fixture_images]


def _ranking(query: np.ndarray, candidates: np.ndarray) -> list[int]:
    """Candidate indices by descending cosine similarity (vectors are L2-normalized)."""
    return [int(i) for i in np.argsort(-(candidates @ query), kind="stable")]


def _assert_clear_ranking(query: np.ndarray, candidates: np.ndarray) -> None:
    """Neighbouring scores differ enough that a store's float math cannot reorder them."""
    scores = np.sort(candidates @ query)
    assert np.diff(scores).min() > 1e-4, "pick another query: two candidates nearly tie"


# -- fields and configuration ---------------------------------------------------------------------
def test_exports() -> None:
    assert langchain_clipbridge.__all__ == ["ClipBridgeEmbeddings", "add_index"]
    assert issubclass(ClipBridgeEmbeddings, Embeddings)


def test_fields_mirror_embedder_config() -> None:
    fields = ClipBridgeEmbeddings.model_fields
    # every field but precision: LangChain's embeddings are list[float] (docs/precision.md)
    assert NOT_EXPOSED == ("precision",)
    config_fields = [n for n in EmbedderConfig.field_names() if n not in NOT_EXPOSED]
    assert list(fields) == [*config_fields, "query_task", "document_task"]
    hints = typing.get_type_hints(EmbedderConfig)
    for f in dataclasses.fields(EmbedderConfig):
        if f.name == "api_key" or f.name in NOT_EXPOSED:
            continue
        assert fields[f.name].default == f.default, f.name
        assert fields[f.name].annotation == hints[f.name], f.name
    assert fields["api_key"].annotation == SecretStr | None
    assert ClipBridgeEmbeddings.model_config["extra"] == "forbid"
    with pytest.raises(ValidationError, match="precision"):  # floats only: not faked
        ClipBridgeEmbeddings(precision="int8")


def test_defaults_give_default_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert ClipBridgeEmbeddings().to_config() == EmbedderConfig()


def test_fields_reach_the_core_config(tiny_model_path: str) -> None:
    emb = ClipBridgeEmbeddings(model=tiny_model_path, batch_size=3, normalize=False, device="cpu")
    config = emb.embedder.config
    assert (config.model, config.batch_size, config.normalize, config.device) == (
        tiny_model_path,
        3,
        False,
        "cpu",
    )


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="show_progress_bar"):
        ClipBridgeEmbeddings(show_progress_bar=True)


def test_bad_value_fails_at_construction() -> None:
    with pytest.raises(ValidationError, match="device must be one of"):
        ClipBridgeEmbeddings(model="nowhere/never-downloaded", device="tpu")
    with pytest.raises(ValidationError, match="batch_size must be a positive integer"):
        ClipBridgeEmbeddings(batch_size=0)


def test_model_is_loaded_lazily_once(model: ClipBridgeEmbeddings) -> None:
    assert model._embedder.built is None
    first = model.embed_query("a dog")
    built = model._embedder.built
    assert isinstance(built, Embedder)
    assert model.embed_query("a dog") == first
    assert model._embedder.built is built


def test_changed_field_rebuilds_the_embedder(model: ClipBridgeEmbeddings) -> None:
    normalized = np.array(model.embed_query("a dog"))
    model.normalize = False
    raw = np.array(model.embed_query("a dog"))
    assert model.embedder.config.normalize is False
    assert abs(np.linalg.norm(normalized) - 1) < 1e-5
    assert abs(np.linalg.norm(raw) - 1) > 1e-3
    np.testing.assert_allclose(raw / np.linalg.norm(raw), normalized, atol=1e-6)
    copy = model.model_copy(update={"normalize": True})
    np.testing.assert_allclose(copy.embed_query("a dog"), normalized, atol=0)


# -- the API key ----------------------------------------------------------------------------------
def test_api_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "env-key-123")
    emb = ClipBridgeEmbeddings()
    assert isinstance(emb.api_key, SecretStr)
    assert emb.api_key.get_secret_value() == "env-key-123"
    assert emb.to_config().api_key == "env-key-123"
    explicit = ClipBridgeEmbeddings(api_key="explicit-key-456")
    assert explicit.api_key is not None
    assert explicit.api_key.get_secret_value() == "explicit-key-456"
    monkeypatch.delenv(KEY_ENV)
    assert ClipBridgeEmbeddings().api_key is None


def test_api_key_is_never_shown_or_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    emb = ClipBridgeEmbeddings(api_key="very-secret-key-789", backend="api")
    for text in (repr(emb), str(emb), str(emb.model_dump()), emb.model_dump_json()):
        assert "very-secret-key-789" not in text
    assert "api_key" not in emb.model_dump()
    tasks = {"query_task": "retrieval.query", "document_task": None}
    written = {k: v for k, v in emb.to_config().to_dict().items() if k not in NOT_EXPOSED}
    assert json.loads(emb.model_dump_json()) == {**written, **tasks}
    restored = ClipBridgeEmbeddings(**emb.model_dump())
    assert restored.to_config() == emb.to_config().replace(api_key=None)


def test_pickle_drops_the_model_keeps_the_settings(model: ClipBridgeEmbeddings) -> None:
    vector = model.embed_query("a dog")
    clone = pickle.loads(pickle.dumps(model))
    assert model._embedder.built is not None  # the original keeps its model
    assert clone._embedder.built is None
    assert clone.to_config() == model.to_config()
    assert clone.embed_query("a dog") == vector


# -- texts ----------------------------------------------------------------------------------------
def test_documents_and_query_equal_embedder(model: ClipBridgeEmbeddings, direct: Embedder) -> None:
    got = model.embed_documents(TEXTS)
    assert isinstance(got, list) and all(isinstance(row, list) for row in got)
    assert all(type(x) is float for row in got for x in row)
    np.testing.assert_allclose(np.array(got), direct.embed_texts(TEXTS), atol=1e-6, rtol=0)
    assert len(got[0]) == direct.dimension == 96
    np.testing.assert_allclose(model.embed_query(TEXTS[2]), got[2], atol=1e-6, rtol=0)


async def test_async_equals_sync(
    model: ClipBridgeEmbeddings, direct: Embedder, image_paths: list[str]
) -> None:
    docs = await model.aembed_documents(TEXTS)
    np.testing.assert_allclose(docs, direct.embed_texts(TEXTS), atol=1e-6, rtol=0)
    assert all(type(x) is float for x in docs[0])
    query = await model.aembed_query(TEXTS[1])
    np.testing.assert_allclose(query, model.embed_query(TEXTS[1]), atol=1e-6, rtol=0)
    images = await model.aembed_image(uris=image_paths)
    np.testing.assert_allclose(images, direct.embed_images(image_paths), atol=1e-6, rtol=0)
    assert await model.aembed_images(image_paths) == images
    assert await model.aembed_documents([]) == []
    assert await model.aembed_image(uris=[]) == []


async def test_async_is_native_not_the_thread_pool_default(
    model: ClipBridgeEmbeddings, direct: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    model.embedder  # noqa: B018  (load before the sync verbs are poisoned)

    def sync_called(*args: object, **kwargs: object) -> None:
        raise AssertionError("the async path called the sync core method")

    monkeypatch.setattr(Embedder, "embed_texts", sync_called)
    monkeypatch.setattr(Embedder, "embed_images", sync_called)
    assert len(await model.aembed_documents(["a dog"])) == 1
    assert len(await model.aembed_query("a dog")) == direct.dimension
    assert len(await model.aembed_image(uris=[str(IMAGES / "rgba_40.png")])) == 1


def test_empty_inputs(model: ClipBridgeEmbeddings) -> None:
    assert model.embed_documents([]) == []
    assert model.embed_image(uris=[]) == []
    assert model.embed_images([]) == []


def test_wrong_input_types(model: ClipBridgeEmbeddings) -> None:
    with pytest.raises(TypeError, match="wrap a single input in a list"):
        model.embed_documents("a dog")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wrap a single input in a list"):
        model.embed_image(uris=str(IMAGES / "rgba_40.png"))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"^input 1: expected a str") as info:
        model.embed_documents(["fine", 42])  # type: ignore[list-item]
    assert info.value.index == 1


# -- images ---------------------------------------------------------------------------------------
def test_image_uris_equal_embedder(
    model: ClipBridgeEmbeddings, direct: Embedder, image_paths: list[str], static_server: str
) -> None:
    reference = direct.embed_images(image_paths)
    names = [Path(path).name for path in image_paths]
    urls = [f"{static_server}/images/{name}" for name in names]
    mime = {".png": "image/png", ".jpg": "image/jpeg"}
    data_uris = [
        f"data:{mime[Path(p).suffix]};base64,{base64.b64encode(Path(p).read_bytes()).decode()}"
        for p in image_paths
    ]
    model.allow_private_urls = True  # the static server is on 127.0.0.1
    for uris in (image_paths, [Path(p) for p in image_paths], urls, data_uris):
        got = model.embed_image(uris=uris)
        assert all(type(x) is float for x in got[0])
        np.testing.assert_allclose(got, reference, atol=1e-6, rtol=0)
    assert model.embed_images(image_paths) == model.embed_image(uris=image_paths)


def test_images_and_texts_share_one_space(
    model: ClipBridgeEmbeddings, direct: Embedder, image_paths: list[str]
) -> None:
    text = np.array(model.embed_query(QUERY))
    images = np.array(model.embed_image(uris=image_paths))
    expected = direct.embed_images(image_paths) @ direct.embed_texts([QUERY])[0]
    np.testing.assert_allclose(images @ text, expected, atol=1e-6)


def test_bad_image_names_its_index(model: ClipBridgeEmbeddings, image_paths: list[str]) -> None:
    missing = str(IMAGES / "no-such-image.png")
    with pytest.raises(InvalidInputError, match=r"^input 1: ") as info:
        model.embed_image(uris=[image_paths[0], missing])
    assert info.value.index == 1
    assert "no-such-image.png" in str(info.value)


# -- vector stores --------------------------------------------------------------------------------
def test_in_memory_store_ranks_like_embedder(model: ClipBridgeEmbeddings, direct: Embedder) -> None:
    store = InMemoryVectorStore(embedding=model)
    ids = store.add_texts(TEXTS, metadatas=[{"i": i} for i in range(len(TEXTS))])
    assert len(ids) == len(TEXTS)
    query = direct.embed_texts([QUERY])[0]
    expected = _ranking(query, direct.embed_texts(TEXTS))
    hits = store.similarity_search_with_score(QUERY, k=len(TEXTS))
    assert [doc.metadata["i"] for doc, _ in hits] == expected
    assert [doc.page_content for doc, _ in hits] == [TEXTS[i] for i in expected]
    scores = direct.embed_texts(TEXTS) @ query
    np.testing.assert_allclose([score for _, score in hits], scores[expected], atol=1e-5)
    stored = store.get_by_ids([ids[0]])[0]
    assert stored.page_content == TEXTS[0]


async def test_in_memory_store_async(model: ClipBridgeEmbeddings, direct: Embedder) -> None:
    store = InMemoryVectorStore(embedding=model)
    await store.aadd_texts(TEXTS)
    expected = _ranking(direct.embed_texts([QUERY])[0], direct.embed_texts(TEXTS))
    hits = await store.asimilarity_search(QUERY, k=3)
    assert [doc.page_content for doc in hits] == [TEXTS[i] for i in expected[:3]]


@pytest.fixture
def no_chroma_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if Chroma falls back to its own ONNX embedding function (and its download)."""
    from chromadb.utils.embedding_functions import onnx_mini_lm_l6_v2

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("Chroma used its default ONNX embedding function")

    onnx = onnx_mini_lm_l6_v2.ONNXMiniLM_L6_V2
    monkeypatch.setattr(onnx, "_download_model_if_not_exists", forbidden)
    monkeypatch.setattr(onnx, "__call__", forbidden)


@pytest.fixture
def chroma(model: ClipBridgeEmbeddings, no_chroma_default_model: None):
    """An in-process Chroma collection (ephemeral client, telemetry off) using our embeddings."""
    from chromadb.config import Settings
    from langchain_chroma import Chroma

    store = Chroma(
        collection_name=f"clipbridge-{uuid.uuid4().hex}",
        embedding_function=model,
        collection_configuration={"hnsw": {"space": "cosine"}},
        client_settings=Settings(anonymized_telemetry=False),
    )
    yield store
    store.delete_collection()


@pytest.mark.disable_socket
def test_chroma_images_text_and_image_queries(
    chroma, model: ClipBridgeEmbeddings, direct: Embedder, image_paths: list[str]
) -> None:
    names = [Path(path).name for path in image_paths]
    ids = chroma.add_images(uris=image_paths, metadatas=[{"name": n} for n in names])

    # Stored vectors are ours, in order.
    stored = chroma.get(ids=ids, include=["embeddings", "metadatas"])
    by_id = dict(zip(stored["ids"], stored["embeddings"], strict=True))
    image_vectors = direct.embed_images(image_paths)
    np.testing.assert_allclose([by_id[i] for i in ids], image_vectors, atol=1e-6, rtol=0)

    # A text query returns images in the order the direct ranking predicts.
    query = direct.embed_texts([QUERY])[0]
    _assert_clear_ranking(query, image_vectors)
    expected = [names[i] for i in _ranking(query, image_vectors)]
    hits = chroma.similarity_search(QUERY, k=len(names))
    assert [doc.metadata["name"] for doc in hits] == expected
    top = Path(image_paths[names.index(expected[0])])
    assert hits[0].page_content == base64.b64encode(top.read_bytes()).decode()  # Chroma's own

    # An image query, by vector and by URI.
    probe = str(IMAGES / "rgba_40.png")
    probe_vector = model.embed_image(uris=[probe])[0]
    expected = [names[i] for i in _ranking(direct.embed_images([probe])[0], image_vectors)]
    by_vector = chroma.similarity_search_by_vector(probe_vector, k=len(names))
    assert [doc.metadata["name"] for doc in by_vector] == expected
    assert expected[0] == "rgba_40.png"
    by_image = chroma.similarity_search_by_image(uri=image_paths[1], k=2)
    assert by_image[0].metadata["name"] == names[1]


@pytest.mark.disable_socket
def test_chroma_texts_use_embed_documents(chroma, direct: Embedder, image_paths: list[str]) -> None:
    names = [Path(path).name for path in image_paths]
    chroma.add_images(uris=image_paths, metadatas=[{"name": n} for n in names])
    text_ids = chroma.add_texts(TEXTS[:2], metadatas=[{"name": "cat"}, {"name": "dog"}])
    stored = chroma.get(ids=text_ids, include=["embeddings"])
    np.testing.assert_allclose(stored["embeddings"], direct.embed_texts(TEXTS[:2]), atol=1e-6)
    hit = chroma.similarity_search(TEXTS[1], k=1)[0]
    assert hit.metadata["name"] == "dog"  # a text's own vector is its nearest neighbour


# -- the API backend ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jina_server(tiny_model_path: str):
    from api_server import TEST_API_KEY, JinaApiServer

    with JinaApiServer(tiny_model_path) as server:
        yield server, TEST_API_KEY


async def test_api_backend_key_from_env(
    jina_server, direct: Embedder, image_paths: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, key = jina_server
    monkeypatch.setenv(KEY_ENV, key)
    # image_size: the tiny model's input size, what the API backend shrinks images to.
    emb = ClipBridgeEmbeddings(
        model=server.model_name, backend="api", base_url=server.url, image_size=32
    )
    try:
        np.testing.assert_allclose(emb.embed_documents(TEXTS), direct.embed_texts(TEXTS), atol=1e-5)
        np.testing.assert_allclose(
            await emb.aembed_image(uris=image_paths), direct.embed_images(image_paths), atol=1e-5
        )
    finally:
        emb.close()
    wrong = ClipBridgeEmbeddings(
        model=server.model_name, backend="api", base_url=server.url, api_key="wrong-key"
    )
    with pytest.raises(AuthenticationError):
        wrong.embed_query("a dog")
    wrong.close()


# -- docs -----------------------------------------------------------------------------------------
@pytest.mark.disable_socket
def test_docs_examples_run(
    tiny_model_path: str,
    monkeypatch: pytest.MonkeyPatch,
    no_chroma_default_model: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.setenv("CLIPBRIDGE_MODEL", tiny_model_path)
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.chdir(ROOT)
    for number, code in enumerate(blocks):
        namespace: dict[str, object] = {"__name__": "__main__"}
        exec(compile(code, f"{DOCS.name}[python block {number}]", "exec"), namespace)
    out = capsys.readouterr().out
    assert "text hit:" in out and "96 dimensions" in out
    assert re.search(r"image for 'a red square': tests/fixtures/images/\S+", out)
