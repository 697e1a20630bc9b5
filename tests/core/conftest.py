"""Fixtures for the core tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch intra-op thread for tests that run the tiny model a thousand times or more.

    What those tests exercise is around the model (decode threads, input handling); on a busy
    machine two intra-op threads spin against each other and each tiny forward gets about 40x
    slower. The API test server computes its vectors in this process, so this covers it too.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
