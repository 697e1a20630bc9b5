"""`ServeSettings`: every knob of ``clipbridge serve`` in one dataclass (the model's own knobs
stay in :class:`~clipbridge.EmbedderConfig`)."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from dataclasses import dataclass, field

from ..config import EmbedderConfig, hub_repo_id
from ..errors import ClipBridgeError

__all__ = [
    "API_KEYS_ENV",
    "DEFAULT_FETCH_WORKERS",
    "DEFAULT_MAX_BATCH_SIZE",
    "DEFAULT_MAX_INPUTS",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_MAX_WAIT_MS",
    "ServeSettings",
    "ServeStartError",
    "is_loopback_host",
    "keys_from_env",
]

API_KEYS_ENV = "CLIPBRIDGE_SERVE_API_KEYS"
DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_WAIT_MS = 5.0
DEFAULT_MAX_QUEUE = 512
DEFAULT_MAX_REQUEST_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_INPUTS = 256
DEFAULT_FETCH_WORKERS = 16


class ServeStartError(ClipBridgeError):
    """The server cannot start: a setting, the port or the model (the CLI prints it, exit 2)."""


def keys_from_env(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The comma-separated keys in ``$CLIPBRIDGE_SERVE_API_KEYS`` (blank entries dropped)."""
    raw = (os.environ if environ is None else environ).get(API_KEYS_ENV, "")
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (what only this machine can reach)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _short_name(model: str) -> str:
    """``jinaai/jina-clip-v1`` -> ``jina-clip-v1``; a local folder -> its last part."""
    return model.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]


def _is_local_path(model: str) -> bool:
    """True when ``model`` names a folder on this machine rather than a hub id."""
    if model.startswith(("/", ".", "~")) or model.count("/") > 1 or any(c in model for c in "\\:"):
        return True
    return os.path.isdir(os.path.expanduser(model))


@dataclass(kw_only=True)
class ServeSettings:
    """How the server batches, limits and guards requests, and which model it serves.

    Example::

        settings = ServeSettings(config=EmbedderConfig(model="jinaai/jina-clip-v1"),
                                 max_wait_ms=5, api_keys=("s3cret",))
        app = create_app(settings)
    """

    config: EmbedderConfig = field(default_factory=EmbedderConfig)
    """The model and its knobs (``batch_size``: inputs per forward pass)."""
    served_model_name: str | None = None
    """The name the server answers with; default: the model's short name."""
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    """Most inputs merged from concurrent requests into one model call (which then runs in
    forward passes of ``config.batch_size``)."""
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    """How long the oldest queued input waits for others before its batch runs."""
    max_queue: int = DEFAULT_MAX_QUEUE
    """Most inputs admitted and not yet answered; above it requests get 429."""
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """Most bytes in one request body; above it 413."""
    max_inputs: int = DEFAULT_MAX_INPUTS
    """Most inputs in one request; above it 413."""
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    """Keys a request must bear (``Authorization: Bearer``); empty: no key needed."""
    allow_image_urls: bool = False
    """Fetch image URLs inside requests (off: such an input is refused)."""
    allow_private_urls: bool = False
    """Let those URLs reach loopback, private and link-local addresses."""
    decode_workers: int | None = None
    """Threads that decode images and count tokens; default: the config's ``image_workers``."""
    fetch_workers: int = DEFAULT_FETCH_WORKERS
    """Image URLs fetched at once (threads of their own)."""

    def __post_init__(self) -> None:
        for name in (
            "max_batch_size",
            "max_queue",
            "max_request_bytes",
            "max_inputs",
            "fetch_workers",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, not {self.max_wait_ms!r}")
        if self.max_inputs > self.max_queue:
            raise ValueError(
                f"max_inputs ({self.max_inputs}) must not exceed max_queue ({self.max_queue}): "
                "a request that large could never be admitted"
            )
        self.api_keys = tuple(self.api_keys)
        if any(not isinstance(k, str) or not k.strip() for k in self.api_keys):
            raise ValueError("api_keys must be non-empty strings")
        if self.decode_workers is not None and self.decode_workers < 1:
            raise ValueError("decode_workers must be a positive integer or None")

    def __repr__(self) -> str:
        def shown(name: str) -> str:
            value = getattr(self, name)
            return f"<{len(value)} key(s)>" if name == "api_keys" else repr(value)

        fields = ", ".join(f"{f.name}={shown(f.name)}" for f in dataclasses.fields(self))
        return f"ServeSettings({fields})"

    @property
    def model_name(self) -> str:
        """The name the server answers with (``--served-model-name``, else the short name)."""
        return self.served_model_name or _short_name(self.config.model)

    @property
    def public_model_names(self) -> tuple[str, ...]:
        """The names the server tells clients: the served name, and the hub id when the model
        is one. A local folder's path is never among them (it is a fact of this machine)."""
        names = [self.model_name]
        if not _is_local_path(self.config.model):
            names += [self.config.model, hub_repo_id(self.config.model)]
        return tuple(dict.fromkeys(names))

    @property
    def accepted_model_names(self) -> tuple[str, ...]:
        """Names a request's ``model`` may use: the public names, and ``--model`` as given
        (clipbridge's API backend sends that)."""
        return tuple(dict.fromkeys([*self.public_model_names, self.config.model]))

    @property
    def workers(self) -> int:
        return self.decode_workers or self.config.image_workers
