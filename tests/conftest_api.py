"""Pytest fixtures for the local Jina-API-speaking server (``tests/api_server.py``).

Registered for the whole suite with ``pytest_plugins = ["conftest_api"]`` in ``tests/conftest.py``.

- ``api_server``: a :class:`JinaApiServer` computing real vectors with the tiny fixture model;
  faults, latency and the request log are reset after each test. Use
  ``Embedder(**api_server.embedder_kwargs())`` to get an API-backed Embedder pointed at it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_server import JinaApiServer


@pytest.fixture(scope="session")
def api_server_session(tiny_model_path: str) -> Iterator[JinaApiServer]:
    with JinaApiServer(tiny_model_path) as server:
        yield server


@pytest.fixture
def api_server(api_server_session: JinaApiServer) -> Iterator[JinaApiServer]:
    api_server_session.reset()
    yield api_server_session
    api_server_session.reset()
