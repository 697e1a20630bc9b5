"""Hostile input, faults and misuse: error bodies tell no server facts, slow image hosts and
departed clients cost other clients nothing, and any body that is not JSON is a 422."""

from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import tempfile
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from serve_helpers import KEY, PNG, b64, post

pytestmark = pytest.mark.timeout(180)


def _metric(url: str, name: str) -> float:
    lines = httpx.get(f"{url}/metrics").text.splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(name))


def _wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


# -- error bodies name no server-side facts ------------------------------------------------------
def test_no_error_body_shows_a_server_path_or_a_traceback(make_server, tiny_model_path):
    folder = os.path.dirname(os.path.abspath(tiny_model_path))
    secrets = (tiny_model_path, folder, tempfile.gettempdir(), os.getcwd(), "Traceback", ".py")
    auth = {"Authorization": f"Bearer {KEY}"}
    with make_server(api_keys=(KEY,), max_inputs=2, max_request_bytes=4000) as url:

        def raw(content: bytes) -> httpx.Response:
            headers = {**auth, "content-type": "application/json"}
            return httpx.post(f"{url}/v1/embeddings", content=content, headers=headers)

        answers = [
            post(url, {"model": "other-model", "input": ["x"]}, headers=auth),  # 400
            post(url, {"input": [{"image": str(PNG)}]}, headers=auth),  # 400, a path item
            post(url, {"input": [{"image": "####"}]}, headers=auth),  # 400
            raw(json.dumps({"input": ["a\ud800"]}).encode()),  # 400
            post(url, {"input": ["x"]}),  # 401
            post(url, {"input": ["x"] * 3}, headers=auth),  # 413 (items)
            post(url, {"input": ["x" * 5000]}, headers=auth),  # 413 (bytes)
            raw(b'{"input": ['),  # 422
            raw(b"\xff\xfe\x00"),  # 422
            post(url, {"input": ["x"], "dimensions": 10_000}, headers=auth),  # 422
            post(url, {"input": ["x"], "embedding_type": "int8"}, headers=auth),  # 422
            post(url, {"input": []}, headers=auth),  # 422
        ]
        statuses = sorted({a.status_code for a in answers})
        assert statuses == [400, 401, 413, 422], [(a.status_code, a.text) for a in answers]
        for answer in answers:
            for secret in secrets:
                assert secret not in answer.text, (secret, answer.text)
        unknown = answers[0].json()["detail"]
        assert unknown == (
            "model 'other-model' is not served here; this server serves 'tiny-jina-clip-v1'"
        )
        models = httpx.get(f"{url}/v1/models", headers=auth).json()["data"][0]
        assert models["id"] == "tiny-jina-clip-v1" and models["aliases"] == []
        # the folder as given is still accepted (clipbridge's API backend sends it)
        assert post(url, {"model": tiny_model_path, "input": ["x"]}, headers=auth).is_success


def test_a_hub_id_is_named_in_the_error(make_server, tiny_model_path):
    from clipbridge.serve import ServeSettings
    from clipbridge.serve.settings import EmbedderConfig

    hub = ServeSettings(config=EmbedderConfig(model="jinaai/jina-clip-v1"))
    assert hub.public_model_names == ("jina-clip-v1", "jinaai/jina-clip-v1")
    local = ServeSettings(config=EmbedderConfig(model=tiny_model_path))
    assert local.public_model_names == ("tiny-jina-clip-v1",)
    assert tiny_model_path in local.accepted_model_names


# -- lone surrogates --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "item",
    ["ok\ud800", {"text": "\udfff end"}, {"image": "http://x/\ud800.png"}, {"bytes": "\ud800"}],
)
def test_a_lone_surrogate_is_400_naming_the_item(server, item):
    body = json.dumps({"input": ["fine", item]})  # json escapes it as "\ud800"
    assert "\\ud" in body
    r = httpx.post(
        f"{server}/v1/embeddings", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert detail.startswith("input[1]: ") and "lone surrogate" in detail, detail


# -- bodies that are not JSON ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"input": ["caf\xe9"]}', "not UTF-8"),  # Latin-1, not UTF-8
        (b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"input": ["x"], "dimensions": ' + b"9" * 5000 + b"}", "too many digits"),
        (b'{"input": ["a",', "malformed JSON at character"),
        (b"", "malformed JSON at character 0"),
    ],
)
def test_every_body_that_is_not_json_is_422_in_the_jina_shape(make_server, content, why):
    with make_server(max_request_bytes=1_000_000) as url:
        r = httpx.post(
            f"{url}/v1/embeddings", content=content, headers={"content-type": "application/json"}
        )
        assert r.status_code == 422, r.text
        (error,) = r.json()["detail"]
        assert error["field"] == "body" and why in error["message"], error
        assert post(url, {"input": ["still fine"]}).status_code == 200


# -- slow image hosts -------------------------------------------------------------------------
class _Drip(socketserver.ThreadingTCPServer):
    """Answers every request with headers for a 100 kB PNG, then one byte every 0.5 s."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _DripHandler)
        self.stopping = threading.Event()
        self.started = 0


class _DripHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: _Drip = self.server  # type: ignore[assignment]
        server.started += 1
        self.request.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n"
        try:
            self.request.sendall(head)
            while not server.stopping.wait(0.5):
                self.request.sendall(b"\x89")
        except OSError:
            pass


@pytest.fixture
def drip() -> Iterator[_Drip]:
    server = _Drip()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def test_slow_image_hosts_do_not_delay_texts(make_server, drip):
    # Two requests whose image host drips (each holds a fetch until its 4 s deadline), then a
    # text-only request from another client: it must answer in its normal time. The decode
    # threads (image_workers=2) are as many as the slow fetches.
    slow_url = f"http://127.0.0.1:{drip.server_address[1]}/slow.png"
    config = {"image_fetch_timeout": 4.0, "image_workers": 2}
    with make_server(config, allow_image_urls=True, allow_private_urls=True) as url:
        post(url, {"input": ["warm-up"]})
        slow: list[httpx.Response] = []
        threads = [
            threading.Thread(target=lambda: slow.append(post(url, {"input": [{"url": slow_url}]})))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        _wait_for(lambda: drip.started == 2)
        start = time.perf_counter()
        text = post(url, {"input": ["a text while hosts drip"]})
        took = time.perf_counter() - start
        decoded = post(url, {"input": [{"image": b64(PNG)}]})
        took_image = time.perf_counter() - start - took
        for thread in threads:
            thread.join(30)
    print(f"text latency while two hosts drip: {took:.3f} s; base64 image: {took_image:.3f} s")
    assert text.status_code == 200 and decoded.status_code == 200
    assert took < 1.0 and took_image < 1.0, (took, took_image)
    assert [r.status_code for r in slow] == [400, 400]
    assert all("image_fetch_timeout" in r.json()["detail"] for r in slow), slow[0].text


# -- clients that leave ---------------------------------------------------------------------
def test_a_departed_clients_items_are_dropped_and_free_the_queue(make_server):
    # The batch waits 3 s for company; a client sends 4 items (the whole queue) and hangs up.
    with make_server(max_queue=4, max_inputs=4, max_wait_ms=3000, max_batch_size=64) as url:
        embedded = _metric(url, "clipbridge_inputs_embedded_total")
        port = int(url.rsplit(":", 1)[1])
        body = json.dumps({"input": ["a", "b", "c", "d"]}).encode()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            _wait_for(lambda: "clipbridge_queue_depth 4.0" in httpx.get(f"{url}/metrics").text)
        # the client is gone: its places come back at once, and a new request is admitted
        _wait_for(lambda: "clipbridge_queue_depth 0.0" in httpx.get(f"{url}/metrics").text, 2.0)
        r = post(url, {"input": ["e"]})
        assert r.status_code == 200, r.text
        # the departed items never reached the model; only "e" did
        assert _metric(url, "clipbridge_inputs_embedded_total") == embedded + 1
        metrics = httpx.get(f"{url}/metrics").text
        assert re.search(r'clipbridge_requests_total\{status="499"\} 1\.0', metrics)
