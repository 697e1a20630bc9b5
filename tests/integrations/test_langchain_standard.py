"""The standard LangChain embeddings suites (langchain-tests), unmodified, on the tiny fixture.

The unit suite runs with sockets disabled (pytest-socket), as LangChain runs unit tests: building
and configuring ``ClipBridgeEmbeddings`` must not touch the network. pytest-socket restores
sockets after each test, so other test files keep their local HTTP servers.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests
from pytest_socket import SocketBlockedError

from clipbridge import Embedder
from langchain_clipbridge import ClipBridgeEmbeddings

TINY_MODEL = str(Path(__file__).resolve().parents[1] / "fixtures" / "tiny-jina-clip-v1")
IMAGE = Path(TINY_MODEL).parent / "images" / "rgba_40.png"


@pytest.mark.disable_socket
class TestClipBridgeEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[ClipBridgeEmbeddings]:
        return ClipBridgeEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": TINY_MODEL}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"JINA_API_KEY": "jina_test_key_from_env"},
            {"model": "jina-clip-v1", "backend": "api"},
            {"api_key": "jina_test_key_from_env", "backend": "api"},
        )


class TestClipBridgeEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[ClipBridgeEmbeddings]:
        return ClipBridgeEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": TINY_MODEL}


@pytest.mark.disable_socket
def test_local_backend_embeds_with_sockets_disabled() -> None:
    with pytest.warns(UserWarning, match="socket"), pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # the guard is really on
    model = ClipBridgeEmbeddings(model=TINY_MODEL)
    reference = Embedder(TINY_MODEL)
    np.testing.assert_array_equal(
        np.float32(model.embed_query("foo")), reference.embed_texts(["foo"])[0]
    )
    (image,) = model.embed_image(uris=[IMAGE])
    np.testing.assert_array_equal(np.float32(image), reference.embed_images([IMAGE])[0])


def test_sockets_are_back_after_a_disabled_test(static_server: str) -> None:
    model = ClipBridgeEmbeddings(model=TINY_MODEL, allow_private_urls=True)
    (image,) = model.embed_image(uris=[f"{static_server}/images/rgba_40.png"])
    # the same bytes over HTTP as from the file
    np.testing.assert_array_equal(np.float32(image), Embedder(TINY_MODEL).embed_images([IMAGE])[0])
