"""Pure logic of the API backend: wire format, retries, batch plans, token estimates."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from clipbridge import api_wire as wire
from clipbridge.errors import AuthenticationError, BackendError, RateLimitError
from clipbridge.pricing import estimate_tokens, image_tiles, image_tokens, text_tokens


# -- requests ---------------------------------------------------------------------------------
def test_request_body_fields_and_inputs():
    items = [wire.text_item("a bridge, at dusk"), wire.image_item("aGVsbG8=")]
    body = json.loads(
        wire.build_request_body("jina-clip-v1", items, embedding_type="float", normalized=False)
    )
    assert body == {
        "model": "jina-clip-v1",
        "embedding_type": "float",
        "normalized": False,
        "input": [{"text": "a bridge, at dusk"}, {"image": "aGVsbG8="}],
    }
    with_dims = json.loads(wire.build_request_body("m", items, dimensions=64))
    assert with_dims["dimensions"] == 64
    assert with_dims["embedding_type"] == "base64" and with_dims["normalized"] is True


def test_text_item_keeps_unicode_and_escapes_quotes():
    item = wire.text_item('Brücke "über" 橋')
    assert json.loads(item) == {"text": 'Brücke "über" 橋'}
    body = wire.build_request_body("m", [item])
    assert json.loads(body)["input"][0]["text"] == 'Brücke "über" 橋'


def test_plan_by_count_keeps_order():
    plan = wire.plan_request_batches([5] * 7, max_items=3, max_bytes=10_000)
    assert plan == [range(0, 3), range(3, 6), range(6, 7)]
    assert wire.plan_request_batches([], max_items=3, max_bytes=10_000) == []


def test_plan_by_bytes_reserves_the_envelope():
    budget = 1000
    room = budget - wire.REQUEST_OVERHEAD_BYTES  # 744 bytes for items and separators
    sizes = [300, 300, 300, 100, 700]
    plan = wire.plan_request_batches(sizes, max_items=64, max_bytes=budget)
    assert plan == [range(0, 2), range(2, 4), range(4, 5)]
    for batch in plan:
        assert sum(sizes[i] + 2 for i in batch) <= room


def test_plan_puts_an_oversized_item_alone():
    plan = wire.plan_request_batches([10, 5000, 10], max_items=64, max_bytes=1000)
    assert plan == [range(0, 1), range(1, 2), range(2, 3)]
    assert wire.item_budget(1000) == 1000 - wire.REQUEST_OVERHEAD_BYTES - 2


# -- responses --------------------------------------------------------------------------------
def _response(vectors, order=None, encoding="float", usage=7):
    order = list(range(len(vectors))) if order is None else order
    data = []
    for i in order:
        v = np.asarray(vectors[i], dtype="<f4")
        emb = base64.b64encode(v.tobytes()).decode() if encoding == "base64" else v.tolist()
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return json.dumps(
        {"object": "list", "usage": {"total_tokens": usage, "prompt_tokens": usage}, "data": data}
    ).encode()


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_parse_decodes_both_encodings_exactly(encoding):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3, 8)).astype(np.float32)
    parsed = wire.parse_embeddings(_response(vectors, encoding=encoding), expected=3)
    assert parsed.vectors.dtype == np.float32
    np.testing.assert_array_equal(parsed.vectors, vectors)
    assert parsed.total_tokens == 7 and parsed.prompt_tokens == 7


def test_parse_places_rows_by_index_not_arrival():
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    parsed = wire.parse_embeddings(_response(vectors, order=[2, 0, 3, 1]), expected=4)
    np.testing.assert_array_equal(parsed.vectors, vectors)


def test_base64_is_little_endian_float32():
    raw = np.array([1.5, -2.0], dtype="<f4").tobytes()
    body = json.dumps({"data": [{"index": 0, "embedding": base64.b64encode(raw).decode()}]})
    assert wire.parse_embeddings(body, expected=1).vectors.tolist() == [[1.5, -2.0]]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b'{"object": "list"}', "no 'data'"),
        (_response(np.ones((2, 3))), "2 embeddings for 3 inputs"),
        (
            b'{"data": [{"embedding": [1.0]}, {"index": 1, "embedding": [1.0]}, '
            b'{"index": 2, "embedding": [1.0]}]}',
            "missing or out-of-range index",
        ),
        (_response(np.ones((3, 2)), order=[0, 1, 1]), "index 1 twice"),
        (
            b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0]},'
            b' {"index": 3, "embedding": [1.0]}]}',
            "out-of-range index: 3",
        ),
        (
            b'{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0, 2.0]},'
            b' {"index": 2, "embedding": [1.0]}]}',
            "differing lengths",
        ),
        (
            b'{"data": [{"index": 0, "embedding": "!!!"}, {"index": 1, "embedding": [1.0]},'
            b' {"index": 2, "embedding": [1.0]}]}',
            "not valid base64",
        ),
        (
            b'{"data": [{"index": 0, "embedding": "AAA="}, {"index": 1, "embedding": [1.0]},'
            b' {"index": 2, "embedding": [1.0]}]}',
            "not a float32 array",
        ),
        (
            b'{"data": [{"index": 0, "embedding": [1, 0, 1, 1]}, {"index": 1, "embedding": 3},'
            b' {"index": 2, "embedding": [1.0]}]}',
            "expected a list of floats",
        ),
    ],
)
def test_parse_rejects_bad_responses(body, match):
    with pytest.raises(BackendError, match=match):
        wire.parse_embeddings(body, expected=3)


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"detail": "Invalid API key"}', "Invalid API key"),
        (b'{"detail": [{"message": "unknown model", "field": "model"}]}', "model: unknown model"),
        (
            b'{"detail": [{"msg": "too long", "loc": ["body", "input", 0]}, {"message": "x"}]}',
            "input.0: too long; x",
        ),
        (b'{"error": {"message": "balance exhausted", "code": 402}}', "balance exhausted"),
        (
            b"<html><body>502 Bad   Gateway</body></html>",
            "<html><body>502 Bad Gateway</body></html>",
        ),
        (b"", "(empty body)"),
        ("x" * 400, "x" * 300 + "..."),
    ],
)
def test_error_message_from_every_body_shape(body, message):
    assert wire.error_message(body) == message


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BackendError),
        (401, AuthenticationError),
        (402, BackendError),
        (403, AuthenticationError),
        (422, BackendError),
        (429, RateLimitError),
        (503, BackendError),
    ],
)
def test_error_for_status(status, cls):
    error = wire.error_for_status(status, "server says no")
    assert type(error) is cls
    assert error.status_code == status
    assert "server says no" in str(error) and f"HTTP {status}" in str(error)


# -- retries ----------------------------------------------------------------------------------
def test_retry_after_seconds_and_http_date():
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert wire.parse_retry_after("1") == 1.0
    assert wire.parse_retry_after(" 2.5 ") == 2.5
    assert wire.parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now) == 30.0
    assert wire.parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now) == 0.0  # in the past
    assert wire.parse_retry_after("-3") == 0.0
    for bad in (None, "", "soon", "nan"):
        assert wire.parse_retry_after(bad) is None


def test_backoff_is_exponential_with_full_jitter_and_capped():
    assert wire.backoff_delay(0, base=0.5, rand=lambda: 1.0) == 0.5
    assert wire.backoff_delay(3, base=0.5, rand=lambda: 1.0) == 4.0
    assert wire.backoff_delay(3, base=0.5, rand=lambda: 0.25) == 1.0
    assert wire.backoff_delay(20, base=0.5, cap=30.0, rand=lambda: 1.0) == 30.0
    delays = [wire.backoff_delay(2, base=1.0) for _ in range(200)]
    assert min(delays) >= 0.0 and max(delays) < 4.0 and len(set(delays)) > 100


def test_retry_after_wins_over_backoff_and_too_long_gives_up():
    assert wire.retry_delay(5, "1", rand=lambda: 1.0) == 1.0
    assert wire.retry_delay(1, None, base=0.5, rand=lambda: 1.0) == 1.0
    assert wire.retry_delay(0, str(wire.MAX_RETRY_AFTER + 1)) is None


# -- pricing ----------------------------------------------------------------------------------
def test_the_seeds_worked_example():
    assert image_tiles(750, 500) == 12
    assert image_tokens(750, 500) == 12_000
    assert estimate_tokens([], [(750, 500)]) == 12_000
    assert estimate_tokens([], [Image.new("RGB", (750, 500))]) == 12_000


def test_tiles_at_the_edges():
    assert image_tokens(224, 224) == 1000
    assert image_tokens(225, 224) == 2000
    assert image_tokens(1, 1) == 1000
    assert image_tiles(4000, 3000) == 18 * 14  # a 12-MP photo: 252 tiles
    with pytest.raises(ValueError):
        image_tiles(0, 10)


def test_text_tokens_about_1_1_per_word():
    assert text_tokens([]) == 0
    assert text_tokens(["one two three four five six seven eight nine ten"]) == 11
    assert text_tokens(["a bridge", "at dusk"]) == 5  # 4 words * 1.1 = 4.4 -> 5
    assert estimate_tokens(["a b c d e f g h i j"], [(224, 224), (100, 500)]) == 11 + 1000 + 3000
