"""Retrieval metrics on embedding vectors: pure numpy, no model, no I/O.

Every ranking orders candidates by score, highest first, and breaks ties by the lower index
(a stable order), so every number is reproducible. Scores are dot products of the vectors as
given (cosine similarities for L2-normalized vectors). Large query sets are scored in row chunks,
so memory stays at ``chunk x candidates`` floats.

- :func:`text_image_ranks` / :func:`recall_at_k`: text->image and image->text recall@k as CLIP
  Benchmark defines them (a text's hit is its own image in the top k; an image's hit is any of its
  captions in the top k).
- :func:`image_image`: recall@1 (the nearest *other* image shares the label) and mAP@10.
- :func:`ndcg_at_k`: nDCG@k with linear gain ``rel_i / log2(i + 1)`` and the ideal DCG from the
  qrels, as trec_eval's ``ndcg_cut_10`` (what MTEB reports).

Example::

    t2i, i2t = text_image_ranks(text_vecs, image_vecs, caption_image=[0, 0, 1])
    recall_at_k(t2i, (1, 5, 10))          # {"recall@1": ..., "recall@5": ..., "recall@10": ...}
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ImageImageResult",
    "TextTextResult",
    "first_relevant_rank",
    "image_image",
    "ndcg_at_k",
    "recall_at_k",
    "text_image_ranks",
    "text_text",
    "top_k",
]

ROW_CHUNK = 1024
"""Query rows scored at a time."""


def _row_chunks(n: int, chunk: int) -> Iterator[slice]:
    for start in range(0, n, chunk):
        yield slice(start, min(start + chunk, n))


def first_relevant_rank(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Per row, the 0-based rank of the best-ranked relevant column.

    ``scores`` and the boolean ``relevant`` are ``(queries, candidates)``; every row needs at
    least one relevant column. The rank of column j counts the columns scored higher plus those
    scored equal with a lower index.
    """
    scores = np.asarray(scores)
    relevant = np.asarray(relevant, dtype=bool)
    if scores.shape != relevant.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and relevant {relevant.shape} must match (2-D)")
    if not relevant.any(axis=1).all():
        empty = int(np.flatnonzero(~relevant.any(axis=1))[0])
        raise ValueError(f"row {empty} has no relevant column")
    masked = np.where(relevant, scores, -np.inf)
    best = masked.max(axis=1)
    # the lowest-index relevant column holding the best relevant score
    best_col = np.argmax(relevant & (scores == best[:, None]), axis=1)
    higher = (scores > best[:, None]).sum(axis=1)
    columns = np.arange(scores.shape[1])
    tied_before = ((scores == best[:, None]) & (columns[None, :] < best_col[:, None])).sum(axis=1)
    return (higher + tied_before).astype(np.int64)


def recall_at_k(ranks: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``{"recall@k": share of queries whose first relevant rank is below k}``."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no queries to score")
    return {f"recall@{k}": float(np.mean(ranks < k)) for k in ks}


def text_image_ranks(
    text_vecs: np.ndarray,
    image_vecs: np.ndarray,
    caption_image: Sequence[int],
    *,
    chunk: int = ROW_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """(text->image ranks, image->text ranks) for captions ``caption_image[t]`` = image index.

    A text's rank is that of its own image among all images; an image's rank is that of its
    best-ranked caption among all texts. Every image needs at least one caption.
    """
    owner = np.asarray(caption_image, dtype=np.int64)
    n_images = image_vecs.shape[0]
    if owner.shape != (text_vecs.shape[0],):
        raise ValueError("caption_image needs one image index per text")
    if owner.size and (owner.min() < 0 or owner.max() >= n_images):
        raise ValueError("caption_image holds an index outside the images")
    t2i = np.empty(len(owner), dtype=np.int64)
    for rows in _row_chunks(len(owner), chunk):
        scores = text_vecs[rows] @ image_vecs.T
        relevant = owner[rows, None] == np.arange(n_images)[None, :]
        t2i[rows] = first_relevant_rank(scores, relevant)
    i2t = np.empty(n_images, dtype=np.int64)
    for rows in _row_chunks(n_images, chunk):
        scores = image_vecs[rows] @ text_vecs.T
        relevant = np.arange(n_images)[rows, None] == owner[None, :]
        i2t[rows] = first_relevant_rank(scores, relevant)
    return t2i, i2t


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` best scores, best first, ties to the lower index.

    ``scores`` is ``(queries, candidates)``; ``k`` is capped at the number of candidates.
    Columns scored ``-inf`` are ranked last like any other (callers exclude them by capping k).
    """
    scores = np.asarray(scores)
    k = min(k, scores.shape[1])
    if k <= 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    # The k-th best score per row; every column at or above it is a candidate, then an exact
    # (score desc, index asc) sort among the candidates only.
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
    out = np.empty((scores.shape[0], k), dtype=np.int64)
    for row in range(scores.shape[0]):
        cand = np.flatnonzero(scores[row] >= kth[row])
        order = np.lexsort((cand, -scores[row, cand]))
        out[row] = cand[order[:k]]
    return out


@dataclass(frozen=True)
class ImageImageResult:
    """Image->image scores and the per-image details behind them.

    ``scored`` marks the images that count: those whose label at least one *other* image has.
    ``hits`` holds each image's top-10 other images (rows for every image, scored or not).
    """

    recall_at_1: float
    map_at_10: float
    scored: np.ndarray  # bool (n,)
    average_precision: np.ndarray  # float (n,), nan where not scored
    hits: np.ndarray  # int (n, min(10, n - 1))

    def as_dict(self) -> dict[str, float]:
        return {"recall@1": self.recall_at_1, "map@10": self.map_at_10}


def image_image(
    image_vecs: np.ndarray, labels: Sequence[object], *, k: int = 10, chunk: int = ROW_CHUNK
) -> ImageImageResult:
    """recall@1 and mAP@k over images, each ranked against every *other* image.

    recall@1: share of images whose nearest other image has the same label. AP@k for an image is
    ``sum_{i<=k} P@i * rel_i / min(k, R)`` with R the number of other images sharing its label;
    mAP@k is the mean over images. Images whose label no other image has cannot be answered and
    are left out of both numbers (``scored`` is False for them).
    """
    vecs = np.asarray(image_vecs)
    n = vecs.shape[0]
    if len(labels) != n:
        raise ValueError("labels needs one label per image")
    _, label_ids = np.unique(np.asarray([str(x) for x in labels]), return_inverse=True)
    label_ids = label_ids.reshape(-1)
    others = np.bincount(label_ids)[label_ids] - 1  # R per image
    scored = others > 0
    if not scored.any():
        raise ValueError("no label is shared by two images: image->image retrieval needs pairs")
    depth = min(k, n - 1)
    hits = np.empty((n, depth), dtype=np.int64)
    for rows in _row_chunks(n, chunk):
        scores = (vecs[rows] @ vecs.T).astype(np.float64)
        idx = np.arange(rows.start, rows.stop)
        scores[idx - rows.start, idx] = -np.inf  # an image never retrieves itself
        hits[rows] = top_k(scores, depth)
    relevant = label_ids[hits] == label_ids[:, None]  # (n, depth)
    precision = np.cumsum(relevant, axis=1) / np.arange(1, depth + 1)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = (precision * relevant).sum(axis=1) / np.minimum(k, others)
    ap = np.where(scored, ap, np.nan)
    return ImageImageResult(
        recall_at_1=float(relevant[scored, 0].mean()),
        map_at_10=float(np.nanmean(ap)),
        scored=scored,
        average_precision=ap,
        hits=hits,
    )


def ndcg_at_k(ranking: Sequence[int], qrels: Mapping[int, float], k: int = 10) -> float:
    """nDCG@k of one ranked list of candidate indices against ``{candidate: relevance}``.

    DCG = ``sum_{i<=k} rel_i / log2(i + 1)`` (linear gain, rank i from 1); the ideal DCG sorts
    the qrels' positive relevances. A query whose qrels hold no positive relevance scores 0, as in
    trec_eval.
    """
    gains = np.asarray([max(float(qrels.get(int(c), 0.0)), 0.0) for c in ranking[:k]])
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float((gains * discounts[: len(gains)]).sum())
    ideal = np.sort(np.asarray([g for g in qrels.values() if g > 0], dtype=np.float64))[::-1][:k]
    idcg = float((ideal * discounts[: len(ideal)]).sum())
    return dcg / idcg if idcg > 0 else 0.0


@dataclass(frozen=True)
class TextTextResult:
    """nDCG@10 over the judged queries and the per-query details behind it."""

    ndcg_at_10: float
    per_query: np.ndarray  # float (judged queries,)
    query_index: np.ndarray  # int: which query each entry of per_query is
    hits: np.ndarray  # int (judged queries, 10): top corpus indices

    def as_dict(self) -> dict[str, float]:
        return {"ndcg@10": self.ndcg_at_10}


def text_text(
    query_vecs: np.ndarray,
    corpus_vecs: np.ndarray,
    qrels: Mapping[int, Mapping[int, float]],
    *,
    k: int = 10,
    chunk: int = ROW_CHUNK,
) -> TextTextResult:
    """Mean nDCG@k over the queries that have qrels (``{query index: {corpus index: rel}}``)."""
    judged = np.asarray(sorted(qrels), dtype=np.int64)
    if judged.size == 0:
        raise ValueError("no query has relevance judgements")
    depth = min(k, corpus_vecs.shape[0])
    hits = np.empty((len(judged), depth), dtype=np.int64)
    for rows in _row_chunks(len(judged), chunk):
        hits[rows] = top_k(query_vecs[judged[rows]] @ corpus_vecs.T, depth)
    per_query = np.asarray(
        [ndcg_at_k(hits[i], qrels[int(q)], k) for i, q in enumerate(judged)], dtype=np.float64
    )
    return TextTextResult(
        ndcg_at_10=float(per_query.mean()), per_query=per_query, query_index=judged, hits=hits
    )
