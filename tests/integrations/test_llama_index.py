"""ClipBridgeEmbedding (llama_index.embeddings.clipbridge) on the tiny jina-clip-v1 fixture.

The tiny model has random weights, so rankings are arbitrary but deterministic: every expected
ranking below is computed from a direct :class:`clipbridge.Embedder`, never hard-coded.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import itertools
import math
import pickle
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from llama_index.core import StorageContext, load_index_from_storage
from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.schema import ImageNode, NodeWithScore, TextNode

from clipbridge import Embedder, EmbedderConfig, InvalidInputError
from llama_index.embeddings.clipbridge import ClipBridgeEmbedding
from llama_index.embeddings.clipbridge.base import FIELD_FOR_CONFIG, NOT_EXPOSED

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "fixtures" / "images"
DOCS = ROOT / "docs" / "llama_index.md"
QUERY = "a red square on a white sofa"
QUERY_IMAGE = IMAGES / "gray_tall_50x70.png"
TEXTS = {
    "t-cat": "A photo of a cat sitting on a red sofa.",
    "t-dog": "a dog",
    "t-bridge": "A stone bridge at dusk.",
    "t-mixed": "HELLO World!! Mixed-Case, punctuation; and numbers: 42, 3.14 -- (done)?",
}
IMAGE_FILES = ("rgb_square_64.png", "rgba_40.png", "rgb_wide_96x48.jpg", "gray_tall_50x70.png")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything (an OpenAI fallback, a tokenizer download) leaves 127.0.0.1."""
    connect = socket.socket.connect

    def guarded(sock: socket.socket, address: object) -> None:
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            raise AssertionError(f"test tried to reach {address}")
        connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def model(tiny_model_path: str) -> ClipBridgeEmbedding:
    # Image URLs in these tests point at the static server on 127.0.0.1: allowed explicitly.
    return ClipBridgeEmbedding(model_name=tiny_model_path, allow_private_urls=True)


@pytest.fixture
def core(tiny_model_path: str) -> Embedder:
    return Embedder(tiny_model_path)


@dataclass
class Corpus:
    nodes: list[TextNode]
    text_vectors: dict[str, np.ndarray]
    image_vectors: dict[str, np.ndarray]


@pytest.fixture
def corpus(core: Embedder, static_server: str) -> Corpus:
    """Three image nodes (path, base64, 127.0.0.1 URL) and four text nodes, with the vectors a
    direct Embedder gives each of them."""
    files = {
        "i-path": "rgb_square_64.png",
        "i-base64": "rgba_40.png",
        "i-url": "rgb_wide_96x48.jpg",
    }
    image_nodes = [
        ImageNode(id_="i-path", image_path=str(IMAGES / files["i-path"]), metadata={"n": 1}),
        ImageNode(
            id_="i-base64",
            image=base64.b64encode((IMAGES / files["i-base64"]).read_bytes()).decode(),
            metadata={"n": 2},
        ),
        ImageNode(
            id_="i-url", image_url=f"{static_server}/images/{files['i-url']}", metadata={"n": 3}
        ),
    ]
    text_nodes = [TextNode(id_=key, text=text) for key, text in TEXTS.items()]
    image_vecs = core.embed_images([IMAGES / name for name in files.values()])
    text_vecs = core.embed_texts(list(TEXTS.values()))
    return Corpus(
        nodes=[*image_nodes, *text_nodes],
        text_vectors=dict(zip(TEXTS, text_vecs, strict=True)),
        image_vectors=dict(zip(files, image_vecs, strict=True)),
    )


def ranking(query: np.ndarray, vectors: dict[str, np.ndarray], top_k: int) -> list[tuple]:
    """(id, cosine) pairs, best first; asserts the order is not decided by float noise."""
    scored = sorted(
        ((key, float(np.dot(query, vec))) for key, vec in vectors.items()),
        key=lambda pair: -pair[1],
    )
    gaps = [a[1] - b[1] for a, b in itertools.pairwise(scored)]
    assert min(gaps, default=1.0) > 1e-4, f"near-tie in the expected ranking: {scored}"
    return scored[:top_k]


def hits(results: list[NodeWithScore]) -> list[tuple[str, float]]:
    return [(r.node.node_id, r.score) for r in results]


def assert_hits(results: list[NodeWithScore], expected: list[tuple]) -> None:
    got = hits(results)
    assert [key for key, _ in got] == [key for key, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=1e-5)


def expectations(core: Embedder, corpus: Corpus) -> dict[str, list[tuple]]:
    query = core.embed_texts([QUERY])[0]
    query_image = core.embed_images([QUERY_IMAGE])[0]
    return {
        "text": ranking(query, corpus.text_vectors, 2),
        "text_to_image": ranking(query, corpus.image_vectors, 2),
        "image_to_image": ranking(query_image, corpus.image_vectors, 3),
    }


def retriever_of(index: MultiModalVectorStoreIndex):
    return index.as_retriever(similarity_top_k=2, image_similarity_top_k=2)


# -- MultiModalVectorStoreIndex ---------------------------------------------------------------
def test_index_retrieval_matches_direct_embedder_ranking(model, core, corpus) -> None:
    index = MultiModalVectorStoreIndex(corpus.nodes, embed_model=model, image_embed_model=model)
    expected = expectations(core, corpus)
    retriever = retriever_of(index)

    assert_hits(retriever.text_to_image_retrieve(QUERY), expected["text_to_image"])
    assert_hits(retriever.retrieve(QUERY), expected["text"] + expected["text_to_image"])
    wide = index.as_retriever(image_similarity_top_k=3)
    assert_hits(wide.image_to_image_retrieve(str(QUERY_IMAGE)), expected["image_to_image"])
    # The three image nodes keep their kind of source through the index.
    by_id = {r.node.node_id: r.node for r in wide.image_to_image_retrieve(str(QUERY_IMAGE))}
    assert by_id["i-url"].image_url.startswith("http://127.0.0.1:")
    assert by_id["i-base64"].image and by_id["i-path"].image_path


async def test_async_index_and_retrieval_match_direct_embedder_ranking(model, core, corpus) -> None:
    index = MultiModalVectorStoreIndex(
        corpus.nodes, embed_model=model, image_embed_model=model, use_async=True
    )
    expected = expectations(core, corpus)
    retriever = retriever_of(index)

    assert_hits(await retriever.aretrieve(QUERY), expected["text"] + expected["text_to_image"])
    assert_hits(await retriever.atext_to_image_retrieve(QUERY), expected["text_to_image"])
    wide = index.as_retriever(image_similarity_top_k=3)
    assert_hits(await wide.aimage_to_image_retrieve(str(QUERY_IMAGE)), expected["image_to_image"])


def test_persisted_index_reloads_with_same_results(model, core, corpus, tmp_path, tiny_model_path):
    index = MultiModalVectorStoreIndex(corpus.nodes, embed_model=model, image_embed_model=model)
    before = hits(retriever_of(index).retrieve(QUERY))
    index.storage_context.persist(persist_dir=str(tmp_path))

    fresh = ClipBridgeEmbedding(model_name=tiny_model_path)
    reloaded = load_index_from_storage(
        StorageContext.from_defaults(persist_dir=str(tmp_path)),
        embed_model=fresh,
        image_embed_model=fresh,
    )
    retriever = retriever_of(reloaded)
    expected = expectations(core, corpus)
    assert_hits(retriever.retrieve(QUERY), before)
    assert_hits(retriever.text_to_image_retrieve(QUERY), expected["text_to_image"])
    assert_hits(
        reloaded.as_retriever(image_similarity_top_k=3).image_to_image_retrieve(str(QUERY_IMAGE)),
        expected["image_to_image"],
    )


def test_image_node_without_content_is_skipped_as_documented(model) -> None:
    bare = ImageNode(id_="bare", image_path=str(IMAGES / "rgba_40.png"))
    named = ImageNode(id_="named", image_path=str(IMAGES / "rgba_40.png"), metadata={"n": 1})
    index = MultiModalVectorStoreIndex([bare, named], embed_model=model, image_embed_model=model)
    found = index.as_retriever(image_similarity_top_k=5).text_to_image_retrieve("x")
    assert [r.node.node_id for r in found] == ["named"]


def test_empty_modality_sticks_as_documented(model, tmp_path) -> None:
    image = ImageNode(id_="img", image_path=str(IMAGES / "rgba_40.png"), metadata={"n": 1})
    text_only = MultiModalVectorStoreIndex(
        [TextNode(id_="txt", text="a dog")], embed_model=model, image_embed_model=model
    )
    assert text_only.as_retriever().text_to_image_retrieve("a dog") == []  # empty store: fine
    text_only.insert_nodes([image])
    assert text_only.as_retriever().text_to_image_retrieve("a dog") == []  # the gotcha

    started_empty = MultiModalVectorStoreIndex([], embed_model=model, image_embed_model=model)
    started_empty.insert_nodes([TextNode(id_="txt", text="a dog"), image])
    assert [r.node.node_id for r in started_empty.as_retriever().retrieve("a dog")] == [
        "txt",
        "img",
    ]

    text_only.storage_context.persist(persist_dir=str(tmp_path))
    reloaded = load_index_from_storage(
        StorageContext.from_defaults(persist_dir=str(tmp_path)),
        embed_model=model,
        image_embed_model=model,
    )
    assert [r.node.node_id for r in reloaded.as_retriever().text_to_image_retrieve("x")] == ["img"]


# -- vectors ----------------------------------------------------------------------------------
def image_inputs(static_server: str) -> list[object]:
    """The same picture in every form ImageType and the core accept."""
    path = IMAGES / "rgb_square_64.png"
    data = path.read_bytes()
    return [
        str(path),
        path,
        f"{static_server}/images/rgb_square_64.png",
        "data:image/png;base64," + base64.b64encode(data).decode(),
        io.BytesIO(data),
        data,
    ]


def assert_floats(vectors: list[list[float]], expected: np.ndarray) -> None:
    assert all(type(x) is float for vec in vectors for x in vec)
    np.testing.assert_allclose(np.array(vectors), expected, atol=1e-6)


def test_vectors_equal_embedder_sync(model, core, static_server) -> None:
    texts = list(TEXTS.values())
    assert_floats(model.get_text_embedding_batch(texts), core.embed_texts(texts))
    assert_floats([model.get_text_embedding(texts[0])], core.embed_texts(texts[:1]))
    assert_floats([model.get_query_embedding(QUERY)], core.embed_texts([QUERY]))

    images = image_inputs(static_server)
    reference = core.embed_images([IMAGES / "rgb_square_64.png"])
    assert_floats(model.get_image_embedding_batch(images), np.repeat(reference, len(images), 0))
    assert_floats([model.get_image_embedding(str(QUERY_IMAGE))], core.embed_images([QUERY_IMAGE]))


async def test_vectors_equal_embedder_async(model, core, static_server) -> None:
    texts = list(TEXTS.values())
    assert_floats(await model.aget_text_embedding_batch(texts), core.embed_texts(texts))
    assert_floats([await model.aget_text_embedding(texts[0])], core.embed_texts(texts[:1]))
    assert_floats([await model.aget_query_embedding(QUERY)], core.embed_texts([QUERY]))

    images = image_inputs(static_server)
    reference = core.embed_images([IMAGES / "rgb_square_64.png"])
    got = await model.aget_image_embedding_batch(images)
    assert_floats(got, np.repeat(reference, len(images), 0))
    single = await model.aget_image_embedding(str(QUERY_IMAGE))
    assert_floats([single], core.embed_images([QUERY_IMAGE]))


def test_bad_image_names_the_item(model) -> None:
    with pytest.raises(InvalidInputError, match=r"input 1\b.*missing\.png"):
        model.get_image_embedding_batch([str(QUERY_IMAGE), str(IMAGES / "missing.png")])


# -- batching: one backend call per embed_batch_size chunk ------------------------------------
def count_calls(monkeypatch, backend, name: str) -> list[int]:
    """Wrap ``backend.<name>`` on the instance; returns the list of batch sizes it was given."""
    sizes: list[int] = []
    original = getattr(backend, name)
    if asyncio.iscoroutinefunction(original):

        async def wrapper(items, *args, **kwargs):
            sizes.append(len(items))
            return await original(items, *args, **kwargs)
    else:

        def wrapper(items, *args, **kwargs):
            sizes.append(len(items))
            return original(items, *args, **kwargs)

    monkeypatch.setattr(backend, name, wrapper)
    return sizes


@pytest.mark.parametrize(("n", "k"), [(5, 2), (6, 3), (3, 8)])
def test_batching_sync(monkeypatch, tiny_model_path, n: int, k: int) -> None:
    model = ClipBridgeEmbedding(model_name=tiny_model_path, embed_batch_size=k)
    backend = model.embedder.backend
    image_calls = count_calls(monkeypatch, backend, "embed_images")
    text_calls = count_calls(monkeypatch, backend, "embed_texts")
    images = [str(IMAGES / name) for name in IMAGE_FILES] * 2

    assert len(model.get_image_embedding_batch(images[:n])) == n
    assert len(model.get_text_embedding_batch([f"text {i}" for i in range(n)])) == n
    assert len(image_calls) == len(text_calls) == math.ceil(n / k)
    assert sum(image_calls) == n and max(image_calls) <= k

    image_calls.clear()
    nodes = [ImageNode(image_path=path, metadata={"i": i}) for i, path in enumerate(images[:n])]
    MultiModalVectorStoreIndex(nodes, embed_model=model, image_embed_model=model)
    assert len(image_calls) == math.ceil(n / k)


async def test_batching_async_uses_native_async_off_the_loop(monkeypatch, tiny_model_path):
    n, k = 5, 2
    model = ClipBridgeEmbedding(model_name=tiny_model_path, embed_batch_size=k)
    backend = model.embedder.backend
    async_calls = count_calls(monkeypatch, backend, "aembed_images")
    async_text_calls = count_calls(monkeypatch, backend, "aembed_texts")
    threads: list[threading.Thread] = []
    sync_embed = backend.embed_images

    def record_thread(items, *args, **kwargs):
        threads.append(threading.current_thread())
        return sync_embed(items, *args, **kwargs)

    monkeypatch.setattr(backend, "embed_images", record_thread)
    images = [str(IMAGES / name) for name in IMAGE_FILES] * 2

    assert len(await model.aget_image_embedding_batch(images[:n])) == n
    assert len(await model.aget_text_embedding_batch([f"t{i}" for i in range(n)])) == n
    assert len(async_calls) == len(async_text_calls) == math.ceil(n / k)
    assert max(async_calls) <= k
    # The local backend computes in worker threads: the event loop is never blocked by torch.
    assert threads and threading.current_thread() not in threads
    assert await model.aget_image_embedding_batch([]) == []


# -- fields, serialization, pickling, secrets -------------------------------------------------
def test_fields_mirror_embedder_config(monkeypatch) -> None:
    fields = ClipBridgeEmbedding.model_fields
    # every field but precision: LlamaIndex's Embedding is list[float] (docs/precision.md)
    assert NOT_EXPOSED == ("precision",) and "precision" not in fields
    with pytest.raises(ValueError, match="precision"):  # floats only: not faked
        ClipBridgeEmbedding(precision="int8")
    for config_field in dataclasses.fields(EmbedderConfig):
        if config_field.name in NOT_EXPOSED:
            continue
        name = FIELD_FOR_CONFIG.get(config_field.name, config_field.name)
        assert name in fields, f"EmbedderConfig.{config_field.name} missing from the adapter"
        if name != "api_key":  # read from the environment when not given
            assert fields[name].default == config_field.default, name
    assert FIELD_FOR_CONFIG == {"model": "model_name"}
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    monkeypatch.delenv("JINAAI_API_KEY", raising=False)
    assert ClipBridgeEmbedding().to_config() == EmbedderConfig()
    assert ClipBridgeEmbedding(
        model_name="m", batch_size=3, max_retries=7, backend="api", api_key="k"
    ).to_config() == EmbedderConfig(
        model="m", batch_size=3, max_retries=7, backend="api", api_key="k"
    )


def test_construction_validates_but_loads_nothing() -> None:
    model = ClipBridgeEmbedding(model_name="/no/such/folder")  # loads lazily: no error yet
    assert model._embedder.built is None
    with pytest.raises(ValueError, match="device"):
        ClipBridgeEmbedding(device="tpu")
    with pytest.raises(ValueError, match="embed_batch_size"):
        ClipBridgeEmbedding(embed_batch_size=0)


def test_changed_field_rebuilds_the_embedder(model) -> None:
    first = model.embedder
    assert model.embedder is first
    model.batch_size = 4
    assert model.embedder is not first and model.embedder.config.batch_size == 4
    model.embed_batch_size = 3  # LlamaIndex's slice size: not a core setting
    assert model.embedder.config.batch_size == 4


def test_to_dict_from_dict_round_trip(tiny_model_path) -> None:
    model = ClipBridgeEmbedding(
        model_name=tiny_model_path, embed_batch_size=7, max_retries=9, image_size=16
    )
    data = model.to_dict()
    assert data["class_name"] == ClipBridgeEmbedding.class_name() == "ClipBridgeEmbedding"
    assert data["model_name"] == tiny_model_path and data["embed_batch_size"] == 7
    restored = ClipBridgeEmbedding.from_dict(data)
    assert restored.to_dict() == data
    assert restored.to_config() == model.to_config()
    assert ClipBridgeEmbedding.from_json(model.to_json()).to_dict() == data


def test_api_key_is_never_serialized() -> None:
    secret = "jina_secret_value_123"
    model = ClipBridgeEmbedding(backend="api", api_key=secret)
    assert model.to_config().api_key == secret
    for text in (
        repr(model),
        str(model),
        model.to_json(),
        model.model_dump_json(),
        str(model.to_dict()),
        str(model.model_dump()),
        str(model.to_payload()),
    ):
        assert secret not in text
    assert "api_key" not in model.to_dict()


def test_pickling_drops_the_model_and_rebuilds_it(model, core) -> None:
    before = model.get_text_embedding("a dog")  # builds the Embedder
    assert model._embedder.built is not None
    model.api_key = "kept-for-workers"
    blob = pickle.dumps(model)
    assert len(blob) < 10_000  # the model's weights are not in the pickle
    restored = pickle.loads(blob)
    assert restored._embedder.built is None and restored.api_key == "kept-for-workers"
    assert restored.to_dict() == model.to_dict()
    assert restored.get_text_embedding("a dog") == before
    assert model._embedder.built is not None  # pickling left the original alone


# -- docs -------------------------------------------------------------------------------------
def test_docs_example_runs(monkeypatch, tmp_path, capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert blocks, "docs/llama_index.md has no python block"
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "fixtures").symlink_to(ROOT / "tests" / "fixtures")
    monkeypatch.chdir(tmp_path)  # the example persists an index into the current folder
    monkeypatch.setenv("CLIPBRIDGE_MODEL", "tests/fixtures/tiny-jina-clip-v1")
    for number, block in enumerate(blocks):
        exec(compile(block, f"{DOCS}:block{number}", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert "closest image:" in out and "96 dimensions" in out
    assert (tmp_path / "clipbridge_index").is_dir()
