"""Canaries: the private internals of Pillow and httpx that clipbridge relies on are still there.

pyproject.toml caps these packages below the next release that could drop them; when a cap is
raised, these tests say at once (and in words) what moved.
"""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator

import httpcore
import httpx
import PIL
import pytest
from PIL import Image

from clipbridge import fetch
from clipbridge.errors import InvalidInputError
from clipbridge.images import ImageLimits, decode_image


def test_pillow_still_calls_the_decompression_bomb_check_we_wrap():
    check = getattr(Image, "_decompression_bomb_check", None)
    assert check is not None, (
        f"Pillow {PIL.__version__} has no Image._decompression_bomb_check: clipbridge.images "
        "wraps it to enforce max_image_pixels per call; adapt the hook before raising the "
        "pillow cap in pyproject.toml"
    )
    assert getattr(check, "_clipbridge_hook", False), "clipbridge.images did not install its hook"
    # Pillow must still call it while opening: a limit below the image's pixels refuses it.
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buffer, "PNG")
    with pytest.raises(InvalidInputError, match="max_image_pixels=1000"):
        decode_image(buffer.getvalue(), 0, ImageLimits(max_pixels=1000))
    assert decode_image(buffer.getvalue(), 0, ImageLimits(max_pixels=1200)).size == (40, 30)


@pytest.fixture
def local_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_httpx_still_sends_through_the_pool_our_transport_sets(local_server):
    # clipbridge.fetch builds httpx.HTTPTransport's private ``_pool`` itself (httpx offers no way
    # to pass a network backend); the pin below works only if httpx still sends through it.
    plain = httpx.HTTPTransport()
    assert isinstance(getattr(plain, "_pool", None), httpcore.ConnectionPool), (
        f"httpx {httpx.__version__} no longer keeps its connection pool in "
        "HTTPTransport._pool: clipbridge.fetch's deadline_transport must be adapted before "
        "raising the httpx cap in pyproject.toml"
    )
    plain.close()
    transport = fetch.deadline_transport(pins={"pinned.invalid": "127.0.0.1"})
    with httpx.Client(transport=transport, trust_env=False) as client:
        try:
            response = client.get(f"http://pinned.invalid:{local_server}/")
        except Exception as exc:  # an AttributeError as much as a connect error
            pytest.fail(
                f"httpx {httpx.__version__} / httpcore {httpcore.__version__} did not connect "
                f"through clipbridge's pinned network backend ({type(exc).__name__}: {exc})"
            )
    assert response.content == b"ok"
