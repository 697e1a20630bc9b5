"""Embedder.embed_or_record: bad items recorded, every other vector exactly the plain call's."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from api_server import Fault

from clipbridge import BackendError, Embedder
from clipbridge.results import EmbedResult

MODES = ["sync", "async"]


def _record(emb: Embedder, mode: str, kind: str, items: list, **options) -> EmbedResult:
    if mode == "sync":
        return emb.embed_or_record(kind, items, **options)
    return asyncio.run(emb.aembed_or_record(kind, items, **options))


@pytest.fixture
def images(fixture_images, tmp_path):
    """Five images, two bad: one inside the first model batch of two, one alone in the last."""
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    missing = tmp_path / "missing.png"
    good = list(fixture_images[:3])
    return [good[0], broken, good[1], good[2], missing], good


def _check(result: EmbedResult, want: np.ndarray, bad: list[int]) -> None:
    assert list(result.errors) == bad
    assert result.vectors.dtype == want.dtype and result.vectors.shape[1] == want.shape[1]
    np.testing.assert_array_equal(result.vectors[result.ok], want)
    assert not result.vectors[bad].any()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("precision", ["float32", "int8", "ubinary"])
def test_local_images_keep_the_plain_calls_vectors(tiny_model_path, images, mode, precision):
    items, good = images
    emb = Embedder(tiny_model_path, batch_size=2, precision=precision)
    result = _record(emb, mode, "image", items)
    _check(result, emb.embed_images(good), [1, 4])
    assert "file not found" in result.errors[4] and "not a recognized image" in result.errors[1]
    if precision == "float32":  # rows kept from the failed call are normalized like the rest
        norms = np.linalg.norm(result.vectors[result.ok], axis=1)
        np.testing.assert_allclose(norms, 1.0, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_unnormalized_embedder_keeps_raw_rows_alike(tiny_model_path, images, mode):
    items, good = images
    emb = Embedder(tiny_model_path, batch_size=2, normalize=False)
    result = _record(emb, mode, "image", items)
    _check(result, emb.embed_images(good), [1, 4])
    assert np.linalg.norm(result.vectors[0]) > 2  # raw, as the plain call gives them


@pytest.mark.parametrize("mode", MODES)
def test_texts_record_bad_items_and_keep_the_task(tiny_model_path, mode):
    emb = Embedder(tiny_model_path)
    items = ["a cat", 7, "a bridge at dusk", None]
    result = _record(emb, mode, "text", items, task="retrieval.query")
    want = emb.embed_texts(["a cat", "a bridge at dusk"], task="retrieval.query")
    _check(result, want, [1, 3])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_api_backend_keeps_the_plain_calls_vectors(api_server, images, mode, precision):
    items, good = images
    emb = Embedder(**api_server.embedder_kwargs(batch_size=2, precision=precision))
    result = _record(emb, mode, "image", items)
    _check(result, emb.embed_images(good), [1, 4])
    assert "file not found" in result.errors[4]


@pytest.mark.parametrize("mode", MODES)
def test_a_backend_fault_raises_with_the_finished_rows(api_server, mode):
    kwargs = api_server.embedder_kwargs(api_batch_size=2, max_concurrency=1, max_retries=0)
    emb = Embedder(**kwargs)
    texts = ["one", "two", "three", "four"]
    api_server.faults += [None, Fault(status=503)]
    with pytest.raises(BackendError) as info:
        _record(emb, mode, "text", texts)
    assert sorted(info.value.partial) == [0, 1]  # the first request's rows, finished
    want = emb.embed_texts(texts[:2])
    np.testing.assert_array_equal(np.stack([info.value.partial[i] for i in (0, 1)]), want)


def test_nothing_to_embed_and_wrong_kinds(tiny_model_path):
    emb = Embedder(tiny_model_path, precision="int8")
    empty = emb.embed_or_record("text", [])
    assert empty.vectors.shape == (0, emb.embed_texts(["x"]).shape[1]) and not empty.errors
    assert empty.vectors.dtype == np.int8
    failed = emb.embed_or_record("image", [b"not an image", b"nor this"])
    assert failed.vectors.shape == (2, empty.vectors.shape[1]) and failed.vectors.dtype == np.int8
    assert not failed.vectors.any() and sorted(failed.errors) == [0, 1]
    assert not failed.ok.any()
    with pytest.raises(ValueError, match="kind must be 'text' or 'image', not 'audio'"):
        emb.embed_or_record("audio", ["x"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wrap a single input in a list"):
        emb.embed_or_record("text", "a cat")
    with pytest.raises(TypeError, match="task"):
        emb.embed_or_record("image", ["x.png"], task="retrieval.query")


def test_wrong_types_are_recorded_before_the_model_runs(tiny_model_path):
    emb = Embedder(tiny_model_path)
    calls: list[int] = []
    real = emb.embed_texts

    def spy(texts, **kwargs):
        calls.append(len(texts))
        return real(texts, **kwargs)

    emb.embed_texts = spy  # type: ignore[method-assign]
    result = emb.embed_or_record("text", ["a", 1, "b", None, "c", b"d"])
    assert calls == [3]  # one call for the three texts, not one more per bad item
    assert list(result.errors) == [1, 3, 5] and "expected a str, got int" in result.errors[1]
    np.testing.assert_array_equal(result.vectors[result.ok], emb.embed_texts(["a", "b", "c"]))
