"""`EmbedderConfig`: every knob of clipbridge in one plain, serializable dataclass."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from .precision import check_precision

__all__ = [
    "BACKEND_NAMES",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "QUERY_TASK",
    "TASKS",
    "EmbedderConfig",
    "api_model_name",
    "check_task",
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

# The fields by kind, for EmbedderConfig.__post_init__.
_STRS = ("model", "backend", "device", "dtype", "base_url", "embedding_type", "precision")
_OPTIONAL_STRS = ("revision", "cache_dir", "api_key")
_FLAGS = (
    "normalize",
    "show_progress",
    "api_image_shrink",
    "send_image_urls",
    "allow_private_urls",
    "fast_image_decode",
)
_POSITIVE_INTS = (
    "batch_size",
    "max_length",
    "max_batch_tokens",
    "max_concurrency",
    "api_batch_size",
    "api_max_request_bytes",
    "max_image_pixels",
    "max_image_bytes",
    "image_workers",
)
_OPTIONAL_POSITIVE_INTS = ("dimensions", "image_size")
_SECONDS = ("timeout", "image_fetch_timeout")


def _shown(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _check_str(name: str, value: Any, what: str = "a string") -> None:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be {what}, not {_shown(value)}")


def _integer(name: str, value: Any, minimum: int, extra: str = "") -> int:
    """``value`` as an ``int`` >= ``minimum``, or a ValueError naming the field."""
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    what += f" {extra}" if extra else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {what}, not {_shown(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be {what}, not {value!r}")
    return int(value)


def _seconds(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` > 0, or a ValueError naming the field."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number of seconds > 0, not {_shown(value)}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of seconds > 0, not {value!r}")
    return float(value)


# Names a user may write for the same hosted model.
_ALIASES = {"jina-clip-v1": "jinaai/jina-clip-v1", "jina-clip-v2": "jinaai/jina-clip-v2"}

QUERY_TASK = "retrieval.query"
"""The ``task`` of search queries: ``Embedder.embed_texts(texts, task=QUERY_TASK)``."""
TASKS = (QUERY_TASK,)
"""Every ``task`` value :meth:`~clipbridge.Embedder.embed_texts` accepts besides None."""


def check_task(task: str | None, name: str = "task") -> str | None:
    """``task`` if it is None or one of :data:`TASKS`, else a ValueError naming ``name``."""
    if task is not None and task not in TASKS:
        raise ValueError(f"{name} must be None or one of {list(TASKS)}, not {task!r}")
    return task


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
    # output (any backend): "float32", "int8", "uint8", "binary", "ubinary"; clipbridge.precision
    precision: str = "float32"
    # images
    image_size: int | None = None
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    image_fetch_timeout: float = DEFAULT_IMAGE_FETCH_TIMEOUT
    allow_private_urls: bool = False
    image_workers: int = DEFAULT_IMAGE_WORKERS
    fast_image_decode: bool = False

    def __post_init__(self) -> None:
        """Check every field's type and range; a wrong one is a ValueError naming the field.

        Integers are ``int`` (numpy integers are taken as ints), never ``bool``, ``float`` or
        ``str``; seconds are finite numbers; flags are ``bool``; names are ``str``. A path-like
        ``cache_dir`` is kept as its ``str``.
        """
        for name in _STRS:
            _check_str(name, getattr(self, name))
        for name in _OPTIONAL_STRS:
            value = getattr(self, name)
            if name == "cache_dir" and isinstance(value, os.PathLike):
                value = self.cache_dir = os.fspath(value)
            if value is not None:
                _check_str(name, value, "a string or None")
        for name in _FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, not {_shown(getattr(self, name))}")
        for name in _POSITIVE_INTS:
            setattr(self, name, _integer(name, getattr(self, name), 1))
        self.max_retries = _integer("max_retries", self.max_retries, 0)
        for name in _OPTIONAL_POSITIVE_INTS:
            if getattr(self, name) is not None:
                setattr(self, name, _integer(name, getattr(self, name), 1, "or None"))
        for name in _SECONDS:
            setattr(self, name, _seconds(name, getattr(self, name)))
        if not self.model:
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
                f"dtype must be auto, float32, bfloat16 or float16 with backend={self.backend!r}, "
                "not 'int8': dtype 'int8' (dynamically quantized weights) needs backend='onnx'"
            )
        if self.embedding_type not in _EMBEDDING_TYPES:
            raise ValueError(
                f"embedding_type must be one of {_EMBEDDING_TYPES}, not {self.embedding_type!r}"
            )
        if self.max_length < 2:
            raise ValueError("max_length must be at least 2 ([CLS] and [SEP])")
        check_precision(self.precision, normalize=self.normalize)

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
