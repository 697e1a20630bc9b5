"""Helpers shared by the serve tests (fixtures are in this folder's conftest.py)."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
IMAGES = FIXTURES / "images"
PNG = IMAGES / "rgb_square_64.png"
JPG = IMAGES / "rgb_wide_96x48.jpg"
KEY = "serve-test-key-5f3a9c"


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def post(url: str, body: dict, **kw) -> httpx.Response:
    return httpx.post(f"{url}/v1/embeddings", json=body, timeout=60, **kw)


def vectors(response: httpx.Response) -> np.ndarray:
    """The response's rows as float32, after checking they come in index order."""
    data = response.json()["data"]
    assert [d["index"] for d in data] == list(range(len(data)))
    return np.array([d["embedding"] for d in data], dtype=np.float32)
