"""What the three ClipBridge components share: config storage, warm-up, serialization, checks.

The components' init parameters are the :class:`clipbridge.EmbedderConfig` fields (minus
``api_key``, which is a Haystack ``Secret`` here, and ``show_progress``, which Haystack calls
``progress_bar``), so the names cannot drift from the core. Values in the forms Haystack's other
embedders take are translated here: ``device`` as a ``ComponentDevice`` (or its dict), ``base_url``
as Jina's full ``.../v1/embeddings`` endpoint, ``task`` as Jina's name for the text's task.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from clipbridge import Embedder, EmbedderConfig
from clipbridge.api_wire import EMBEDDINGS_PATH
from clipbridge.config import check_task
from clipbridge.errors import InvalidInputError
from haystack import Document, default_from_dict, default_to_dict
from haystack.utils import ComponentDevice, Secret

__all__ = [
    "CONFIG_FIELDS",
    "NOT_EXPOSED",
    "EmbedderComponent",
    "check_documents",
    "documents_named",
    "metered",
    "task_from",
    "with_embeddings",
]

NOT_EXPOSED = ("precision",)
"""EmbedderConfig fields that are not init parameters: Haystack's ``Document.embedding`` and the
text embedder's output are ``list[float]``, so vectors stay float32 (docs/precision.md)."""
# Every other EmbedderConfig field is an init parameter of each component, under the same name.
CONFIG_FIELDS: tuple[str, ...] = tuple(
    name
    for name in EmbedderConfig.field_names()
    if name not in ("api_key", "show_progress", *NOT_EXPOSED)
)


def device_name(device: str | ComponentDevice | dict[str, Any] | None) -> str:
    """The core's device string for a Haystack device (``None``: ``"auto"``)."""
    if device is None:
        return "auto"
    if isinstance(device, dict):
        try:
            device = ComponentDevice.from_dict(device)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"device must be a string, a ComponentDevice or its to_dict(), not {device!r} "
                f"({type(exc).__name__}: {exc}); e.g. {{'type': 'single', 'device': 'cuda:0'}}"
            ) from exc
    if isinstance(device, ComponentDevice):
        if device.has_multiple_devices:
            raise ValueError(
                "device: clipbridge runs a model on one device, not a device map; "
                "give one, e.g. ComponentDevice.from_str('cuda:0')"
            )
        return device.to_torch_str()
    return device


def server_root(base_url: str) -> str:
    """``base_url`` without Jina's endpoint path: the core appends ``/v1/embeddings`` itself."""
    return base_url.rstrip("/").removesuffix(EMBEDDINGS_PATH) or base_url


def check_image_size(image_size: Any) -> None:
    """Refuse Jina's ``(width, height)`` with a sentence instead of a ``TypeError`` later."""
    if isinstance(image_size, (tuple, list)):
        raise ValueError(
            f"image_size is one int, the side each image is shrunk to before it is sent to the "
            f"API (None: the model's own), not {image_size!r}: JinaDocumentImageEmbedder's "
            "(width, height) is not needed, images are already shrunk to the model's input size"
        )


def task_from(own: str | None, name: str, default: str | None, task: str | None) -> str | None:
    """``query_task``/``document_task``, or Jina's ``task=`` for it; checked against the core."""
    if task is not None:
        if own not in (default, task):
            raise ValueError(f"task= (Jina's name) and {name}= are one setting: give one")
        own = task
    return check_task(own, name)


class EmbedderComponent:
    """Mixin: stores the config fields, builds the core :class:`~clipbridge.Embedder` in
    :meth:`warm_up`, and serializes through ``default_to_dict``/``default_from_dict``."""

    api_key: Secret
    progress_bar: bool

    def _store_config(self, init_args: dict[str, Any]) -> None:
        """Keep the config fields from the component's ``__init__`` arguments (its ``locals()``).

        Values are validated now (a bad ``device`` fails here, not in the middle of a pipeline);
        nothing is loaded until :meth:`warm_up`.
        """
        check_image_size(init_args["image_size"])
        for name in CONFIG_FIELDS:
            setattr(self, name, init_args[name])
        self.device = device_name(init_args["device"])
        self.base_url = server_root(init_args["base_url"])
        self.api_key = init_args["api_key"]
        self.progress_bar = init_args["progress_bar"]
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()
        self._config()

    def _config_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CONFIG_FIELDS}

    def _config(self) -> EmbedderConfig:
        return EmbedderConfig(**self._config_params(), show_progress=self.progress_bar)

    def warm_up(self) -> None:
        """Load the model (local backend) or open the client (API backend); idempotent."""
        with self._lock:
            if self._embedder is None:
                key = self.api_key.resolve_value() if self.api_key is not None else None
                self._embedder = Embedder.from_config(self._config().replace(api_key=key))

    async def warm_up_async(self) -> None:
        """:meth:`warm_up` in a worker thread, so a loading model never blocks the event loop
        (``AsyncPipeline`` calls this)."""
        await self._awarm_embedder()

    def _warm_embedder(self) -> Embedder:
        """The core :class:`~clipbridge.Embedder`; warms up first if needed (Haystack 3 runs
        may be called without ``warm_up``)."""
        embedder = self._embedder
        if embedder is None:
            self.warm_up()
            embedder = self._embedder
        assert embedder is not None
        return embedder

    async def _awarm_embedder(self) -> Embedder:
        """:meth:`_warm_embedder` without blocking the event loop while a model loads."""
        if self._embedder is None:
            await asyncio.to_thread(self.warm_up)
        return self._warm_embedder()

    def close(self) -> None:
        """Release the backend (HTTP connections); the next run warms up again."""
        embedder, self._embedder = self._embedder, None
        if embedder is not None:
            embedder.close()

    async def close_async(self) -> None:
        """:meth:`close` from inside the event loop (``AsyncPipeline`` calls this): the API
        backend's async client is closed and awaited on this loop."""
        embedder, self._embedder = self._embedder, None
        if embedder is None:
            return
        aclose = getattr(embedder.backend, "aclose", None)  # the API backend has one
        if aclose is not None:
            await aclose()
        else:
            embedder.close()

    def _serialize(self, **component_params: Any) -> dict[str, Any]:
        return default_to_dict(
            self,
            **self._config_params(),
            api_key=self.api_key,
            progress_bar=self.progress_bar,
            **component_params,
        )

    def to_dict(self) -> dict[str, Any]:
        """Serialize the component; the API key is written as its env var name, never its value."""
        return self._serialize()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Deserialize a component written by :meth:`to_dict`."""
        return default_from_dict(cls, data)


def check_documents(documents: Any, component_name: str) -> list[Document]:
    """Raise ``TypeError`` unless ``documents`` is a list of Documents."""
    if not isinstance(documents, list):
        raise TypeError(
            f"{component_name} expects a list of Documents, got {type(documents).__name__}. "
            "To embed a string, use ClipBridgeTextEmbedder."
        )
    for index, doc in enumerate(documents):
        if not isinstance(doc, Document):
            raise TypeError(
                f"{component_name} expects a list of Documents; item {index} is "
                f"{type(doc).__name__}"
            )
    return documents


@contextmanager
def documents_named(documents: list[Document]) -> Iterator[None]:
    """Re-raise a core :class:`InvalidInputError` with the failing Document's id in the message."""
    try:
        yield
    except InvalidInputError as exc:
        if not 0 <= exc.index < len(documents):
            raise
        raise InvalidInputError(
            exc.index, f"document {documents[exc.index].id!r}: {exc.reason}", partial=exc.partial
        ) from exc


@contextmanager
def metered(embedder: Embedder) -> Iterator[dict[str, Any]]:
    """The ``meta`` output: the model, and (API backend) the tokens billed during the block.

    Usage is the change of the backend's running total, so runs of one component that overlap
    in time count each other's tokens too.
    """
    meta: dict[str, Any] = {"model": embedder.model}
    usage = getattr(embedder.backend, "usage", None)
    before = (usage.prompt_tokens, usage.total_tokens) if usage is not None else None
    yield meta
    if usage is not None and before is not None:
        meta["usage"] = {
            "prompt_tokens": usage.prompt_tokens - before[0],
            "total_tokens": usage.total_tokens - before[1],
        }


def with_embeddings(
    documents: list[Document], vectors: np.ndarray, meta: dict[str, Any] | None = None
) -> list[Document]:
    """New Documents (``dataclasses.replace``) carrying row i of ``vectors``; inputs untouched."""
    extra = meta or {}
    return [
        replace(doc, embedding=vector.tolist(), meta={**doc.meta, **extra})
        for doc, vector in zip(documents, vectors, strict=True)
    ]
