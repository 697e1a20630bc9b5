"""Ray overhead: images/s of ``clipbridge index --engine local`` vs ``--engine ray`` on one node.

Usage::

    python benchmarks/ray_scale.py              # real-size random model, 96 images (~10 min)
    BENCH_IMAGES=48 python benchmarks/ray_scale.py   # fewer images
    BENCH_QUICK=1 python benchmarks/ray_scale.py   # tiny fixture model, 64 images (~1.5 min)
    BENCH_ROUNDS=2 python benchmarks/ray_scale.py    # fewer rounds (default 3)

Same files, same model, same machine, in one process, rounds interleaved (local, ray, local,
ray, ...), best round kept. ``local`` is one Embedder with 2 torch threads in this process, run
twice a round: as one ``clipbridge index --engine local`` call does (the Embedder built from the
config, its model load counted: the like-for-like row) and with the model already loaded.
``ray`` is a local Ray with 2 CPUs (started once, its start-up shown apart) and 2 actors of 1 CPU
each (Ray sets 1 torch thread per actor); each ray round starts its actors and loads the model in
each, as one ``clipbridge index --engine ray`` call does; each actor writes its own Parquet parts
and the driver (which loads no model) joins them. The actors' event log gives the model loads per
actor and the rows per actor.
Goal: Ray overhead <= 10 % (ray images/s >= 0.9 x a local call's images/s).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

IMAGES = int(os.environ.get("BENCH_IMAGES", 64 if c.QUICK else 96))
CHUNK = 16
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 2 if c.QUICK else 3))


def make_images(folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{i:04d}.jpg", quality=85)


def _load_times(log: Path) -> list[float]:
    """When each actor of a round had its model (wall clock), from the event log."""
    import json

    events = [json.loads(line) for line in log.read_text().splitlines()]
    return [event["time"] for event in events if event["event"] == "load"]


def main() -> None:
    from clipbridge import Embedder
    from clipbridge.index import run_index
    from clipbridge.ray import RayOptions, connect

    c.set_threads(2)
    model = str(c.FIXTURE if c.QUICK else c.real_size_checkpoint())
    work = Path(tempfile.mkdtemp(prefix="clipbridge-ray-scale-"))
    try:
        folder = work / "images"
        folder.mkdir()
        make_images(folder, IMAGES)

        started = time.perf_counter()
        embedder = Embedder(model)
        load_s = time.perf_counter() - started
        embedder.embed_images([next(folder.iterdir())])  # warm up

        # A shared machine: keep Ray's node-wide OOM killer from killing actors for others' memory.
        os.environ.setdefault("RAY_memory_monitor_refresh_ms", "0")
        started = time.perf_counter()
        ray = connect(num_cpus=2)
        ray_init_s = time.perf_counter() - started
        ray.data.DataContext.get_current().enable_progress_bars = False
        resources = {k: v for k, v in ray.cluster_resources().items() if "node:" not in k}

        local_s, cold_s, ray_s, logs, ready_s = [], [], [], [], []

        def timed_run(engine: str, out: Path, **kw) -> float:
            start = time.perf_counter()
            summary = run_index(
                [folder],
                out,
                engine=engine,
                chunk_size=CHUNK,
                show_progress=False,
                **kw,
            )
            assert summary.done == IMAGES, summary
            return time.perf_counter() - start

        for round_ in range(ROUNDS):
            local_s.append(timed_run("local", work / f"local-{round_}.parquet", embedder=embedder))
            # what one CLI call does: the Embedder is built (the model loaded) inside the run
            cold_s.append(
                timed_run("local", work / f"cold-{round_}.parquet", config=embedder.config)
            )
            log = work / f"events-{round_}.jsonl"
            options = RayOptions(concurrency=2, batch_size=8, event_log=str(log))
            out = work / f"ray-{round_}.parquet"
            began = time.time()
            ray_s.append(timed_run("ray", out, config=embedder.config, ray_options=options))
            logs.append(log)
            # until the first actor has its model: the fixed cost of a Ray run
            ready_s.append(min(_load_times(log)) - began)
            print(
                f"round {round_ + 1}: local {local_s[-1]:.2f} s (with load {cold_s[-1]:.2f} s), "
                f"ray {ray_s[-1]:.2f} s "
                f"(first actor ready after {ready_s[-1]:.2f} s)"
            )

        import pyarrow.parquet as pq

        a = pq.read_table(work / "local-0.parquet").sort_by("id")
        b = pq.read_table(work / "ray-0.parquet").sort_by("id")
        va = np.array(a.column("embedding").to_pylist(), np.float32)
        vb = np.array(b.column("embedding").to_pylist(), np.float32)
        max_diff = float(np.abs(va - vb).max())

        import json
        from collections import Counter

        loads, rows, load_seconds = Counter(), Counter(), []
        for line in logs[0].read_text().splitlines():
            event = json.loads(line)
            if event["event"] == "load":
                loads[event["pid"]] += 1
                load_seconds.append(event["seconds"])
            else:
                rows[event["pid"]] += event["rows"]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    best_local, best_cold, best_ray = min(local_s), min(cold_s), min(ray_s)
    c.print_machine()
    print(f"model: {'tiny fixture' if c.QUICK else 'real-size random jina-clip-v1'} ({model})")
    print(f"ray cluster resources: {resources}")
    print(f"ray.init: {ray_init_s:.1f} s (once per process, not counted below)")
    print(f"local model load: {load_s:.2f} s (counted in the 'incl. model load' row only)")
    c.print_table(
        f"index {IMAGES} JPEGs 640x480, best of {ROUNDS} rounds (ratio: vs local)",
        [
            (
                "local, 1 process, 2 threads (incl. model load, as a CLI call)",
                f"{best_cold:.2f}",
                f"{IMAGES / best_cold:.2f}",
                "1.00x",
                f"{best_local / best_cold:.2f}x",
            ),
            (
                "local, 1 process, 2 threads (model already loaded)",
                f"{best_local:.2f}",
                f"{IMAGES / best_local:.2f}",
                f"{best_cold / best_local:.2f}x",
                "1.00x",
            ),
            (
                "ray, 2 actors x 1 CPU (incl. actor start + model load)",
                f"{best_ray:.2f}",
                f"{IMAGES / best_ray:.2f}",
                f"{best_cold / best_ray:.2f}x",
                f"{best_local / best_ray:.2f}x",
            ),
        ],
        ("engine", "seconds", "images/s", "vs local call", "vs local, loaded"),
    )
    print(f"\nrounds local: {', '.join(f'{s:.2f}' for s in local_s)} s")
    print(f"rounds local incl. load: {', '.join(f'{s:.2f}' for s in cold_s)} s")
    print(f"rounds ray:   {', '.join(f'{s:.2f}' for s in ray_s)} s")
    print(f"model loads per actor (round 1): {dict(loads)}; rows per actor: {dict(rows)}")
    print(f"model load in the actors: {', '.join(f'{s:.2f}' for s in load_seconds)} s")
    print(f"max |local - ray| over all vectors: {max_diff:.2e}")

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    call = best_ray / best_cold - 1
    print(f"Ray overhead vs a local call, best rounds: {call * 100:+.0f} % (goal <= +10 %)")
    call_median = median(ray_s) / median(cold_s) - 1
    print(f"Ray overhead vs a local call, median rounds: {call_median * 100:+.0f} %")
    overhead = best_ray / best_local - 1
    print(f"Ray overhead vs the loaded model, best rounds: {overhead * 100:+.0f} %")
    loaded_median = median(ray_s) / median(local_s) - 1
    print(f"Ray overhead vs the loaded model, median rounds: {loaded_median * 100:+.0f} %")
    after = min(r - w for r, w in zip(ray_s, ready_s, strict=True)) / best_local - 1
    startups = ", ".join(f"{w:.1f}" for w in ready_s)
    print(f"Ray overhead once the first actor is ready ({startups} s left out): {after:+.0%}")
    ray.shutdown()


if __name__ == "__main__":
    main()
