"""`LazyEmbedder`: the one place adapters keep their core Embedder.

Adapters are configured through fields that users may change after construction (pydantic
assignment, ``model_copy``); the holder builds the :class:`~clipbridge.Embedder` on first use and
again whenever the config it was built from no longer matches. It never travels: a pickle or a
copy of an adapter starts with an empty holder and builds its own.

Example::

    holder = LazyEmbedder()
    emb = holder.get(EmbedderConfig(model="tests/fixtures/tiny-jina-clip-v1"))
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from .config import EmbedderConfig
from .embedder import Embedder

__all__ = ["EmbedderOwner", "LazyEmbedder"]


class LazyEmbedder:
    """Holds one Embedder, built on demand for a given config; thread-safe."""

    def __init__(self) -> None:
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> Embedder | None:
        """The Embedder held now, whatever config it was built from (None before first use)."""
        return self._embedder

    def current(self, config: EmbedderConfig) -> Embedder | None:
        """The held Embedder if it was built from ``config``, else None (never builds)."""
        embedder = self._embedder
        return embedder if embedder is not None and embedder.config == config else None

    def get(self, config: EmbedderConfig) -> Embedder:
        """The Embedder for ``config``, building it (and loading the model) if needed.

        An Embedder built from an older config is closed as it is replaced (its HTTP clients
        at once, not at garbage collection): finish calls on it before changing fields.
        """
        embedder = self.current(config)
        if embedder is not None:
            return embedder
        stale = None
        with self._lock:
            embedder = self.current(config)
            if embedder is None:
                stale = self._embedder
                embedder = self._embedder = Embedder.from_config(config)
        if stale is not None:
            stale.close()
        return embedder

    async def aget(self, config: EmbedderConfig) -> Embedder:
        """:meth:`get` without blocking the event loop while a model loads."""
        return self.current(config) or await asyncio.to_thread(self.get, config)

    def close(self) -> None:
        """Close and forget the held Embedder; the next :meth:`get` builds a new one."""
        embedder, self._embedder = self._embedder, None
        if embedder is not None:
            embedder.close()

    # A holder is never shared: copies and pickles start empty.
    def __copy__(self) -> LazyEmbedder:
        return LazyEmbedder()

    def __deepcopy__(self, memo: dict[int, Any]) -> LazyEmbedder:
        return LazyEmbedder()

    def __reduce__(self) -> tuple[type[LazyEmbedder], tuple[()]]:
        return (LazyEmbedder, ())


class EmbedderOwner:
    """An adapter's core Embedder, from its ``to_config()`` and a :class:`LazyEmbedder` it keeps
    as ``_embedder`` (a pydantic private attribute): mixed into each framework's model class.

    Example::

        class MyEmbeddings(EmbedderOwner, BaseModel):
            _embedder: LazyEmbedder = PrivateAttr(default_factory=LazyEmbedder)

            def to_config(self) -> EmbedderConfig: ...
    """

    def to_config(self) -> EmbedderConfig:
        raise NotImplementedError

    def _holder(self) -> LazyEmbedder:
        return self._embedder  # type: ignore[attr-defined]

    @property
    def embedder(self) -> Embedder:
        """The core :class:`~clipbridge.Embedder`, built on first use (loads the model) and
        rebuilt after a field changes."""
        return self._holder().get(self.to_config())

    async def _aembedder(self) -> Embedder:
        """:attr:`embedder` without blocking the event loop while a model loads."""
        return await self._holder().aget(self.to_config())

    def close(self) -> None:
        """Release the backend (HTTP connections); the next call builds a new one."""
        self._holder().close()
