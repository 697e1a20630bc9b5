"""clipbridge.pdf: rendering one PDF page to an image, and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipbridge import Embedder, InvalidInputError
from clipbridge.pdf import render_pdf_page

RED = (255, 0, 0)
BLUE = (0, 0, 255)


@pytest.fixture(scope="module")
def two_page_pdf(tmp_path_factory) -> Path:
    """Page 1: 100x50 pt, red. Page 2: 40x80 pt, blue (PIL writes 1 px = 1 pt)."""
    path = tmp_path_factory.mktemp("pdf") / "two_pages.pdf"
    first = Image.new("RGB", (100, 50), RED)
    second = Image.new("RGB", (40, 80), BLUE)
    first.save(path, save_all=True, append_images=[second], resolution=72.0)
    return path


def _close(color: tuple[int, ...], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 3 for a, b in zip(color, expected, strict=True))


def test_renders_each_page_at_its_size_and_colour(two_page_pdf):
    first = render_pdf_page(two_page_pdf, 1, 0, dpi=72)
    second = render_pdf_page(two_page_pdf, 2, 0, dpi=72)
    assert first.mode == second.mode == "RGB"
    assert first.size == (100, 50)
    assert second.size == (40, 80)
    assert _close(first.getpixel((50, 25)), RED)
    assert _close(second.getpixel((20, 40)), BLUE)


def test_dpi_scales_the_bitmap(two_page_pdf):
    assert render_pdf_page(two_page_pdf, 1, 0, dpi=144).size == (200, 100)
    assert render_pdf_page(str(two_page_pdf), 1, 0).size == (200, 100)  # default 144 dpi


def test_max_pixels_caps_the_bitmap(two_page_pdf):
    for limit in (1000, 7, 1):
        width, height = render_pdf_page(two_page_pdf, 1, 0, max_pixels=limit).size
        assert width * height <= limit
    width, height = render_pdf_page(two_page_pdf, 1, 0, max_pixels=1000).size
    assert width * height > 900  # lowered only as far as needed, aspect ratio kept
    assert width == pytest.approx(2 * height, abs=1)


def test_accepts_bytes(two_page_pdf):
    page = render_pdf_page(two_page_pdf.read_bytes(), 2, 0, dpi=72)
    assert page.size == (40, 80)


@pytest.mark.parametrize(
    ("page_number", "message"),
    [
        (3, "page 3 is out of range: .* has 2 page"),
        (0, "page_number must be an integer >= 1"),
        (-1, "page_number must be an integer >= 1"),
        (True, "page_number must be an integer >= 1"),
        ("1", "page_number must be an integer >= 1"),
        (None, "page_number must be an integer >= 1"),
    ],
)
def test_bad_page_number_names_the_input(two_page_pdf, page_number, message):
    with pytest.raises(InvalidInputError, match=f"input 4: {message}") as info:
        render_pdf_page(two_page_pdf, page_number, 4)
    assert info.value.index == 4


def test_missing_file(tmp_path):
    with pytest.raises(InvalidInputError, match="input 1: PDF file not found") as info:
        render_pdf_page(tmp_path / "absent.pdf", 1, 1)
    assert info.value.index == 1


def test_not_a_pdf(tmp_path):
    path = tmp_path / "fake.pdf"
    path.write_bytes(b"this is not a PDF")
    with pytest.raises(InvalidInputError, match=r"input 2: cannot open .*fake\.pdf.* as a PDF"):
        render_pdf_page(path, 1, 2)
    with pytest.raises(InvalidInputError, match="input 0: cannot open PDF of 3 bytes"):
        render_pdf_page(b"abc", 1, 0)
    with pytest.raises(InvalidInputError, match="PDF data is empty"):
        render_pdf_page(b"", 1, 0)
    with pytest.raises(InvalidInputError, match="a PDF must be a path or bytes, got int"):
        render_pdf_page(42, 1, 0)  # type: ignore[arg-type]


def test_pages_embed_to_different_vectors(two_page_pdf, tiny_model_path):
    emb = Embedder(tiny_model_path)
    pages = [render_pdf_page(two_page_pdf, n, n - 1) for n in (1, 2)]
    vectors = emb.embed_images(pages)
    assert vectors.shape == (2, emb.dimension)
    assert float(vectors[0] @ vectors[1]) < 0.999
    np.testing.assert_array_equal(vectors[1], emb.embed_images([pages[1]])[0])


def test_pypdfium2_is_imported_lazily():
    code = "import sys, clipbridge.pdf; assert 'pypdfium2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_pypdfium2_says_how_to_install(two_page_pdf, monkeypatch):
    monkeypatch.setitem(sys.modules, "pypdfium2", None)
    with pytest.raises(ImportError, match=r"pip install 'clipbridge\[pdf\]'"):
        render_pdf_page(two_page_pdf, 1, 0)
