"""Scoring one model on an eval folder: embed through :class:`~clipbridge.Embedder`, then score.

Every vector is L2-normalized here, so scores are cosine similarities whatever the Embedder's
``normalize`` setting. Texts that ask (queries, captions in text->image) are embedded with
``task="retrieval.query"``, texts that are found (corpus, captions in image->text) without.
An image that cannot be embedded (unreadable, too large, not an image) is reported in
:attr:`ModelReport.failed_images` and left out of every score: its captions and its label go
with it. Compact vectors (``precision``) are scored as :func:`clipbridge.precision.dequantize`
ranks them.

Example::

    from clipbridge import Embedder
    from clipbridge.eval import evaluate, load_eval_data

    report = evaluate(Embedder("jinaai/jina-clip-v1"), load_eval_data("examples/eval"))
    report.scores["text_to_image"]["recall@5"]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import QUERY_TASK
from ..embedder import Embedder, normalize_rows
from ..precision import check_precision, dequantize, quantize
from .data import EvalData
from .metrics import image_image, recall_at_k, text_image_ranks, text_text, top_k

__all__ = [
    "Example",
    "ModelReport",
    "embed_images_skipping_bad",
    "evaluate",
    "evaluate_precisions",
]

RECALL_KS = (1, 5, 10)
WORST = 5  # queries shown per task on the HTML page
HITS = 5  # hits shown per query


@dataclass(frozen=True)
class Example:
    """One query as the HTML page shows it: what was asked, where its answer ranked, top hits.

    ``query`` and each hit are ``("text", str)`` or ``("image", image index)``; ``hits`` holds
    ``(kind, value, score, relevant)``.
    """

    task: str
    query: tuple[str, Any]
    rank: int | None  # 1-based rank of the first relevant hit (text_text: None)
    score: float  # the task's per-query number (1/rank, AP, nDCG)
    hits: list[tuple[str, Any, float, bool]]
    answer: tuple[str, Any] | None = None  # the right answer, when it may rank below the hits


@dataclass
class ModelReport:
    """The scores of one model, keyed like the ``--json`` output, plus what the page shows."""

    model: str
    backend: str
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    failed_images: dict[int, str] = field(default_factory=dict)  # image index -> reason
    examples: dict[str, list[Example]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {**self.scores, "seconds": round(self.seconds, 3)}


def embed_images_skipping_bad(
    embedder: Embedder, images: Sequence[Any], *, show_progress: bool = False
) -> tuple[np.ndarray, dict[int, str]]:
    """Normalized float32 vectors for ``images`` (compact codes dequantized) and
    ``{index: reason}`` for those that failed, whose rows are NaN
    (:meth:`Embedder.embed_or_record <clipbridge.Embedder.embed_or_record>`)."""
    result = embedder.embed_or_record("image", images, show_progress=show_progress)
    vectors = normalize_rows(_floats(embedder, result.vectors))
    vectors[~result.ok] = np.nan
    return vectors, result.errors


def _floats(embedder: Embedder, vectors: np.ndarray) -> np.ndarray:
    """The Embedder's output as float32 rows that rank as it does (compact codes dequantized)."""
    return dequantize(vectors, embedder.config.precision, embedder.dimension)


def _text_vectors(
    embedder: Embedder, texts: list[str], show_progress: bool, task: str | None = None
) -> np.ndarray:
    vectors = embedder.embed_texts(texts, task=task, show_progress=show_progress)
    return normalize_rows(_floats(embedder, vectors))


@dataclass
class _Vectors:
    """What :func:`_embed` computed: normalized float32 rows per role (None: not needed)."""

    queries: np.ndarray | None = None
    corpus: np.ndarray | None = None
    caption_queries: np.ndarray | None = None
    caption_docs: np.ndarray | None = None
    images: np.ndarray | None = None  # NaN rows for failed images
    failed: dict[int, str] = field(default_factory=dict)

    def at_precision(self, precision: str, dimension: int) -> _Vectors:
        """Every set quantized to ``precision`` and back (failed images stay NaN)."""

        def convert(vectors: np.ndarray | None) -> np.ndarray | None:
            if vectors is None or precision == "float32":
                return vectors
            out = vectors.copy()
            good = ~np.isnan(vectors).any(axis=1)
            codes = quantize(vectors[good], precision)
            out[good] = normalize_rows(dequantize(codes, precision, dimension))
            return out

        return _Vectors(
            queries=convert(self.queries),
            corpus=convert(self.corpus),
            caption_queries=convert(self.caption_queries),
            caption_docs=convert(self.caption_docs),
            images=convert(self.images),
            failed=self.failed,
        )


def _worst(scores: np.ndarray, count: int = WORST) -> list[int]:
    """Indices of the ``count`` lowest per-query scores (ties: lower index first)."""
    return [int(i) for i in np.argsort(scores, kind="stable")[:count]]


def _score_captions(
    report: ModelReport,
    data: EvalData,
    query_vecs: np.ndarray,
    doc_vecs: np.ndarray,
    image_vecs: np.ndarray,
) -> None:
    """Captions as queries (``query_vecs``) for text->image, as documents for image->text."""
    assert data.captions is not None
    captioned = sorted(set(data.captions.owner))
    images = [i for i in captioned if i not in report.failed_images]
    position = {image: row for row, image in enumerate(images)}
    texts = [t for t, owner in enumerate(data.captions.owner) if owner in position]
    if not texts:
        return
    owner = [position[data.captions.owner[t]] for t in texts]
    t_vecs, d_vecs, i_vecs = query_vecs[texts], doc_vecs[texts], image_vecs[images]
    t2i = text_image_ranks(t_vecs, i_vecs, owner)[0]
    i2t = text_image_ranks(d_vecs, i_vecs, owner)[1]
    report.scores["text_to_image"] = recall_at_k(t2i, RECALL_KS)
    report.scores["image_to_text"] = recall_at_k(i2t, RECALL_KS)
    worst_t = sorted(range(len(texts)), key=lambda q: (-t2i[q], q))[:WORST]
    scores = t_vecs[worst_t] @ i_vecs.T
    report.examples["text_to_image"] = [
        Example(
            "text_to_image",
            ("text", data.captions.texts[texts[q]]),
            int(t2i[q]) + 1,
            1.0 / (t2i[q] + 1),
            [
                ("image", images[j], float(scores[row, j]), j == owner[q])
                for j in top_k(scores[row : row + 1], HITS)[0]
            ],
            ("image", images[owner[q]]),
        )
        for row, q in enumerate(worst_t)
    ]
    worst_i = sorted(range(len(images)), key=lambda q: (-i2t[q], q))[:WORST]
    scores = i_vecs[worst_i] @ d_vecs.T
    report.examples["image_to_text"] = [
        Example(
            "image_to_text",
            ("image", images[q]),
            int(i2t[q]) + 1,
            1.0 / (i2t[q] + 1),
            [
                ("text", data.captions.texts[texts[j]], float(scores[row, j]), owner[j] == q)
                for j in top_k(scores[row : row + 1], HITS)[0]
            ],
            ("text", data.captions.texts[texts[owner.index(q)]]),
        )
        for row, q in enumerate(worst_i)
    ]


def _score_labels(report: ModelReport, data: EvalData, image_vecs: np.ndarray) -> None:
    assert data.labels is not None
    keep = [n for n, i in enumerate(data.labels.image) if i not in report.failed_images]
    images = [data.labels.image[n] for n in keep]
    labels = [data.labels.labels[n] for n in keep]
    if len(set(labels)) == len(labels):
        return  # no label shared by two good images: nothing to score
    result = image_image(image_vecs[images], labels)
    report.scores["image_image"] = result.as_dict()
    ap = np.where(result.scored, result.average_precision, np.inf)
    worst = [q for q in _worst(ap) if result.scored[q]]
    vecs = image_vecs[images]
    report.examples["image_image"] = [
        Example(
            "image_image",
            ("image", images[q]),
            None,
            float(result.average_precision[q]),
            [
                ("image", images[j], float(vecs[q] @ vecs[j]), labels[j] == labels[q])
                for j in result.hits[q][:HITS]
            ],
        )
        for q in worst
    ]


def _score_text(
    report: ModelReport, data: EvalData, query_vecs: np.ndarray, corpus_vecs: np.ndarray
) -> None:
    assert data.text is not None
    result = text_text(query_vecs, corpus_vecs, data.text.qrels)
    report.scores["text_text"] = result.as_dict()
    examples = []
    for row in _worst(result.per_query):
        q = int(result.query_index[row])
        judged = data.text.qrels[q]
        examples.append(
            Example(
                "text_text",
                ("text", data.text.queries[q]),
                None,
                float(result.per_query[row]),
                [
                    (
                        "text",
                        data.text.corpus[d],
                        float(query_vecs[q] @ corpus_vecs[d]),
                        judged.get(int(d), 0) > 0,
                    )
                    for d in result.hits[row][:HITS]
                ],
            )
        )
    report.examples["text_text"] = examples


def _embed(embedder: Embedder, data: EvalData, show_progress: bool) -> _Vectors:
    """Every vector the data's tasks need, as float32 stand-ins of the Embedder's output."""
    vecs = _Vectors()
    if data.text is not None:  # queries as queries (jina-clip-v2's instruction), corpus as docs
        vecs.queries = _text_vectors(embedder, data.text.queries, show_progress, QUERY_TASK)
        vecs.corpus = _text_vectors(embedder, data.text.corpus, show_progress)
    if data.images:
        paths = [data.image_path(i) for i in range(len(data.images))]
        vecs.images, vecs.failed = embed_images_skipping_bad(
            embedder, paths, show_progress=show_progress
        )
        if data.captions is not None:  # queries for text->image, documents for image->text
            captions = data.captions.texts
            vecs.caption_queries = _text_vectors(embedder, captions, show_progress, QUERY_TASK)
            vecs.caption_docs = _text_vectors(embedder, captions, show_progress)
    return vecs


def _score(report: ModelReport, data: EvalData, vecs: _Vectors) -> None:
    report.failed_images = dict(vecs.failed)
    if vecs.queries is not None and vecs.corpus is not None:
        _score_text(report, data, vecs.queries, vecs.corpus)
    if vecs.images is None:
        return
    if vecs.caption_queries is not None and vecs.caption_docs is not None:
        _score_captions(report, data, vecs.caption_queries, vecs.caption_docs, vecs.images)
    if data.labels is not None:
        _score_labels(report, data, vecs.images)


def evaluate(embedder: Embedder, data: EvalData, *, show_progress: bool = False) -> ModelReport:
    """Embed ``data`` with ``embedder`` and score every task the data supports.

    An Embedder with another ``precision`` than float32 is scored on its compact vectors (as
    :func:`~clipbridge.precision.dequantize` ranks them) and reported as ``"model [precision]"``.
    """
    start = time.perf_counter()
    precision = embedder.config.precision
    report = ModelReport(model=_label(embedder.model, precision), backend=embedder.config.backend)
    _score(report, data, _embed(embedder, data, show_progress))
    report.seconds = time.perf_counter() - start
    return report


def evaluate_precisions(
    embedder: Embedder,
    data: EvalData,
    precisions: Sequence[str],
    *,
    show_progress: bool = False,
) -> list[ModelReport]:
    """One report per precision from one float32 embedding pass: the vectors are quantized with
    :func:`~clipbridge.precision.quantize` (what ``Embedder(precision=...)`` returns) and ranked
    as :func:`~clipbridge.precision.dequantize` ranks them. ``seconds`` is the embedding time
    plus that precision's scoring time.
    """
    if embedder.config.precision != "float32":
        raise ValueError("evaluate_precisions needs a float32 Embedder; it quantizes itself")
    for precision in precisions:
        check_precision(precision)
    start = time.perf_counter()
    floats = _embed(embedder, data, show_progress)
    embedded = time.perf_counter() - start
    reports = []
    for precision in precisions:
        start = time.perf_counter()
        report = ModelReport(
            model=_label(embedder.model, precision), backend=embedder.config.backend
        )
        _score(report, data, floats.at_precision(precision, embedder.dimension))
        report.seconds = embedded + time.perf_counter() - start
        reports.append(report)
    return reports


def _label(model: str, precision: str) -> str:
    return model if precision == "float32" else f"{model} [{precision}]"
