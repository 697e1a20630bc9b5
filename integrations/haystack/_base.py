"""What the three ClipBridge components share: config storage, warm-up, serialization, checks.

The components' init parameters are the :class:`clipbridge.EmbedderConfig` fields (minus
``api_key``, which is a Haystack ``Secret`` here, and ``show_progress``, which Haystack calls
``progress_bar``), so the names cannot drift from the core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from clipbridge import Embedder, EmbedderConfig
from clipbridge.errors import InvalidInputError
from haystack import Document, default_from_dict, default_to_dict
from haystack.utils import Secret

__all__ = [
    "CONFIG_FIELDS",
    "NOT_EXPOSED",
    "EmbedderComponent",
    "check_documents",
    "documents_named",
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
        for name in CONFIG_FIELDS:
            setattr(self, name, init_args[name])
        self.api_key = init_args["api_key"]
        self.progress_bar = init_args["progress_bar"]
        self._embedder: Embedder | None = None
        self._config()

    def _config_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CONFIG_FIELDS}

    def _config(self) -> EmbedderConfig:
        return EmbedderConfig(**self._config_params(), show_progress=self.progress_bar)

    def warm_up(self) -> None:
        """Load the model (local backend) or open the client (API backend); idempotent."""
        if self._embedder is None:
            key = self.api_key.resolve_value() if self.api_key is not None else None
            self._embedder = Embedder.from_config(self._config().replace(api_key=key))

    def _warm_embedder(self) -> Embedder:
        """The core :class:`~clipbridge.Embedder`; warms up first if needed (Haystack 3 runs
        may be called without ``warm_up``)."""
        self.warm_up()
        assert self._embedder is not None
        return self._embedder

    async def _awarm_embedder(self) -> Embedder:
        """:meth:`_warm_embedder` without blocking the event loop while a model loads."""
        if self._embedder is None:
            await asyncio.to_thread(self.warm_up)
        return self._warm_embedder()

    def close(self) -> None:
        """Release the backend (HTTP connections); the next run warms up again."""
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None

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


def with_embeddings(
    documents: list[Document], vectors: np.ndarray, meta: dict[str, Any] | None = None
) -> list[Document]:
    """New Documents (``dataclasses.replace``) carrying row i of ``vectors``; inputs untouched."""
    extra = meta or {}
    return [
        replace(doc, embedding=vector.tolist(), meta={**doc.meta, **extra})
        for doc, vector in zip(documents, vectors, strict=True)
    ]
