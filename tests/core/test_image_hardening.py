"""The image loader under hostile or unusual input: thin strips, 16-bit and float modes, files cut
or corrupted anywhere, the same object twice in one call, and pixel limits above Pillow's own."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
from PIL import Image

from clipbridge import Embedder, InvalidInputError
from clipbridge.images import (
    ImageLimits,
    PreprocessSpec,
    center_crop,
    encode_for_upload,
    load_image,
    load_pixels,
    resize_shortest,
)


def _encode(img: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def emb(tiny_model_path):
    return Embedder(tiny_model_path, image_workers=4)


# -- 2. thin strips: the work is bounded by the output, not by the resized strip ----------------
_STRIP_RSS = """
import io, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))  # never swamp the machine
from PIL import Image
from clipbridge.images import ImageLimits, PreprocessSpec, encode_for_upload, load_pixels

def peak_kb():  # VmHWM: this process's own peak (ru_maxrss keeps the parent's across exec)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

width, height = int(sys.argv[1]), int(sys.argv[2])
buffer = io.BytesIO()
Image.new("RGB", (width, height), (200, 30, 10)).save(buffer, format="PNG")
data = buffer.getvalue()
before = peak_kb()
spec = PreprocessSpec(size=224)
pixels = load_pixels(data, 0, spec, ImageLimits())
upload = encode_for_upload(data, 0, spec, ImageLimits())
print(json.dumps({"before_kb": before, "peak_kb": peak_kb(), "shape": list(pixels.shape),
                  "upload_size": list(Image.open(io.BytesIO(upload)).size)}))
"""


@pytest.mark.parametrize("size", [(1, 200_000), (200_000, 1)])
def test_thin_strip_peak_memory_is_bounded(size):
    done = subprocess.run(
        [sys.executable, "-c", _STRIP_RSS, *map(str, size)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["shape"] == [3, 224, 224] and result["upload_size"] == [224, 224]
    assert result["peak_kb"] < 300 * 1024, result  # was a MemoryError (2 GB for 1x10,000)


def _strip(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("size", [(3, 900), (900, 3), (1, 400), (7, 2000), (20, 3000)])
def test_strip_matches_full_resize_within_two_levels(size):
    # Where the full shortest-side resize is still affordable, the bounded path agrees with it.
    img = _strip(*size)
    reference = np.asarray(center_crop(resize_shortest(img, 32), 32), dtype=np.int16)
    limits = ImageLimits()
    shrunk = encode_for_upload(_encode(img), 0, PreprocessSpec(size=32), limits)
    got = np.asarray(Image.open(io.BytesIO(shrunk)), dtype=np.int16)
    assert got.shape == reference.shape == (32, 32, 3)
    assert np.abs(got - reference).max() <= 2
    np.testing.assert_array_equal(
        load_pixels(_encode(img), 0, PreprocessSpec(size=32), limits),
        load_pixels(shrunk, 0, PreprocessSpec(size=32), limits),
    )


def test_strip_embeds_like_its_full_resize(emb):
    img = _strip(2, 3000, seed=3)
    reference = center_crop(resize_shortest(img, 32), 32)
    a, b = emb.embed_images([img, reference])
    assert float(a @ b) >= 0.9999


# -- 3. 16-bit and other wide modes ------------------------------------------------------------
def _gradient16() -> np.ndarray:
    y, x = np.mgrid[0:48, 0:64]
    return ((x * 1000 + y * 300) % 65536).astype(np.uint16)


def test_16bit_png_is_scaled_not_clipped(emb):
    g16 = _gradient16()
    g8 = ((g16.astype(np.uint32) + 128) // 257).astype(np.uint8)
    png16, png8 = _encode(Image.fromarray(g16)), _encode(Image.fromarray(g8))
    assert Image.open(io.BytesIO(png16)).mode == "I;16"
    spec, limits = PreprocessSpec(size=32), ImageLimits()
    np.testing.assert_array_equal(
        load_pixels(png16, 0, spec, limits), load_pixels(png8, 0, spec, limits)
    )
    white = Image.new("RGB", (64, 48), "white")
    v16, v8, vwhite = emb.embed_images([png16, png8, white])
    assert float(v16 @ v8) >= 0.999
    assert float(v16 @ vwhite) < float(v16 @ v8)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16bit_files_and_mode_i_within_16_bits(emb, fmt):
    g16 = _gradient16()
    g8 = ((g16.astype(np.uint32) + 128) // 257).astype(np.uint8)
    as_i = Image.fromarray(g16.astype(np.int32))
    assert as_i.mode == "I"
    inputs = [_encode(Image.fromarray(g16), fmt), as_i, Image.fromarray(g8)]
    vecs = emb.embed_images(inputs)
    for row in vecs[:2]:
        assert float(row @ vecs[2]) >= 0.999


@pytest.mark.parametrize(
    ("img", "match"),
    [
        (Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32)), "mode F"),
        (Image.fromarray(np.full((8, 8), 70_000, dtype=np.int32)), "mode I"),
        (Image.fromarray(np.full((8, 8), -5, dtype=np.int32)), "mode I"),
    ],
)
def test_modes_without_a_range_are_refused_by_name(emb, img, match):
    with pytest.raises(InvalidInputError, match=match) as info:
        emb.embed_images([Image.new("RGB", (8, 8)), img])
    assert info.value.index == 1
    with pytest.raises(InvalidInputError, match=match):
        encode_for_upload(img, 0, PreprocessSpec(size=8), ImageLimits())


# -- 4. every failure of one input is an InvalidInputError with its index ----------------------
def _sample_files() -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    return {
        "JPEG": _encode(rgb, "JPEG", quality=80),
        "PNG": _encode(rgb, "PNG"),
        "BMP": _encode(rgb, "BMP"),
        "WEBP": _encode(rgb, "WEBP", quality=80),
        "GIF": _encode(rgb.convert("P"), "GIF"),
        "TIFF": _encode(rgb, "TIFF"),
    }


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "WEBP", "GIF", "TIFF"])
def test_file_cut_anywhere_is_an_invalid_input(emb, fmt):
    data = _sample_files()[fmt]
    spec, limits = PreprocessSpec(size=8), ImageLimits()
    for cut in range(1, len(data)):
        for call in (load_pixels, encode_for_upload):
            try:
                call(data[:cut], 3, spec, limits)
            except InvalidInputError as exc:
                assert exc.index == 3 and str(exc).startswith("input 3: ")


def test_corrupt_tiff_is_an_invalid_input():
    data = bytearray(_sample_files()["TIFF"])
    failures = []
    for offset in range(len(data)):
        for bit in (0, 3, 7):
            flipped = bytes(data[:offset]) + bytes([data[offset] ^ (1 << bit)]) + data[offset + 1 :]
            try:
                load_pixels(flipped, 1, PreprocessSpec(size=8), ImageLimits())
            except InvalidInputError as exc:
                assert exc.index == 1
            except Exception as exc:  # the point of the test: nothing else
                failures.append((offset, bit, type(exc).__name__))
    assert failures == []


def test_a_very_long_string_is_not_a_path(emb, fixture_images):
    with pytest.raises(InvalidInputError, match=r"input 1: .*too long") as info:
        emb.embed_images([fixture_images[0], "x" * 300])
    assert info.value.index == 1
    with pytest.raises(InvalidInputError, match="too long"):
        emb.embed_images(["a/" * 3000])


# -- 5. the same object twice in one call ------------------------------------------------------
def _tiny_png(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return _encode(Image.fromarray(rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)))


def _duplicates_stay_identical(emb, calls: int, tmp_path) -> None:
    data = _tiny_png(11)
    path = tmp_path / "dup.png"
    path.write_bytes(data)
    expected = emb.embed_images([data])[0]
    for call in range(calls):
        kind = call % 3
        if kind == 0:
            item = Image.open(path)  # lazy: the file is read (and closed) on first load
        elif kind == 1:
            item = Image.open(io.BytesIO(data))
        else:
            item = io.BytesIO(data)
        vecs = emb.embed_images([item, item, item, item])
        np.testing.assert_allclose(vecs, np.tile(expected, (4, 1)), atol=1e-6)


def test_same_lazy_image_or_file_twice_local(tiny_model_path, tmp_path, one_torch_thread):
    with Embedder(tiny_model_path, image_workers=4) as emb:
        _duplicates_stay_identical(emb, 1000, tmp_path)


def test_same_lazy_image_or_file_twice_api(api_server, tmp_path, one_torch_thread):
    with Embedder(**api_server.embedder_kwargs(image_workers=4, image_size=32)) as emb:
        _duplicates_stay_identical(emb, 1000, tmp_path)


# -- max_image_pixels is the limit in force, above or below Pillow's own ----------------------
def _formats_of(size: tuple[int, int]) -> list[bytes]:
    img = _strip(*size, seed=2)
    return [_encode(img, "PNG"), _encode(img.convert("P"), "GIF"), _encode(img, "TIFF")]


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_configured_pixel_limit_above_pillows_admits(tiny_model_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses above 2,000 pixels
    inputs = _formats_of((80, 60))  # 4,800 pixels
    with Embedder(tiny_model_path, max_image_pixels=10_000, image_workers=3) as emb:
        stop = threading.Event()
        refused: list[bool] = []

        def others() -> None:  # another Pillow user in the same process keeps Pillow's limit
            while not stop.is_set():
                try:
                    Image.open(io.BytesIO(inputs[0])).load()
                    refused.append(False)
                except Image.DecompressionBombError:
                    refused.append(True)

        thread = threading.Thread(target=others)
        thread.start()
        try:
            for _ in range(5):
                vecs = emb.embed_images(inputs)
        finally:
            stop.set()
            thread.join()
        assert vecs.shape == (3, emb.dimension) and refused and all(refused)
        assert Image.MAX_IMAGE_PIXELS == 1000
        with pytest.raises(Image.DecompressionBombError):
            Image.open(io.BytesIO(inputs[0]))
    api_limits = ImageLimits(max_pixels=10_000)
    for data in inputs:
        assert load_image(data, 0, api_limits).size == (80, 60)


def test_configured_pixel_limit_below_pillows_refuses(tiny_model_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with Embedder(tiny_model_path, max_image_pixels=1000) as emb:
        for data in _formats_of((80, 60)):
            with pytest.raises(InvalidInputError, match="above max_image_pixels=1000"):
                emb.embed_images([data])


def test_pillow_warning_is_not_raised_for_admitted_images(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # warns above 3,000
    data = _formats_of((80, 60))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(data, 0, ImageLimits(max_pixels=10_000)).size == (80, 60)


def test_pixel_limit_is_on_the_input_not_on_the_resized_output(tiny_model_path, monkeypatch):
    # 30x20 = 600 pixels is admitted; the model's 32x32 crop (1,024) of its 48x32 resize is
    # bounded work on the output, not an input to guard.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400)  # Pillow would refuse crops above 800
    small = _strip(30, 20)
    with Embedder(tiny_model_path, max_image_pixels=1000) as emb:
        assert emb.embed_images([small, _encode(small)]).shape == (2, emb.dimension)
    shrunk = encode_for_upload(small, 0, PreprocessSpec(size=32), ImageLimits(max_pixels=1000))
    monkeypatch.undo()  # this test's own Image.open below goes through Pillow's limit
    assert Image.open(io.BytesIO(shrunk)).size == (32, 32)
