"""One local Ray instance for every Ray test (starting Ray is slow): 2 CPUs, no dashboard,
127.0.0.1 only, shut down after the session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def ray_local() -> Iterator[Any]:
    import ray

    from clipbridge.ray import connect

    # The machine is shared: Ray's own OOM killer looks at the whole node's memory and would kill
    # our small workers for what other processes use. The kernel's limits still hold.
    os.environ.setdefault("RAY_memory_monitor_refresh_ms", "0")

    started = not ray.is_initialized()  # a docs example run first may have started it
    connect(num_cpus=2)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
