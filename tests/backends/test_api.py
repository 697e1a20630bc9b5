"""ApiBackend against a real local server that speaks the Jina wire format with real vectors."""

from __future__ import annotations

import asyncio
import email.utils
import io
import time

import numpy as np
import pytest
from api_server import TEST_API_KEY, Fault, image_sizes
from PIL import Image

from clipbridge import (
    AuthenticationError,
    BackendError,
    Embedder,
    InvalidInputError,
    RateLimitError,
)
from clipbridge import api_wire as wire

MODES = ["sync", "async"]


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    """Jittered backoff waits milliseconds here; Retry-After is still honoured for real."""
    monkeypatch.setattr(wire, "BACKOFF_BASE", 0.001)


@pytest.fixture(scope="module")
def local(tiny_model_path):
    return Embedder(tiny_model_path)


@pytest.fixture
def make(api_server):
    made = []

    def factory(**overrides):
        emb = Embedder(**api_server.embedder_kwargs(**overrides))
        made.append(emb)
        return emb

    yield factory
    for emb in made:
        emb.close()


def run(emb, mode, kind, items):
    if mode == "async":
        return asyncio.run(getattr(emb, f"aembed_{kind}")(items))
    return getattr(emb, f"embed_{kind}")(items)


TEXTS = ["a bridge at dusk", "a cat on a mat", "ein Hund im Schnee", "", "x " * 50]


# -- keys, names, dimension -------------------------------------------------------------------
def test_no_key_fails_before_any_request(api_server, monkeypatch):
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="JINA_API_KEY"):
        Embedder(**api_server.embedder_kwargs(api_key=None))
    assert api_server.requests == []


def test_base_url_must_be_http(monkeypatch):
    with pytest.raises(ValueError, match="base_url must be an http"):
        Embedder("jina-clip-v1", backend="api", api_key="k", base_url="ftp://example.org")


def test_key_from_environment_and_never_shown(api_server, monkeypatch):
    monkeypatch.setenv("JINA_API_KEY", TEST_API_KEY)
    emb = Embedder(**api_server.embedder_kwargs(api_key=None))
    assert emb.embed_texts(["hello"]).shape == (1, 96)
    for text in (repr(emb), repr(emb.backend), repr(emb.config), str(emb.config.to_dict())):
        assert TEST_API_KEY not in text
    emb.close()


@pytest.mark.parametrize("mode", MODES)
def test_rejected_key_is_not_retried_and_not_echoed(make, api_server, mode):
    emb = make(api_key="wrong-key-123456", max_retries=3)
    with pytest.raises(AuthenticationError) as info:
        run(emb, mode, "texts", ["a", "b"])
    assert info.value.status_code == 401
    assert "Invalid API key" in str(info.value) and "wrong-key-123456" not in str(info.value)
    assert info.value.failed_indices == [0, 1] and info.value.partial == {}
    assert api_server.hits == 1  # no retry


def test_hub_and_short_model_names_send_the_api_name(make, api_server):
    for name in ("jinaai/jina-clip-v1", "jina-clip-v1"):
        emb = make(model=name)
        before = api_server.hits
        assert emb.dimension == 768  # known: no request
        assert api_server.hits == before
        with pytest.raises(BackendError, match="model: unknown model") as info:
            emb.embed_texts(["hi"])
        assert info.value.status_code == 422
        assert api_server.requests[-1]["model"] == "jina-clip-v1"
    assert len(api_server.requests) == 2  # 422 is not retried


def test_dimension_known_from_config_or_learned(make, api_server):
    assert make(dimensions=64).dimension == 64
    emb = make()
    emb.embed_texts(["learn"])
    count = len(api_server.requests)
    assert emb.dimension == 96 and len(api_server.requests) == count
    probe = make()
    assert probe.dimension == 96  # unknown model, nothing sent yet: one probe request
    assert len(api_server.requests) == count + 1
    assert probe.dimension == 96 and len(api_server.requests) == count + 1
    assert probe.embed_texts([]).shape == (0, 96)


def test_dimensions_is_sent_and_checked(make, api_server, monkeypatch):
    vecs = make(dimensions=48).embed_texts(["a", "b"])
    assert vecs.shape == (2, 48) and api_server.requests[-1]["dimensions"] == 48
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)
    monkeypatch.setattr(api_server, "model_name", "jina-clip-v1")  # serves 96-d as "jina-clip-v1"
    with pytest.raises(BackendError, match=r"returned 96-d vectors.*expected 768"):
        make(model="jina-clip-v1").embed_texts(["a"])


# -- parity with the local backend ------------------------------------------------------------
@pytest.mark.parametrize("embedding_type", ["base64", "float"])
@pytest.mark.parametrize("mode", MODES)
def test_text_parity(make, api_server, local, fixture_texts, embedding_type, mode):
    emb = make(embedding_type=embedding_type, api_batch_size=3, max_concurrency=2)
    texts = [*fixture_texts, *TEXTS]
    got = run(emb, mode, "texts", texts)
    assert got.dtype == np.float32 and got.shape == (len(texts), 96)
    np.testing.assert_allclose(got, local.embed_texts(texts), atol=1e-5)
    assert all(r["embedding_type"] == embedding_type for r in api_server.requests)
    assert [len(r["input"]) for r in api_server.requests].count(3) == len(texts) // 3


def test_unnormalized_parity(make, api_server, tiny_model_path, fixture_texts):
    raw_local = Embedder(tiny_model_path, normalize=False).embed_texts(fixture_texts)
    raw_api = make(normalize=False).embed_texts(fixture_texts)
    assert api_server.requests[-1]["normalized"] is False
    np.testing.assert_allclose(raw_api, raw_local, atol=1e-5)
    assert not np.allclose(np.linalg.norm(raw_api, axis=1), 1.0)


@pytest.mark.parametrize("mode", MODES)
def test_image_parity_with_shrinking(make, api_server, local, fixture_images, mode):
    emb = make(image_size=32, api_batch_size=3)
    inputs = [
        *fixture_images,
        str(fixture_images[0]),
        fixture_images[1].read_bytes(),
        io.BytesIO(fixture_images[2].read_bytes()),
        Image.open(fixture_images[3]),
    ]
    got = run(emb, mode, "images", inputs)
    np.testing.assert_allclose(got, local.embed_images(inputs), atol=1e-5)
    sent = [size for request in api_server.requests for size in image_sizes(request)]
    assert sent == [(32, 32, "PNG")] * len(inputs)


def test_image_parity_without_shrinking_sends_original_bytes(
    make, api_server, local, fixture_images
):
    got = make(api_image_shrink=False).embed_images(fixture_images)
    np.testing.assert_allclose(got, local.embed_images(fixture_images), atol=1e-5)
    sent = image_sizes(api_server.requests[-1])
    originals = [Image.open(path) for path in fixture_images]
    assert sent == [(*img.size, img.format) for img in originals]


@pytest.mark.parametrize("send_urls", [False, True])
def test_image_urls_fetched_here_or_passed_through(
    make, api_server, local, static_server, fixture_images, send_urls
):
    urls = [f"{static_server}/images/{path.name}" for path in fixture_images]
    emb = make(image_size=32, send_image_urls=send_urls, allow_private_urls=True)
    got = emb.embed_images(urls)
    np.testing.assert_allclose(got, local.embed_images(fixture_images), atol=1e-5)
    values = [item["image"] for item in api_server.requests[-1]["input"]]
    assert (values == urls) is send_urls


def test_a_shrunk_large_image_is_one_tile_and_same_vector(make, api_server, local):
    photo = Image.effect_mandelbrot((750, 500), (-2, -1, 1, 1), 50).convert("RGB")
    emb = make(image_size=32)
    np.testing.assert_allclose(emb.embed_images([photo]), local.embed_images([photo]), atol=1e-5)
    assert image_sizes(api_server.requests[-1]) == [(32, 32, "PNG")]


# -- batching, usage, progress, bad input -----------------------------------------------------
def test_batches_by_count_and_bytes_keep_order(make, api_server, local):
    texts = [f"text {i} " + "word " * (i * 20) for i in range(9)]
    got = make(api_batch_size=4, api_max_request_bytes=1200, max_concurrency=3).embed_texts(texts)
    np.testing.assert_allclose(got, local.embed_texts(texts), atol=1e-5)
    sizes = [len(r["input"]) for r in api_server.requests]
    assert sum(sizes) == 9 and max(sizes) <= 4 and len(sizes) > 3


def test_item_above_request_budget_is_rejected_with_its_index(make, api_server):
    emb = make(api_max_request_bytes=400)
    with pytest.raises(InvalidInputError, match="above api_max_request_bytes") as info:
        emb.embed_texts(["short", "long " * 200])
    assert info.value.index == 1 and api_server.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_bad_image_names_its_index_and_keeps_earlier_windows(
    make, api_server, fixture_images, mode
):
    emb = make(image_size=32, api_batch_size=1, max_concurrency=2)  # windows of 2 images
    inputs = [fixture_images[0], fixture_images[1], b"not an image", fixture_images[2]]
    with pytest.raises(InvalidInputError, match="not a recognized image") as info:
        run(emb, mode, "images", inputs)
    assert info.value.index == 2
    assert sorted(info.value.partial) == [0, 1]


def test_usage_accumulates_server_tokens_and_progress_counts(make, api_server):
    emb = make(api_batch_size=2)
    seen = []
    emb.backend.embed_texts(["one two", "three", "four five six"], seen.append)
    assert sorted(seen) == [1, 2]
    assert emb.backend.usage.total_tokens == 8  # ceil(1.1*3) + ceil(1.1*3) from the server
    assert emb.backend.usage.requests == 2
    emb.embed_texts(["seven eight nine ten"])
    assert emb.backend.usage.total_tokens == 8 + 5


def test_estimate_tokens_follows_the_tile_rule(make):
    photo = Image.new("RGB", (750, 500), "teal")
    shrunk, full = make(), make(api_image_shrink=False)
    assert shrunk.backend.estimate_tokens([], [photo]) == 1000
    assert full.backend.estimate_tokens([], [photo]) == 12000
    assert shrunk.backend.estimate_tokens(["a bridge at dusk"], [photo, photo]) == 5 + 2000


# -- faults: each one sync and async ----------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_429_with_retry_after_is_honoured(make, api_server, local, mode):
    api_server.faults.append(Fault(status=429, headers={"Retry-After": "1"}))
    start = time.perf_counter()
    got = run(make(), mode, "texts", TEXTS[:2])
    assert time.perf_counter() - start >= 1.0
    np.testing.assert_allclose(got, local.embed_texts(TEXTS[:2]), atol=1e-5)
    assert api_server.hits == 2


def test_retry_after_as_http_date(make, api_server, local):
    when = email.utils.formatdate(time.time() + 1, usegmt=True)
    api_server.faults.append(Fault(status=503, headers={"Retry-After": when}))
    got = make().embed_texts(TEXTS[:2])
    np.testing.assert_allclose(got, local.embed_texts(TEXTS[:2]), atol=1e-5)
    assert api_server.hits == 2


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_too_long_fails_now(make, api_server, mode):
    api_server.faults.append(Fault(status=429, headers={"Retry-After": "3600"}))
    start = time.perf_counter()
    with pytest.raises(RateLimitError, match="Retry-After '3600' is above"):
        run(make(max_retries=5), mode, "texts", ["a"])
    assert time.perf_counter() - start < 5 and api_server.hits == 1


@pytest.mark.parametrize("mode", MODES)
def test_503_twice_then_success(make, api_server, local, mode):
    api_server.faults += [Fault(status=503), Fault(status=503)]
    got = run(make(max_retries=2), mode, "texts", TEXTS)
    np.testing.assert_allclose(got, local.embed_texts(TEXTS), atol=1e-5)
    assert api_server.hits == 3


@pytest.mark.parametrize("mode", MODES)
def test_read_timeout_then_success(make, api_server, local, mode):
    api_server.faults.append(Fault(delay=1.5))
    got = run(make(timeout=0.4), mode, "texts", TEXTS[:3])
    np.testing.assert_allclose(got, local.embed_texts(TEXTS[:3]), atol=1e-5)
    assert api_server.hits == 2


@pytest.mark.parametrize("mode", MODES)
def test_read_timeout_every_time_fails_with_a_clear_error(make, api_server, mode):
    api_server.faults += [Fault(delay=1.0), Fault(delay=1.0)]
    with pytest.raises(BackendError, match=r"after 2 attempt.*ReadTimeout.*timeout=0\.3s"):
        run(make(timeout=0.3, max_retries=1), mode, "texts", ["a"])


@pytest.mark.parametrize("mode", MODES)
def test_out_of_order_indices_are_placed_by_index(make, api_server, local, mode):
    api_server.faults.append(Fault(shuffle=True))
    got = run(make(), mode, "texts", TEXTS)
    np.testing.assert_allclose(got, local.embed_texts(TEXTS), atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("fault", "match"),
    [
        (Fault(raw=b'{"data": [ oops'), "not JSON"),
        (Fault(drop_last=True), "2 embeddings for 3 inputs"),
    ],
)
def test_malformed_responses_fail_without_retry(make, api_server, mode, fault, match):
    api_server.faults.append(fault)
    with pytest.raises(BackendError, match=match):
        run(make(max_retries=3), mode, "texts", TEXTS[:3])
    assert api_server.hits == 1


@pytest.mark.parametrize("mode", MODES)
def test_retries_exhausted_keeps_what_succeeded(make, api_server, local, mode):
    api_server.faults += [None, Fault(status=503), Fault(status=503), Fault(status=503)]
    emb = make(api_batch_size=2, max_concurrency=1, max_retries=2)
    with pytest.raises(BackendError, match=r"HTTP 503.*after 3 attempts.*inputs 2..3 failed") as e:
        run(emb, mode, "texts", TEXTS)
    error = e.value
    assert error.status_code == 503
    assert error.failed_indices == [2, 3, 4]
    assert sorted(error.partial) == [0, 1]
    expected = local.backend.embed_texts(TEXTS[:2])  # raw, as the backend returns them
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(np.stack([error.partial[0], error.partial[1]]), expected, atol=1e-5)
    assert api_server.hits == 4  # batch 0, then batch 1 three times; batch 2 never sent


@pytest.mark.parametrize("mode", MODES)
def test_429_exhausted_raises_rate_limit_error(make, api_server, mode):
    api_server.faults += [Fault(status=429, body={"detail": "slow down"})] * 2
    with pytest.raises(RateLimitError, match="slow down") as info:
        run(make(max_retries=1), mode, "texts", ["a"])
    assert info.value.status_code == 429 and info.value.failed_indices == [0]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("status", "body", "cls", "message"),
    [
        (400, {"error": {"message": "input too long"}}, BackendError, "input too long"),
        (402, {"detail": "Insufficient balance"}, BackendError, "Insufficient balance"),
        (403, {"detail": [{"message": "forbidden"}]}, AuthenticationError, "forbidden"),
        (502, b"<html>Bad Gateway</html>", BackendError, "<html>Bad Gateway</html>"),
    ],
)
def test_error_bodies_reach_the_user(make, api_server, mode, status, body, cls, message):
    api_server.faults.append(Fault(status=status, body=body))
    with pytest.raises(cls, match=message) as info:
        run(make(max_retries=0), mode, "texts", ["a"])
    assert type(info.value) is cls and info.value.status_code == status


@pytest.mark.parametrize("mode", MODES)
def test_connection_refused_is_retried_then_reported(mode):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    emb = Embedder("tiny", backend="api", base_url=url, api_key=TEST_API_KEY, max_retries=2)
    with pytest.raises(BackendError, match=r"after 3 attempt.*ConnectError") as info:
        run(emb, mode, "texts", ["a", "b"])
    assert info.value.failed_indices == [0, 1] and TEST_API_KEY not in str(info.value)
    emb.close()


# -- lifecycle --------------------------------------------------------------------------------
def test_async_clients_per_loop_and_close(make, api_server):
    emb = make()
    first = asyncio.run(emb.aembed_texts(["a"]))
    second = asyncio.run(emb.aembed_texts(["a"]))  # a new loop gets its own client
    np.testing.assert_array_equal(first, second)
    emb.embed_texts(["b"])
    backend = emb.backend
    assert backend._client is not None
    emb.close()
    assert backend._client is None and backend._aclients == {}

    async def inside():
        vec = await emb.aembed_texts(["c"])
        await backend.aclose()
        return vec

    assert asyncio.run(inside()).shape == (1, 96)
    assert backend._aclients == {}


def test_sync_close_inside_a_running_loop_closes_its_async_client(make):
    async def scenario():
        emb = make()
        await emb.aembed_texts(["d"])
        (client,) = emb.backend._aclients.values()
        emb.close()  # e.g. a framework calling close() from async code
        await asyncio.sleep(0.05)
        return client.is_closed, emb.backend._aclients

    assert asyncio.run(scenario()) == (True, {})
