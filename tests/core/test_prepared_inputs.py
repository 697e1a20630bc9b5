"""Prepared inputs: tokenize/embed_token_ids and image_pixels/embed_pixels give embed_* rows."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from clipbridge import Embedder
from clipbridge.errors import InvalidInputError
from clipbridge.pricing import image_tokens

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
IMAGE_FILES = sorted((FIXTURES / "images").iterdir())
TEXTS = ["a cat on a sofa", "two dogs running through tall wet grass at dawn", ""]


def test_token_ids_embed_as_the_texts_do(tiny_model_path):
    emb = Embedder(tiny_model_path)
    ids = emb.tokenize(TEXTS)
    assert [len(seq) for seq in ids] == emb.count_tokens(TEXTS)
    np.testing.assert_array_equal(emb.embed_token_ids(ids), emb.embed_texts(TEXTS))
    assert emb.embed_token_ids([]).shape == (0, emb.dimension)


def test_token_ids_carry_the_task_instruction():
    emb = Embedder(str(FIXTURES / "tiny-jina-clip-v2"))
    query = emb.tokenize(TEXTS, task="retrieval.query")
    assert [len(q) for q in query] > [len(d) for d in emb.tokenize(TEXTS)]  # instruction added
    np.testing.assert_array_equal(
        emb.embed_token_ids(query), emb.embed_texts(TEXTS, task="retrieval.query")
    )
    with pytest.raises(ValueError, match="task must be None or one of"):
        emb.tokenize(TEXTS, task="summarize")


def test_pixels_embed_as_the_images_do(tiny_model_path):
    emb = Embedder(tiny_model_path, batch_size=2)  # embed_pixels cuts 3+ images into batches
    prepared = [emb.image_pixels(path.read_bytes(), i) for i, path in enumerate(IMAGE_FILES)]
    pixels = np.stack([p for p, _ in prepared])
    assert prepared[0][0].dtype == np.float32 and prepared[0][0].shape[0] == 3
    np.testing.assert_array_equal(emb.embed_pixels(pixels), emb.embed_images(IMAGE_FILES))
    for path, (_, size) in zip(IMAGE_FILES, prepared, strict=True):
        with Image.open(path) as img:
            assert size in (img.size, img.size[::-1])  # EXIF-oriented: maybe turned


def test_image_size_is_the_full_one_under_fast_decode(tiny_model_path):
    buffer = io.BytesIO()
    Image.new("RGB", (1500, 900), (200, 30, 90)).save(buffer, format="JPEG")
    emb = Embedder(tiny_model_path, fast_image_decode=True)
    pixels, size = emb.image_pixels(buffer.getvalue())
    assert size == (1500, 900)  # billed as stored, not as the reduced-scale decode
    assert image_tokens(*size) == 35000  # 7 x 5 tiles of 224
    np.testing.assert_array_equal(
        emb.embed_pixels(pixels[None]), emb.embed_images([buffer.getvalue()])
    )


def test_a_bad_image_names_its_index(tiny_model_path):
    emb = Embedder(tiny_model_path)
    with pytest.raises(InvalidInputError) as info:
        emb.image_pixels(b"not an image at all", 4)
    assert info.value.index == 4 and "image" in info.value.reason


def test_a_backend_without_prepared_inputs_says_so(tiny_model_path):
    emb = Embedder(tiny_model_path)
    assert emb.prepares_inputs
    emb._backend = SimpleNamespace(dimension=8)  # type: ignore[assignment]  # like the API one
    assert not emb.prepares_inputs
    with pytest.raises(TypeError, match="tokenize needs a backend that embeds prepared inputs"):
        emb.tokenize(["a"])
    with pytest.raises(TypeError, match="embed_pixels needs a backend"):
        emb.embed_pixels(np.zeros((1, 3, 4, 4), np.float32))
