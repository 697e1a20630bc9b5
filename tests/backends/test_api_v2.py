"""ApiBackend with jina-clip-v2: ``task`` and ``dimensions`` go over the wire; v1 gets no task."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from api_server import JinaApiServer, image_sizes

from clipbridge import Embedder

V2 = str(Path(__file__).parents[1] / "fixtures" / "tiny-jina-clip-v2")
TEXTS = ["Ein Hund im Schnee.", "a bridge at dusk"]


@pytest.fixture(scope="module")
def v2_server():
    # Answers as "jina-clip-v2" with the tiny v2 checkpoint (64-d, 56 px).
    with JinaApiServer(V2, model_name="jina-clip-v2") as server:
        yield server


def test_query_task_is_sent_and_matches_local(v2_server):
    local = Embedder(V2)
    with Embedder(**v2_server.embedder_kwargs(dimensions=32)) as api:
        got = api.embed_texts(TEXTS, task="retrieval.query")
        assert v2_server.requests[-1]["task"] == "retrieval.query"
        assert v2_server.requests[-1]["dimensions"] == 32
        docs = asyncio.run(api.aembed_texts(TEXTS))
        assert "task" not in v2_server.requests[-1]
    want = Embedder(V2, dimensions=32).embed_texts(TEXTS, task="retrieval.query")
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(docs, Embedder(V2, dimensions=32).embed_texts(TEXTS), atol=1e-6)
    differ = local.embed_texts(TEXTS, task="retrieval.query") - local.embed_texts(TEXTS)
    assert np.abs(differ).max() > 1e-2


async def test_async_query_task_is_sent(v2_server):
    with Embedder(**v2_server.embedder_kwargs(dimensions=64)) as api:
        await api.aembed_texts(TEXTS, task="retrieval.query")
        assert v2_server.requests[-1]["task"] == "retrieval.query"


def test_v1_gets_no_task(tiny_model_path, monkeypatch):
    from clipbridge.backends import api as api_module

    # The tiny checkpoint answers as "jina-clip-v1" with its own width (v1 takes no dimensions=).
    monkeypatch.setitem(api_module.KNOWN_DIMENSIONS, "jina-clip-v1", 96)
    with (
        JinaApiServer(tiny_model_path, model_name="jina-clip-v1") as server,
        Embedder(**server.embedder_kwargs()) as api,
    ):
        api.embed_texts(TEXTS, task="retrieval.query")
        assert "task" not in server.requests[-1]


def test_known_widths_and_image_sizes():
    kwargs = {"backend": "api", "api_key": "k", "base_url": "http://127.0.0.1:9"}
    assert Embedder("jina-clip-v2", **kwargs).dimension == 1024
    assert Embedder("jinaai/jina-clip-v2", dimensions=256, **kwargs).dimension == 256
    assert Embedder("jina-clip-v2", **kwargs).backend.image_size == 512
    assert Embedder("jina-clip-v1", **kwargs).backend.image_size == 224
    with pytest.raises(
        ValueError, match="dimensions=1025 is above 'jina-clip-v2''s output width 1024"
    ):
        Embedder("jina-clip-v2", dimensions=1025, **kwargs)
    with pytest.raises(
        ValueError, match="dimensions=769 is above 'jina-clip-v1''s output width 768"
    ):
        Embedder("jina-clip-v1", dimensions=769, **kwargs)


@pytest.mark.parametrize("model", ["jina-clip-v1", "jinaai/jina-clip-v1"])
def test_v1_takes_no_shorter_dimensions_as_the_local_backend_and_the_server(model):
    # One rule everywhere: jina-clip-v1 was never trained to be cut (no matryoshka_dimensions).
    kwargs = {"backend": "api", "api_key": "k", "base_url": "http://127.0.0.1:9"}
    with pytest.raises(
        ValueError,
        match=r"^dimensions=64: 'jina-clip-v1' returns 768-d vectors and was not trained for "
        r"shorter ones \(it has no matryoshka_dimensions\); leave dimensions unset$",
    ):
        Embedder(model, dimensions=64, **kwargs)
    assert Embedder(model, dimensions=768, **kwargs).dimension == 768  # its full width: a no-op


def test_v2_uploads_are_shrunk_to_512(v2_server, tmp_path):
    from PIL import Image

    path = tmp_path / "big.png"
    Image.new("RGB", (1200, 800), (200, 40, 40)).save(path)
    with Embedder(**v2_server.embedder_kwargs(dimensions=64)) as api:
        assert api.backend.image_size == 512
        assert api.embed_images([path]).shape == (1, 64)
        assert image_sizes(v2_server.requests[-1]) == [(512, 512, "PNG")]
