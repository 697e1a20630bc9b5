"""API backend concurrency: 2,000 texts, ``max_concurrency`` 1 vs 8, against a local server.

The server is the test suite's Jina-API-speaking server (``tests/api_server.py``) with 100 ms
added to every request, standing in for the network round trip to api.jina.ai. With the default
``--vectors hash`` it answers with deterministic pseudo-vectors so the numbers measure the
client (batching, concurrency, parsing), not the server's CPU; ``--vectors model`` runs the tiny
fixture model for every request instead (then the 2 shared cores bound the speed-up).

Usage::

    python benchmarks/api_concurrency.py                 # sync and async, best of 2 rounds
    python benchmarks/api_concurrency.py --vectors model
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import _common as c  # noqa: E402
from api_server import JinaApiServer  # noqa: E402

from clipbridge import Embedder  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "tiny-jina-clip-v1"
N_TEXTS = 2000
LATENCY = 0.100


def measure(server: JinaApiServer, concurrency: int, mode: str, items: list[str]) -> float:
    emb = Embedder(**server.embedder_kwargs(max_concurrency=concurrency))
    try:
        start = time.perf_counter()
        if mode == "async":
            vectors = asyncio.run(emb.aembed_texts(items))
        else:
            vectors = emb.embed_texts(items)
        elapsed = time.perf_counter() - start
        assert vectors.shape == (len(items), 96)
        return elapsed
    finally:
        emb.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", choices=["hash", "model"], default="hash")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--texts", type=int, default=N_TEXTS)
    args = parser.parse_args()
    items = c.sample_texts(args.texts, min_words=3, spread=9)
    with JinaApiServer(str(FIXTURE), vectors=args.vectors) as server:
        server.latency = LATENCY
        measure(server, 8, "sync", items[:64])  # warm up (model load, connections)
        best: dict[tuple[str, int], float] = {}
        for _ in range(args.rounds):  # interleaved rounds, best kept: robust on a busy machine
            for mode in ("sync", "async"):
                for concurrency in (1, 8):
                    seconds = measure(server, concurrency, mode, items)
                    key = (mode, concurrency)
                    best[key] = min(best.get(key, float("inf")), seconds)
        requests = -(-len(items) // 64)
    print(
        f"{len(items)} texts in {requests} requests of <= 64, +{LATENCY * 1000:.0f} ms per "
        f"request, server vectors: {args.vectors}, best of {args.rounds}"
    )
    for mode in ("sync", "async"):
        one, eight = best[(mode, 1)], best[(mode, 8)]
        print(
            f"{mode:>5}: max_concurrency=1 {one:6.2f} s   max_concurrency=8 {eight:6.2f} s   "
            f"speed-up {one / eight:4.1f}x"
        )


if __name__ == "__main__":
    main()
