"""What an index row says besides its vector: the picture's size, the carried columns' types.

Image rows get ``width`` and ``height``: for a file, read from its header (turned as its EXIF
orientation turns it, as the model sees it); for a PDF page, the size it was rendered at. Text
rows carry the ``--meta-column`` values of their .jsonl line or .parquet row; each such column's
Parquet type is inferred once over every listed item, before the schema is written.

Example::

    image_size("photos/cat.jpg")                 # (640, 480)
    meta_fields(items, ["topic", "year"])        # [field('topic', string), field('year', int64)]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from .sources import Item

__all__ = ["RESERVED", "image_size", "meta_fields", "meta_values"]

RESERVED = frozenset(
    {"id", "source", "kind", "embedding", "error", "text", "path", "page", "width", "height"}
)
"""Column names clipbridge writes itself: a ``--meta-column`` may not take one."""
_TURNED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height
_ORIENTATION = 0x0112


def image_size(path: str) -> tuple[int, int] | None:
    """(width, height) of an image file as the model sees it, from its header; None when it
    cannot be read (its row's error says why)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(_ORIENTATION)
    except Exception:
        return None
    return (height, width) if orientation in _TURNED else (width, height)


def meta_values(items: Sequence[Item], names: Sequence[str]) -> dict[str, list[Any]]:
    """Per carried column, its value for each item (None where the item has none)."""
    rows = [json.loads(item.meta) if item.meta else {} for item in items]
    return {name: [row.get(name) for row in rows] for name in names}


def meta_fields(items: Sequence[Item], names: Sequence[str]) -> list[pa.Field]:
    """A Parquet field per carried column: the type pyarrow infers from every item's value
    (strings when the values mix types or are all missing)."""
    import pyarrow as pa

    fields = []
    for name, values in meta_values(items, names).items():
        try:
            kind = pa.array(values).type
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            kind = pa.string()
        fields.append(pa.field(name, pa.string() if pa.types.is_null(kind) else kind))
    return fields
