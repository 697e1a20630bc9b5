from __future__ import annotations

from clipbridge.batching import chunk_indices, plan_token_batches


def test_long_text_does_not_share_with_31_others():
    lengths = [8192] + [10] * 40
    batches = plan_token_batches(lengths, batch_size=32, max_batch_tokens=16384)
    first = next(b for b in batches if 0 in b)
    assert len(first) <= 2
    assert sorted(i for b in batches for i in b) == list(range(41))
    assert all(len(b) <= 32 for b in batches)


def test_batches_sorted_longest_first_and_within_budget():
    lengths = [5, 300, 7, 120, 64, 64, 1000, 3]
    batches = plan_token_batches(lengths, batch_size=3, max_batch_tokens=400)
    flat = [i for b in batches for i in b]
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 400


def test_chunk_indices():
    assert chunk_indices(5, 2) == [range(0, 2), range(2, 4), range(4, 5)]
    assert chunk_indices(0, 4) == []
