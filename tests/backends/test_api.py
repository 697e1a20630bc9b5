"""ApiBackend against a real local server that speaks the Jina wire format with real vectors."""

from __future__ import annotations

import asyncio
import email.utils
import io
import logging
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


def test_a_broken_install_is_not_told_to_install_an_extra_that_does_not_exist(monkeypatch):
    import builtins
    import sys

    real_import = builtins.__import__

    def no_httpx(name, *args, **kwargs):
        if name == "httpx":
            raise ModuleNotFoundError("No module named 'httpx'", name="httpx")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "clipbridge.backends.api", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_httpx)
    with pytest.raises(ImportError) as info:
        Embedder("jina-clip-v1", backend="api", api_key="k")
    message = str(info.value)
    assert "httpx" in message and "reinstall clipbridge" in message
    assert "clipbridge[" not in message  # pyproject has no 'api' extra


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
    with pytest.raises(BackendError, match=r"not known before its first answer.*probe_dimension"):
        _ = probe.dimension  # unknown model, nothing sent yet: a property never sends
    assert len(api_server.requests) == count
    assert probe.probe_dimension() == 96  # the explicit way: one one-word request
    assert len(api_server.requests) == count + 1
    assert probe.dimension == 96 and probe.probe_dimension() == 96
    assert len(api_server.requests) == count + 1
    assert make().embed_texts([]).shape == (0, 96)  # an empty call learns it (one request)
    assert len(api_server.requests) == count + 2


def test_repr_sends_no_request(make, api_server):
    emb = make()  # a model the backend does not know: its width needs an answer
    for text in (repr(emb), repr(emb.backend), str(emb)):
        assert "tiny-jina-clip-v1" in text
    assert "dimension=None" in repr(emb)
    assert api_server.hits == 0
    emb.embed_texts(["a"])
    assert "dimension=96" in repr(emb) and api_server.hits == 1


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


# -- hardening (issue 11) ---------------------------------------------------------------------
def _texts(n: int) -> list[str]:
    return [f"text number {i}" for i in range(n)]


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_batch_with_others_queued_is_a_backend_error_every_time(make, api_server, mode):
    # One request per input, two in flight: when the first answers 400, the queued ones are
    # cancelled. That must never surface as a raw CancelledError.
    emb = make(api_batch_size=1, max_concurrency=2, max_retries=0)
    for _ in range(15):
        api_server.reset()
        api_server.faults.append(Fault(status=400, body={"detail": "bad input"}))
        with pytest.raises(BackendError, match="bad input") as info:
            run(emb, mode, "texts", _texts(40))
        error = info.value
        assert type(error) is BackendError and error.status_code == 400
        assert len(error.failed_indices) >= 1 and not set(error.partial) & set(error.failed_indices)
        assert sorted([*error.partial, *error.failed_indices]) == list(range(40))
        # the failed one, the one beside it, and those that finished while the failed answer
        # waited for its thread (a busy machine: 1-2 more); never the 40 queued
        assert api_server.hits <= 5


def test_a_failed_first_request_of_a_big_default_batching_call(make, api_server):
    api_server.vectors = "hash"  # fast pseudo-vectors: 64,000 texts
    try:
        api_server.faults.append(Fault(status=400, body={"detail": "bad input"}))
        with pytest.raises(BackendError, match="bad input") as info:
            make(max_retries=0).embed_texts(_texts(64_000))
    finally:
        api_server.vectors = "model"
    error = info.value
    # Sending stops at the failure: what landed is the requests in flight (4 of 64) plus those
    # that finished while the failed answer waited for the event loop (a busy machine: 1-2 more).
    assert len(error.failed_indices) >= 64_000 - 8 * 64
    assert sorted([*error.partial, *error.failed_indices]) == list(range(64_000))
    assert "error.partial" not in str(info.value)
    assert "inputs were embedded before the failure" in str(info.value)


class _Vectors:
    """A server answering with the given vector values (float lists or base64)."""

    def __init__(self, rows, embedding_type, usage=None):
        self.rows, self.embedding_type = rows, embedding_type
        self.usage = usage if usage is not None else {"total_tokens": 3, "prompt_tokens": 3}

    def __call__(self, handler, server):
        import base64
        import json

        data = []
        for i, row in enumerate(self.rows):
            value = np.asarray(row, dtype="<f4")
            embedding = (
                base64.b64encode(value.tobytes()).decode()
                if self.embedding_type == "base64"
                else [float(x) for x in value]
            )
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        body = json.dumps({"data": data, "usage": self.usage}).encode()  # NaN -> bare NaN
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


def _api(server, **kwargs):
    kwargs = {"max_retries": 0, **kwargs}
    return Embedder("tiny", backend="api", base_url=server.url, api_key=TEST_API_KEY, **kwargs)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("embedding_type", ["float", "base64"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_or_inf_vectors_are_rejected_naming_the_inputs(mode, embedding_type, bad):
    from fault_server import FaultServer

    rows = [[0.5, 0.5], [0.5, bad], [1.0, 0.0], [bad, bad]]
    with FaultServer(_Vectors(rows, embedding_type)) as server:
        emb = _api(server, embedding_type=embedding_type)
        with pytest.raises(BackendError, match=r"NaN or infinite values for inputs 1, 3") as info:
            run(emb, mode, "texts", ["a", "b", "c", "d"])
        emb.close()
    assert info.value.failed_indices == [0, 1, 2, 3]


def test_nan_indices_count_from_the_whole_call(make):
    from fault_server import FaultServer

    with FaultServer(_Vectors([[0.5, 0.5], [0.5, float("nan")]], "float")) as server:
        emb = _api(server, embedding_type="float", api_batch_size=2, max_concurrency=1)
        with pytest.raises(BackendError, match=r"for inputs 1\b"):
            emb.embed_texts(["a", "b"])
        emb.close()


@pytest.mark.parametrize(
    "usage",
    [{"total_tokens": "many"}, {"total_tokens": [1]}, {"total_tokens": 1.5}, {"total_tokens": -3}],
)
def test_a_non_numeric_usage_count_is_ignored_and_logged(usage, caplog):
    from fault_server import FaultServer

    with FaultServer(_Vectors([[0.6, 0.8]], "float", usage=usage)) as server:
        emb = _api(server, embedding_type="float")
        with caplog.at_level(logging.WARNING, logger="clipbridge"):
            vec = emb.embed_texts(["a"])
        emb.close()
    np.testing.assert_allclose(vec, [[0.6, 0.8]], atol=1e-6)
    assert emb.backend.usage.total_tokens == 0 and emb.backend.usage.requests == 1
    assert any("usage.total_tokens" in r.getMessage() for r in caplog.records)


# -- keys: cleaned, never shown ---------------------------------------------------------------
def _all_text(exc: BaseException) -> str:
    """Everything an exception chain can show: messages, reprs, args and string attributes."""
    parts, seen, stack = [], set(), [exc]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        parts += [str(node), repr(node), *map(repr, node.args)]
        parts += [repr(v) for v in vars(node).values() if isinstance(v, (str, bytes))]
        stack += [node.__cause__, node.__context__]
    return "\n".join(parts)


def _key_forms(key: str) -> list[str]:
    import base64
    import urllib.parse

    header = f"Bearer {key}"
    forms = [key, repr(key), urllib.parse.quote(key), urllib.parse.quote(header)]
    for text in (key, header, f"Authorization: {header}", f"x{header}", f"xy{header}"):
        raw = text.encode()
        forms += [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    return forms


def _assert_no_key(text: str, key: str) -> None:
    import base64

    assert key not in text
    assert key[:12] not in text and key[-12:] not in text  # nor cut in half
    assert key.encode().hex() not in text
    for form in _key_forms(key):
        assert form not in text, form
    for shift in range(3):  # the key inside any base64 blob
        encoded = base64.b64encode(b"\0" * shift + key.encode()).decode()
        assert encoded[4 if shift else 0 : ((shift + len(key)) // 3) * 4] not in text


SECRET = "sk-0123456789abcdefSECRET"


@pytest.mark.parametrize("key", [SECRET + "\n", f"  {SECRET}\r\n", f"\t{SECRET} "])
def test_surrounding_whitespace_is_stripped(api_server, key, monkeypatch):
    monkeypatch.setattr(api_server, "api_key", SECRET)
    emb = Embedder(**api_server.embedder_kwargs(api_key=key))
    assert emb.embed_texts(["hello"]).shape == (1, 96)
    monkeypatch.setenv("JINA_API_KEY", key)
    emb2 = Embedder(**api_server.embedder_kwargs(api_key=None))
    assert emb2.embed_texts(["hello"]).shape == (1, 96)
    emb.close(), emb2.close()


@pytest.mark.parametrize(
    "key",
    [f"sk-0123\n{SECRET}", f"{SECRET}\x00x", f"{SECRET} two", f"{SECRET}é", "sk\x7f" + SECRET],
)
def test_a_key_with_inner_whitespace_or_control_characters_fails_before_any_request(
    api_server, key, caplog
):
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as info:
        Embedder(**api_server.embedder_kwargs(api_key=key)).embed_texts(["a"])
    assert "API key contains" in str(info.value)
    assert "whitespace" in str(info.value) or "control" in str(info.value)
    assert api_server.hits == 0
    _assert_no_key(_all_text(info.value) + caplog.text, SECRET)


def _echo(kind: str):
    """A server that quotes the request's Authorization header back, in several encodings."""
    import base64
    import urllib.parse

    def respond(handler, server):
        auth = handler.headers.get("Authorization", "")
        echoed = "; ".join(
            [
                f"you sent {auth}",
                "b64 " + base64.b64encode(f"Authorization: {auth}".encode()).decode(),
                "url " + urllib.parse.quote(auth),
                f"your headers: {dict(handler.headers)!r}",
            ]
        ).encode()
        status = {"non-json-200": 200, "error-400": 400, "error-401": 401, "error-503": 503}[kind]
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(echoed)))
        handler.end_headers()
        handler.wfile.write(echoed)

    return respond


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["non-json-200", "error-400", "error-401", "error-503"])
def test_a_server_echoing_the_key_never_gets_it_shown(mode, kind, caplog):
    from fault_server import FaultServer

    with FaultServer(_echo(kind)) as server:
        emb = Embedder("tiny", backend="api", base_url=server.url, api_key=SECRET, max_retries=1)
        with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as info:
            run(emb, mode, "texts", ["a"])
        emb.close()
    assert "you sent Bearer ***" in str(info.value)  # the body is quoted, key blanked out
    _assert_no_key(_all_text(info.value) + caplog.text, SECRET)


# -- time and size bounds ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("headers_too", [False, True])
def test_timeout_is_a_deadline_for_the_whole_response(mode, headers_too):
    from fault_server import FaultServer, drip

    body = b'{"data": [{"index": 0, "embedding": [0.6, 0.8]}]}'  # 50 bytes: 5 s at 0.1 s each
    with FaultServer(drip(body, every=0.1, headers_too=headers_too, ctype="x/json")) as server:
        emb = _api(server, timeout=0.5, embedding_type="float")
        start = time.monotonic()
        with pytest.raises(BackendError, match=r"ReadTimeout.*within 0.5s.*timeout=0.5s"):
            run(emb, mode, "texts", ["a"])
        elapsed = time.monotonic() - start
        emb.close()
    assert elapsed < 1.0


@pytest.mark.parametrize("mode", MODES)
def test_retries_each_get_a_fresh_deadline(mode):
    from fault_server import FaultServer, drip

    with FaultServer(drip(b"x" * 100, every=0.1)) as server:
        emb = _api(server, timeout=0.3).backend
        emb.config.max_retries = 2
        start = time.monotonic()
        with pytest.raises(BackendError, match="after 3 attempt"):
            run(emb, mode, "texts", ["a"])
        assert 0.9 <= time.monotonic() - start < 2.0 and len(server.requests) == 3
        emb.close()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunked", [True, False])
def test_an_oversized_response_is_cut_off_at_the_cap(mode, chunked):
    from fault_server import FaultServer, endless, send

    # 64 MB of junk where two 2-d vectors were asked for: the cap is ~65 KB + 2 entries.
    respond = (
        endless(b" " * 65536, total=64 * 2**20)
        if chunked
        else send(200, b" " * (64 * 2**20), {"Content-Type": "application/json"})
    )
    with FaultServer(respond) as server:
        emb = _api(server, dimensions=2, max_retries=3)
        start = time.monotonic()
        with pytest.raises(BackendError, match=r"response (is more than|declares) .* bytes") as e:
            run(emb, mode, "texts", ["a", "b"])
        assert time.monotonic() - start < 2.0 and len(server.requests) == 1  # not retried
        emb.close()
    cap = wire.response_byte_cap(2, 2, "base64")
    assert f"above the {cap} bytes" in str(e.value)


def test_response_cap_follows_the_expected_answer():
    assert wire.response_byte_cap(64, 768, "base64") < 1_000_000
    assert wire.response_byte_cap(64, 768, "float") < 3_000_000
    # Unknown width: a generous bound, still far below a runaway body.
    assert 1_000_000 < wire.response_byte_cap(64, None, "float") < 40_000_000
    # A real 64 x 768 float answer, pretty-printed, fits.
    import json

    vecs = np.random.default_rng(0).standard_normal((64, 768)).astype(np.float32)
    data = [
        {"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vecs)
    ]
    body = json.dumps({"model": "m", "data": data, "usage": {"total_tokens": 1}}, indent=2)
    assert len(body) < wire.response_byte_cap(64, 768, "float")


# -- lifecycle and logs -----------------------------------------------------------------------
@pytest.mark.filterwarnings("error::ResourceWarning")
def test_async_clients_are_closed_when_their_loop_ends(make):
    import gc
    import warnings

    emb = make()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            asyncio.run(emb.aembed_texts(["a"]))  # each run: a new loop, a new client
        clients = list(emb.backend._aclients.values())
        emb.close()
        gc.collect()
    assert clients and all(c.is_closed for c in clients)
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_retries_are_logged_at_info_not_printed(make, api_server, caplog, capsys):
    api_server.faults.append(Fault(status=503))
    with caplog.at_level(logging.INFO, logger="clipbridge"):
        make(max_retries=1).embed_texts(["a"])
    (record,) = [r for r in caplog.records if "retry" in r.getMessage()]
    assert record.levelno == logging.INFO and record.name == "clipbridge"
    assert record.getMessage().startswith("embeddings request HTTP 503; retry 1 in ")
    assert capsys.readouterr() == ("", "")
