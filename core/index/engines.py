"""Where ``clipbridge index`` embeds: an engine takes the items not done yet and writes parts.

The bulk path is sources -> engine -> writer. :mod:`clipbridge.index.pipeline` lists the items,
makes the schema and commits the run (:class:`~clipbridge.index.output.ChunkWriter`); an engine
embeds chunks and writes each one's part where it was embedded
(:class:`~clipbridge.index.output.Parts`), reporting a :class:`Written` per part. ``local``
(:class:`~clipbridge.index.pipeline.LocalEngine`) embeds in this process with one Embedder;
``ray`` (:mod:`clipbridge.ray.indexing`) on Ray Data actors, each writing its own parts, so
vectors never pass through the driver.

Engines are named by import path in :data:`ENGINES`, as ``clipbridge.cli.main`` names its apps:
the index never imports an app above it.

Example::

    from clipbridge import EmbedderConfig
    from clipbridge.index.engines import make_engine

    engine = make_engine("ray", config=EmbedderConfig(model="jinaai/jina-clip-v1"),
                         options={"concurrency": 4, "num_gpus": 1})
    engine.dimension()      # from the model's config files: no model is loaded here
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..config import EmbedderConfig

if TYPE_CHECKING:
    import pyarrow as pa

    from ..embedder import Embedder
    from .output import Parts
    from .sources import Item

__all__ = [
    "ENGINES",
    "IndexEngine",
    "Written",
    "config_dimension",
    "make_engine",
]

# name -> "module:class"; each class has ``create(config=, embedder=, options=)``.
ENGINES = {
    "local": "clipbridge.index.pipeline:LocalEngine",
    "ray": "clipbridge.ray.indexing:RayEngine",
}


@dataclass(frozen=True)
class Written:
    """One part an engine wrote: its rows, how many failed, the first failure (``"id: reason"``)."""

    rows: int
    failed: int = 0
    first_error: str | None = None
    path: str | None = None

    @classmethod
    def of(cls, table: pa.Table, path: object = None) -> Written:
        """What ``table`` (output rows, written to ``path``) holds."""
        errors = table.column("error")
        failed = table.num_rows - errors.null_count
        first = None
        if failed:
            row = next(i for i, e in enumerate(errors.to_pylist()) if e is not None)
            first = f"{table.column('id')[row].as_py()}: {errors[row].as_py()}"
        return cls(table.num_rows, failed, first, None if path is None else str(path))


class IndexEngine(Protocol):
    """What the index pipeline asks of an engine.

    ``connect`` runs before any model loads (an unreachable cluster is told then);
    ``dimension`` is the vectors' width before packing, for the schema; ``embed`` yields a
    :class:`Written` for each part it has put in ``parts`` (chunks of at most ``chunk_size``
    items, ``first`` being each chunk's position in ``items``), and fills ``extra`` with what
    the summary should show.
    """

    name: str
    config: EmbedderConfig

    def connect(self) -> None: ...

    def dimension(self) -> int: ...

    def embed(
        self, items: Sequence[Item], parts: Parts, chunk_size: int, extra: dict[str, Any]
    ) -> Iterator[Written]: ...


def make_engine(
    name: str,
    *,
    config: EmbedderConfig | None = None,
    embedder: Embedder | None = None,
    options: Any = None,
) -> IndexEngine:
    """The engine ``name`` (a key of :data:`ENGINES`) for ``config`` (or a ready ``embedder``'s
    config), with its own ``options`` (the ``ray`` engine: a ``RayOptions`` or a dict of its
    fields)."""
    if name not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, not {name!r}")
    module, _, attribute = ENGINES[name].partition(":")
    engine_type = getattr(importlib.import_module(module), attribute)
    return engine_type.create(config=config, embedder=embedder, options=options)


def config_dimension(config: EmbedderConfig) -> int:
    """The width of the vectors an Embedder built from ``config`` returns, read from the model's
    config files (torch-free, no weights); ``dimensions`` is checked against the model's."""
    if config.backend == "api":  # no model here either: the API backend knows, or asks once
        from ..embedder import Embedder

        return Embedder.from_config(config).probe_dimension()
    from ..backends.base import check_dimensions
    from ..models.width import model_width

    width, matryoshka = model_width(
        config.model, revision=config.revision, cache_dir=config.cache_dir
    )
    check_dimensions(config.model, config.dimensions, width, matryoshka)
    return config.dimensions or width
