"""jina-clip-v2 through the Embedder against Jina's own code on the tiny checkpoint (fp32, CPU).

Tokenization, image preprocessing, Matryoshka truncation, query instructions and logits, on
every input of the fixture (English, German, Russian, Chinese, empty, a long mixed text).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hub_cache import save_snapshot

from clipbridge import Embedder

FIXTURES = Path(__file__).parents[1] / "fixtures"
V2 = str(FIXTURES / "tiny-jina-clip-v2")
ATOL, RTOL = 1e-5, 1e-5
WIDTHS = (16, 32, 64)


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "tiny-jina-clip-v2-expected.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def texts(ref) -> list[str]:
    return [str(t) for t in ref["texts"]]


@pytest.fixture(scope="module")
def images(ref) -> list[Path]:
    return [FIXTURES / "images-v2" / str(name) for name in ref["image_files"]]


@pytest.fixture(scope="module")
def raw512() -> Embedder:
    return Embedder(V2, normalize=False, max_length=512, device="cpu", dtype="float32")


def _unpadded(ids: np.ndarray, mask: np.ndarray) -> list[list[int]]:
    return [[int(t) for t in row[m.astype(bool)]] for row, m in zip(ids, mask, strict=True)]


def test_family_and_sizes_come_from_config(raw512):
    loaded = raw512.backend.loaded
    assert loaded.family == "jina-clip-v2" and loaded.dimension == 64 == raw512.dimension
    assert loaded.pad_token_id == 1
    assert loaded.task_instructions == {
        "retrieval.query": "Represent the query for retrieving evidence documents: "
    }


def test_token_ids_at_512(raw512, texts, ref):
    ids = raw512.backend.tokenize(texts)
    assert ids == _unpadded(ref["input_ids"], ref["attention_mask"])
    assert len(ids[5]) == 512 and ids[5][-1] == 2  # truncated, still ending with </s>
    assert ids[4] == [0, 2]  # the empty string


def test_token_ids_at_16(texts, ref):
    emb = Embedder(V2, dtype="float32", max_length=16)
    assert emb.backend.tokenize(texts) == _unpadded(
        ref["input_ids_len16"], ref["attention_mask_len16"]
    )


def test_text_embeddings_raw_and_normalized(raw512, texts, ref):
    np.testing.assert_allclose(
        raw512.embed_texts(texts), ref["text_embeds_raw"], atol=ATOL, rtol=RTOL
    )
    normed = Embedder(V2, dtype="float32", max_length=512).embed_texts(texts)
    np.testing.assert_allclose(normed, ref["text_embeds"], atol=ATOL, rtol=RTOL)


def test_text_embeddings_at_16(texts, ref):
    raw = Embedder(V2, dtype="float32", normalize=False, max_length=16).embed_texts(texts)
    np.testing.assert_allclose(raw, ref["text_embeds_raw_len16"], atol=ATOL, rtol=RTOL)
    normed = Embedder(V2, dtype="float32", max_length=16).embed_texts(texts)
    np.testing.assert_allclose(normed, ref["text_embeds_len16"], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("k", WIDTHS)
def test_matryoshka_text(texts, ref, k):
    for length, suffix in ((512, ""), (16, "_len16")):
        emb = Embedder(V2, dtype="float32", max_length=length, dimensions=k)
        assert emb.dimension == k
        got = emb.embed_texts(texts)
        assert got.shape == (6, k)
        np.testing.assert_allclose(got, ref[f"text_embeds_trunc{k}{suffix}"], atol=ATOL, rtol=RTOL)
    raw = Embedder(V2, dtype="float32", max_length=512, dimensions=k, normalize=False).embed_texts(
        texts
    )
    np.testing.assert_allclose(raw, ref["text_embeds_raw"][:, :k], atol=ATOL, rtol=RTOL)


def test_query_instruction(texts, ref):
    emb = Embedder(V2, dtype="float32", max_length=512)
    query_ids = emb.backend.tokenize(
        [emb.backend.loaded.task_instructions["retrieval.query"] + t for t in texts]
    )
    mask = ref["input_ids_task_query"] != 1
    assert query_ids == _unpadded(ref["input_ids_task_query"], mask)
    got = emb.embed_texts(texts, task="retrieval.query")
    np.testing.assert_allclose(got, ref["text_embeds_task_query"], atol=ATOL, rtol=RTOL)
    assert np.abs(got - ref["text_embeds"]).max() > 1e-2  # the instruction matters


async def test_query_instruction_async(texts, ref):
    got = await Embedder(V2, dtype="float32", max_length=512).aembed_texts(
        texts, task="retrieval.query"
    )
    np.testing.assert_allclose(got, ref["text_embeds_task_query"], atol=ATOL, rtol=RTOL)


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="task must be None or one of"):
        Embedder(V2, dtype="float32").embed_texts(["x"], task="retrieval.passage")


def test_pixels(raw512, images, ref):
    pixels = np.stack([raw512.backend.pixels(p) for p in images])
    np.testing.assert_allclose(pixels, ref["pixel_values"], atol=1e-6, rtol=0)
    # The RGBA image is converted to RGB before resizing (encode_image), not resized as RGBA.
    assert np.abs(ref["pixel_values"][3] - ref["pixel_values_processor_direct"][3]).max() > 1


def test_image_embeddings(raw512, images, ref):
    np.testing.assert_allclose(
        raw512.embed_images(images), ref["image_embeds_raw"], atol=ATOL, rtol=RTOL
    )
    normed = Embedder(V2, dtype="float32").embed_images(images)
    np.testing.assert_allclose(normed, ref["image_embeds"], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("k", WIDTHS)
def test_matryoshka_images(images, ref, k):
    got = Embedder(V2, dtype="float32", dimensions=k).embed_images(images)
    np.testing.assert_allclose(got, ref[f"image_embeds_trunc{k}"], atol=ATOL, rtol=RTOL)


def test_logits(raw512, texts, images, ref):
    emb = Embedder(V2, dtype="float32", max_length=512)
    scale = float(raw512.backend.loaded.model.logit_scale.exp())
    logits = emb.embed_texts(texts) @ emb.embed_images(images).T * scale
    np.testing.assert_allclose(logits, ref["logits_per_text"], atol=ATOL, rtol=0)


def test_too_many_dimensions_fail_at_construction():
    with pytest.raises(ValueError, match=r"dimensions=65 is above .* output width 64"):
        Embedder(V2, dtype="float32", dimensions=65)


def test_bfloat16_cosine(texts, images, ref):
    bf16 = Embedder(V2, max_length=512, dtype="bfloat16", device="cpu")
    assert str(bf16.backend.dtype) == "torch.bfloat16"
    for got, want in (
        (bf16.embed_texts(texts), ref["text_embeds"]),
        (bf16.embed_texts(texts, task="retrieval.query"), ref["text_embeds_task_query"]),
        (bf16.embed_images(images), ref["image_embeds"]),
    ):
        cosines = np.sum(got * want, axis=1)
        assert cosines.min() >= 0.999, cosines


def test_v1_ignores_the_query_task(tiny_model_path, fixture_texts):
    emb = Embedder(tiny_model_path, dtype="float32")
    assert emb.backend.loaded.task_instructions == {}
    np.testing.assert_array_equal(
        emb.embed_texts(fixture_texts, task="retrieval.query"), emb.embed_texts(fixture_texts)
    )


def test_v1_takes_no_shorter_dimensions(tiny_model_path, fixture_texts):
    # jina-clip-v1 was never trained to be cut: dimensions=k would silently give vectors of
    # unknown quality, so it is refused at construction, naming the model and its width (the
    # server answers 422 by the same rule). Its full width is a no-op.
    full = Embedder(tiny_model_path).embed_texts(fixture_texts)
    with pytest.raises(
        ValueError,
        match=rf"^dimensions=32: '{tiny_model_path}' returns {full.shape[1]}-d vectors and was "
        r"not trained for shorter ones \(it has no matryoshka_dimensions\); leave dimensions "
        r"unset$",
    ):
        Embedder(tiny_model_path, dimensions=32)
    same = Embedder(tiny_model_path, dimensions=full.shape[1]).embed_texts(fixture_texts)
    np.testing.assert_array_equal(same, full)


# -- loading by name: the alias, the hub cache, the text tower's base config ----------------------
V2_FILES = ("config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json")


def test_alias_loads_from_the_hub_cache_with_the_shipped_base_config(tmp_path, monkeypatch, ref):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "hub"
    save_snapshot(cache, "jinaai/jina-clip-v2", {n: Path(V2) / n for n in V2_FILES})
    a = Embedder(
        "jina-clip-v2", cache_dir=str(cache), max_length=512, normalize=False, dtype="float32"
    )
    b = Embedder(
        "jinaai/jina-clip-v2",
        cache_dir=str(cache),
        max_length=512,
        normalize=False,
        dtype="float32",
    )
    assert a.backend.loaded.model is b.backend.loaded.model
    assert a.backend.loaded.family == "jina-clip-v2"
    texts = [str(t) for t in ref["texts"]]
    # No jina-embeddings-v3 config in the cache and no network: the shipped values apply.
    np.testing.assert_allclose(a.embed_texts(texts), ref["text_embeds_raw"], atol=ATOL, rtol=RTOL)


def test_the_base_repos_own_config_wins_when_loaded_from_the_hub(tmp_path, monkeypatch, ref):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "hub"
    save_snapshot(cache, "jinaai/jina-clip-v2", {n: Path(V2) / n for n in V2_FILES})
    base = json.loads((FIXTURES / "jina-embeddings-v3-config.json").read_text())
    base["rotary_emb_base"] = 10000.0  # a visible change: other rotary angles
    save_snapshot(cache, "jinaai/jina-embeddings-v3", {"config.json": json.dumps(base)})
    emb = Embedder(
        "jina-clip-v2", cache_dir=str(cache), max_length=512, normalize=False, dtype="float32"
    )
    assert emb.backend.loaded.model.config.text.rotary_emb_base == 10000.0
    got = emb.embed_texts([str(t) for t in ref["texts"]])
    assert np.abs(got - ref["text_embeds_raw"]).max() > 1e-3


def test_whitespace_never_becomes_a_token(raw512):
    # As the reference's tokenizer: whitespace only separates words (trailing, doubled, tabs).
    ids = raw512.backend.tokenize(["a photo", "a photo ", " a  photo", "a\tphoto\n"])
    assert ids[1:] == [ids[0]] * 3
