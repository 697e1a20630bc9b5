"""The bulk pipeline: sources -> engine -> writer.

List the sources, skip what is done, let an engine (:mod:`clipbridge.index.engines`) embed the
rest in chunks and write each chunk's Parquet part where it was embedded, then join the parts
into ``OUT``. Engines differ only in where chunks are embedded and written: ``local`` in this
process with one :class:`~clipbridge.Embedder`, ``ray`` on Ray Data actors. Listing, ids, the
schema, resume, the final join and the summary are this module's, the same for every engine.

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
from ..renamed import renamed_keyword
from .columns import RESERVED, meta_fields
from .embedding import embed_items
from .engines import IndexEngine, Written, make_engine
from .lock import OutputLock
from .output import (
    ChunkWriter,
    Parts,
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

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Engine",
    "IndexInterrupted",
    "IndexJob",
    "IndexSummary",
    "LocalEngine",
    "prepare_index",
    "run_index",
]

Engine = Literal["local", "ray"]  # the names of ENGINES
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


class LocalEngine:
    """One Embedder in this process, one chunk at a time.

    Example::

        engine = LocalEngine(Embedder("jinaai/jina-clip-v1"))
    """

    name = "local"

    def __init__(self, embedder: Embedder | None = None, config: EmbedderConfig | None = None):
        self._embedder = embedder
        self.config = embedder.config if embedder is not None else config or EmbedderConfig()

    @classmethod
    def create(
        cls,
        *,
        config: EmbedderConfig | None = None,
        embedder: Embedder | None = None,
        options: Any = None,
    ) -> LocalEngine:
        return cls(embedder, config)

    @property
    def embedder(self) -> Embedder:
        """The Embedder, built from ``config`` when first needed."""
        if self._embedder is None:
            from ..embedder import Embedder

            self._embedder = Embedder.from_config(self.config)
        return self._embedder

    def connect(self) -> None:
        pass

    def dimension(self) -> int:
        return self.embedder.probe_dimension()  # the API backend asks once, if it must

    def embed(
        self, items: Sequence[Item], parts: Parts, chunk_size: int, extra: dict[str, Any]
    ) -> Iterator[Written]:
        for first in range(0, len(items), chunk_size):
            chunk = list(items[first : first + chunk_size])
            table = build_table(chunk, embed_items(self.embedder, chunk), parts.schema)
            yield Written.of(table, parts.write(table, first))


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
            summary = job.run(Embedder("jinaai/jina-clip-v1"), show_progress=False)
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
        engine: IndexEngine | Embedder,
        *,
        show_progress: bool = True,
        on_chunk: Callable[[Written], None] | None = None,
        progress: bool | None = None,
    ) -> IndexSummary:
        """Let ``engine`` (or a ready Embedder, the ``local`` engine) embed what is not done yet
        and write it; see :func:`run_index`. ``on_chunk`` gets each part once it is on disk.
        ``progress`` is ``show_progress``'s old name (still taken, with a DeprecationWarning).

        :raises IndexInterrupted: on Ctrl-C; what was flushed stays for ``--resume``.
        """
        show_progress = renamed_keyword(
            "IndexJob.run", "progress", progress, "show_progress", show_progress
        )
        if hasattr(engine, "embed_texts"):  # an Embedder
            engine = LocalEngine(engine)  # type: ignore[arg-type]
        started = time.perf_counter()
        written = 0
        try:
            if self.overwrite and not self.resume:
                for path in existing_output(self.out):
                    _remove(path)
            carried = meta_fields(self.items, self.meta_columns)
            schema = index_schema(engine.dimension(), engine.config, carried)
            todo = self._todo(schema)
            summary = IndexSummary(
                out=self.out, skipped=len(self.items) - len(todo), engine=engine.name
            )
            written = summary.skipped
            writer = ChunkWriter(self.out, schema)
            parts = engine.embed(todo, writer.parts, self.chunk_size, summary.extra)
            # Elsewhere (Ray) the bar starts with the first part: what Ray prints while its
            # actors start (a line from its C++ core among them) then comes before the bar.
            local = isinstance(engine, LocalEngine)
            bar = _progress_bar(len(todo), self.kind, show_progress) if local else None
            try:
                for part in parts:
                    if bar is None:
                        bar = _progress_bar(len(todo), self.kind, show_progress)
                    written += part.rows
                    _count(summary, part)
                    bar.update(part.rows)
                    bar.set_postfix(failed=summary.failed, refresh=False)
                    if on_chunk is not None:
                        on_chunk(part)
            finally:
                if bar is not None:
                    bar.close()
                getattr(parts, "close", lambda: None)()
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


def _count(summary: IndexSummary, part: Written) -> None:
    summary.failed += part.failed
    summary.done += part.rows - part.failed
    if part.first_error is not None and summary.first_error is None:
        summary.first_error = part.first_error


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
    engine: Engine | IndexEngine = "local",
    ray_options: Any = None,
    resume: bool = False,
    overwrite: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    text_column: str = DEFAULT_TEXT_COLUMN,
    meta_columns: Sequence[str] = (),
    show_progress: bool = True,
    on_chunk: Callable[[Written], None] | None = None,
    progress: bool | None = None,
) -> IndexSummary:
    """Embed every item of ``sources`` into the Parquet file ``out``; see the module docstring.

    :param config: the Embedder's settings (the ``ray`` engine builds it on each actor only).
    :param embedder: a ready Embedder (else the ``local`` engine builds one from ``config``; the
        ``ray`` engine takes only its config).
    :param engine: ``"local"``, ``"ray"`` or an :class:`~clipbridge.index.engines.IndexEngine`.
    :param resume: skip ids already in ``out`` (and in the parts a killed run left).
    :param overwrite: replace an existing ``out``; without it or ``resume`` an existing ``out``
        is an error. A folder or a file that is not Parquet is never replaced.
    :param chunk_size: items per written chunk: a killed run loses at most one.
    :param meta_columns: columns of .jsonl/.parquet text sources to carry into the index.
    :param ray_options: address, actors and resources for the ``ray`` engine: a
        :class:`clipbridge.ray.RayOptions` or a dict of its fields.
    :param on_chunk: called with each part's :class:`~clipbridge.index.engines.Written` once
        the part is on disk.
    :param show_progress: a progress bar on stderr (``progress`` is its old name, still taken,
        with a ``DeprecationWarning``).
    :raises ClipBridgeError: unusable arguments (before any model loads; see
        :func:`prepare_index`) or a failure that is not about one item.
    :raises IndexInterrupted: on Ctrl-C; rerun with ``resume=True``.
    """
    show_progress = renamed_keyword(
        "run_index", "progress", progress, "show_progress", show_progress
    )
    if isinstance(engine, str):  # nothing loads or connects yet
        engine = make_engine(engine, config=config, embedder=embedder, options=ray_options)
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
        engine.connect()  # an unreachable cluster is told before any model loads
        return job.run(engine, show_progress=show_progress, on_chunk=on_chunk)


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
