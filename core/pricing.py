"""Token estimates for the Jina Embeddings API, from Jina's published jina-clip-v1 pricing.

Text costs about 1.1 tokens per English word; an image costs 1000 tokens per 224x224 tile
needed to cover it (a 750x500 photo needs 4x3 = 12 tiles = 12000 tokens). Shrinking an image
to the model's 224x224 preprocessing before upload makes it one tile: 1000 tokens.

Example::

    estimate_tokens(["a bridge at dusk"], [(750, 500)])   # 5 + 12000
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Protocol

__all__ = [
    "TILE_SIZE",
    "TOKENS_PER_TILE",
    "TOKENS_PER_WORD",
    "estimate_tokens",
    "image_tiles",
    "image_tokens",
    "text_tokens",
]

TILE_SIZE = 224
TOKENS_PER_TILE = 1000
TOKENS_PER_WORD = 1.1


class _Sized(Protocol):
    @property
    def size(self) -> tuple[int, int]: ...


def image_tiles(width: int, height: int, tile: int = TILE_SIZE) -> int:
    """How many ``tile`` x ``tile`` squares cover a ``width`` x ``height`` image.

    >>> image_tiles(750, 500)
    12
    """
    if width < 1 or height < 1:
        raise ValueError(f"an image has at least 1x1 pixels, not {width}x{height}")
    return math.ceil(width / tile) * math.ceil(height / tile)


def image_tokens(width: int, height: int) -> int:
    """Tokens billed for one image: 1000 per 224x224 tile."""
    return TOKENS_PER_TILE * image_tiles(width, height)


def text_tokens(texts: Iterable[str]) -> int:
    """About 1.1 tokens per whitespace-separated word, rounded up over all texts."""
    words = sum(len(text.split()) for text in texts)
    return math.ceil(TOKENS_PER_WORD * words - 1e-9)


def estimate_tokens(
    texts: Iterable[str] = (), images: Iterable[tuple[int, int] | Sequence[int] | _Sized] = ()
) -> int:
    """Estimated tokens for embedding ``texts`` and ``images`` as they are sent.

    ``images`` are sizes as ``(width, height)`` or anything with a PIL-style ``.size``. This is
    an estimate; the server's count (``usage.total_tokens``) is what is billed.

    >>> estimate_tokens([], [(750, 500)])
    12000
    """
    total = text_tokens(texts)
    for image in images:
        width, height = image.size if hasattr(image, "size") else image  # type: ignore[union-attr]
        total += image_tokens(int(width), int(height))
    return total
