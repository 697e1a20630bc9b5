"""Every accepted image input kind, and every kind of bad input."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipbridge import Embedder, InvalidInputError
from clipbridge.images import ImageLimits, PreprocessSpec, load_image, load_pixels


@pytest.fixture(scope="module")
def emb(tiny_model_path):
    # URLs here point at the static server on 127.0.0.1: private, so allowed explicitly.
    return Embedder(tiny_model_path, allow_private_urls=True)


@pytest.fixture(scope="module")
def jpg(fixture_images) -> Path:
    return fixture_images[1]


def test_seven_input_kinds_give_one_vector(emb, jpg, static_server):
    data = jpg.read_bytes()
    with Image.open(jpg) as opened:
        pil = opened.copy()
    inputs = [
        str(jpg),
        jpg,
        f"{static_server}/images/{jpg.name}",
        "data:image/jpeg;base64," + base64.b64encode(data).decode(),
        data,
        io.BytesIO(data),
        pil,
    ]
    vecs = emb.embed_images(inputs)
    for row in vecs[1:]:
        np.testing.assert_allclose(row, vecs[0], atol=1e-6)


def test_exif_orientation_applied_first(tmp_path, emb):
    # A landscape image stored with EXIF "rotate 90" must embed like the upright (portrait) image.
    rng = np.random.default_rng(0)
    upright = Image.fromarray(rng.integers(0, 255, (60, 40, 3), dtype=np.uint8))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera writes: 40 tall, 60 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 270 (i.e. 90 CW) to display
    stored.save(tmp_path / "rotated.png", exif=exif)
    upright.save(tmp_path / "upright.png")
    a, b = emb.embed_images([tmp_path / "rotated.png", tmp_path / "upright.png"])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_empty_list_gives_zero_rows(emb):
    assert emb.embed_images([]).shape == (0, emb.dimension)
    assert emb.embed_texts([]).shape == (0, emb.dimension)


def _bad(emb, item, fixture_images, match: str) -> InvalidInputError:
    inputs = [fixture_images[0], item, fixture_images[2]]
    with pytest.raises(InvalidInputError, match=match) as info:
        emb.embed_images(inputs)
    assert info.value.index == 1
    assert str(info.value).startswith("input 1:")
    return info.value


def test_missing_file(emb, fixture_images, tmp_path):
    _bad(emb, str(tmp_path / "nope.png"), fixture_images, "file not found")


def test_directory(emb, fixture_images, tmp_path):
    _bad(emb, tmp_path, fixture_images, "is a directory")


def test_zero_byte_file(emb, fixture_images, tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    _bad(emb, tmp_path / "empty.png", fixture_images, "empty")


def test_truncated_png(emb, fixture_images, tmp_path):
    data = fixture_images[0].read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    _bad(emb, tmp_path / "cut.png", fixture_images, "truncated or corrupt")


def test_random_bytes(emb, fixture_images):
    _bad(emb, os.urandom(2048), fixture_images, "not a recognized image format")


def test_text_file(emb, fixture_images, tmp_path):
    (tmp_path / "notes.txt").write_text("just some words, not pixels\n" * 20)
    _bad(emb, tmp_path / "notes.txt", fixture_images, "not a recognized image format")


def test_none(emb, fixture_images):
    _bad(emb, None, fixture_images, "unsupported image type NoneType")


def test_int(emb, fixture_images):
    _bad(emb, 42, fixture_images, "unsupported image type int")


def test_unreachable_url(emb, fixture_images):
    import socket

    with socket.socket() as s:  # a port on 127.0.0.1 that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _bad(emb, f"http://127.0.0.1:{port}/cat.png", fixture_images, "could not fetch")


def test_url_returning_html(emb, fixture_images, static_server):
    # The directory listing of the static server is an HTML page.
    _bad(emb, f"{static_server}/images/", fixture_images, "text/html, not an image")


def test_url_404(emb, fixture_images, static_server):
    _bad(emb, f"{static_server}/images/missing.png", fixture_images, "HTTP 404")


def test_image_above_pixel_limit(tiny_model_path, fixture_images, tmp_path):
    Image.new("RGB", (300, 200)).save(tmp_path / "big.png")
    emb = Embedder(tiny_model_path, max_image_pixels=50_000)
    err = _bad(emb, tmp_path / "big.png", fixture_images, "above max_image_pixels=50000")
    assert "300x200" in str(err)


def test_file_above_byte_limit(tiny_model_path, fixture_images):
    emb = Embedder(tiny_model_path, max_image_bytes=4000)  # rgba_40.png is 4220 bytes
    with pytest.raises(InvalidInputError, match="above max_image_bytes=4000") as info:
        emb.embed_images([fixture_images[1], fixture_images[3], fixture_images[2]])
    assert info.value.index == 1


def test_unsupported_scheme(emb, fixture_images):
    _bad(emb, "ftp://example.org/a.png", fixture_images, "unsupported URL scheme")


def test_error_keeps_vectors_already_computed(tiny_model_path, fixture_images, tmp_path):
    emb = Embedder(tiny_model_path, batch_size=2)
    good = emb.embed_images(fixture_images[:2])
    with pytest.raises(InvalidInputError) as info:
        emb.embed_images([*fixture_images[:2], tmp_path / "missing.png"])
    assert info.value.index == 2 and sorted(info.value.partial) == [0, 1]
    # partial holds raw vectors; they point the same way as the normalized results
    for i in (0, 1):
        v = info.value.partial[i]
        np.testing.assert_allclose(v / np.linalg.norm(v), good[i], atol=1e-6)


def test_bad_text_items_are_named(emb):
    with pytest.raises(InvalidInputError, match="input 2: expected a str, got NoneType"):
        emb.embed_texts(["a", "b", None])
    with pytest.raises(TypeError, match="list of inputs"):
        emb.embed_texts("a single string")


def test_load_image_converts_modes(fixture_images):
    limits = ImageLimits()
    for path in fixture_images:
        assert load_image(path, 0, limits).mode == "RGB"
    px = load_pixels(fixture_images[2], 0, PreprocessSpec(size=32), limits)
    assert px.shape == (3, 32, 32) and px.dtype == np.float32


def test_fast_jpeg_decode_is_close_and_really_shrinks(tiny_model_path, tmp_path):
    from clipbridge.images import draft_size

    rng = np.random.default_rng(1)
    noise = rng.integers(0, 255, (150, 200, 3), dtype=np.uint8)
    photo = Image.fromarray(noise).resize((1600, 1200), Image.Resampling.BICUBIC)
    photo.save(tmp_path / "photo.jpg", quality=90)
    spec = PreprocessSpec(size=32, fast_decode=True)
    assert draft_size(spec) == 32 and draft_size(PreprocessSpec(size=32)) is None
    small = load_image(tmp_path / "photo.jpg", 0, ImageLimits(), draft_size=draft_size(spec))
    assert small.size == (200, 150)  # DCT scale 1/8: the smallest that still covers 32 px
    exact = Embedder(tiny_model_path).embed_images([tmp_path / "photo.jpg"])
    fast = Embedder(tiny_model_path, fast_image_decode=True).embed_images([tmp_path / "photo.jpg"])
    assert float(exact[0] @ fast[0]) >= 0.999
    assert not np.array_equal(exact, fast)


def test_upload_encoding_keeps_exactly_the_model_pixels(fixture_images):
    from clipbridge.images import encode_for_upload

    spec, limits = PreprocessSpec(size=32), ImageLimits()
    for path in fixture_images:
        shrunk = encode_for_upload(path, 0, spec, limits)
        with Image.open(io.BytesIO(shrunk)) as img:
            assert img.format == "PNG" and img.size == (32, 32)
        np.testing.assert_array_equal(
            load_pixels(shrunk, 0, spec, limits), load_pixels(path, 0, spec, limits)
        )
    original = fixture_images[1].read_bytes()
    assert encode_for_upload(fixture_images[1], 0, None, limits) == original
    with pytest.raises(InvalidInputError, match="not a recognized image format"):
        encode_for_upload(b"not an image at all", 3, None, limits)
