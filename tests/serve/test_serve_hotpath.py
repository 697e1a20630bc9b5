"""The server's hot path: each item decoded or tokenized once; decoded pixels bounded."""

from __future__ import annotations

import asyncio
import threading

import httpx
import numpy as np
import pytest
from PIL import Image
from serve_helpers import IMAGES, b64, vectors

from clipbridge.backends.local import LocalBackend
from clipbridge.serve.batcher import PixelBudget

IMAGE_FILES = sorted(IMAGES.iterdir())


class _Calls:
    """Counts calls of a patched function and the threads they ran on."""

    def __init__(self) -> None:
        self.count = 0
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def wrap(self, func, weight=lambda *a, **k: 1):
        def spy(*args, **kwargs):
            with self.lock:
                self.count += weight(*args, **kwargs)
                self.threads.add(threading.current_thread().name)
            return func(*args, **kwargs)

        return spy


async def test_each_image_is_decoded_once_and_each_text_tokenized_once(
    make_server, local, monkeypatch
):
    decodes, tokens = _Calls(), _Calls()
    monkeypatch.setattr(Image, "open", decodes.wrap(Image.open))  # every decode opens once
    monkeypatch.setattr(
        LocalBackend, "tokenize", tokens.wrap(LocalBackend.tokenize, lambda _, t, **k: len(t))
    )
    texts = [f"a text number {i} about rivers" for i in range(12)]
    encoded = [b64(path) for path in IMAGE_FILES]
    with make_server(max_wait_ms=20) as url:
        decodes.count = tokens.count = 0  # start-up work is not the requests'
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            answers = await asyncio.gather(
                *(client.post("/v1/embeddings", json={"input": [t]}) for t in texts),
                *(client.post("/v1/embeddings", json={"input": [{"image": e}]}) for e in encoded),
            )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert decodes.count == len(encoded)  # was 2 per image: checked, then decoded again
    assert tokens.count == len(texts)  # was 2 per text: counted, then tokenized again
    assert not any(name.startswith("clipbridge-model") for name in decodes.threads | tokens.threads)
    got = np.concatenate([vectors(a) for a in answers])
    want = np.concatenate([local.embed_texts(texts), local.embed_images(IMAGE_FILES)])
    np.testing.assert_allclose(got, want, atol=1e-5)
    usage = [a.json()["usage"]["total_tokens"] for a in answers[: len(texts)]]
    assert usage == local.count_tokens(texts)


def test_a_query_task_bills_the_text_and_embeds_with_the_instruction(make_server, tmp_path):
    from serve_helpers import FIXTURES, post

    from clipbridge import Embedder

    v2 = str(FIXTURES / "tiny-jina-clip-v2")
    want = Embedder(v2, normalize=True)
    texts = ["where is the bridge", "a red boat"]
    with make_server(model=v2) as url:
        answer = post(url, {"input": texts, "task": "retrieval.query"})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(
        vectors(answer), want.embed_texts(texts, task="retrieval.query"), atol=1e-5
    )
    assert answer.json()["usage"]["total_tokens"] == sum(want.count_tokens(texts))


def test_a_request_with_more_images_than_the_pixel_budget_still_runs(make_server, local):
    # max_batch_size 1, one decode worker: a budget of 2 x 1 + 1 = 3 decoded images
    files = [IMAGE_FILES[i % len(IMAGE_FILES)] for i in range(7)]
    with make_server(max_batch_size=1, max_wait_ms=0, decode_workers=1) as url:
        from serve_helpers import post

        answer = post(url, {"input": [{"image": b64(path)} for path in files]})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(vectors(answer), local.embed_images(files), atol=1e-5)


async def test_the_pixel_budget_is_first_come_first_served_and_bounded():
    budget = PixelBudget(4)
    assert await budget.acquire(3) == 3 and budget.free == 1
    order: list[str] = []

    async def take(name: str, n: int) -> int:
        got = await budget.acquire(n)
        order.append(name)
        return got

    big = asyncio.ensure_future(take("big", 9))  # clamped to the whole budget
    await asyncio.sleep(0)
    small = asyncio.ensure_future(take("small", 1))  # fits now, but waits behind "big"
    await asyncio.sleep(0)
    assert order == [] and budget.free == 1
    budget.release(3)
    assert await big == 4 and order == ["big"] and budget.free == 0
    budget.release(4)
    assert await small == 1 and order == ["big", "small"] and budget.free == 3


async def test_a_cancelled_wait_gives_its_place_in_line_back():
    budget = PixelBudget(2)
    await budget.acquire(2)
    waiting = asyncio.ensure_future(budget.acquire(2))
    behind = asyncio.ensure_future(budget.acquire(1))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    budget.release(1)
    assert await behind == 1 and budget.free == 0
    budget.release(2)
    assert budget.free == 2
