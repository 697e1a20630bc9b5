"""`EmbedderConfig`: every knob of clipbridge in one plain, serializable dataclass."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BACKEND_NAMES",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "QUERY_TASK",
    "TASKS",
    "EmbedderConfig",
    "api_model_name",
    "hub_repo_id",
]

DEFAULT_MODEL = "jinaai/jina-clip-v1"
DEFAULT_BASE_URL = "https://api.jina.ai"
DEFAULT_BATCH_SIZE = 32
DEFAULT_MAX_LENGTH = 8192
DEFAULT_MAX_BATCH_TOKENS = 16384
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_CONCURRENCY = 4
DEFAULT_API_BATCH_SIZE = 64
DEFAULT_API_MAX_REQUEST_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485  # PIL's own decompression-bomb threshold
DEFAULT_MAX_IMAGE_BYTES = 50 * 1024 * 1024
DEFAULT_IMAGE_FETCH_TIMEOUT = 30.0
DEFAULT_IMAGE_WORKERS = 2
API_KEY_ENV = "JINA_API_KEY"

BackendName = Literal["local", "onnx", "api"]
BACKEND_NAMES = ("local", "onnx", "api")
_DEVICES = ("auto", "cpu", "cuda", "mps")
_DTYPES = ("auto", "float32", "bfloat16", "float16", "int8")
_ONNX_DTYPES = ("auto", "float32", "int8")  # int8: dynamically quantized weights
_EMBEDDING_TYPES = ("float", "base64")

# Names a user may write for the same hosted model.
_ALIASES = {"jina-clip-v1": "jinaai/jina-clip-v1", "jina-clip-v2": "jinaai/jina-clip-v2"}

QUERY_TASK = "retrieval.query"
"""The ``task`` of search queries: ``Embedder.embed_texts(texts, task=QUERY_TASK)``."""
TASKS = (QUERY_TASK,)
"""Every ``task`` value :meth:`~clipbridge.Embedder.embed_texts` accepts besides None."""


def hub_repo_id(model: str) -> str:
    """The Hugging Face repo id for a model name: ``jina-clip-v1`` -> ``jinaai/jina-clip-v1``."""
    return _ALIASES.get(model, model)


def api_model_name(model: str) -> str:
    """The Jina API's name for a model: ``jinaai/jina-clip-v1`` -> ``jina-clip-v1``."""
    return model.removeprefix("jinaai/")


@dataclass(kw_only=True)
class EmbedderConfig:
    """All settings of an :class:`~clipbridge.Embedder`; adapters expose the same names.

    Example::

        cfg = EmbedderConfig(model="jina-clip-v1", backend="api", max_retries=5)
        restored = EmbedderConfig.from_dict(cfg.to_dict())   # the API key is never written
    """

    model: str = DEFAULT_MODEL
    backend: BackendName = "local"
    revision: str | None = None
    cache_dir: str | None = None
    # local and onnx backends
    device: str = "auto"
    dtype: str = "auto"  # onnx: auto (float32), float32 or int8
    batch_size: int = DEFAULT_BATCH_SIZE
    max_length: int = DEFAULT_MAX_LENGTH
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS
    normalize: bool = True
    show_progress: bool = False
    # API backend
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    api_batch_size: int = DEFAULT_API_BATCH_SIZE
    api_max_request_bytes: int = DEFAULT_API_MAX_REQUEST_BYTES
    api_image_shrink: bool = True
    send_image_urls: bool = False
    embedding_type: str = "base64"
    dimensions: int | None = None
    # images
    image_size: int | None = None
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    image_fetch_timeout: float = DEFAULT_IMAGE_FETCH_TIMEOUT
    allow_private_urls: bool = False
    image_workers: int = DEFAULT_IMAGE_WORKERS
    fast_image_decode: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError("model must be a non-empty string (a hub id or a local folder)")
        if self.backend not in BACKEND_NAMES:
            raise ValueError(f"backend must be one of {BACKEND_NAMES}, not {self.backend!r}")
        if self.device not in _DEVICES and not self.device.startswith(("cuda:", "mps:")):
            raise ValueError(f"device must be one of {_DEVICES} or 'cuda:N', not {self.device!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES}, not {self.dtype!r}")
        if self.backend == "onnx" and self.dtype not in _ONNX_DTYPES:
            raise ValueError(
                f"dtype must be one of {_ONNX_DTYPES} with backend='onnx', not {self.dtype!r}"
            )
        if self.dtype == "int8" and self.backend != "onnx":
            raise ValueError(
                "dtype 'int8' (dynamically quantized weights) needs backend='onnx', "
                f"not backend={self.backend!r}"
            )
        if self.embedding_type not in _EMBEDDING_TYPES:
            raise ValueError(
                f"embedding_type must be one of {_EMBEDDING_TYPES}, not {self.embedding_type!r}"
            )
        for name in (
            "batch_size",
            "max_length",
            "max_batch_tokens",
            "max_concurrency",
            "api_batch_size",
            "api_max_request_bytes",
            "max_image_pixels",
            "max_image_bytes",
            "image_workers",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if self.max_length < 2:
            raise ValueError("max_length must be at least 2 ([CLS] and [SEP])")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, not {self.max_retries!r}")
        for name in ("timeout", "image_fetch_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.dimensions is not None and self.dimensions < 1:
            raise ValueError("dimensions must be a positive integer or None")
        if self.image_size is not None and self.image_size < 1:
            raise ValueError("image_size must be a positive integer or None")

    def __repr__(self) -> str:
        def shown(name: str) -> str:
            return "'***'" if name == "api_key" and self.api_key else repr(getattr(self, name))

        fields = ", ".join(f"{f.name}={shown(f.name)}" for f in dataclasses.fields(self))
        return f"EmbedderConfig({fields})"

    def resolved_api_key(self) -> str | None:
        """The explicit key, else ``$JINA_API_KEY``, else None."""
        return self.api_key or os.environ.get(API_KEY_ENV) or None

    def replace(self, **changes: Any) -> EmbedderConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every field except the API key, as plain JSON-able values."""
        data = dataclasses.asdict(self)
        data.pop("api_key")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbedderConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError`` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TypeError(f"unknown EmbedderConfig fields: {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of every field, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]
