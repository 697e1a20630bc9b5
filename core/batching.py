"""Pure batching plans: which inputs go together, in which order."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["chunk_indices", "plan_token_batches"]


def plan_token_batches(
    lengths: Sequence[int], *, batch_size: int, max_batch_tokens: int
) -> list[list[int]]:
    """Group input indices into batches, longest first, under two limits.

    A batch holds at most ``batch_size`` items and its padded size (items x longest) stays within
    ``max_batch_tokens``; an item longer than the budget gets a batch of its own. Returning
    indices lets the caller write each result back to its original position.

    >>> plan_token_batches([3, 10, 4, 9], batch_size=2, max_batch_tokens=100)
    [[1, 3], [2, 0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        # The first item of a batch is its longest, so the padded size is count x that length.
        longest = lengths[current[0]] if current else lengths[index]
        if current and (
            len(current) >= batch_size or (len(current) + 1) * longest > max_batch_tokens
        ):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def chunk_indices(n: int, size: int) -> list[range]:
    """``range(n)`` cut into consecutive chunks of at most ``size``."""
    return [range(start, min(n, start + size)) for start in range(0, n, size)]
