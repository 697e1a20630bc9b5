"""jina-clip-v1 vs jina-clip-v2 at real size (random weights), fp32: per-image and per-text cost.

Usage::

    python benchmarks/v1_vs_v2.py     # ~5 min on 2 busy cores (checkpoints built once)

Each model runs in a fresh interpreter, v1 and v2 alternating for ``ROUNDS`` rounds, best round
kept, so the ratio holds on a shared machine. Memory per image is the peak RSS while embedding
the images minus the RSS after loading.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
from v2_real_size import SPEED

ROUNDS = 1 if c.QUICK else 2
N_IMAGES, N_TEXTS = 2, 8


def main() -> None:
    folders = {"v1": c.real_size_checkpoint(), "v2": c.real_size_v2_checkpoint()}
    bench = str(Path(__file__).resolve().parent)
    best: dict[str, dict] = {}
    for _ in range(ROUNDS):
        for name, folder in folders.items():
            res = c.run_child(
                SPEED.format(
                    bench=bench,
                    folder=str(folder),
                    dtype="float32",
                    n_images=N_IMAGES,
                    n_texts=N_TEXTS,
                    out=str(c.CACHE / f"vs-{name}"),
                ).replace("c.v2_token_ids", "c.token_ids" if name == "v1" else "c.v2_token_ids")
            )
            print(f"{name}: {res}", flush=True)
            if name not in best or res["images_per_s"] > best[name]["images_per_s"]:
                best[name] = res
    rows = []
    for name, res in best.items():
        rows.append(
            (
                name,
                f"{1 / res['images_per_s']:.2f}",
                f"{(res['image_peak_mb'] - res['loaded_mb']) / N_IMAGES:.0f}",
                f"{1 / res['texts_per_s']:.3f}",
                f"{res['loaded_mb']:.0f}",
            )
        )
    c.print_machine()
    c.print_table(
        f"v1 vs v2, fp32, best of {ROUNDS} ({N_IMAGES} images, {N_TEXTS} texts of 64 tokens)",
        rows,
        ("model", "s / image", "MB / image (peak)", "s / text", "RSS loaded MB"),
    )
    ratio = best["v1"]["images_per_s"] / best["v2"]["images_per_s"]
    print(f"\nv2 / v1 seconds per image: {ratio:.1f}x")


if __name__ == "__main__":
    main()
