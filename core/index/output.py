"""The Parquet file ``clipbridge index`` writes, in chunks that survive a killed run.

Columns: ``id`` (string), ``source`` (string), ``kind`` (``image``/``text``), ``embedding``
(``fixed_size_list<float32>[dim]``, null for a failed item; with ``--precision``
``fixed_size_list<int8|uint8>`` codes of :mod:`clipbridge.precision`), ``error`` (null, or why
the item failed), ``text`` (a text row's passage), ``path`` (an image row's file, absolute),
``page`` (a PDF page, from 1), ``width`` and ``height`` (an image row's size as the model sees
it), then one column per ``--meta-column`` (values carried from the .jsonl/.parquet source).
Readers are in :mod:`clipbridge.index_file`. The schema metadata holds ``clipbridge.model``,
``clipbridge.dimension`` (the vectors' width before packing), ``clipbridge.precision`` and
``clipbridge.config`` (the :class:`~clipbridge.EmbedderConfig` as
JSON, without the API key).

While a run goes on, each chunk is a complete Parquet file in ``OUT.parts/`` (written to a
temporary name, then renamed), so a killed run loses at most the chunk it was embedding. Whoever
embeds a chunk writes its part (this process, or a Ray actor: :class:`Parts` travels to it); the
name ``part-RUN-FIRST.parquet`` (the run's number, the chunk's first position in the run's list)
keeps the rows in the order they were listed. At the
end the parts are appended to ``OUT`` (written next to it, then renamed) and removed. ``--resume``
reads the ids of ``OUT`` and of the parts left by a killed run. Joining keeps the first row of
each id, so a run killed after the rename but before the parts were removed leaves nothing
twice: the next ``--resume`` finds every id done and joins the same file again.

Example::

    import pyarrow.parquet as pq

    table = pq.read_table("index.parquet")
    dim = int(table.schema.metadata[b"clipbridge.dimension"])
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ClipBridgeError
from ..index_file import META_CONFIG, META_DIMENSION, META_MODEL, META_PRECISION
from ..precision import output_dtype, output_width
from .columns import image_size, meta_values

if TYPE_CHECKING:
    import pyarrow as pa

    from ..config import EmbedderConfig
    from .embedding import Embedded
    from .sources import Item

__all__ = [
    "COLUMNS",
    "ChunkWriter",
    "Parts",
    "build_table",
    "check_output",
    "done_ids",
    "index_schema",
    "parts_dir",
    "read_metadata",
]

COLUMNS = ("id", "source", "kind", "embedding", "error", "text", "path", "page", "width", "height")
PARQUET_MAGIC = b"PAR1"


def _pa() -> Any:
    try:
        import pyarrow
    except ImportError as exc:
        raise ImportError(
            "clipbridge index needs pyarrow: pip install 'clipbridge[index]'"
        ) from exc
    return pyarrow


def index_schema(
    dimension: int, config: EmbedderConfig, meta: Sequence[pa.Field] = ()
) -> pa.Schema:
    """The output schema for vectors of ``dimension`` made with ``config`` (at its
    precision), with the carried
    ``meta`` columns (see :func:`~clipbridge.index.columns.meta_fields`) last."""
    pa = _pa()
    value_type = pa.from_numpy_dtype(output_dtype(config.precision))
    width = output_width(dimension, config.precision)
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("embedding", pa.list_(value_type, width)),
        pa.field("error", pa.string()),
        pa.field("text", pa.string()),
        pa.field("path", pa.string()),
        pa.field("page", pa.int32()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        *meta,
    ]
    metadata = {
        META_MODEL: config.model.encode(),
        META_DIMENSION: str(dimension).encode(),
        META_PRECISION: config.precision.encode(),
        META_CONFIG: json.dumps(config.to_dict(), sort_keys=True).encode(),
    }
    return pa.schema(fields, metadata=metadata)


def embedding_array(vectors: np.ndarray, errors: Sequence[str | None]) -> pa.Array:
    """A ``fixed_size_list`` array of the rows (their dtype: float32, or int8/uint8 codes), null
    where an item failed."""
    pa = _pa()
    n, dim = vectors.shape
    values = pa.array(np.ascontiguousarray(vectors).reshape(-1))
    mask = pa.array([e is not None for e in errors], type=pa.bool_())
    return pa.FixedSizeListArray.from_arrays(values, dim, mask=mask if n else None)


def _sizes(items: Sequence[Item], embedded: Embedded) -> list[tuple[int, int] | None]:
    """(width, height) of each image row that was embedded: rendered pages as rendered, files
    from their header."""
    sizes: list[tuple[int, int] | None] = []
    for i, item in enumerate(items):
        if item.kind != "image" or embedded.errors[i] is not None:
            sizes.append(None)
        elif i in embedded.sizes:
            sizes.append(embedded.sizes[i])
        else:
            sizes.append(image_size(item.path or item.source))
    return sizes


def _carried(values: list[Any], field: pa.Field) -> pa.Array:
    pa = _pa()
    if pa.types.is_string(field.type):  # mixed types were given a string column: JSON for them
        values = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
    return pa.array(values, field.type)


def build_table(items: Sequence[Item], embedded: Embedded, schema: pa.Schema) -> pa.Table:
    """The output rows of ``items`` and what :func:`embed_items` made of them."""
    pa = _pa()
    sizes = _sizes(items, embedded)
    images = [item.kind == "image" for item in items]
    columns = [
        pa.array([item.id for item in items], pa.string()),
        pa.array([item.source for item in items], pa.string()),
        pa.array([item.kind for item in items], pa.string()),
        embedding_array(embedded.vectors, embedded.errors),
        pa.array(embedded.errors, pa.string()),
        pa.array([item.text for item in items], pa.string()),
        pa.array(
            [i.path if image else None for i, image in zip(items, images, strict=True)], pa.string()
        ),
        pa.array([item.page for item in items], pa.int32()),
        pa.array([size[0] if size else None for size in sizes], pa.int32()),
        pa.array([size[1] if size else None for size in sizes], pa.int32()),
    ]
    carried = [schema.field(name) for name in schema.names[len(COLUMNS) :]]
    values = meta_values(items, [f.name for f in carried])
    columns += [_carried(values[f.name], f) for f in carried]
    return pa.Table.from_arrays(columns, schema=schema)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns, in its order: a file written before a column
    existed gets nulls there."""
    pa = _pa()
    for field in schema:
        if field.name not in table.column_names:
            table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
    return table.select(schema.names).cast(schema)


def parts_dir(out: Path) -> Path:
    """Where a run keeps its finished chunks until it ends: ``OUT.parts/``."""
    return out.with_name(out.name + ".parts")


def _part_files(out: Path) -> list[Path]:
    folder = parts_dir(out)
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


def read_metadata(path: Path) -> dict[str, Any]:
    """Model, dimension, precision and config a file was written with (``float32`` for a file
    from before precisions)."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    if META_MODEL not in meta:
        raise ClipBridgeError(f"{path} was not written by clipbridge index (no metadata)")
    return {
        "model": meta[META_MODEL].decode(),
        "dimension": int(meta[META_DIMENSION]),
        "precision": meta.get(META_PRECISION, b"float32").decode(),
        "config": json.loads(meta[META_CONFIG]),
    }


def _written(out: Path) -> list[Path]:
    return ([out] if out.is_file() else []) + _part_files(out)


def done_ids(out: Path, schema: pa.Schema) -> set[str]:
    """Ids already in ``OUT`` and its parts; a file made with another model is refused."""
    import pyarrow.parquet as pq

    ids: set[str] = set()
    expected = (
        schema.metadata[META_MODEL].decode(),
        int(schema.metadata[META_DIMENSION]),
        schema.metadata[META_PRECISION].decode(),
    )
    for path in _written(out):
        meta = read_metadata(path)
        if (meta["model"], meta["dimension"], meta["precision"]) != expected:
            raise ClipBridgeError(
                f"cannot resume into {path}: it holds {meta['model']} vectors of dimension "
                f"{meta['dimension']} at precision {meta['precision']}, this run makes "
                f"{expected[0]} of dimension {expected[1]} at precision {expected[2]}"
            )
        extra = sorted(set(pq.read_schema(path).names) - set(schema.names))
        if extra:
            raise ClipBridgeError(
                f"cannot resume into {path}: it carries the columns {', '.join(extra)}; "
                "resume with the same --meta-column options"
            )
        ids.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    return ids


def existing_output(out: Path) -> list[Path]:
    """``OUT`` and its parts folder, where they exist."""
    return [p for p in (out, parts_dir(out)) if p.exists()]


def _is_parquet(path: Path) -> bool:
    """Whether ``path`` starts and ends with Parquet's magic bytes."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
            fh.seek(-4, os.SEEK_END)
            return head == PARQUET_MAGIC and fh.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def check_output(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse an ``out`` that cannot be this run's output, before anything is loaded or removed.

    :raises ClipBridgeError: ``out`` is a folder or a file that is not Parquet (never replaced,
        ``overwrite`` or not), its folder is missing, or it exists and neither ``resume`` nor
        ``overwrite`` is set, or ``resume`` meets a file clipbridge did not write.
    """
    if out.is_dir():
        raise ClipBridgeError(f"--out {out} is a folder: give the name of a .parquet file")
    if not out.parent.is_dir():
        raise ClipBridgeError(f"cannot write {out}: no folder {out.parent}")
    if out.exists() and not (out.is_file() and _is_parquet(out)):
        raise ClipBridgeError(
            f"{out} exists and is not a Parquet file: clipbridge index does not replace it; "
            "remove it or pick another --out"
        )
    parts = parts_dir(out)
    if parts.exists() and not parts.is_dir():
        raise ClipBridgeError(
            f"{parts} exists and is not a folder: remove it or pick another --out"
        )
    found = existing_output(out)
    if found and not (resume or overwrite):
        raise ClipBridgeError(
            f"{found[0]} exists: pass --resume to add what is missing, or --overwrite"
        )
    if resume and out.exists():
        read_metadata(out)  # raises for a Parquet file clipbridge index did not write


@dataclass(frozen=True)
class Parts:
    """Where a run's finished chunks go, and how each is written: whole, or not at all.

    Small and picklable, so the process that embeds a chunk writes it (a Ray actor included);
    :meth:`ChunkWriter.finish` later joins what is there.

    Example::

        parts = ChunkWriter(Path("index.parquet"), schema).parts
        parts.write(table, first=0)   # index.parquet.parts/part-000000-000000000.parquet
    """

    folder: Path
    run: int  # one more than the highest run whose parts are there
    schema: pa.Schema

    def write(self, table: pa.Table, first: int) -> Path | None:
        """Write ``table`` (rows from position ``first`` of the run's list) as one part file;
        its path, or None for no rows. The same chunk written again replaces its part."""
        import pyarrow.parquet as pq

        if table.num_rows == 0:
            return None
        path = self.folder / f"part-{self.run:06d}-{first:09d}.parquet"
        tmp = path.with_name(path.stem + ".tmp")
        with _writing(path):
            pq.write_table(conform(table, self.schema), tmp)
            os.replace(tmp, path)
        return path


class ChunkWriter:
    """Makes ``OUT.parts/`` for a run's :class:`Parts`; :meth:`finish` joins them into ``OUT``.

    Example::

        writer = ChunkWriter(Path("index.parquet"), schema)
        writer.write(table)      # a complete file on disk once this returns
        writer.finish()          # index.parquet holds every row, the parts are gone
    """

    def __init__(self, out: Path, schema: pa.Schema) -> None:
        self.out = out
        self.schema = schema
        self.folder = parts_dir(out)
        with _writing(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
        existing = _part_files(out)  # a killed run's: "part-RUN-FIRST" (or "part-RUN", older)
        run = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0
        self.parts = Parts(self.folder.absolute(), run, schema)  # the same for Ray's workers
        self._first = 0

    def write(self, table: pa.Table) -> None:
        """Write ``table`` as the part after the previous one."""
        self.parts.write(table, self._first)
        self._first += table.num_rows

    def finish(self) -> int:
        """Join ``OUT`` and every part into a new ``OUT`` (written next to it, then renamed),
        each id once (the first row of it), and remove the parts; the row count.

        Killed anywhere in here, the next run's ``finish`` makes the same file: before the
        rename ``OUT`` is untouched, after it the parts left hold only ids ``OUT`` has.
        """
        import pyarrow.parquet as pq

        sources = _written(self.out)
        tmp = self.out.with_name(self.out.name + ".tmp")
        rows = 0
        seen: set[str] = set()
        with _writing(self.out), pq.ParquetWriter(tmp, self.schema) as writer:
            for table in _tables(sources):
                table = _first_of_each_id(table, seen)
                if table.num_rows:
                    writer.write_table(conform(table, self.schema))
                    rows += table.num_rows
        with _writing(self.out):
            os.replace(tmp, self.out)
        shutil.rmtree(self.folder, ignore_errors=True)
        return rows


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn a failed write (disk full, read-only folder) into one sentence naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise ClipBridgeError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _first_of_each_id(table: pa.Table, seen: set[str]) -> pa.Table:
    """The rows of ``table`` whose id is not in ``seen`` (nor earlier in ``table``); ``seen``
    gets their ids."""
    pa = _pa()
    keep: list[bool] = []
    for item_id in table.column("id").to_pylist():
        new = item_id not in seen
        keep.append(new)
        if new:
            seen.add(item_id)
    return table if all(keep) else table.filter(pa.array(keep, pa.bool_()))


def _tables(paths: Iterable[Path]) -> Iterator[pa.Table]:
    import pyarrow.parquet as pq

    for path in paths:
        file = pq.ParquetFile(path)
        for group in range(file.num_row_groups):
            yield file.read_row_group(group)
