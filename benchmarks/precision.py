"""Compact embeddings: how much of the float32 top-10 each precision keeps, and bytes per vector.

    python benchmarks/precision.py          # about a minute on 2 CPU cores

Two numbers per precision, queries and documents quantized alike and ranked as
:func:`clipbridge.precision.dequantize` ranks them (int8: the codes' cosine; binary: Hamming
distance):

- **known-item recall@10** (random sets): each query is one document plus noise; the share of
  queries whose document is in the top 10 — a retrieval task with a right answer;
- **top-10 agreement**: the share of the float32 top-10 that the quantized vectors also put in
  their top 10 — stricter: it also counts reorderings among near-ties.

``binary + rescore`` is sentence-transformers' recipe: the top 40 by Hamming distance, re-ranked
by the float query's dot product with the documents' +-1 bits.

No trained jina-clip weights can be reached from this machine (no Hugging Face), so the vectors
are (1) random unit vectors, isotropic and with uneven dimensions (a few large, offset ones, as
trained CLIP models have), and (2) the tiny untrained test checkpoints' vectors of generated
sentences. Neither is a trained model's vector geometry: treat the numbers as what the rules do
to a ranking, not as jina-clip's retrieval quality at each precision. For that, run
``clipbridge eval --data DIR --precision float32 --precision int8 --precision binary`` on real
data with the real model (docs/precision.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from clipbridge import Embedder  # noqa: E402
from clipbridge.precision import (  # noqa: E402
    PRECISIONS,
    bytes_per_vector,
    dequantize,
    quantize,
)

K = 10
RESCORE = 40
QUICK = bool(os.environ.get("BENCH_QUICK"))
DOCS = 5_000 if QUICK else 20_000
QUERIES = 200 if QUICK else 500
NOISE = 5.0


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _top(scores: np.ndarray, k: int = K) -> np.ndarray:
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def _agreement(reference: np.ndarray, got: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(reference, got, strict=True)]))


def rankings(queries: np.ndarray, docs: np.ndarray) -> dict[str, np.ndarray]:
    """The top-10 document indices per query at each precision, and for binary + rescore."""
    dim = docs.shape[1]
    out = {"float32": _top(queries @ docs.T)}
    for precision in PRECISIONS[1:]:
        q = dequantize(quantize(queries, precision), precision, dim)
        d = dequantize(quantize(docs, precision), precision, dim)
        out[precision] = _top(q @ d.T)
    signs = dequantize(quantize(docs, "ubinary"), "ubinary", dim)
    q_signs = dequantize(quantize(queries, "ubinary"), "ubinary", dim)
    candidates = _top(q_signs @ signs.T, RESCORE)
    rescored = np.einsum("qd,qkd->qk", queries, signs[candidates])
    order = np.argsort(-rescored, axis=1, kind="stable")[:, :K]
    out["binary + rescore"] = np.take_along_axis(candidates, order, 1)
    return out


def known_item_recall(top: np.ndarray) -> float:
    """Query i was made from document i: the share of queries with it in their top 10."""
    return float(np.mean([i in row for i, row in enumerate(top)]))


def random_sets(dim: int, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Isotropic unit vectors, and uneven ones: per-dimension scales (lognormal) plus five
    dimensions offset by several standard deviations. Query i is document i plus 5x as much
    independent noise: float32 finds it in the top 10 for about 98% of the queries."""
    rng = np.random.default_rng(seed)
    iso = rng.standard_normal((DOCS, dim)).astype(np.float32)
    noise = rng.standard_normal((QUERIES, dim)).astype(np.float32)
    sets = {"isotropic": (_unit(iso[:QUERIES] + NOISE * noise), _unit(iso))}
    scale = np.exp(0.5 * rng.standard_normal(dim)).astype(np.float32)
    offset = np.zeros(dim, np.float32)
    offset[:5] = [8, -6, 5, 4, -4]
    uneven = iso * scale + offset
    query_noise = noise * scale + offset
    sets["uneven"] = (_unit(uneven[:QUERIES] + NOISE * query_noise), _unit(uneven))
    return sets


def sentences(n: int, seed: int) -> list[str]:
    words = [
        "a",
        "the",
        "red",
        "blue",
        "small",
        "large",
        "old",
        "new",
        "photo",
        "picture",
        "of",
        "cat",
        "dog",
        "bridge",
        "river",
        "city",
        "night",
        "day",
        "car",
        "bicycle",
        "mountain",
        "sea",
        "boat",
        "tree",
        "house",
        "street",
        "market",
        "child",
        "woman",
        "man",
        "with",
        "on",
        "in",
        "under",
        "near",
        "two",
        "three",
        "painting",
        "drawing",
        "sunset",
        "snow",
        "rain",
        "forest",
        "garden",
        "kitchen",
        "table",
    ]
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, size=int(rng.integers(3, 12)))) for _ in range(n)]


def tiny_model_sets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    docs_text, queries_text = sentences(DOCS // 4, 1), sentences(QUERIES // 2, 2)
    fixtures = ROOT / "tests" / "fixtures"
    out = {}
    for name in ("tiny-jina-clip-v1", "tiny-jina-clip-v2"):
        emb = Embedder(str(fixtures / name), batch_size=256)
        docs = emb.embed_texts(docs_text)
        queries = emb.embed_texts(queries_text, task="retrieval.query")
        out[f"{name} ({emb.dimension}-d, texts)"] = (queries, docs)
    return out


def _table(title: str, rows: dict[str, dict[str, float]]) -> None:
    names = list(next(iter(rows.values())))
    print(f"{title}\n")
    print("| vectors | " + " | ".join(names) + " |")
    print("|" + " --- |" * (len(names) + 1))
    for name, result in rows.items():
        print(f"| {name} | " + " | ".join(f"{result[n]:.3f}" for n in names) + " |")
    print()


def int8_range_choice(dim: int = 768) -> None:
    """Why r = 8 / sqrt(dim): other fixed ranges on the uneven random set."""
    queries, docs = random_sets(dim)["uneven"]
    reference = _top(queries @ docs.T)
    print(f"int8 range r on the uneven random set, {dim}-d\n")
    print("| r | components clipped | top-10 agreement | known-item recall@10 |")
    print("| --- | --- | --- | --- |")
    for label, stds in (("4 / sqrt(dim)", 4.0), ("8 / sqrt(dim) (clipbridge)", 8.0), ("1", None)):
        r = 1.0 if stds is None else min(1.0, stds / np.sqrt(dim))
        q = np.clip(np.rint(queries / r * 127), -127, 127)
        d = np.clip(np.rint(docs / r * 127), -127, 127)
        top = _top(_unit(q) @ _unit(d).T)
        clipped = float(np.mean(np.abs(docs) > r))
        print(
            f"| {label} | {clipped:.4%} | {_agreement(reference, top):.3f} | "
            f"{known_item_recall(top):.3f} |"
        )
    print()


def main() -> None:
    print(f"{QUERIES} queries, {DOCS} documents (random sets), {DOCS // 4} (texts)\n")
    known, agree = {}, {}
    for dim in (768, 1024):
        for kind, (q, d) in random_sets(dim).items():
            tops = rankings(q, d)
            known[f"random {kind}, {dim}-d"] = {p: known_item_recall(t) for p, t in tops.items()}
            agree[f"random {kind}, {dim}-d"] = {
                p: _agreement(tops["float32"], t) for p, t in tops.items() if p != "float32"
            }
    for name, (q, d) in tiny_model_sets().items():
        tops = rankings(q, d)
        agree[name] = {p: _agreement(tops["float32"], t) for p, t in tops.items() if p != "float32"}
        cosines = d[:500] @ d[:500].T
        spread = np.sort(q @ d.T, axis=1)[:, -K:]
        print(
            f"{name}: mean cosine between documents {cosines[np.triu_indices(500, 1)].mean():.3f},"
            f" top-10 cosines span {np.mean(spread[:, -1] - spread[:, 0]):.4f} on average"
        )
    print()
    _table("known-item recall@10", known)
    _table("top-10 agreement with float32", agree)
    int8_range_choice()
    print("bytes per vector\n")
    print("| dimensions | " + " | ".join(PRECISIONS) + " |")
    print("|" + " --- |" * (len(PRECISIONS) + 1))
    for dim in (64, 512, 768, 1024):
        cells = " | ".join(str(bytes_per_vector(dim, p)) for p in PRECISIONS)
        print(f"| {dim} | {cells} |")


if __name__ == "__main__":
    main()
