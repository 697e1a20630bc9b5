"""POST /v1/embeddings and the other endpoints: Jina shapes, vectors equal the local backend's."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest
from serve_helpers import FIXTURES, JPG, PNG, b64, post, vectors

from clipbridge.images import ImageLimits, decode_image
from clipbridge.pricing import image_tokens

TEXTS = ["a photo of a cat", "a bridge at dusk over the river", ""]


def test_texts_and_images_in_one_request_match_the_local_backend(server, local):
    body = {
        "model": "tiny-jina-clip-v1",
        "input": [
            TEXTS[0],
            {"text": TEXTS[1]},
            {"image": b64(PNG)},
            {"image": "data:image/jpeg;base64," + b64(JPG)},
            {"bytes": b64(PNG)},
        ],
    }
    r = post(server, body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["model"] == "tiny-jina-clip-v1" and got["object"] == "list"
    assert all(d["object"] == "embedding" for d in got["data"])
    want = np.concatenate([local.embed_texts(TEXTS[:2]), local.embed_images([PNG, JPG, PNG])])
    np.testing.assert_allclose(vectors(r), want, atol=1e-5)


def test_usage_counts_tokenizer_tokens_and_image_tiles(server, local):
    r = post(server, {"input": [TEXTS[1], {"image": b64(JPG)}]})
    tokens = local.count_tokens([TEXTS[1]])[0]
    assert tokens == len(local.backend.tokenize([TEXTS[1]])[0]) > 2
    width, height = decode_image(JPG.read_bytes(), 0, ImageLimits()).size
    expected = tokens + image_tokens(width, height)
    assert r.json()["usage"] == {"total_tokens": expected, "prompt_tokens": expected}
    # a photo bigger than a tile is billed per tile, as Jina bills it
    assert image_tokens(750, 500) == 12000


def test_one_string_input_openai_style(server, local):
    r = post(server, {"model": "tiny-jina-clip-v1", "input": TEXTS[0]})
    np.testing.assert_allclose(vectors(r), local.embed_texts(TEXTS[:1]), atol=1e-5)


def test_base64_output_is_little_endian_float32(server, local):
    for key in ("embedding_type", "encoding_format", "encoding_type"):
        r = post(server, {"input": TEXTS[:2], key: "base64"})
        rows = [np.frombuffer(base64.b64decode(d["embedding"]), "<f4") for d in r.json()["data"]]
        np.testing.assert_allclose(np.stack(rows), local.embed_texts(TEXTS[:2]), atol=1e-5)


def test_normalized_false_returns_raw_vectors(server, tiny_model_path):
    from clipbridge import Embedder

    raw = Embedder(tiny_model_path, normalize=False).embed_texts(TEXTS[:2])
    r = post(server, {"input": TEXTS[:2], "normalized": False})
    got = vectors(r)
    np.testing.assert_allclose(got, raw, atol=1e-5)
    assert not np.allclose(np.linalg.norm(got, axis=1), 1.0)


def test_the_hub_id_and_the_folder_are_accepted_names(server, tiny_model_path):
    assert post(server, {"model": tiny_model_path, "input": ["x"]}).status_code == 200


def test_another_model_is_refused_naming_the_served_one(server):
    r = post(server, {"model": "jina-clip-v2", "input": ["x"]})
    assert r.status_code == 400
    assert "jina-clip-v2" in r.json()["detail"] and "tiny-jina-clip-v1" in r.json()["detail"]


def test_served_model_name_is_answered(make_server, local):
    with make_server(served_model_name="jina-clip-v1") as url:
        r = post(url, {"model": "jina-clip-v1", "input": ["x"]})
        assert r.status_code == 200 and r.json()["model"] == "jina-clip-v1"
        models = httpx.get(f"{url}/v1/models").json()
        assert models["data"][0]["id"] == "jina-clip-v1"
        assert models["data"][0]["dimension"] == local.dimension


def test_dimensions_other_than_the_width_are_422_for_jina_clip_v1(server, local):
    # jina-clip-v1 was not trained for shorter prefixes: the server says so instead of answering
    ok = post(server, {"input": TEXTS[:2], "dimensions": local.dimension})
    np.testing.assert_allclose(vectors(ok), local.embed_texts(TEXTS[:2]), atol=1e-5)
    assert local.matryoshka_dimensions == ()
    for bad in (32, local.dimension + 1, 0):
        r = post(server, {"input": ["x"], "dimensions": bad})
        assert r.status_code == 422
        assert r.json()["detail"][0]["field"] == "dimensions"
        assert str(local.dimension) in r.json()["detail"][0]["message"]


def test_dimensions_are_the_first_k_matryoshka_dimensions_for_jina_clip_v2(make_server):
    from clipbridge import Embedder

    v2 = str(FIXTURES / "tiny-jina-clip-v2")
    full = Embedder(v2)
    assert full.matryoshka_dimensions == (16, 32, 64)  # from the checkpoint's config.json
    with make_server(model=v2) as url:
        short = post(url, {"input": TEXTS[:2], "dimensions": 32})
        too_wide = post(url, {"input": ["x"], "dimensions": full.dimension + 1})
    want = Embedder(v2, dimensions=32).embed_texts(TEXTS[:2])  # the core's rule
    assert vectors(short).shape == (2, 32)
    np.testing.assert_allclose(vectors(short), want, atol=1e-5)
    assert too_wide.status_code == 422


def test_task_is_ignored_by_jina_clip_v1(server, local):
    for task in ("retrieval.query", "retrieval.passage", "text-matching"):
        r = post(server, {"input": TEXTS[:1], "task": task})
        np.testing.assert_allclose(vectors(r), local.embed_texts(TEXTS[:1]), atol=1e-5)


def test_task_adds_the_query_instruction_for_jina_clip_v2(make_server):
    from clipbridge import Embedder

    v2 = str(FIXTURES / "tiny-jina-clip-v2")
    emb = Embedder(v2)
    queries = emb.embed_texts(TEXTS[:2], task="retrieval.query")
    documents = emb.embed_texts(TEXTS[:2])
    assert not np.allclose(queries, documents, atol=1e-3)
    with make_server(model=v2) as url:
        q = post(url, {"input": TEXTS[:2], "task": "retrieval.query"})
        d = post(url, {"input": TEXTS[:2], "task": "retrieval.passage"})
        m = post(url, {"input": TEXTS[:2], "task": "retrieval.query", "dimensions": 16})
    np.testing.assert_allclose(vectors(q), queries, atol=1e-5)
    np.testing.assert_allclose(vectors(d), documents, atol=1e-5)
    short = Embedder(v2, dimensions=16).embed_texts(TEXTS[:2], task="retrieval.query")
    np.testing.assert_allclose(vectors(m), short, atol=1e-5)


def test_unsupported_embedding_type_is_422(server):
    for kind in ("int8", "uint8", "float16"):
        r = post(server, {"input": ["x"], "embedding_type": kind})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "embedding_type"
        message = r.json()["detail"][0]["message"]
        assert "use one of float, base64, binary, ubinary" in message
        assert ("clipbridge index --precision" in message) == (kind != "float16")


@pytest.mark.parametrize("kind", ["binary", "ubinary"])
def test_binary_and_ubinary_are_jinas_packed_sign_bits(server, local, kind):
    """As the hosted API answers: ceil(dim / 8) ints per vector; ubinary = packbits(v > 0),
    binary = that - 128; under each of the three names of the field."""
    from clipbridge import Embedder

    floats = local.embed_texts(TEXTS)
    want = np.packbits(floats > 0, axis=1).astype(int) - (128 if kind == "binary" else 0)
    assert want.shape == (3, 12)  # 96-d: 12 bytes
    for key in ("embedding_type", "encoding_format", "encoding_type"):
        r = post(server, {"input": TEXTS, key: kind})
        assert r.status_code == 200, r.text
        rows = [d["embedding"] for d in r.json()["data"]]
        assert all(type(x) is int for row in rows for x in row)
        assert rows == want.tolist()
    # the same bytes as an Embedder at that precision
    same = Embedder(config=local.config.replace(precision=kind)).embed_texts(TEXTS)
    assert same.tolist() == want.tolist()


def test_binary_with_dimensions_and_raw_vectors(make_server, tiny_model_path):
    from clipbridge import Embedder

    v2 = str(FIXTURES / "tiny-jina-clip-v2")
    queries = Embedder(v2, dimensions=20).embed_texts(TEXTS[:2], task="retrieval.query")
    with make_server(model=v2) as url:
        r = post(
            url,
            {
                "input": TEXTS[:2],
                "embedding_type": "ubinary",
                "dimensions": 20,
                "task": "retrieval.query",
                "normalized": False,  # signs do not depend on the length
            },
        )
    assert r.status_code == 200, r.text
    rows = [d["embedding"] for d in r.json()["data"]]
    assert rows == np.packbits(queries > 0, axis=1).tolist() and len(rows[0]) == 3


def test_health_models_docs_and_metrics(server):
    assert httpx.get(f"{server}/health").json()["status"] == "ok"
    assert httpx.get(f"{server}/docs").status_code == 200
    schema = httpx.get(f"{server}/openapi.json").json()
    assert "/v1/embeddings" in schema["paths"]
    post(server, {"input": ["metrics"]})
    post(server, {"input": []})
    text = httpx.get(f"{server}/metrics").text
    for name in (
        'clipbridge_requests_total{status="200"}',
        'clipbridge_requests_total{status="422"}',
        'clipbridge_inputs_embedded_total{kind="text"}',
        'clipbridge_batch_size_bucket{kind="text",le="1.0"}',
        "clipbridge_queue_depth 0.0",
        "clipbridge_request_seconds_count",
    ):
        assert name in text, name


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "tiny-jina-clip-v1"}, "input"),
        ({"input": ["x"], "normalized": "yes"}, "normalized"),
        ({"input": 5}, "input"),
        ({"input": []}, "input"),
    ],
)
def test_schema_errors_are_422_in_the_jina_shape(server, body, field):
    r = post(server, body)
    assert r.status_code == 422
    assert any(d["field"].startswith(field) and d["message"] for d in r.json()["detail"])


def test_a_precision_in_the_server_config_does_not_change_answers(make_server, local):
    """The server quantizes per request (embedding_type); its model always returns floats."""
    with make_server({"precision": "int8"}) as url:
        floats = post(url, {"input": TEXTS[:2]})
        bits = post(url, {"input": TEXTS[:2], "embedding_type": "ubinary"})
    np.testing.assert_allclose(vectors(floats), local.embed_texts(TEXTS[:2]), atol=1e-5)
    want = np.packbits(local.embed_texts(TEXTS[:2]) > 0, axis=1).tolist()
    assert [d["embedding"] for d in bits.json()["data"]] == want
