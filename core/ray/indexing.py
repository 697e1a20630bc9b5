"""The ``ray`` engine of ``clipbridge index``: chunks embedded and written by Ray Data actors.

:mod:`clipbridge.index.pipeline` lists the items, makes the schema and joins the parts into the
Parquet file; :class:`RayEngine` (its :class:`~clipbridge.index.engines.IndexEngine`) moves the
embedding onto an actor pool (:class:`IndexBatches`, one Embedder per actor). Each actor writes
the part of every batch it embeds into ``OUT.parts/`` and hands the driver only a count, so
vectors never pass through the driver, and the driver loads no model: the schema's width comes
from the model's config files. On a cluster ``OUT``'s folder must be one every node sees (as the
sources must be).

Example::

    from clipbridge.index import run_index
    from clipbridge.ray.indexing import RayOptions

    run_index(["photos/"], "photos.parquet", engine="ray",
              ray_options=RayOptions(address="auto", concurrency=8, num_gpus=1))
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..config import EmbedderConfig
from ..errors import ClipBridgeError
from ..index.embedding import embed_items
from ..index.engines import Written, config_dimension
from ..index.output import Parts, build_table
from ..index.sources import Item
from .cluster import connect
from .dataset import EmbedderActor, _config_for_actors, compute_strategy, log_event

if TYPE_CHECKING:
    import pyarrow as pa

    from ..embedder import Embedder

__all__ = ["IndexBatches", "RayEngine", "RayOptions", "connect_ray"]

_ITEM_FIELDS = ("id", "source", "kind", "page", "text", "error", "path", "meta")
_WRITTEN_FIELDS = ("rows", "failed", "first_error", "path")


@dataclass(kw_only=True)
class RayOptions:
    """Where and how wide the ``ray`` engine runs.

    ``address`` None starts a local Ray (2 CPUs, no dashboard, 127.0.0.1); ``"auto"`` or
    ``"ray://host:10001"`` joins a cluster. ``concurrency`` None: one actor per GPU when
    ``num_gpus`` > 0, else one per CPU the cluster has, less one left to the driver.
    """

    address: str | None = None
    concurrency: int | tuple[int, int] | None = None
    num_gpus: float = 0
    num_cpus: float = 1
    batch_size: int = 32
    event_log: str | None = None


class IndexBatches(EmbedderActor):
    """``map_batches`` callable: item rows in; their output rows written as one part of
    ``parts``; one row out, what was written (:class:`~clipbridge.index.engines.Written`)."""

    def __init__(
        self, config: dict[str, Any], *, parts: Parts, event_log: str | None = None
    ) -> None:
        super().__init__(config, event_log)
        self.parts = parts

    def __call__(self, batch: pa.Table) -> pa.Table:
        try:
            written, fatal = self._write(batch.to_pylist()), None
        except ClipBridgeError as exc:  # not about one item (a part that cannot be written):
            written, fatal = Written(rows=0), str(exc)  # the driver says it, not Ray's traceback
        return _report(written, fatal)

    def _write(self, rows: list[dict[str, Any]]) -> Written:
        items = [Item(**{name: row[name] for name in _ITEM_FIELDS}) for row in rows]
        # Files are read through the absolute path the driver saw; rows keep the source as given.
        located = [replace(item, source=item.path or item.source) for item in items]
        embedded = embed_items(self.embedder, located)
        table = build_table(items, embedded, self.parts.schema)
        path = self.parts.write(table, first=min(row["position"] for row in rows))
        log_event(self.event_log, "batch", rows=len(items), failed=embedded.failed, part=str(path))
        return Written.of(table, path)


def _report(written: Written, fatal: str | None) -> pa.Table:
    """The one row an actor hands the driver for a batch: what it wrote, or why it could not."""
    import pyarrow as pa

    values = {name: getattr(written, name) for name in _WRITTEN_FIELDS}
    types = {"rows": pa.int64(), "failed": pa.int64()}
    columns = {
        name: pa.array([value], types.get(name, pa.string())) for name, value in values.items()
    }
    columns["fatal"] = pa.array([fatal], pa.string())
    return pa.table(columns)


def _items_table(items: Sequence[Item]) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            "position": pa.array(range(len(items)), pa.int64()),
            "id": pa.array([i.id for i in items], pa.string()),
            "source": pa.array([i.source for i in items], pa.string()),
            "path": pa.array([i.path or _absolute(i.source) for i in items], pa.string()),
            "kind": pa.array([i.kind for i in items], pa.string()),
            "page": pa.array([i.page for i in items], pa.int32()),
            "text": pa.array([i.text for i in items], pa.string()),
            "error": pa.array([i.error for i in items], pa.string()),
            "meta": pa.array([i.meta for i in items], pa.string()),
        }
    )


def _absolute(source: str) -> str:
    return os.path.abspath(source)


def connect_ray(options: RayOptions) -> Any:
    """Connect for ``clipbridge index`` (before any model loads) and keep Ray quiet on stderr,
    where the progress bar is: Ray's and Ray Data's INFO lines and Ray Data's own progress
    output are left to Ray's log files.

    :raises ClipBridgeError: no Ray at ``options.address`` (``"auto"`` with no cluster
        running, a wrong ``ray://`` address).
    """
    address = options.address or os.environ.get("RAY_ADDRESS") or None
    try:
        ray = connect(options.address)
    except ImportError:
        raise
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError: Ray's words vary
        where = f"at {address!r}" if address else "locally"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClipBridgeError(
            f"cannot connect to Ray {where}: {reason} (start a cluster with 'ray start --head', "
            "or leave out --ray-address for a local Ray)"
        ) from exc
    _quiet(ray)
    return ray


def _quiet(ray: Any) -> None:
    levels = {
        "ray": logging.WARNING,
        "ray.data": logging.WARNING,
        # its one line saying that the progress bars below are off
        "ray.data._internal.progress": logging.ERROR,
    }
    for name, level in levels.items():
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < level:
            logger.setLevel(level)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    if hasattr(context, "print_on_execution_start"):
        context.print_on_execution_start = False


def default_concurrency(resources: dict[str, float], options: RayOptions) -> int:
    """One actor per GPU share when actors take GPUs, else per CPU (one CPU kept free when the
    cluster has more than two)."""
    if options.num_gpus:
        return max(1, int(resources.get("GPU", 0) // options.num_gpus))
    cpus = resources.get("CPU", 1)
    spare = cpus - 1 if cpus > 2 else cpus
    return max(1, int(spare // max(options.num_cpus, 1e-9)))


def ray_parts(
    items: Sequence[Item],
    parts: Parts,
    *,
    config: EmbedderConfig,
    chunk_size: int,
    options: RayOptions,
    extra: dict[str, Any] | None = None,
) -> Iterator[Written]:
    """Embed ``items`` on Ray, each actor writing a part of ``parts`` per batch (at most
    ``chunk_size`` and ``options.batch_size`` items); yield what each part holds.

    ``extra`` receives the cluster resources and the actor count used.
    """
    if not items:
        return
    ray = connect_ray(options)
    resources = ray.cluster_resources()
    concurrency = options.concurrency or default_concurrency(resources, options)
    if extra is not None:
        extra.update(
            cluster_resources={k: v for k, v in resources.items() if "node:" not in k},
            actors=concurrency,
        )
    table = _items_table(items)
    # Several blocks, so that every actor gets work; each block is cut into batches.
    n_blocks = max(1, min(len(items), 4 * (concurrency if isinstance(concurrency, int) else 4)))
    step = -(-len(items) // n_blocks)
    blocks = [table.slice(start, step) for start in range(0, len(items), step)]
    ds = ray.data.from_arrow(blocks).map_batches(
        IndexBatches,
        batch_format="pyarrow",
        batch_size=min(options.batch_size, chunk_size),
        compute=compute_strategy(concurrency),
        num_gpus=options.num_gpus,
        num_cpus=options.num_cpus,
        fn_constructor_kwargs={
            "config": _config_for_actors(config),
            "parts": parts,
            "event_log": options.event_log,
        },
    )
    for row in ds.iter_rows():
        if row["fatal"] is not None:
            raise ClipBridgeError(row["fatal"])
        yield Written(**{name: row[name] for name in _WRITTEN_FIELDS})


class RayEngine:
    """The ``ray`` engine: :class:`IndexBatches` actors embed and write; nothing loads here.

    Example::

        engine = RayEngine(EmbedderConfig(model="jinaai/jina-clip-v1"), RayOptions(num_gpus=1))
        run_index(["photos/"], "photos.parquet", engine=engine)
    """

    name = "ray"

    def __init__(self, config: EmbedderConfig, options: RayOptions | None = None) -> None:
        self.config = config
        self.options = options or RayOptions()

    @classmethod
    def create(
        cls,
        *,
        config: EmbedderConfig | None = None,
        embedder: Embedder | None = None,
        options: RayOptions | dict[str, Any] | None = None,
    ) -> RayEngine:
        """From ``config`` (or a ready ``embedder``'s: only its config travels) and options
        given as :class:`RayOptions` or a dict of its fields."""
        if embedder is not None:
            config = embedder.config
        if isinstance(options, dict):
            options = RayOptions(**options)
        return cls(config or EmbedderConfig(), options)

    def connect(self) -> None:
        connect_ray(self.options)

    def dimension(self) -> int:
        return config_dimension(self.config)

    def embed(
        self, items: Sequence[Item], parts: Parts, chunk_size: int, extra: dict[str, Any]
    ) -> Iterator[Written]:
        return ray_parts(
            items,
            parts,
            config=self.config,
            chunk_size=chunk_size,
            options=self.options,
            extra=extra,
        )
