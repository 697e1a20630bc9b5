"""The backend seam: four embedding methods and ``close``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..images import ImageInput

Progress = Callable[[int], None]
"""Called with the number of inputs just finished."""


def no_progress(_: int) -> None:
    """The default progress callback: does nothing."""


@runtime_checkable
class Backend(Protocol):
    """What the :class:`~clipbridge.Embedder` needs from a backend.

    Inputs arrive validated for type; results are raw float32 ``(n, dimension)`` arrays in input
    order (``dimension`` is ``config.dimensions`` when set: the first k Matryoshka dimensions).
    ``task`` (``None`` or ``"retrieval.query"``) marks texts as search queries: the backend adds
    the model's instruction for it, if the model has one. Normalization, empty input and progress
    bars are the Embedder's job. A backend with a tokenizer may also offer
    ``tokenize(texts) -> list[list[int]]`` (the ids the model reads);
    :meth:`Embedder.count_tokens <clipbridge.Embedder.count_tokens>` uses it when present.
    """

    @property
    def dimension(self) -> int: ...

    @property
    def matryoshka_dimensions(self) -> tuple[int, ...]:
        """Widths the model was trained to be cut to (empty: only its full width)."""
        ...

    def embed_texts(
        self, texts: Sequence[str], progress: Progress = no_progress, *, task: str | None = None
    ) -> np.ndarray: ...

    def embed_images(
        self, images: Sequence[ImageInput], progress: Progress = no_progress
    ) -> np.ndarray: ...

    async def aembed_texts(
        self, texts: Sequence[str], progress: Progress = no_progress, *, task: str | None = None
    ) -> np.ndarray: ...

    async def aembed_images(
        self, images: Sequence[ImageInput], progress: Progress = no_progress
    ) -> np.ndarray: ...

    def close(self) -> None: ...
