"""``clipbridge serve`` with the API backend: the event loop never waits on an HTTP request."""

from __future__ import annotations

import asyncio
import threading

import httpx
import numpy as np

from clipbridge import Embedder, EmbedderConfig
from clipbridge.backends.api import ApiBackend
from clipbridge.serve import ServeSettings, serve_in_thread


def test_the_event_loop_never_sends_a_request(api_server, monkeypatch):
    # The upstream model name is unknown to the backend: its width takes one answer to learn.
    sent: list[tuple[str, bool]] = []
    post = ApiBackend._post

    def recording_post(self, *args, **kwargs):
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        sent.append((threading.current_thread().name, on_loop))
        return post(self, *args, **kwargs)

    monkeypatch.setattr(ApiBackend, "_post", recording_post)
    config = EmbedderConfig(**api_server.embedder_kwargs())
    with serve_in_thread(ServeSettings(config=config)) as url:
        probed = api_server.hits
        assert probed == 1  # learned at start-up, off the loop
        models = httpx.get(f"{url}/v1/models", timeout=30).json()
        assert models["data"][0]["dimension"] == 96
        answer = httpx.post(
            f"{url}/v1/embeddings",
            json={"model": api_server.model_name, "input": ["a bridge", "a cat"]},
            timeout=30,
        ).json()
        assert api_server.hits == probed + 1  # the two texts: one upstream request
    got = np.array([row["embedding"] for row in answer["data"]], dtype=np.float32)
    want = Embedder(**api_server.embedder_kwargs()).embed_texts(["a bridge", "a cat"])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert len(sent) == 3
    assert not any(on_loop for _, on_loop in sent[:2]), sent  # the server's own requests
