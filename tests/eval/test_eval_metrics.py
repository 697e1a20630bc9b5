"""clipbridge.eval.metrics on hand-built vectors where every number is known.

Ties: every ranking orders by score (highest first) and then by the lower index; the tests
marked "tie" build exactly equal scores to pin that rule.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from clipbridge.eval.metrics import (
    first_relevant_rank,
    image_image,
    ndcg_at_k,
    recall_at_k,
    text_image_ranks,
    text_text,
    top_k,
)


def _at_degrees(*angles: float) -> np.ndarray:
    """Unit vectors in the plane: their dot product is cos(angle difference)."""
    rad = np.deg2rad(np.asarray(angles, dtype=np.float64))
    return np.stack([np.cos(rad), np.sin(rad)], axis=1)


# -- text <-> image ----------------------------------------------------------------------------
E = np.eye(3)
IMAGES = E  # image j is the unit vector e_j
TEXTS = np.stack(
    [
        E[0],  # t0 -> img0: scores (1, 0, 0)       rank 0
        E[0] + 0.5 * E[1],  # t1 -> img1: (1, .5, 0)  rank 1
        E[0] + E[1],  # t2 -> img2: (1, 1, 0)         rank 2
        E[1] + E[0],  # t3 -> img0: (1, 1, 0) tie: img0 before img1 -> rank 0
        E[0] + E[1],  # t4 -> img1: (1, 1, 0) tie: img0 before img1 -> rank 1
    ]
)
OWNER = [0, 1, 2, 0, 1]


def test_text_to_image_ranks_and_recall():
    t2i, _ = text_image_ranks(TEXTS, IMAGES, OWNER)
    assert t2i.tolist() == [0, 1, 2, 0, 1]
    assert recall_at_k(t2i, (1, 2, 3)) == {"recall@1": 0.4, "recall@2": 0.8, "recall@3": 1.0}


def test_image_to_text_counts_any_caption():
    # img0 scores every text 1 (tie): its caption t0 comes first -> rank 0.
    # img1 scores (0, .5, 1, 1, 1); its captions t1 (.5) and t4 (1): t4 is the better one, behind
    #   t2 and t3 which tie with it at lower indices -> rank 2.
    # img2 scores every text 0 (tie): its caption t2 has t0, t1 before it -> rank 2.
    _, i2t = text_image_ranks(TEXTS, IMAGES, OWNER)
    assert i2t.tolist() == [0, 2, 2]
    assert recall_at_k(i2t, (1, 3)) == {"recall@1": pytest.approx(1 / 3), "recall@3": 1.0}


def test_chunking_does_not_change_ranks():
    rng = np.random.default_rng(0)
    texts, images = rng.normal(size=(23, 8)), rng.normal(size=(7, 8))
    owner = np.concatenate([np.arange(7), rng.integers(0, 7, 16)])
    whole = text_image_ranks(texts, images, owner)
    chunked = text_image_ranks(texts, images, owner, chunk=4)
    for a, b in zip(whole, chunked, strict=True):
        assert a.tolist() == b.tolist()


def test_first_relevant_rank_matches_a_full_stable_sort():
    """A second formulation: sort each row (score desc, index asc) and find the first hit."""
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 4, size=(200, 9)).astype(np.float32)  # many ties on purpose
    relevant = rng.random((200, 9)) < 0.3
    relevant[np.arange(200), rng.integers(0, 9, 200)] = True
    expected = []
    for s, r in zip(scores, relevant, strict=True):
        order = sorted(range(len(s)), key=lambda j: (-s[j], j))
        expected.append(next(pos for pos, j in enumerate(order) if r[j]))
    assert first_relevant_rank(scores, relevant).tolist() == expected


def test_rows_without_a_relevant_item_are_refused():
    with pytest.raises(ValueError, match="row 1 has no relevant column"):
        first_relevant_rank(np.zeros((2, 3)), np.array([[1, 0, 0], [0, 0, 0]], bool))
    with pytest.raises(ValueError, match="outside the images"):
        text_image_ranks(TEXTS, IMAGES, [0, 1, 2, 3, 0])


# -- top_k -------------------------------------------------------------------------------------
def test_top_k_orders_by_score_then_index():
    scores = np.array([[0.5, 0.9, 0.5, 0.1, 0.9], [1.0, 1.0, 1.0, 1.0, 1.0]])
    assert top_k(scores, 3).tolist() == [[1, 4, 0], [0, 1, 2]]
    assert top_k(scores, 9).tolist() == [[1, 4, 0, 2, 3], [0, 1, 2, 3, 4]]


# -- image -> image ----------------------------------------------------------------------------
def test_image_image_recall_and_map():
    # angles 0, 10, 25, 90, 47 with labels a, a, b, b, c (c has no partner: not scored)
    # img0 (a): nearest others 1, 2, 4, 3 -> rel 1,0,0,0 -> hit, AP = 1/1
    # img1 (a): 0, 2, 4, 3                -> rel 1,0,0,0 -> hit, AP = 1
    # img2 (b): 1, 4, 0, 3                -> rel 0,0,0,1 -> miss, AP = (1/4)/1
    # img3 (b): 4, 2, 1, 0                -> rel 0,1,0,0 -> miss, AP = (1/2)/1
    result = image_image(_at_degrees(0, 10, 25, 90, 47), list("aabbc"))
    assert result.hits.tolist() == [
        [1, 2, 4, 3],
        [0, 2, 4, 3],
        [1, 4, 0, 3],
        [4, 2, 1, 0],
        [2, 1, 3, 0],
    ]
    assert result.scored.tolist() == [True, True, True, True, False]
    assert result.recall_at_1 == 0.5
    assert result.map_at_10 == pytest.approx((1 + 1 + 0.25 + 0.5) / 4)
    assert math.isnan(result.average_precision[4])


def test_average_precision_divides_by_min_k_and_r():
    # angles 0, 50, 20, 85; labels a, a, b, a (R = 2 for every a)
    # img0: 2, 1, 3 -> rel 0,1,1 -> (1/2 + 2/3) / 2 = 7/12, miss
    # img1: 2, 3, 0 -> rel 0,1,1 -> 7/12, miss
    # img3: 1, 2, 0 -> rel 1,0,1 -> (1 + 2/3) / 2 = 5/6, hit
    result = image_image(_at_degrees(0, 50, 20, 85), list("aaba"))
    assert result.recall_at_1 == pytest.approx(1 / 3)
    assert result.map_at_10 == pytest.approx((7 / 12 + 7 / 12 + 5 / 6) / 3)
    # with k=1 the denominator is min(1, 2) = 1: AP@1 is the hit itself
    assert image_image(_at_degrees(0, 50, 20, 85), list("aaba"), k=1).map_at_10 == pytest.approx(
        1 / 3
    )


def test_image_image_ties_go_to_the_lower_index():
    # three identical vectors, labels a, b, a: img0 sees 1 then 2 (miss, AP 1/2);
    # img2 sees 0 then 1 (hit, AP 1); img1's label is alone.
    result = image_image(np.ones((3, 4)), ["a", "b", "a"])
    assert result.hits.tolist() == [[1, 2], [0, 2], [0, 1]]
    assert result.recall_at_1 == 0.5
    assert result.map_at_10 == 0.75


def test_map_is_one_when_more_than_ten_share_the_label():
    vecs = _at_degrees(*range(0, 24, 2))  # 12 images, all label "x": R = 11 > 10
    result = image_image(vecs, ["x"] * 12)
    assert result.recall_at_1 == 1.0
    assert result.map_at_10 == 1.0


def test_image_image_needs_a_shared_label():
    with pytest.raises(ValueError, match="no label is shared"):
        image_image(np.eye(3), ["a", "b", "c"])


# -- nDCG@10 -----------------------------------------------------------------------------------
def test_ndcg_linear_gain_and_ideal_from_qrels():
    qrels = {0: 2, 5: 1, 7: 1}
    dcg = 0 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k([3, 0, 5], qrels) == pytest.approx(dcg / idcg)
    assert ndcg_at_k([0, 5, 7], qrels) == pytest.approx(1.0)
    assert ndcg_at_k([1, 2, 3], qrels) == 0.0
    assert ndcg_at_k([1, 2], {1: 0, 2: 0}) == 0.0  # no positive judgement: 0, as trec_eval


def test_ndcg_cuts_at_ten():
    ranking = list(range(20))
    assert ndcg_at_k(ranking, {10: 1}) == 0.0  # the 11th place does not count
    assert ndcg_at_k(ranking, {9: 1}) == pytest.approx(1 / math.log2(11))


def test_text_text_scores_only_judged_queries():
    corpus = np.eye(4)
    queries = np.array([[0.9, 0.5, 0.1, 0.0], [0.0, 0.0, 1.0, 0.2], [1.0, 0.0, 0.0, 0.0]])
    # query 0 ranks 0, 1, 2, 3; query 1 ranks 2, 3, 0, 1; query 2 has no qrels
    qrels = {0: {1: 1}, 1: {2: 3, 0: 1}}
    result = text_text(queries, corpus, qrels)
    q0 = (1 / math.log2(3)) / 1.0
    q1 = (3 + 1 / math.log2(4)) / (3 + 1 / math.log2(3))
    assert result.query_index.tolist() == [0, 1]
    assert result.hits.tolist() == [[0, 1, 2, 3], [2, 3, 0, 1]]
    assert result.per_query.tolist() == pytest.approx([q0, q1])
    assert result.ndcg_at_10 == pytest.approx((q0 + q1) / 2)


def test_ndcg_matches_trec_eval_on_random_rankings():
    """Cross-check against trec_eval itself (pytrec_eval-terrier, its Python binding)."""
    import pytrec_eval  # dev extra

    rng = np.random.default_rng(7)
    n_queries, n_docs = 60, 45
    queries, corpus = rng.normal(size=(n_queries, 16)), rng.normal(size=(n_docs, 16))
    qrels: dict[int, dict[int, int]] = {}
    for q in range(n_queries):
        judged = rng.choice(n_docs, size=rng.integers(1, 15), replace=False)
        qrels[q] = {int(d): int(rng.integers(0, 4)) for d in judged}
    ours = text_text(queries, corpus, qrels)
    scores = queries @ corpus.T
    run = {f"q{q}": {f"d{d}": float(scores[q, d]) for d in range(n_docs)} for q in qrels}
    trec_qrels = {
        f"q{q}": {f"d{d}": rel for d, rel in judged.items()} for q, judged in qrels.items()
    }
    evaluator = pytrec_eval.RelevanceEvaluator(trec_qrels, {"ndcg_cut.10"})
    theirs = evaluator.evaluate(run)
    expected = [theirs[f"q{q}"]["ndcg_cut_10"] for q in ours.query_index]
    assert ours.per_query.tolist() == pytest.approx(expected, abs=1e-12)
    assert any(v == 0.0 for v in expected) and any(0 < v < 1 for v in expected)
