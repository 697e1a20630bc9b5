"""Score every stored vector of an index against one query vector; keep the top k.

The index's vectors are read as they are (:mod:`clipbridge.index_file`): only the query is
embedded. Scores are cosine similarities, so an index written with ``normalize=False`` ranks the
same as a normalized one.

Example::

    hits = search_index("notes.parquet", embedder, text="when does the bridge open?", top_k=3)
    for hit in hits:
        print(f"{hit.score:.3f} {hit.id} {hit.text}")
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import QUERY_TASK
from ..errors import ClipBridgeError
from ..index_file import IndexInfo, IndexRow, embedding_matrix, read_index, read_info, usable
from ..precision import dequantize, output_dtype, quantize

if TYPE_CHECKING:
    from ..embedder import Embedder
    from ..images import ImageInput

__all__ = ["Hit", "check_model", "nearest", "search_index"]


@dataclass(frozen=True, slots=True)
class Hit(IndexRow):
    """One usable row of the index (its fields as :class:`~clipbridge.index_file.IndexRow`
    gives them: ``image`` is an image row's path, ``metadata`` its other columns) and its
    cosine similarity to the query."""

    score: float = field(kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """The hit as one JSON object (``id`` and ``score`` first; no null fields)."""
        fields = {
            "id": self.id,
            "score": round(self.score, 6),
            "kind": self.kind,
            "source": self.source,
            "text": self.text,
            "path": self.image,
            "page": self.page,
            "width": self.metadata.get("width"),
            "height": self.metadata.get("height"),
        }
        return {key: value for key, value in fields.items() if value is not None}


def nearest(matrix: np.ndarray, query: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of the ``top_k`` rows most cosine-similar to ``query``, best first, and their
    scores. Ties keep the file's order."""
    rows = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    unit = query.reshape(-1) / max(float(np.linalg.norm(query)), 1e-12)
    scores = rows @ unit.astype(np.float32)
    order = np.argsort(-scores, kind="stable")[:top_k]
    return order, scores[order]


def check_model(path: str | os.PathLike, embedder: Embedder) -> None:
    """Refuse an embedder whose vectors do not fit the index's (another width)."""
    info = read_info(path)
    if embedder.probe_dimension() != info.dimension:
        raise ClipBridgeError(
            f"{path} holds {info.dimension}-d vectors of {info.model}; {embedder.model} makes "
            f"{embedder.dimension}-d vectors: search with the model that built the index"
        )


def search_index(
    path: str | os.PathLike,
    embedder: Embedder,
    *,
    text: str | None = None,
    image: ImageInput | None = None,
    top_k: int = 5,
) -> list[Hit]:
    """The ``top_k`` rows of the index at ``path`` nearest to ``text`` (embedded as a search
    query) or ``image``; error rows are never hits.

    :raises ClipBridgeError: not an index file, or ``embedder`` makes vectors of another width.
    """
    if (text is None) == (image is None):
        raise ValueError("search_index takes a text or an image, one of them")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, not {top_k}")
    check_model(path, embedder)
    table, _ = usable(read_index(path))
    if text is not None:
        query = embedder.embed_texts([text], task=QUERY_TASK)[0]
    else:
        query = embedder.embed_images([image])[0]
    matrix, query = _comparable(read_info(path), embedding_matrix(table), query)
    order, scores = nearest(matrix, query, top_k)
    picked = table.take(order).to_pylist()
    return [
        Hit.from_record(record, score=float(score))
        for record, score in zip(picked, scores, strict=True)
    ]


def _comparable(
    info: IndexInfo, matrix: np.ndarray, query: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Stored vectors and the query in one space: for an index of compact codes, both as
    :func:`~clipbridge.precision.dequantize` ranks them (the query quantized alike; binary:
    ``1 - 2 * hamming / dim``)."""
    if info.precision == "float32":
        return matrix, query
    codes = matrix.astype(output_dtype(info.precision))
    stored = dequantize(codes, info.precision, info.dimension)
    asked = quantize(np.asarray(query, np.float32).reshape(1, -1), info.precision)
    return stored, dequantize(asked, info.precision, info.dimension)[0]
