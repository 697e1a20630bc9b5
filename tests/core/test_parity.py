"""The native model against the reference implementation's outputs on the tiny checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clipbridge import Embedder

ATOL, RTOL = 1e-5, 1e-4


@pytest.fixture(scope="module")
def raw512(tiny_model_path):
    return Embedder(tiny_model_path, dtype="float32", normalize=False, max_length=512)


def test_token_ids_equal_reference(raw512, fixture_texts, expected):
    ids = raw512.backend.tokenize(fixture_texts)
    for row, seq in zip(expected["text_input_ids"], ids, strict=True):
        assert seq == [int(t) for t in row if t != 0]
    assert len(ids[4]) == 512  # the long text is truncated, ending with [SEP]
    assert ids[4][-1] == 102 and ids[0] == [101, 102]


def test_token_ids_maxlen16(tiny_model_path, fixture_texts, expected):
    emb = Embedder(tiny_model_path, dtype="float32", normalize=False, max_length=16)
    for row, seq in zip(
        expected["text_input_ids_maxlen16"], emb.backend.tokenize(fixture_texts), strict=True
    ):
        assert seq == [int(t) for t in row if t != 0]


def test_text_embeddings_raw(raw512, fixture_texts, expected):
    got = raw512.embed_texts(fixture_texts)
    np.testing.assert_allclose(got, expected["text_embeds_raw"], atol=ATOL, rtol=RTOL)


def test_text_embeddings_maxlen16(tiny_model_path, fixture_texts, expected):
    emb = Embedder(tiny_model_path, dtype="float32", normalize=False, max_length=16)
    got = emb.embed_texts(fixture_texts)
    np.testing.assert_allclose(got, expected["text_embeds_raw_maxlen16"], atol=ATOL, rtol=RTOL)
    normed = Embedder(tiny_model_path, dtype="float32", max_length=16).embed_texts(fixture_texts)
    np.testing.assert_allclose(normed, expected["text_embeds_maxlen16"], atol=ATOL, rtol=RTOL)


def test_normalized_text_embeddings(tiny_model_path, fixture_texts, expected):
    got = Embedder(tiny_model_path, dtype="float32", max_length=512).embed_texts(fixture_texts)
    np.testing.assert_allclose(got, expected["text_embeds"], atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_default_max_length_is_the_model_window(tiny_model_path, fixture_texts):
    emb = Embedder(tiny_model_path, dtype="float32")
    assert emb.config.max_length == 8192
    assert len(emb.backend.tokenize(fixture_texts)[4]) > 512  # not truncated at 512


def test_pixel_values(raw512, fixture_images, expected):
    pixels = np.stack([raw512.backend.pixels(p) for p in fixture_images])
    np.testing.assert_allclose(pixels, expected["pixel_values"], atol=1e-6, rtol=0)


def test_image_embeddings(raw512, tiny_model_path, fixture_images, expected):
    got = raw512.embed_images(fixture_images)
    np.testing.assert_allclose(got, expected["image_embeds_raw"], atol=ATOL, rtol=RTOL)
    normed = Embedder(tiny_model_path, dtype="float32").embed_images(fixture_images)
    np.testing.assert_allclose(normed, expected["image_embeds"], atol=ATOL, rtol=RTOL)


def test_rgba_is_converted_before_resizing(raw512, fixture_images, expected):
    # The reference's encode_image path converts to RGB first; the processor-direct path differs.
    rgba = fixture_images[3]
    got = raw512.embed_images([rgba])[0]
    assert not np.allclose(
        expected["image_embeds_raw"][3], expected["image_embeds_raw_processor_direct"][3], atol=1e-4
    )
    np.testing.assert_allclose(got, expected["image_embeds_raw"][3], atol=ATOL, rtol=RTOL)


def test_batch_of_one_equals_batch_of_many(tiny_model_path, fixture_texts, fixture_images):
    one = Embedder(tiny_model_path, dtype="float32", normalize=False, batch_size=1, max_length=512)
    many = Embedder(
        tiny_model_path, dtype="float32", normalize=False, batch_size=64, max_length=512
    )
    np.testing.assert_allclose(
        one.embed_texts(fixture_texts), many.embed_texts(fixture_texts), atol=2e-6, rtol=0
    )
    np.testing.assert_allclose(
        one.embed_images(fixture_images), many.embed_images(fixture_images), atol=2e-6, rtol=0
    )


def test_unbatched_reference(tiny_model_path, fixture_texts, expected):
    emb = Embedder(tiny_model_path, dtype="float32", normalize=False, max_length=512)
    got = np.concatenate([emb.embed_texts([t]) for t in fixture_texts])
    np.testing.assert_allclose(got, expected["text_embeds_raw_unbatched"], atol=ATOL, rtol=RTOL)


def test_logit_scale_loaded(raw512, expected):
    assert float(raw512.backend.loaded.model.logit_scale) == pytest.approx(
        float(expected["logit_scale"])
    )


# bf16 against float32, per row: measured 0.99989 at worst on the fixtures (texts and images).
BF16_MIN_COSINE = 0.999


def test_bfloat16_on_cpu_is_close(tiny_model_path, fixture_texts, fixture_images):
    fp32 = Embedder(tiny_model_path, max_length=512, dtype="float32", device="cpu")
    bf16 = Embedder(tiny_model_path, max_length=512, dtype="bfloat16", device="cpu")
    assert str(bf16.backend.dtype) == "torch.bfloat16"
    for method in ("embed_texts", "embed_images"):
        inputs = fixture_texts if method == "embed_texts" else fixture_images
        a = getattr(fp32, method)(inputs)
        b = getattr(bf16, method)(inputs)
        assert b.dtype == np.float32
        cosines = np.sum(a * b, axis=1)  # both L2-normalized
        assert cosines.min() >= BF16_MIN_COSINE, cosines  # measured: 0.99989 and up
        # the floor tells inputs apart: two different inputs are never that close (up to ~0.99)
        others = (a @ a.T)[~np.eye(len(a), dtype=bool)]
        assert others.max() < BF16_MIN_COSINE, others.max()


def test_bfloat16_compute_path_is_close(tiny_model_path, fixture_texts, fixture_images, expected):
    """Native bf16 activations (what CPUs with bf16 GEMM and GPUs run) stay within 0.999 cosine."""
    import torch

    from clipbridge.images import ImageLimits, PreprocessSpec, load_pixels
    from clipbridge.models.families import family_for
    from clipbridge.models.files import read_json

    config = read_json(Path(tiny_model_path) / "config.json")  # a private instance, not the cache's
    loaded = family_for(config).build(
        Path(tiny_model_path), config, torch.device("cpu"), torch.bfloat16
    )
    loaded.model.set_compute_dtype(torch.bfloat16)
    ids = Embedder(tiny_model_path, dtype="float32", max_length=512).backend.tokenize(fixture_texts)
    spec, limits = PreprocessSpec(size=32), ImageLimits()
    pixels = torch.from_numpy(np.stack([load_pixels(p, 0, spec, limits) for p in fixture_images]))
    with torch.inference_mode():
        texts = [loaded.model.encode_text(torch.tensor([seq])).float()[0] for seq in ids]
        images = loaded.model.encode_image(pixels.to(torch.bfloat16)).float()
    assert texts[0].dtype == torch.float32
    for got, want in (
        (torch.stack(texts), expected["text_embeds"]),
        (images, expected["image_embeds"]),
    ):
        got = torch.nn.functional.normalize(got, dim=1).numpy()
        cosines = np.sum(got * want, axis=1)
        assert cosines.min() >= BF16_MIN_COSINE, cosines  # measured: 0.99989 and up


def test_bfloat16_weights_compute_in_float32_without_native_kernels(tiny_model_path):
    import torch

    from clipbridge.models.files import compute_dtype_for

    emb = Embedder(tiny_model_path, dtype="bfloat16", device="cpu")
    loaded = emb.backend.loaded
    assert loaded.dtype == torch.bfloat16
    assert next(loaded.model.parameters()).dtype == torch.bfloat16  # half the memory either way
    assert loaded.compute_dtype == compute_dtype_for(torch.device("cpu"), torch.bfloat16)
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert loaded.compute_dtype == (torch.bfloat16 if native else torch.float32)
