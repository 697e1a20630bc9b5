"""Loading the real-size checkpoint: seconds and peak RSS against the safetensors file size.

Usage::

    python benchmarks/load_memory.py      # fp32 and bf16, each in a fresh interpreter (~1 min)

"before" is the RSS with torch and clipbridge imported; the load's cost is peak - before.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

CHILD = """
import json, sys, time
sys.path.insert(0, {bench!r})
import _common as c
import torch
from clipbridge.models import load_model
before = c.current_rss_mb()
start = time.perf_counter()
loaded = load_model({folder!r}, device="cpu", dtype={dtype!r})
secs = time.perf_counter() - start
print(json.dumps({{"secs": secs, "before_mb": before, "after_mb": c.current_rss_mb(),
                  "peak_mb": c.peak_rss_mb(), "params": loaded.num_parameters}}))
"""


def main() -> None:
    folder = c.real_size_checkpoint()
    file_mb = (folder / "model.safetensors").stat().st_size / 2**20
    bench = str(Path(__file__).resolve().parent)
    rows = []
    for dtype in ("float32", "bfloat16"):
        res = c.run_child(CHILD.format(bench=bench, folder=str(folder), dtype=dtype))
        print(f"{dtype}: {res}", flush=True)
        cost = res["peak_mb"] - res["before_mb"]
        rows.append(
            (
                dtype,
                f"{res['secs']:.2f}",
                f"{file_mb:.0f}",
                f"{res['after_mb'] - res['before_mb']:.0f}",
                f"{cost:.0f}",
                f"{cost / file_mb:.2f}x",
            )
        )
    c.print_machine()
    c.print_table(
        "Loading the real-size checkpoint (fp32 safetensors file)",
        rows,
        ("dtype", "load s", "file MB", "held MB", "peak - before MB", "peak / file"),
    )


if __name__ == "__main__":
    main()
