"""clipbridge: jina-clip-v1 text and image embeddings, local or via the Jina API.

Example::

    from clipbridge import Embedder

    emb = Embedder("jinaai/jina-clip-v1")
    vectors = emb.embed_texts(["a bridge at dusk"])
"""

from .config import DEFAULT_BASE_URL, DEFAULT_MODEL, EmbedderConfig
from .embedder import Embedder
from .errors import (
    AuthenticationError,
    BackendError,
    ClipBridgeError,
    InvalidInputError,
    ModelLoadError,
    RateLimitError,
)
from .images import ImageInput
from .results import EmbedResult

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "AuthenticationError",
    "BackendError",
    "ClipBridgeError",
    "EmbedResult",
    "Embedder",
    "EmbedderConfig",
    "ImageInput",
    "InvalidInputError",
    "ModelLoadError",
    "RateLimitError",
    "__version__",
]
