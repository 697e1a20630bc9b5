"""Untrusted input, limits and auth: each case its own test, against a real server."""

from __future__ import annotations

import json
import logging

import httpx
import numpy as np
import pytest
from serve_helpers import FIXTURES, KEY, PNG, b64, post, vectors

from clipbridge import fetch
from clipbridge.serve import ServeSettings
from clipbridge.serve.security import ApiKeys, bind_warning
from clipbridge.serve.settings import keys_from_env


# -- strings are never paths ------------------------------------------------------------------
def test_an_existing_image_path_is_not_read(server):
    # The file exists and is a valid image: reading it as a path would succeed.
    for value in (str(PNG.resolve()), "/etc/passwd", f"file://{PNG.resolve()}"):
        r = post(server, {"input": [{"image": value}]})
        assert r.status_code == 400, value
        assert r.json()["detail"].startswith("input[0]:")


def test_a_plain_string_is_text_even_when_it_names_a_file(server, local):
    r = post(server, {"input": [str(PNG.resolve())]})
    np.testing.assert_allclose(vectors(r), local.embed_texts([str(PNG.resolve())]), atol=1e-5)


# -- image URLs ----------------------------------------------------------------------------------
def test_image_urls_are_refused_by_default(server, image_host):
    r = post(server, {"input": ["ok", {"url": f"{image_host.url}/images/rgb_square_64.png"}]})
    assert r.status_code == 400 and "input[1]" in r.json()["detail"]
    assert "--allow-image-urls" in r.json()["detail"]
    assert image_host.hits == []


def test_private_hosts_are_refused_when_urls_are_allowed(make_server, image_host):
    with make_server(allow_image_urls=True) as url:
        for target in (
            f"{image_host.url}/images/rgb_square_64.png",
            f"http://localhost:{image_host.server_address[1]}/images/rgb_square_64.png",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/x.png",
            "http://10.0.0.1/x.png",
        ):
            r = post(url, {"input": [{"image": target}]})
            assert r.status_code == 400, target
            assert "--allow-private-urls" in r.json()["detail"], r.text
    assert image_host.hits == []


def test_only_http_urls_are_fetched(make_server):
    with make_server(allow_image_urls=True, allow_private_urls=True) as url:
        for target in ("ftp://127.0.0.1/x.png", "gopher://127.0.0.1/x"):
            r = post(url, {"input": [{"url": target}]})
            assert r.status_code == 400, target


def test_a_redirect_to_a_private_host_is_refused(make_server, image_host, monkeypatch):
    # No public host is reachable from the tests, so the guard is made to take 127.0.0.1 (the
    # image host) for a public address; every other loopback address stays private. The first
    # hop passes the check, the redirect to 127.0.0.2 must not.
    real = fetch.address_block_reason
    monkeypatch.setattr(
        fetch, "address_block_reason", lambda a: None if a == "127.0.0.1" else real(a)
    )
    target = f"http://127.0.0.2:{image_host.server_address[1]}/images/rgb_square_64.png"
    with make_server(allow_image_urls=True) as url:
        r = post(url, {"input": [{"url": f"{image_host.url}/redirect?to={target}"}]})
    assert r.status_code == 400 and "127.0.0.2" in r.json()["detail"], r.text
    assert "--allow-private-urls" in r.json()["detail"]
    assert image_host.hits == [f"/redirect?to={target}"]  # the image itself was never fetched


def test_urls_to_a_local_image_server_work_with_allow_private(make_server, image_host, local):
    src = f"{image_host.url}/images/rgb_square_64.png"
    with make_server(allow_image_urls=True, allow_private_urls=True) as url:
        r = post(url, {"input": [{"url": src}, {"image": src}]})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(vectors(r), local.embed_images([PNG, PNG]), atol=1e-5)


def test_url_fetch_is_bounded_in_bytes(make_server, image_host):
    with make_server(
        {"max_image_bytes": 100}, allow_image_urls=True, allow_private_urls=True
    ) as url:
        r = post(url, {"input": [{"url": f"{image_host.url}/images/rgb_square_64.png"}]})
    assert r.status_code == 400 and "max_image_bytes" in r.json()["detail"]


# -- limits ---------------------------------------------------------------------------------------
def test_a_body_over_max_request_bytes_is_413(make_server):
    with make_server(max_request_bytes=2000) as url:
        r = post(url, {"input": ["x" * 3000]})
        assert r.status_code == 413 and "max_request_bytes" in r.json()["detail"]

        def chunks():  # no Content-Length: the bytes received are counted
            yield b'{"input": ["'
            for _ in range(10):
                yield b"y" * 500
            yield b'"]}'

        r = httpx.post(
            f"{url}/v1/embeddings", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413
        assert post(url, {"input": ["small"]}).status_code == 200


def test_more_than_max_inputs_is_413(make_server):
    with make_server(max_inputs=3) as url:
        r = post(url, {"input": ["a", "b", "c", "d"]})
        assert r.status_code == 413 and "max_inputs=3" in r.json()["detail"]


def test_image_pixels_over_the_limit_is_400(make_server):
    with make_server({"max_image_pixels": 1000}) as url:  # the PNG is 64x64 = 4096 pixels
        r = post(url, {"input": ["fine", {"image": b64(PNG)}]})
    assert r.status_code == 400 and "input[1]" in r.json()["detail"]
    assert "max_image_pixels" in r.json()["detail"]


# -- malformed requests and bad items --------------------------------------------------------
def test_malformed_json_is_422_in_the_jina_shape(server):
    r = httpx.post(
        f"{server}/v1/embeddings",
        content=b'{"input": ["a",',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["field"] == "body" and "malformed JSON" in error["message"]


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ({"image": "not base64 !!"}, "base64"),
        ({"image": b64(FIXTURES / "README.md")}, "not a recognized image format"),
        ({"image": "data:image/png;base64,"}, "empty"),
        ({"image": 42}, "must be a string"),
        ({"text": "a", "image": "b"}, "exactly one"),
        ({"video": "x"}, "exactly one"),
        (7, "not int"),
    ],
)
def test_a_bad_item_is_400_naming_its_index(server, item, why):
    r = post(server, {"input": ["fine", {"text": "fine"}, item]})
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert detail.startswith("input[2]: ") and why in detail, detail


def test_a_failed_request_computes_nothing(server):
    def embedded() -> float:
        lines = httpx.get(f"{server}/metrics").text.splitlines()
        return sum(
            float(line.split()[-1])
            for line in lines
            if line.startswith("clipbridge_inputs_embedded_total")
        )

    before = embedded()
    r = post(server, {"input": ["one", {"image": b64(PNG)}, {"image": "####"}]})
    assert r.status_code == 400
    assert embedded() == before


# -- auth ---------------------------------------------------------------------------------------
def test_keys_are_required_when_configured(make_server):
    with make_server(api_keys=(KEY, "second-key")) as url:
        assert post(url, {"input": ["x"]}).status_code == 401
        bad = post(url, {"input": ["x"]}, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{url}/v1/models").status_code == 401
        for key in (KEY, "second-key"):
            ok = post(url, {"input": ["x"]}, headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200
        assert httpx.get(f"{url}/health").status_code == 200  # probes need no key


def test_keys_are_never_logged_or_shown(make_server, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    settings = ServeSettings(api_keys=(KEY,))
    assert KEY not in repr(settings) and KEY not in repr(ApiKeys((KEY,)))
    with make_server(api_keys=(KEY,)) as url:
        post(url, {"input": ["x"]}, headers={"Authorization": f"Bearer {KEY}"})
        post(url, {"input": ["x"]}, headers={"Authorization": f"Bearer {KEY}x"})
    out, err = capfd.readouterr()
    assert KEY not in caplog.text + out + err


def test_key_comparison():
    keys = ApiKeys(("abc",))
    assert keys.accepts("Bearer abc") and keys.accepts("bearer abc")
    assert not keys.accepts("Bearer abcd") and not keys.accepts("abc") and not keys.accepts(None)
    assert ApiKeys(()).accepts(None)
    assert keys_from_env({"CLIPBRIDGE_SERVE_API_KEYS": " k1, ,k2 "}) == ("k1", "k2")


def test_binding_beyond_loopback_without_a_key_warns():
    assert bind_warning("127.0.0.1", False) is None and bind_warning("localhost", False) is None
    assert bind_warning("::1", False) is None
    assert "--api-key" in bind_warning("0.0.0.0", False)
    assert bind_warning("0.0.0.0", True) is None


def test_queue_full_is_429_with_retry_after(make_server):
    # The first request holds all 4 queue places while the batcher waits 3 s to fill a batch.
    import threading

    with make_server(max_queue=4, max_inputs=4, max_wait_ms=3000, max_batch_size=64) as url:
        first: list[httpx.Response] = []
        thread = threading.Thread(target=lambda: first.append(post(url, {"input": list("abcd")})))
        thread.start()
        import time

        deadline = time.monotonic() + 10
        while "clipbridge_queue_depth 4.0" not in httpx.get(f"{url}/metrics").text:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        r = post(url, {"input": ["e"]})
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert "queue is full" in r.json()["detail"]
        thread.join()
        assert first[0].status_code == 200 and len(first[0].json()["data"]) == 4
        assert post(url, {"input": ["e"]}).status_code == 200


def test_errors_never_500_for_client_mistakes(server):
    bodies = [b"", b"[]", b"null", b'{"input": {"text": 1}}', json.dumps({"input": [[]]}).encode()]
    for content in bodies:
        r = httpx.post(
            f"{server}/v1/embeddings", content=content, headers={"content-type": "application/json"}
        )
        assert 400 <= r.status_code < 500, (content, r.status_code, r.text)
