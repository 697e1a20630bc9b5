"""Reading the event log that ``embed_dataset(event_log=...)`` actors append to."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path


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
