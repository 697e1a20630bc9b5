"""One local Ray instance for every Ray test (starting Ray is slow): 2 CPUs, no dashboard,
127.0.0.1 only, shut down after the session."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def ray_local() -> Iterator[Any]:
    import ray

    from clipbridge.ray import connect

    started = not ray.is_initialized()  # a docs example run first may have started it
    connect(num_cpus=2)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def read_events(path: Path) -> tuple[Counter, Counter]:
    """Model loads per actor process and rows embedded per actor process, from an event log."""
    loads, rows = Counter(), Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["event"] == "load":
            loads[event["pid"]] += 1
        else:
            rows[event["pid"]] += event["rows"]
    return loads, rows
