"""Long texts: peak RSS and texts/s for one 512/2048/8192-token text (fp32, 2 threads).

Usage::

    python benchmarks/long_text.py            # 512, 2048, 8192 tokens (~3 min on 2 cores)
    BENCH_QUICK=1 python benchmarks/long_text.py   # 512 and 2048 only

Each length runs in a fresh interpreter so ``ru_maxrss`` (peak RSS) belongs to that length
alone; "after load" is the RSS with the model loaded, before any text.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

LENGTHS = (512, 2048) if c.QUICK else (512, 2048, 8192)

CHILD = """
import json, sys, time
sys.path.insert(0, {bench!r})
import _common as c
c.set_threads(2)
from clipbridge import Embedder
emb = Embedder({folder!r}, device="cpu", dtype="float32", normalize=False)
loaded_rss = c.current_rss_mb()
ids = [c.token_ids({length})]
start = time.perf_counter()
vec = emb.backend.embed_token_ids(ids)
secs = time.perf_counter() - start
assert vec.shape == (1, 768) and (vec == vec).all()
print(json.dumps({{"secs": secs, "loaded_mb": loaded_rss, "peak_mb": c.peak_rss_mb()}}))
"""


def main() -> None:
    folder = str(c.real_size_checkpoint())
    bench = str(Path(__file__).resolve().parent)
    rows = []
    for length in LENGTHS:
        res = c.run_child(CHILD.format(bench=bench, folder=folder, length=length))
        print(f"{length} tokens: {res}", flush=True)
        rows.append(
            (
                str(length),
                f"{1 / res['secs']:.3f}",
                f"{res['secs']:.1f}",
                f"{res['loaded_mb']:.0f}",
                f"{res['peak_mb']:.0f}",
                f"{res['peak_mb'] - res['loaded_mb']:.0f}",
            )
        )
    c.print_machine()
    c.print_table(
        "One long text, fp32, 2 threads",
        rows,
        ("tokens", "texts/s", "seconds", "RSS after load MB", "peak RSS MB", "peak - loaded MB"),
    )


if __name__ == "__main__":
    main()
