"""Scale: peak RSS while embedding 200 vs 2,000 images from files (the fixture model).

Usage::

    python benchmarks/scale_memory.py      # ~1 min on 2 cores
    BENCH_QUICK=1 python benchmarks/scale_memory.py   # 100 vs 1,000

Images are decoded one batch ahead of the model and never all held, so peak RSS should not
grow with the number of images (only the (n, dim) float32 result does: 2,000 x 96 x 4 bytes).
Each count runs in a fresh interpreter; the photos are 1600x1200 JPEGs, 200 distinct files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

COUNTS = (100, 1000) if c.QUICK else (200, 2000)
DISTINCT = 200

CHILD = """
import json, sys, time
sys.path.insert(0, {bench!r})
import _common as c
c.set_threads(2)
from pathlib import Path
from clipbridge import Embedder
files = sorted(Path({folder!r}).glob("*.jpg"))
paths = [str(files[i % len(files)]) for i in range({count})]
emb = Embedder({model!r})
emb.embed_images(paths[:4])
before = c.current_rss_mb()
start = time.perf_counter()
vecs = emb.embed_images(paths)
secs = time.perf_counter() - start
assert vecs.shape == ({count}, emb.dimension)
print(json.dumps({{"secs": secs, "before_mb": before, "after_mb": c.current_rss_mb(),
                  "peak_mb": c.peak_rss_mb()}}))
"""


def make_files() -> Path:
    folder = c.CACHE / "photos-2mp"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(DISTINCT):
        path = folder / f"img_{i:03d}.jpg"
        if not path.is_file():
            small = (rng.random((31, 41, 3)) * 255).astype(np.uint8)
            img = Image.fromarray(small).resize((1600, 1200), Image.Resampling.BICUBIC)
            img.save(path, quality=85)
    return folder


def main() -> None:
    folder = make_files()
    bench = str(Path(__file__).resolve().parent)
    rows = []
    for count in COUNTS:
        code = CHILD.format(bench=bench, folder=str(folder), model=str(c.FIXTURE), count=count)
        res = c.run_child(code)
        print(f"{count} images: {res}", flush=True)
        rows.append(
            (
                str(count),
                f"{count / res['secs']:.0f}",
                f"{res['before_mb']:.0f}",
                f"{res['peak_mb']:.0f}",
                f"{res['peak_mb'] - res['before_mb']:.0f}",
            )
        )
    c.print_machine()
    c.print_table(
        "Images from files, tiny fixture model, batch 32, 2 decode workers",
        rows,
        ("images", "images/s", "RSS before MB", "peak RSS MB", "peak - before MB"),
    )


if __name__ == "__main__":
    main()
