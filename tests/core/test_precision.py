"""Compact embeddings: the quantization rules on hand-built vectors, and Embedder(precision=...)."""

from __future__ import annotations

import doctest
import math
from pathlib import Path

import numpy as np
import pytest

import clipbridge.precision as precision_module
from clipbridge import Embedder, EmbedderConfig
from clipbridge.errors import InvalidInputError
from clipbridge.precision import (
    PRECISIONS,
    bytes_per_vector,
    dequantize,
    int8_range,
    output_dtype,
    output_width,
    quantize,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
V2 = str(FIXTURES / "tiny-jina-clip-v2")


def test_doctests() -> None:
    result = doctest.testmod(precision_module)
    assert result.attempted >= 3 and result.failed == 0


# -- sign bits ------------------------------------------------------------------------------------
def test_ubinary_packs_signs_high_bit_first_and_pads_with_zeros() -> None:
    v = np.array(
        [
            # byte 0: + - + + - - - +  -> 0b10110001 = 177; byte 1: + then 7 padding zeros -> 128
            [0.3, -0.2, 0.1, 0.4, -0.5, -0.1, -0.3, 0.2, 0.7],
            # zero is not positive: all bits 0
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            # all positive: 255, then 0b10000000
            [1, 1, 1, 1, 1, 1, 1, 1, 1],
        ],
        dtype=np.float32,
    )
    u = quantize(v, "ubinary")
    assert u.dtype == np.uint8 and u.tolist() == [[177, 128], [0, 0], [255, 128]]
    b = quantize(v, "binary")
    assert b.dtype == np.int8 and b.tolist() == [[49, 0], [-128, -128], [127, 0]]
    # the sentence-transformers / Jina relation, for every byte value
    every = np.arange(256, dtype=np.uint8)[None, :]
    bits = np.unpackbits(every, axis=1).reshape(256, 8).astype(np.float32) - 0.5
    assert quantize(bits, "ubinary")[:, 0].tolist() == list(range(256))
    assert quantize(bits, "binary")[:, 0].tolist() == [x - 128 for x in range(256)]


def test_binary_dot_products_count_matching_bits() -> None:
    rng = np.random.default_rng(0)
    v = rng.standard_normal((5, 20)).astype(np.float32)
    for kind in ("binary", "ubinary"):
        codes = quantize(v, kind)
        assert codes.shape == (5, 3)
        signs = dequantize(codes, kind, 20)
        np.testing.assert_allclose(signs * math.sqrt(20), np.where(v > 0, 1.0, -1.0), atol=1e-6)
        hamming = (np.sign(v)[:, None, :] != np.sign(v)[None, :, :]).sum(-1)
        np.testing.assert_allclose(signs @ signs.T, 1 - 2 * hamming / 20, atol=1e-6)


# -- scalar ---------------------------------------------------------------------------------------
def test_int8_and_uint8_use_the_fixed_range() -> None:
    d = 64  # r = 8 / sqrt(64) = 1: every component of a unit vector fits
    assert int8_range(d) == 1.0 and int8_range(256) == 0.5 and int8_range(768) == 8 / math.sqrt(768)
    v = np.zeros((1, d), dtype=np.float32)
    v[0, :6] = [1.0, -1.0, 0.5, -0.25, 0.004, -0.004]
    q = quantize(v, "int8")
    assert q.dtype == np.int8 and q[0, :6].tolist() == [127, -127, 64, -32, 1, -1]
    u = quantize(v, "uint8")
    assert u.dtype == np.uint8 and u[0, :6].tolist() == [255, 1, 192, 96, 129, 127]
    assert u[0, 6:].tolist() == [128] * (d - 6)


def test_int8_clips_beyond_the_range() -> None:
    d = 256  # r = 0.5
    v = np.zeros((1, d), dtype=np.float32)
    v[0, :4] = [0.9, -0.6, 0.5, 0.25]
    assert quantize(v, "int8")[0, :4].tolist() == [127, -127, 127, 64]
    assert quantize(v, "uint8")[0, :4].tolist() == [255, 1, 255, 192]
    np.testing.assert_allclose(
        dequantize(quantize(v, "int8"), "int8", d)[0, :4], [0.5, -0.5, 0.5, 64 * 0.5 / 127]
    )


def test_int8_round_trip_error_is_half_a_step() -> None:
    rng = np.random.default_rng(1)
    v = rng.standard_normal((50, 768)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    step = int8_range(768) / 127
    for kind in ("int8", "uint8"):
        back = dequantize(quantize(v, kind), kind, 768)
        assert np.abs(back - v).max() <= step / 2 + 1e-7


def test_sizes() -> None:
    assert [bytes_per_vector(768, p) for p in PRECISIONS] == [3072, 768, 768, 96, 96]
    assert [bytes_per_vector(1024, p) for p in PRECISIONS] == [4096, 1024, 1024, 128, 128]
    assert output_width(20, "binary") == 3 and output_width(20, "int8") == 20
    assert [output_dtype(p) for p in PRECISIONS] == [
        np.float32,
        np.int8,
        np.uint8,
        np.int8,
        np.uint8,
    ]


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match=r"precision must be one of \['float32', 'int8'"):
        quantize(np.zeros((1, 8)), "int4")
    with pytest.raises(ValueError, match="2-d array"):
        quantize(np.zeros(8), "int8")
    with pytest.raises(ValueError, match=r"ubinary codes of 20-d vectors have shape \(n, 3\)"):
        dequantize(np.zeros((1, 20), np.uint8), "ubinary", 20)
    with pytest.raises(ValueError, match="precision must be one of"):
        EmbedderConfig(precision="fp16")
    with pytest.raises(ValueError, match="precision='int8' needs normalize=True"):
        EmbedderConfig(precision="int8", normalize=False)
    assert EmbedderConfig(precision="binary", normalize=False).precision == "binary"
    assert EmbedderConfig.from_dict(EmbedderConfig(precision="uint8").to_dict()).precision == (
        "uint8"
    )


# -- through the Embedder ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def floats_v1(tiny_model_path, fixture_texts, fixture_images) -> tuple[np.ndarray, np.ndarray]:
    emb = Embedder(tiny_model_path)
    return emb.embed_texts(fixture_texts), emb.embed_images(fixture_images)


@pytest.mark.parametrize("kind", PRECISIONS)
def test_embedder_precision_v1(kind, tiny_model_path, fixture_texts, fixture_images, floats_v1):
    emb = Embedder(tiny_model_path, precision=kind)
    texts, images = emb.embed_texts(fixture_texts), emb.embed_images(fixture_images)
    width = 12 if kind in ("binary", "ubinary") else 96
    for got, floats in ((texts, floats_v1[0]), (images, floats_v1[1])):
        assert got.dtype == output_dtype(kind) and got.shape == (len(floats), width)
        np.testing.assert_array_equal(got, quantize(floats, kind))
    empty = emb.embed_texts([])
    assert empty.shape == (0, width) and empty.dtype == output_dtype(kind)
    assert emb.dimension == 96  # the vector space's width, whatever the storage


@pytest.mark.parametrize("kind", PRECISIONS)
async def test_embedder_precision_async(kind, tiny_model_path, fixture_texts, floats_v1):
    got = await Embedder(tiny_model_path, precision=kind).aembed_texts(fixture_texts)
    np.testing.assert_array_equal(got, quantize(floats_v1[0], kind))


@pytest.fixture(scope="module")
def floats_v2(fixture_texts) -> dict[tuple[int | None, str | None], np.ndarray]:
    out = {}
    for dimensions in (None, 16):
        emb = Embedder(V2, dimensions=dimensions)
        for task in (None, "retrieval.query"):
            out[dimensions, task] = emb.embed_texts(fixture_texts, task=task)
    return out


@pytest.mark.parametrize("kind", ["int8", "ubinary", "binary"])
@pytest.mark.parametrize("dimensions", [None, 16])
def test_embedder_precision_v2_matryoshka_and_query(kind, dimensions, fixture_texts, floats_v2):
    """Quantized after the Matryoshka cut and normalization, queries included."""
    emb = Embedder(V2, dimensions=dimensions, precision=kind)
    for task in (None, "retrieval.query"):
        got = emb.embed_texts(fixture_texts, task=task)
        assert got.shape == (len(fixture_texts), output_width(dimensions or 64, kind))
        np.testing.assert_array_equal(got, quantize(floats_v2[dimensions, task], kind))


def test_binary_without_normalization_keeps_the_signs(tiny_model_path, fixture_texts):
    raw = Embedder(tiny_model_path, normalize=False).embed_texts(fixture_texts)
    got = Embedder(tiny_model_path, normalize=False, precision="ubinary").embed_texts(fixture_texts)
    np.testing.assert_array_equal(got, np.packbits(raw > 0, axis=1))


def test_partial_vectors_come_quantized(tiny_model_path, fixture_images, tmp_path):
    good = Embedder(tiny_model_path, precision="int8").embed_images(fixture_images[:2])
    emb = Embedder(tiny_model_path, batch_size=2, precision="int8")
    with pytest.raises(InvalidInputError) as info:
        emb.embed_images([*fixture_images[:2], tmp_path / "missing.png"])
    assert sorted(info.value.partial) == [0, 1]
    for i in (0, 1):
        assert info.value.partial[i].dtype == np.int8
        np.testing.assert_array_equal(info.value.partial[i], good[i])
