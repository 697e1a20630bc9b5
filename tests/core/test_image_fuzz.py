"""Property-based fuzzing of the image loader: whatever bytes come in, ``embed_images`` answers
with a vector or an :class:`InvalidInputError` naming the input, never anything else.

Derandomized and without an example database, so every CI run tries the same 2,000+ inputs.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from clipbridge import Embedder, InvalidInputError

EXAMPLES = 2000


def _encode(img: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _valid_files() -> list[bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (10, 14, 3), dtype=np.uint8))
    gray16 = Image.fromarray(rng.integers(0, 65536, (9, 7), dtype=np.uint16))
    return [
        _encode(rgb, "PNG"),
        _encode(rgb.convert("RGBA"), "PNG"),
        _encode(gray16, "PNG"),
        _encode(rgb, "JPEG", quality=70),
        _encode(rgb.convert("L"), "JPEG", quality=70),
        _encode(rgb.convert("P"), "GIF"),
        _encode(rgb, "WEBP", quality=70),
        _encode(rgb, "WEBP", lossless=True),
        _encode(rgb, "TIFF"),
        _encode(rgb, "TIFF", compression="tiff_lzw"),
        _encode(gray16, "TIFF"),
        _encode(rgb, "BMP"),
    ]


VALID = _valid_files()


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A valid small file, cut short and/or with bits flipped or bytes overwritten."""
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 4))):
        offset = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data[offset] ^= 1 << draw(st.integers(0, 7))
        else:
            data[offset] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


inputs = st.one_of(
    damaged(),
    st.binary(min_size=0, max_size=300),
    st.tuples(st.sampled_from(VALID), st.binary(max_size=40)).map(lambda t: t[0][:16] + t[1]),
)


@pytest.fixture(scope="module")
def emb(tiny_model_path):
    # A small pixel limit keeps a corrupted header that claims a huge size cheap to refuse.
    with Embedder(tiny_model_path, max_image_pixels=250_000, image_workers=1) as emb:
        yield emb


def test_fuzzed_images_give_a_vector_or_an_invalid_input(emb, one_torch_thread):
    seen = {"vector": 0, "invalid": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(inputs)
    def check(data: bytes) -> None:
        try:
            vecs = emb.embed_images([data])
        except InvalidInputError as exc:
            assert exc.index == 0 and str(exc).startswith("input 0: ")
            seen["invalid"] += 1
        else:
            assert vecs.shape == (1, emb.dimension) and np.isfinite(vecs).all()
            seen["vector"] += 1

    check()
    assert sum(seen.values()) >= EXAMPLES
    assert seen["vector"] > 50 and seen["invalid"] > 500  # both outcomes really exercised
