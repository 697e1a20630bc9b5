"""The backend seam: four embedding methods and ``close``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..images import ImageInput

__all__ = ["Backend", "Progress", "check_dimensions", "no_progress"]

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
    ``tokenize(texts, *, task=None) -> list[list[int]]`` (the ids the model reads);
    :meth:`Embedder.count_tokens <clipbridge.Embedder.count_tokens>` uses it when present. A
    backend that embeds prepared inputs (the local one; ``Embedder.prepares_inputs``) also offers
    ``embed_token_ids(ids)``, ``embed_pixels(pixels)`` and ``spec``/``limits`` (how its images
    are decoded and preprocessed).
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


def check_dimensions(
    model: str, dimensions: int | None, width: int | None, matryoshka: tuple[int, ...]
) -> None:
    """The one rule for ``dimensions``, in every backend (``clipbridge serve`` answers 422 alike).

    With the model's output ``width`` known: ``dimensions`` may not exceed it, and a model
    without ``matryoshka`` widths (jina-clip-v1, CLIP, SigLIP: never trained to be cut) takes
    only its full width. ``width`` None (a model the API backend does not know): no check.

    Example::

        check_dimensions("jina-clip-v2", 256, 1024, (32, 64, 128, 256, 512, 768, 1024))  # fine
        check_dimensions("jina-clip-v1", 64, 768, ())  # ValueError: ... not trained for shorter
    """
    if dimensions is None or width is None:
        return
    if dimensions > width:
        raise ValueError(f"dimensions={dimensions} is above {model!r}'s output width {width}")
    if not matryoshka and dimensions != width:
        raise ValueError(
            f"dimensions={dimensions}: {model!r} returns {width}-d vectors and was not trained "
            "for shorter ones (it has no matryoshka_dimensions); leave dimensions unset"
        )
