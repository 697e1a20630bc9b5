"""Shared fixtures: the tiny jina-clip-v1 checkpoint, its expected outputs, a static HTTP server."""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

# dtype="auto" picks bfloat16 on CPUs with native bf16; the suite compares default Embedders with
# the reference's float32 outputs at 1e-5, so it pins "auto" to float32 on every CPU (child
# processes inherit it). tests/core/test_cpu_dtype.py unsets it to test the real choice.
os.environ["CLIPBRIDGE_CPU_DTYPE"] = "float32"

pytest_plugins = ["conftest_api"]  # the Jina-API test server fixture (tests/conftest_api.py)

FIXTURES = Path(__file__).parent / "fixtures"
TINY_MODEL = FIXTURES / "tiny-jina-clip-v1"
EXPECTED = FIXTURES / "tiny-jina-clip-v1-expected.npz"
IMAGES = FIXTURES / "images"


@pytest.fixture(scope="session")
def tiny_model_path() -> str:
    return str(TINY_MODEL)


@pytest.fixture(scope="session")
def expected() -> dict[str, np.ndarray]:
    with np.load(EXPECTED) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def fixture_texts(expected) -> list[str]:
    return json.loads(str(expected["texts_json"]))


@pytest.fixture(scope="session")
def fixture_images(expected) -> list[Path]:
    return [IMAGES / name for name in json.loads(str(expected["images_json"]))]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def static_server() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` serving ``tests/fixtures`` (images under ``/images/``)."""
    handler = functools.partial(_QuietHandler, directory=str(FIXTURES))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
