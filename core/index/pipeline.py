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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config import EmbedderConfig
from ..errors import ClipBridgeError
from .columns import RESERVED, meta_fields
from .embedding import embed_items
from .lock import OutputLock
from .output import (
    ChunkWriter,
    build_table,
    check_output,
    done_ids,
    existing_output,
    index_schema,
)
from .sources import DEFAULT_TEXT_COLUMN, Item, Kind, canonical_id, canonical_ids, list_items

if TYPE_CHECKING:
    import pyarrow as pa

    from ..embedder import Embedder
    from ..ray.indexing import RayOptions

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Engine",
    "IndexInterrupted",
    "IndexJob",
    "IndexSummary",
    "prepare_index",
    "run_index",
]

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
    first_error: str | None = None  # "id: reason" of the first failed item
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


class IndexInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, in the CLI) stopped a run: ``done`` of ``total`` items are in ``OUT``
    or its parts, and ``--resume`` embeds the rest."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"interrupted: {done} of {total} done; rerun with --resume")
        self.done = done
        self.total = total


@dataclass
class IndexJob:
    """A run whose arguments are checked and whose items are listed, before any model loads.

    Made by :func:`prepare_index`, which holds the output's lock while it is in use.

    Example::

        with prepare_index(["notes.txt"], "notes.parquet", kind="text") as job:
            print(len(job.items), "items")        # a bad SOURCE has raised by now
            summary = job.run(Embedder("jinaai/jina-clip-v1"), progress=False)
    """

    out: Path
    kind: Kind
    items: list[Item]
    resume: bool
    overwrite: bool
    chunk_size: int
    meta_columns: tuple[str, ...] = ()

    def run(
        self,
        embedder: Embedder,
        *,
        engine: Engine = "local",
        ray_options: RayOptions | None = None,
        progress: bool = True,
        on_chunk: Callable[[pa.Table], None] | None = None,
    ) -> IndexSummary:
        """Embed what is not done yet with ``embedder`` and write it; see :func:`run_index`.

        :raises IndexInterrupted: on Ctrl-C; what was flushed stays for ``--resume``.
        """
        started = time.perf_counter()
        written = 0
        try:
            if self.overwrite and not self.resume:
                for path in existing_output(self.out):
                    _remove(path)
            carried = meta_fields(self.items, self.meta_columns)
            schema = index_schema(embedder.probe_dimension(), embedder.config, carried)
            todo = self._todo(schema)
            summary = IndexSummary(out=self.out, skipped=len(self.items) - len(todo), engine=engine)
            written = summary.skipped
            writer = ChunkWriter(self.out, schema)
            tables = self._tables(embedder, todo, schema, engine, ray_options, summary)
            # On Ray the bar starts with the first rows: what Ray prints while its actors start
            # (a line from its C++ core among them) then comes before the bar, not inside it.
            bar = _progress_bar(len(todo), self.kind, progress) if engine == "local" else None
            try:
                for table in tables:
                    if bar is None:
                        bar = _progress_bar(len(todo), self.kind, progress)
                    writer.write(table)
                    written += table.num_rows
                    _count(summary, table)
                    bar.update(table.num_rows)
                    bar.set_postfix(failed=summary.failed, refresh=False)
                    if on_chunk is not None:
                        on_chunk(table)
            finally:
                if bar is not None:
                    bar.close()
                getattr(tables, "close", lambda: None)()
            summary.rows = writer.finish()
        except KeyboardInterrupt as exc:
            raise IndexInterrupted(written, len(self.items)) from exc
        summary.seconds = time.perf_counter() - started
        return summary

    def _todo(self, schema: pa.Schema) -> list[Item]:
        """The items ``OUT`` and its parts do not hold yet, by id or by another spelling of it."""
        if not self.resume:
            return list(self.items)
        done = done_ids(self.out, schema)
        done_keys = canonical_ids(done)
        cache: dict[str, str] = {}
        return [
            item
            for item in self.items
            if item.id not in done and canonical_id(item.id, cache) not in done_keys
        ]

    def _tables(
        self,
        embedder: Embedder,
        todo: list[Item],
        schema: pa.Schema,
        engine: Engine,
        ray_options: RayOptions | None,
        summary: IndexSummary,
    ) -> Iterator[pa.Table]:
        if engine == "local":
            return local_tables(embedder, todo, schema, self.chunk_size)
        from ..ray.indexing import RayOptions, ray_tables

        return ray_tables(
            todo,
            schema,
            config=embedder.config,
            chunk_size=self.chunk_size,
            options=ray_options or RayOptions(),
            extra=summary.extra,
        )


def _count(summary: IndexSummary, table: pa.Table) -> None:
    errors = table.column("error")
    failed = table.num_rows - errors.null_count
    summary.failed += failed
    summary.done += table.num_rows - failed
    if failed and summary.first_error is None:
        row = next(i for i, e in enumerate(errors.to_pylist()) if e is not None)
        summary.first_error = f"{table.column('id')[row].as_py()}: {errors[row].as_py()}"


@contextmanager
def prepare_index(
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    kind: Kind = "image",
    resume: bool = False,
    overwrite: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    text_column: str = DEFAULT_TEXT_COLUMN,
    meta_columns: Sequence[str] = (),
) -> Iterator[IndexJob]:
    """Check the arguments, lock ``out`` and list the items: everything that can fail because of
    what was asked, before a model loads. The lock is held until the block ends.

    Example::

        with prepare_index(["photos/"], "photos.parquet") as job:
            summary = job.run(Embedder("jinaai/jina-clip-v1"))

    :raises ClipBridgeError: ``out`` is unusable (see :func:`check_output`), another run writes
        it (:class:`~clipbridge.index.lock.OutputLockedError`), or a SOURCE names nothing usable
        (:class:`~clipbridge.index.SourceError`).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
    if kind not in ("image", "text"):
        raise ValueError(f"kind must be 'image' or 'text', not {kind!r}")
    meta_columns = tuple(dict.fromkeys(meta_columns))
    taken = [name for name in meta_columns if name in RESERVED]
    if taken:
        raise ClipBridgeError(
            f"--meta-column {taken[0]}: clipbridge index writes a {taken[0]!r} column itself; "
            "carry another column"
        )
    out = Path(out)
    if not out.parent.is_dir():  # before the lock file is made there
        raise ClipBridgeError(f"cannot write {out}: no folder {out.parent}")
    with OutputLock(out):
        check_output(out, resume=resume, overwrite=overwrite)
        items = list(
            list_items(sources, kind=kind, text_column=text_column, meta_columns=meta_columns)
        )
        yield IndexJob(out, kind, items, resume, overwrite, chunk_size, meta_columns)


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
    meta_columns: Sequence[str] = (),
    progress: bool = True,
    on_chunk: Callable[[pa.Table], None] | None = None,
) -> IndexSummary:
    """Embed every item of ``sources`` into the Parquet file ``out``; see the module docstring.

    :param config: the Embedder's settings (the ``ray`` engine rebuilds it on each actor).
    :param embedder: a ready Embedder for the ``local`` engine (else one is built from config).
    :param resume: skip ids already in ``out`` (and in the parts a killed run left).
    :param overwrite: replace an existing ``out``; without it or ``resume`` an existing ``out``
        is an error. A folder or a file that is not Parquet is never replaced.
    :param chunk_size: items per written chunk: a killed run loses at most one.
    :param meta_columns: columns of .jsonl/.parquet text sources to carry into the index.
    :param ray_options: address, actors and resources for the ``ray`` engine.
    :param on_chunk: called with each chunk's output table once it is on disk.
    :raises ClipBridgeError: unusable arguments (before any model loads; see
        :func:`prepare_index`) or a failure that is not about one item.
    :raises IndexInterrupted: on Ctrl-C; rerun with ``resume=True``.
    """
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', not {engine!r}")
    with prepare_index(
        sources,
        out,
        kind=kind,
        resume=resume,
        overwrite=overwrite,
        chunk_size=chunk_size,
        text_column=text_column,
        meta_columns=meta_columns,
    ) as job:
        if engine == "ray":
            from ..ray.indexing import RayOptions, connect_ray

            connect_ray(ray_options or RayOptions())
        if embedder is None:
            from ..embedder import Embedder

            embedder = Embedder.from_config(config or EmbedderConfig())
        return job.run(
            embedder, engine=engine, ray_options=ray_options, progress=progress, on_chunk=on_chunk
        )


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
