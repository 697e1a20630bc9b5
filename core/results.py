"""`EmbedResult`: what :meth:`Embedder.embed_or_record <clipbridge.Embedder.embed_or_record>`
returns, the vectors of the items that could be embedded and why each other one could not."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .errors import InvalidInputError

__all__ = ["EmbedResult", "Kind", "Recording"]

Kind = Literal["text", "image"]


@dataclass(slots=True)
class EmbedResult:
    """Row i of ``vectors`` is item i's vector, exactly as the plain call returns it
    (normalized, cut to ``dimensions``, at the Embedder's ``precision``); the row of a failed
    item is all zeros, and ``errors`` says which items failed and why (``{index: reason}``, in
    input order).

    Example::

        result = emb.embed_or_record("image", ["a.jpg", "missing.jpg"])
        result.errors        # {1: "file not found: 'missing.jpg'"}
        result.ok            # array([ True, False])
        result.vectors[0]    # == emb.embed_images(["a.jpg"])[0]
    """

    vectors: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> np.ndarray:
        """A bool mask, True on the rows that hold a vector."""
        mask = np.ones(len(self.vectors), dtype=bool)
        mask[list(self.errors)] = False
        return mask


class Recording:
    """One recording call in progress: the items still to embed and the rows back so far.

    An :class:`~clipbridge.errors.InvalidInputError` keeps the rows finished before it (its
    ``partial``), records the item and leaves the rest pending, so no item reaches the model
    twice. The Embedder's sync and async verbs drive it alike::

        run = Recording(items)
        while run.pending:
            with run.recording():
                run.done(embed(run.todo()))
        run.result(zeros)   # zeros(n): n empty output rows, used only when nothing came back
    """

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = items
        self.pending = list(range(len(items)))
        self.errors: dict[int, str] = {}
        self._vectors: np.ndarray | None = None  # shaped by the first rows back

    def todo(self) -> list[Any]:
        """The items still to embed, in input order."""
        return [self.items[i] for i in self.pending]

    def _put(self, rows: list[int], vectors: np.ndarray) -> None:
        if self._vectors is None:
            self._vectors = np.zeros((len(self.items), *vectors.shape[1:]), vectors.dtype)
        self._vectors[rows] = vectors

    def done(self, vectors: np.ndarray) -> None:
        """The vectors of every pending item, in the order of :meth:`todo`."""
        self._put(self.pending, vectors)
        self.pending = []

    def skip(self, index: int, reason: str) -> None:
        """Record item ``index`` (of the input) as failed before it reaches the model."""
        self.errors[index] = reason
        self.pending.remove(index)

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Turns an item's error into a record; any other error passes through."""
        try:
            yield
        except InvalidInputError as exc:
            if not 0 <= exc.index < len(self.pending):
                raise
            kept = sorted(j for j in exc.partial if j != exc.index)
            if kept:
                rows = [self.pending[j] for j in kept]
                self._put(rows, np.stack([exc.partial[j] for j in kept]))
            self.errors[self.pending[exc.index]] = exc.reason
            skip = {*kept, exc.index}
            self.pending = [item for j, item in enumerate(self.pending) if j not in skip]

    def result(self, zeros: Callable[[int], np.ndarray]) -> EmbedResult:
        """The finished result; ``zeros(n)`` gives the rows when no item got a vector."""
        vectors = self._vectors if self._vectors is not None else zeros(len(self.items))
        return EmbedResult(vectors, dict(sorted(self.errors.items())))
