"""`embed_dataset`: embed a column of a Ray Dataset with one Embedder per actor.

Ray Data's batch-inference pattern: :class:`EmbedBatches` is a callable class whose ``__init__``
builds the :class:`~clipbridge.Embedder` (the model is loaded once per actor, never per batch) and
whose ``__call__`` maps one Arrow batch to the same rows plus a vector column and an error
column. Every input goes through the same :class:`~clipbridge.Embedder` calls as in-process use,
so the vectors are the same.

Example::

    import ray
    from clipbridge import EmbedderConfig
    from clipbridge.ray import embed_dataset

    ds = ray.data.read_binary_files("s3://bucket/photos/", include_paths=True)
    ds = embed_dataset(ds, column="bytes", kind="image",
                       config=EmbedderConfig(model="jinaai/jina-clip-v1"),
                       concurrency=4, num_gpus=1, batch_size=64)
    ds.write_parquet("s3://bucket/vectors/")
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config import EmbedderConfig
from ..index.embedding import Embedded, embed_or_record
from ..index.output import embedding_array
from .cluster import import_ray

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

__all__ = ["DEFAULT_RAY_BATCH_SIZE", "EmbedBatches", "embed_dataset"]

DEFAULT_RAY_BATCH_SIZE = 64
OnError = Literal["record", "raise"]

_LOG_LOCK = threading.Lock()


def log_event(path: str | None, event: str, **fields: Any) -> None:
    """Append one JSON line to ``path`` (no-op when None): how tests and benchmarks count
    model loads and model calls across actor processes on one machine."""
    if path is None:
        return
    record = {"event": event, "pid": os.getpid(), "time": time.time(), **fields}
    with _LOG_LOCK, open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


class EmbedderActor:
    """Base of the callable classes: builds one Embedder when the actor starts."""

    def __init__(self, config: dict[str, Any], event_log: str | None = None) -> None:
        from ..embedder import Embedder

        started = time.perf_counter()
        self.embedder = Embedder.from_config(EmbedderConfig.from_dict(config))
        self.event_log = event_log
        log_event(event_log, "load", seconds=time.perf_counter() - started)

    def _embed(self, kind: str, inputs: list[Any], errors: list[str | None] | None) -> Embedded:
        result = embed_or_record(self.embedder, kind, inputs, errors)  # type: ignore[arg-type]
        log_event(self.event_log, "batch", rows=len(inputs), failed=result.failed)
        return result


class EmbedBatches(EmbedderActor):
    """``map_batches`` callable: adds ``output_column`` (vectors) and ``error_column``.

    ``column`` holds texts (``kind="text"``) or images (``kind="image"``: bytes as
    ``ray.data.read_binary_files`` gives them, file paths, URLs or data URIs).
    """

    def __init__(
        self,
        config: dict[str, Any],
        *,
        column: str,
        kind: str,
        output_column: str,
        error_column: str,
        on_error: OnError,
        event_log: str | None = None,
    ) -> None:
        super().__init__(config, event_log)
        self.column, self.kind = column, kind
        self.output_column, self.error_column = output_column, error_column
        self.on_error = on_error

    def __call__(self, batch: pa.Table) -> pa.Table:
        import numpy as np
        import pyarrow as pa

        inputs = batch.column(self.column).to_pylist()
        if self.on_error == "raise":
            embed = self.embedder.embed_texts if self.kind == "text" else self.embedder.embed_images
            vectors = embed(inputs)
            result = Embedded(np.asarray(vectors), [None] * len(inputs))  # float32 or codes
            log_event(self.event_log, "batch", rows=len(inputs), failed=0)
        else:
            errors = [f"{self.column} is null" if value is None else None for value in inputs]
            result = self._embed(self.kind, inputs, errors)
        batch = _set_column(
            batch, self.output_column, embedding_array(result.vectors, result.errors)
        )
        return _set_column(batch, self.error_column, pa.array(result.errors, pa.string()))


def _set_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def compute_strategy(concurrency: int | tuple[int, int]) -> Any:
    """A fixed pool of ``n`` actors, or an autoscaling one for ``(min, max)``."""
    ray = import_ray()
    if isinstance(concurrency, tuple):
        low, high = concurrency
        return ray.data.ActorPoolStrategy(min_size=low, max_size=high)
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, not {concurrency}")
    return ray.data.ActorPoolStrategy(size=concurrency)


def embed_dataset(
    ds: ray.data.Dataset,
    *,
    column: str,
    kind: Literal["image", "text"] = "image",
    config: EmbedderConfig | None = None,
    output_column: str = "embedding",
    error_column: str = "error",
    concurrency: int | tuple[int, int] = 1,
    num_gpus: float = 0,
    num_cpus: float = 1,
    batch_size: int = DEFAULT_RAY_BATCH_SIZE,
    on_error: OnError = "record",
    event_log: str | os.PathLike | None = None,
) -> ray.data.Dataset:
    """Add a vector column to ``ds``, computed by ``concurrency`` actors each holding one model.

    :param column: the input column: texts, or images as bytes, paths, URLs or data URIs.
    :param output_column: the new ``fixed_size_list<float32>[dim]`` column (int8/uint8 codes
        with ``config.precision``); null where an item failed (``on_error="record"``) and the
        reason in ``error_column``.
    :param concurrency: actors in the pool, or ``(min, max)`` for an autoscaling pool.
    :param num_gpus: GPUs per actor (1 to give each model its own GPU; fractions share one).
    :param batch_size: rows per ``map_batches`` call; the Embedder batches within it by
        ``config.batch_size``.
    :param on_error: ``"record"`` keeps a bad row with a null vector and an error string;
        ``"raise"`` fails the job on the first bad row.
    :param event_log: a file each actor appends a JSON line to per model load and per batch.
    """
    if kind not in ("image", "text"):
        raise ValueError(f"kind must be 'image' or 'text', not {kind!r}")
    if on_error not in ("record", "raise"):
        raise ValueError(f"on_error must be 'record' or 'raise', not {on_error!r}")
    if column not in ds.columns():
        raise ValueError(f"the dataset has no column {column!r} (columns: {ds.columns()})")
    config = config or EmbedderConfig()
    if num_gpus and config.device == "cpu":
        raise ValueError("num_gpus > 0 with device='cpu' leaves the GPUs idle: use device='auto'")
    return ds.map_batches(
        EmbedBatches,
        batch_format="pyarrow",
        batch_size=batch_size,
        compute=compute_strategy(concurrency),
        num_gpus=num_gpus,
        num_cpus=num_cpus,
        zero_copy_batch=True,
        fn_constructor_kwargs={
            "config": _config_for_actors(config),
            "column": column,
            "kind": kind,
            "output_column": output_column,
            "error_column": error_column,
            "on_error": on_error,
            "event_log": os.fspath(event_log) if event_log is not None else None,
        },
    )


def _config_for_actors(config: EmbedderConfig) -> dict[str, Any]:
    """The config as a plain dict (without the API key; actors read ``JINA_API_KEY``), with a
    relative local model folder made absolute so actors started elsewhere find it."""
    data = config.to_dict()
    folder = Path(config.model)
    if folder.is_dir():
        data["model"] = str(folder.resolve())
    return data
