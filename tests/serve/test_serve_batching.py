"""Dynamic batching: concurrent requests coalesced, answers correct and in order."""

from __future__ import annotations

import asyncio
import random
import threading

import httpx
import numpy as np
from serve_helpers import IMAGES, b64

from clipbridge import Embedder
from clipbridge.errors import InvalidInputError
from clipbridge.serve.batcher import Batcher
from clipbridge.serve.metrics import BATCH_BUCKETS

IMAGE_FILES = sorted(IMAGES.iterdir())


def model_calls(batcher: Batcher, kind: str = "text") -> tuple[dict[int, int], int]:
    """({bucket: model calls}, items in them) of one kind, from the batcher's batch-size
    histogram (buckets 1, 2, 4, 8, ...: a call of 3 items counts in bucket 4)."""
    registry = batcher.metrics.registry
    calls, below = {}, 0.0
    for bound in BATCH_BUCKETS:
        labels = {"kind": kind, "le": str(float(bound))}
        upto = registry.get_sample_value("clipbridge_batch_size_bucket", labels) or 0.0
        if upto > below:
            calls[bound] = int(upto - below)
        below = upto
    items = registry.get_sample_value("clipbridge_batch_size_sum", {"kind": kind}) or 0.0
    return calls, int(items)


def _histogram(metrics: str, kind: str) -> tuple[float, float]:
    """(number of model batches, items in them) of one kind, from /metrics."""
    count = total = 0.0
    for line in metrics.splitlines():
        if line.startswith(f'clipbridge_batch_size_count{{kind="{kind}"}}'):
            count = float(line.split()[-1])
        if line.startswith(f'clipbridge_batch_size_sum{{kind="{kind}"}}'):
            total = float(line.split()[-1])
    return count, total


async def test_200_concurrent_mixed_requests_are_correct_and_in_order(make_server, local):
    rng = random.Random(7)
    texts = [f"request {i} about a {rng.choice(['cat', 'bridge', 'river'])}" for i in range(200)]
    want_texts = local.embed_texts(texts)
    want_images = local.embed_images(IMAGE_FILES)
    encoded = [b64(path) for path in IMAGE_FILES]
    requests, expected = [], []
    for i in range(200):
        items, rows = [], []
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.5:
                items.append({"text": texts[i]})
                rows.append(want_texts[i])
            else:
                j = rng.randrange(len(encoded))
                items.append({"image": encoded[j]})
                rows.append(want_images[j])
        requests.append(items)
        expected.append(np.stack(rows))

    with make_server(max_wait_ms=20, max_batch_size=32) as url:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:

            async def one(items: list[dict]) -> httpx.Response:
                return await client.post("/v1/embeddings", json={"input": items})

            responses = await asyncio.gather(*(one(items) for items in requests))
            metrics = (await client.get("/metrics")).text

    for response, want in zip(responses, expected, strict=True):
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert [d["index"] for d in data] == list(range(len(want)))
        np.testing.assert_allclose([d["embedding"] for d in data], want, atol=1e-5)
    n_items = sum(len(items) for items in requests)
    batches = sum(_histogram(metrics, kind)[0] for kind in ("text", "image"))
    items = sum(_histogram(metrics, kind)[1] for kind in ("text", "image"))
    assert items == n_items
    assert batches < n_items / 3, f"{batches} model batches for {n_items} items: no coalescing"


async def test_the_batcher_coalesces_keeps_order_and_runs_off_the_loop(tiny_model_path, local):
    emb = Embedder(tiny_model_path)
    threads: list[str] = []
    real = emb.embed_texts

    def spy(texts, **kw):  # the real model, recording the thread it runs on
        threads.append(threading.current_thread().name)
        return real(texts, **kw)

    emb.embed_texts = spy  # type: ignore[method-assign]
    batcher = Batcher(emb, max_batch_size=8, max_wait_ms=50, max_queue=100)
    await batcher.start()
    texts = [f"text number {i}" for i in range(20)]
    try:
        results = await asyncio.gather(*(batcher.submit([("text", t)]) for t in texts))
    finally:
        await batcher.stop()
    np.testing.assert_allclose(np.concatenate(results), local.embed_texts(texts), atol=1e-5)
    assert model_calls(batcher) == ({4: 1, 8: 2}, 20)
    assert set(threads) == {"clipbridge-model_0"}


async def test_a_bad_item_fails_only_its_request(tiny_model_path, local):
    """The batch with the bad item is one model batch, and every item the model embedded is
    counted (before: a second batch was counted, and the rows kept from the failed call not)."""
    emb = Embedder(tiny_model_path, batch_size=2)  # the bad item fails the second model call
    batcher = Batcher(emb, max_batch_size=8, max_wait_ms=50, max_queue=100)
    await batcher.start()
    png = IMAGE_FILES[0].read_bytes()
    try:
        good, bad, other = await asyncio.gather(
            batcher.submit([("image", png), ("image", png)]),
            batcher.submit([("image", png), ("image", b"not an image")]),
            batcher.submit([("image", png)]),
            return_exceptions=True,
        )
    finally:
        await batcher.stop()
    assert isinstance(bad, InvalidInputError) and bad.index == 1  # its own row, not the batch's
    want = local.embed_images([png])
    np.testing.assert_allclose(good, np.concatenate([want, want]), atol=1e-5)
    np.testing.assert_allclose(other, want, atol=1e-5)
    assert model_calls(batcher, "image") == ({8: 1}, 5)  # one model call of 5 items
    counted = batcher.metrics.render().decode()
    assert 'clipbridge_inputs_embedded_total{kind="image"} 4.0' in counted


async def test_max_wait_zero_still_answers_every_request(tiny_model_path, local):
    batcher = Batcher(Embedder(tiny_model_path), max_batch_size=1, max_wait_ms=0, max_queue=50)
    await batcher.start()
    texts = [f"t{i}" for i in range(10)]
    try:
        results = await asyncio.gather(*(batcher.submit([("text", t)]) for t in texts))
    finally:
        await batcher.stop()
    np.testing.assert_allclose(np.concatenate(results), local.embed_texts(texts), atol=1e-5)
    assert model_calls(batcher) == ({1: 10}, 10)


def test_reserve_refuses_beyond_max_queue(tiny_model_path):
    batcher = Batcher(Embedder(tiny_model_path), max_batch_size=4, max_wait_ms=0, max_queue=5)
    assert batcher.reserve(3) and not batcher.reserve(3) and batcher.reserve(2)
    batcher.release(5)
    assert batcher.admitted == 0


async def test_texts_of_different_tasks_never_share_a_batch(tiny_model_path, local):
    batcher = Batcher(Embedder(tiny_model_path), max_batch_size=8, max_wait_ms=50, max_queue=50)
    await batcher.start()
    try:
        results = await asyncio.gather(
            batcher.submit([("text", "a")]),
            batcher.submit([("text", "b")], task="retrieval.query"),
            batcher.submit([("text", "c")]),
        )
    finally:
        await batcher.stop()
    assert model_calls(batcher) == ({1: 1, 2: 1}, 3)
    np.testing.assert_allclose(
        np.concatenate(results), local.embed_texts(["a", "b", "c"]), atol=1e-5
    )


async def burst(emb: Embedder, ids: list[list[int]], max_batch_size: int):
    """Submit every tokenized text at once (all queue before the first batch forms) ->
    (the answers in order, each model call's token counts)."""
    calls: list[list[int]] = []
    real = emb.embed_token_ids

    def spy(batch):  # the real model, recording each model call's token counts
        calls.append([len(seq) for seq in batch])
        return real(batch)

    emb.embed_token_ids = spy  # type: ignore[method-assign]
    batcher = Batcher(emb, max_batch_size=max_batch_size, max_wait_ms=50, max_queue=100)
    await batcher.start()
    try:
        results = await asyncio.gather(*(batcher.submit([("text", seq)]) for seq in ids))
    finally:
        await batcher.stop()
    return np.concatenate(results), calls


async def test_a_burst_of_texts_is_batched_by_length_like_embed_texts(tiny_model_path, local):
    """16 tokenized texts queued at once, short and long alternating, with room for 8 a batch:
    the oldest text's batch holds the 8 of its length, so no batch pads a short text to a long
    one's length (arrival order would pad every batch to the longest); answers stay in order."""
    emb = Embedder(tiny_model_path)
    texts = ["a cat" if i % 2 == 0 else "a long text about a cat " * 6 for i in range(16)]
    ids = emb.tokenize(texts)
    short, long = len(ids[0]), len(ids[1])
    got, calls = await burst(emb, ids, max_batch_size=8)
    assert short < long
    assert calls == [[short] * 8, [long] * 8]  # the oldest (a short one) went first
    np.testing.assert_allclose(got, local.embed_texts(texts), atol=1e-5)


async def test_a_long_queue_still_serves_its_oldest_text_first(tiny_model_path, local):
    """Batching by length never starves: whatever its length, the oldest text is in the next
    batch (here one long text among many short ones)."""
    emb = Embedder(tiny_model_path)
    texts = ["a long text about a cat " * 6] + [f"cat {i}" for i in range(20)]
    ids = emb.tokenize(texts)
    got, calls = await burst(emb, ids, max_batch_size=4)
    assert len(ids[0]) in calls[0]
    assert sum(len(call) for call in calls) == 21
    np.testing.assert_allclose(got, local.embed_texts(texts), atol=1e-5)
