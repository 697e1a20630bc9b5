"""Render one PDF page to a PIL image, so that a page can be embedded like any other image.

pypdfium2 is imported only when a page is rendered (``pip install 'clipbridge[pdf]'``). Every
failure (missing file, not a PDF, bad page number) becomes
:class:`~clipbridge.errors.InvalidInputError` naming the input's index.

Example::

    from clipbridge import Embedder
    from clipbridge.pdf import render_pdf_page

    page = render_pdf_page("report.pdf", page_number=2, index=0)   # RGB PIL.Image
    vectors = Embedder().embed_images([page])
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

from PIL import Image

from .config import DEFAULT_MAX_IMAGE_PIXELS
from .errors import InvalidInputError

__all__ = ["DEFAULT_PDF_DPI", "render_pdf_page"]

DEFAULT_PDF_DPI = 144.0
_POINTS_PER_INCH = 72.0
# PDFium is not thread-safe: one render at a time per process.
_PDFIUM_LOCK = threading.Lock()


def _import_pdfium():
    try:
        import pypdfium2
    except ImportError as exc:
        raise ImportError(
            "rendering PDF pages needs pypdfium2: pip install 'clipbridge[pdf]'"
        ) from exc
    return pypdfium2


def _check_source(source: str | os.PathLike | bytes, index: int) -> str | bytes:
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise InvalidInputError(index, "PDF data is empty (0 bytes)")
        return bytes(source)
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidInputError(
            index, f"a PDF must be a path or bytes, got {type(source).__name__}"
        )
    path = Path(source)
    if not path.is_file():
        raise InvalidInputError(index, f"PDF file not found: {str(path)!r}")
    return str(path)


def _fit_scale(width: float, height: float, scale: float, max_pixels: int) -> float:
    """``scale``, lowered until the rendered bitmap (PDFium rounds sizes up) fits ``max_pixels``."""
    if width * height * scale * scale > max_pixels:
        scale = math.sqrt(max_pixels / (width * height))
    while scale > 0 and math.ceil(width * scale) * math.ceil(height * scale) > max_pixels:
        scale *= 0.99
    return scale


def render_pdf_page(
    source: str | os.PathLike | bytes,
    page_number: int,
    index: int,
    *,
    dpi: float = DEFAULT_PDF_DPI,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> Image.Image:
    """Render page ``page_number`` (1-based) of a PDF to an RGB image.

    :param source: a path to a PDF file, or its bytes.
    :param page_number: the page to render, counting from 1.
    :param index: the input's position in the caller's batch, used in error messages.
    :param dpi: render resolution; lowered for this page if it would exceed ``max_pixels``.
    :param max_pixels: the largest image (width x height) to produce.
    :raises InvalidInputError: the file is missing or not a PDF, or the page does not exist.
    """
    if isinstance(page_number, bool) or not isinstance(page_number, int) or page_number < 1:
        raise InvalidInputError(
            index, f"page_number must be an integer >= 1 (pages count from 1), not {page_number!r}"
        )
    if dpi <= 0:
        raise ValueError(f"dpi must be > 0, not {dpi!r}")
    data = _check_source(source, index)
    name = repr(data) if isinstance(data, str) else f"PDF of {len(data)} bytes"
    pdfium = _import_pdfium()
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise InvalidInputError(index, f"cannot open {name} as a PDF: {exc}") from exc
        try:
            pages = len(pdf)
            if page_number > pages:
                raise InvalidInputError(
                    index, f"page {page_number} is out of range: {name} has {pages} page(s)"
                )
            page = pdf[page_number - 1]
            try:
                width, height = page.get_size()
                scale = _fit_scale(width, height, dpi / _POINTS_PER_INCH, max_pixels)
                bitmap = page.render(scale=scale)
                try:
                    image = bitmap.to_pil().convert("RGB")
                finally:
                    bitmap.close()
            except pdfium.PdfiumError as exc:
                raise InvalidInputError(
                    index, f"cannot render page {page_number} of {name}: {exc}"
                ) from exc
            finally:
                page.close()
        finally:
            pdf.close()
    return image
