"""Embed a batch of index items and record bad items instead of failing the batch.

One bad file must not cost a bulk job its other rows: :func:`embed_or_record` renders PDF pages,
leaves out items whose reason is already known, and hands the rest to
:meth:`Embedder.embed_or_record <clipbridge.Embedder.embed_or_record>`, which keeps what the
model finished and records each bad item (its vectors are exactly the plain call's).

Example::

    result = embed_or_record(Embedder(), "image", ["a.jpg", "missing.jpg", "b.png"])
    result.errors    # [None, "file not found: 'missing.jpg'", None]
    result.vectors   # float32 (3, dim) (or the Embedder's precision); a failed item's row is
                     # all zeros: use ``errors``
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInputError

if TYPE_CHECKING:
    from ..embedder import Embedder
    from ..results import Kind
    from .sources import Item

__all__ = ["Embedded", "PdfPage", "embed_items", "embed_or_record"]


@dataclass(frozen=True, slots=True)
class PdfPage:
    """A page of a PDF file (1-based), rendered only when it is embedded."""

    path: str
    page: int


@dataclass(slots=True)
class Embedded:
    """Vectors ``(n, dim)`` as the Embedder returns them (float32, or its ``precision``) and,
    per row, None or the reason the item failed; ``sizes``: (width, height) of the images
    rendered here (PDF pages), by row."""

    vectors: np.ndarray
    errors: list[str | None]
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(e is not None for e in self.errors)


def _render(page: PdfPage, index: int) -> Any:
    from ..pdf import render_pdf_page

    return render_pdf_page(page.path, page.page, index)


def embed_or_record(
    embedder: Embedder,
    kind: Kind,
    inputs: Sequence[Any],
    errors: Sequence[str | None] | None = None,
) -> Embedded:
    """Embed ``inputs`` (texts, or images of any :data:`~clipbridge.ImageInput` or
    :class:`PdfPage`); items that cannot be embedded get an error string instead of a vector.

    :param errors: reasons already known per item (None where the item is fine); those items
        are not sent to the model.
    :raises ClipBridgeError: anything that is not about one item (backend down, model missing).
    """
    errs: list[str | None] = list(errors) if errors is not None else [None] * len(inputs)
    ready: dict[int, Any] = {}
    sizes: dict[int, tuple[int, int]] = {}
    for i, item in enumerate(inputs):
        if errs[i] is not None:
            continue
        if isinstance(item, PdfPage):
            try:
                item = _render(item, i)
            except InvalidInputError as exc:
                errs[i] = exc.reason
                continue
            except ImportError as exc:
                errs[i] = str(exc)
                continue
            sizes[i] = item.size
        ready[i] = item
    result = embedder.embed_or_record(kind, list(ready.values()))
    rows = list(ready)
    vectors = np.zeros((len(inputs), *result.vectors.shape[1:]), result.vectors.dtype)
    vectors[rows] = result.vectors
    for index, reason in result.errors.items():
        errs[rows[index]] = reason
    return Embedded(vectors, errs, sizes)


def embed_items(embedder: Embedder, items: Sequence[Item]) -> Embedded:
    """:func:`embed_or_record` for listed items of one kind (texts or images/PDF pages)."""
    kind = items[0].kind if items else "text"
    inputs: list[Any] = []
    for item in items:
        if item.kind != kind:
            raise ValueError(f"embed_items takes one kind at a time: {item.id} is {item.kind}")
        if kind == "text":
            inputs.append(item.text if item.text is not None else "")
        elif item.page is not None:
            inputs.append(PdfPage(item.source, item.page))
        else:
            inputs.append(item.source)
    return embed_or_record(embedder, kind, inputs, [item.error for item in items])
