"""jina-clip-v2 at its real size (random bf16 weights): load memory, images/s, texts/s, long text.

Usage::

    python benchmarks/v2_real_size.py     # builds the 1.7 GB checkpoint once (~1 min), then
                                          # five fresh interpreters (~15-25 min on 2 busy cores)
    BENCH_QUICK=1 python benchmarks/v2_real_size.py   # 2048 instead of 8192 tokens

Each measurement runs in a fresh interpreter so peak RSS is its own. "before" is the RSS with
torch and clipbridge imported; a load's cost is peak - before. The checkpoint is stored as
bfloat16 like the real one (865 M parameters).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

LOAD = """
import json, sys, time
sys.path.insert(0, {bench!r})
import _common as c
import torch
from clipbridge.models import load_model
c.set_threads(2)
before = c.current_rss_mb()
start = time.perf_counter()
loaded = load_model({folder!r}, device="cpu", dtype={dtype!r})
secs = time.perf_counter() - start
print(json.dumps({{"secs": secs, "before_mb": before, "after_mb": c.current_rss_mb(),
                  "peak_mb": c.peak_rss_mb(), "params": loaded.num_parameters}}))
"""

SPEED = """
import json, sys, time
sys.path.insert(0, {bench!r})
import _common as c
import numpy as np
from clipbridge import Embedder
c.set_threads(2)
emb = Embedder({folder!r}, device="cpu", dtype={dtype!r}, normalize=False)
loaded_mb = c.current_rss_mb()
images = sorted(str(p) for p in (c.ROOT / "examples" / "data").glob("*.jpg"))[:{n_images}]
start = time.perf_counter()
img = emb.embed_images(images)
img_s = time.perf_counter() - start
img_peak = c.peak_rss_mb()
ids = [c.v2_token_ids(64, seed=i) for i in range({n_texts})]
start = time.perf_counter()
txt = emb.backend.embed_token_ids(ids)
txt_s = time.perf_counter() - start
np.save({out!r} + "-img.npy", img); np.save({out!r} + "-txt.npy", txt)
print(json.dumps({{"images_per_s": len(images) / img_s, "texts_per_s": len(ids) / txt_s,
                  "loaded_mb": loaded_mb, "image_peak_mb": img_peak,
                  "compute": str(emb.backend.loaded.compute_dtype)}}))
"""

LONG = """
import json, sys, time
sys.path.insert(0, {bench!r})
import _common as c
from clipbridge import Embedder
c.set_threads(2)
emb = Embedder({folder!r}, device="cpu", dtype="float32")
loaded_mb = c.current_rss_mb()
ids = [c.v2_token_ids({tokens})]
start = time.perf_counter()
emb.backend.embed_token_ids(ids)
secs = time.perf_counter() - start
print(json.dumps({{"secs": secs, "loaded_mb": loaded_mb, "peak_mb": c.peak_rss_mb()}}))
"""


def main() -> None:
    folder = str(c.real_size_v2_checkpoint())
    file_mb = (Path(folder) / "model.safetensors").stat().st_size / 2**20
    bench = str(Path(__file__).resolve().parent)
    out = str(c.CACHE / "v2-vectors")
    results = {}

    load_rows = []
    for dtype in ("bfloat16", "float32"):
        res = c.run_child(LOAD.format(bench=bench, folder=folder, dtype=dtype))
        print(f"load {dtype}: {res}", flush=True)
        results[f"load_{dtype}"] = res
        cost = res["peak_mb"] - res["before_mb"]
        load_rows.append(
            (
                dtype,
                f"{res['secs']:.1f}",
                f"{file_mb:.0f}",
                f"{res['after_mb'] - res['before_mb']:.0f}",
                f"{cost:.0f}",
                f"{cost / file_mb:.2f}x",
            )
        )

    n_images, n_texts = 2, 8
    speed = {}
    for dtype in ("float32", "bfloat16"):
        res = c.run_child(
            SPEED.format(
                bench=bench,
                folder=folder,
                dtype=dtype,
                n_images=n_images,
                n_texts=n_texts,
                out=f"{out}-{dtype}",
            )
        )
        print(f"speed {dtype}: {res}", flush=True)
        results[f"speed_{dtype}"] = speed[dtype] = res
    import numpy as np

    cos = {
        kind: c.min_cosine(
            np.load(f"{out}-float32-{kind}.npy"), np.load(f"{out}-bfloat16-{kind}.npy")
        )
        for kind in ("img", "txt")
    }
    base = speed["float32"]

    def rate(row: dict, key: str, digits: int) -> str:
        return f"{row[key]:.{digits}f} ({row[key] / base[key]:.2f}x)"

    speed_rows = [
        (
            f"{dtype} weights ({row['compute']} compute)",
            rate(row, "images_per_s", 3),
            rate(row, "texts_per_s", 2),
            f"{row['loaded_mb']:.0f}",
            f"{row['image_peak_mb'] - row['loaded_mb']:.0f}",
        )
        for dtype, row in speed.items()
    ]

    tokens = 2048 if c.QUICK else 8192
    res = c.run_child(LONG.format(bench=bench, folder=folder, tokens=tokens))
    print(f"long {tokens}: {res}", flush=True)
    results[f"long_{tokens}"] = res
    long_rows = [
        (
            str(tokens),
            f"{res['secs']:.1f}",
            f"{res['loaded_mb']:.0f}",
            f"{res['peak_mb']:.0f}",
            f"{res['peak_mb'] - res['loaded_mb']:.0f}",
        )
    ]

    c.print_machine()
    c.print_table(
        "jina-clip-v2 real size: loading the bf16 checkpoint",
        load_rows,
        ("dtype", "load s", "file MB", "held MB", "peak - before MB", "peak / file"),
    )
    c.print_table(
        f"jina-clip-v2 real size: {n_images} images (512 px), {n_texts} texts of 64 tokens",
        speed_rows,
        ("weights", "images/s", "texts/s", "RSS loaded MB", "images peak - loaded MB"),
    )
    print(f"\ncosine bf16 vs fp32 (min): images {cos['img']:.5f}, texts {cos['txt']:.5f}")
    c.print_table(
        "jina-clip-v2 real size: one long text, fp32",
        long_rows,
        ("tokens", "seconds", "RSS after load MB", "peak RSS MB", "peak - loaded MB"),
    )
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
