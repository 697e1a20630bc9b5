"""The bulk pipeline: list sources -> skip what is done -> embed in chunks -> write Parquet.

Two engines differ only in where chunks are embedded: ``local`` in this process with one
:class:`~clipbridge.Embedder`, ``ray`` on Ray Data actors (:mod:`clipbridge.ray.indexing`).
Listing, ids, resume, writing and the summary are this module's, the same for both.

Example::

    from clipbridge import EmbedderConfig
    from clipbridge.index import run_index

    summary = run_index(["photos/"], "photos.parquet", kind="image",
                        config=EmbedderConfig(model="jinaai/jina-clip-v1"))
    print(summary.done, summary.failed, summary.items_per_second)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config import EmbedderConfig
from ..errors import ClipBridgeError
from .embedding import embed_items
from .output import ChunkWriter, build_table, done_ids, existing_output, index_schema
from .sources import DEFAULT_TEXT_COLUMN, Item, Kind, list_items

if TYPE_CHECKING:
    import pyarrow as pa

    from ..embedder import Embedder
    from ..ray.indexing import RayOptions

__all__ = ["DEFAULT_CHUNK_SIZE", "Engine", "IndexSummary", "run_index"]

Engine = Literal["local", "ray"]
DEFAULT_CHUNK_SIZE = 256


@dataclass
class IndexSummary:
    """What a run did: rows embedded (``done``), error rows (``failed``), ids skipped because
    ``OUT`` already had them (``skipped``), wall seconds and the rows written per second."""

    out: Path
    done: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    rows: int = 0  # rows in OUT at the end
    engine: str = "local"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def items_per_second(self) -> float:
        return (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0

    def format(self) -> str:
        return (
            f"indexed {self.done} done, {self.failed} failed, {self.skipped} skipped in "
            f"{self.seconds:.2f} s ({self.items_per_second:.2f} items/s, engine {self.engine}); "
            f"{self.out} holds {self.rows} rows"
        )


def _chunks(items: Sequence[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def local_tables(
    embedder: Embedder, items: Sequence[Item], schema: pa.Schema, chunk_size: int
) -> Iterator[pa.Table]:
    """The local engine: one chunk at a time through ``embedder`` in this process."""
    for chunk in _chunks(items, chunk_size):
        yield build_table(chunk, embed_items(embedder, chunk), schema)


def run_index(
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    kind: Kind = "image",
    config: EmbedderConfig | None = None,
    embedder: Embedder | None = None,
    engine: Engine = "local",
    ray_options: RayOptions | None = None,
    resume: bool = False,
    overwrite: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    text_column: str = DEFAULT_TEXT_COLUMN,
    progress: bool = True,
    on_chunk: Callable[[pa.Table], None] | None = None,
) -> IndexSummary:
    """Embed every item of ``sources`` into the Parquet file ``out``; see the module docstring.

    :param config: the Embedder's settings (the ``ray`` engine rebuilds it on each actor).
    :param embedder: a ready Embedder for the ``local`` engine (else one is built from config).
    :param resume: skip ids already in ``out`` (and in the parts a killed run left).
    :param overwrite: replace an existing ``out``; without it or ``resume`` an existing ``out``
        is an error.
    :param chunk_size: items per written chunk: a killed run loses at most one.
    :param ray_options: address, actors and resources for the ``ray`` engine.
    :param on_chunk: called with each chunk's output table once it is on disk.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', not {engine!r}")
    out = Path(out)
    started = time.perf_counter()
    found = existing_output(out)
    if found and not (resume or overwrite):
        raise ClipBridgeError(
            f"{found[0]} exists: pass --resume to add what is missing, or --overwrite"
        )
    if overwrite and not resume:
        for path in found:
            _remove(path)

    if embedder is None:
        from ..embedder import Embedder

        config = config or EmbedderConfig()
        embedder = Embedder.from_config(config)
    config = embedder.config
    schema = index_schema(embedder.dimension, config)
    listed = list(list_items(sources, kind=kind, text_column=text_column))
    skip = done_ids(out, schema) if resume else set()
    todo = [item for item in listed if item.id not in skip]
    summary = IndexSummary(out=out, skipped=len(listed) - len(todo), engine=engine)

    writer = ChunkWriter(out, schema)
    if engine == "local":
        tables = local_tables(embedder, todo, schema, chunk_size)
    else:
        from ..ray.indexing import RayOptions, ray_tables

        tables = ray_tables(
            todo,
            schema,
            config=config,
            chunk_size=chunk_size,
            options=ray_options or RayOptions(),
            extra=summary.extra,
        )
    bar = _progress_bar(len(todo), kind, progress)
    try:
        for table in tables:
            writer.write(table)
            failed = table.num_rows - table.column("error").null_count
            summary.failed += failed
            summary.done += table.num_rows - failed
            bar.update(table.num_rows)
            bar.set_postfix(failed=summary.failed, refresh=False)
            if on_chunk is not None:
                on_chunk(table)
    finally:
        bar.close()
    summary.rows = writer.finish()
    summary.seconds = time.perf_counter() - started
    return summary


def _progress_bar(total: int, kind: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=f"Indexing {kind}s",
        unit=kind,
        disable=not enabled,
        smoothing=0.1,
        dynamic_ncols=True,
    )


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
