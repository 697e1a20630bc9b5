"""Read the Parquet file ``clipbridge index`` writes: the stored vectors, never the model.

The one place that knows the file's layout on the reading side. The bulk indexer
(:mod:`clipbridge.index`), ``clipbridge search`` and the framework adapters
(``index_nodes``, ``add_index``, ``index_documents``) all read through it, so each hands a
framework the vectors the index holds instead of embedding anything again.

Columns: ``id``, ``source``, ``kind`` (``image``/``text``), ``embedding``
(``fixed_size_list<float32>[dim]``, null for a failed item), ``error``; files written since the
index learned them also hold ``text`` (text rows), ``path``, ``width``, ``height`` (image rows),
``page`` (PDF pages) and the ``--meta-column`` columns of the sources. The schema metadata holds
``clipbridge.model``, ``clipbridge.dimension`` and ``clipbridge.config``.

Example::

    from clipbridge.index_file import read_rows

    stored = read_rows("photos.parquet")
    stored.skipped              # error rows left out
    stored.rows[0].embedding    # list[float], as written by clipbridge index
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from .errors import ClipBridgeError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "BASE_COLUMNS",
    "META_CONFIG",
    "META_DIMENSION",
    "META_MODEL",
    "META_PRECISION",
    "IndexInfo",
    "IndexRow",
    "StoredIndex",
    "embedding_matrix",
    "read_index",
    "read_info",
    "read_rows",
    "usable",
]

logger = logging.getLogger("clipbridge")

META_MODEL = b"clipbridge.model"
META_DIMENSION = b"clipbridge.dimension"
META_CONFIG = b"clipbridge.config"
META_PRECISION = b"clipbridge.precision"
BASE_COLUMNS = ("id", "source", "kind", "embedding", "error")
"""The columns every index file has; anything else is row metadata."""
_NOT_METADATA = frozenset({"id", "embedding", "error", "text"})


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise ImportError(
            "reading a clipbridge index needs pyarrow: pip install 'clipbridge[index]'"
        ) from exc
    return pyarrow


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """What an index file was made with: the model's name, the vectors' width, the config, and
    the precision of the stored vectors (``float32``, or codes: :mod:`clipbridge.precision`)."""

    model: str
    dimension: int
    config: dict[str, Any]
    precision: str = "float32"


def _info(path: Path, metadata: dict[bytes, bytes] | None) -> IndexInfo:
    meta = metadata or {}
    if META_MODEL not in meta or META_DIMENSION not in meta:
        raise ClipBridgeError(f"{path} was not written by clipbridge index (no metadata)")
    config = json.loads(meta[META_CONFIG]) if META_CONFIG in meta else {}
    precision = meta.get(META_PRECISION, b"float32").decode()
    return IndexInfo(meta[META_MODEL].decode(), int(meta[META_DIMENSION]), config, precision)


def _checked(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ClipBridgeError(f"{path} is a folder, not a clipbridge index file")
    if not path.is_file():
        raise ClipBridgeError(f"no index file {str(path)!r}")
    return path


def read_info(path: str | os.PathLike) -> IndexInfo:
    """Model, dimension and config of an index file, from its schema alone (no rows read).

    :raises ClipBridgeError: the file is missing, is not Parquet, or was not written by
        ``clipbridge index``.
    """
    path = _checked(path)
    _pyarrow()
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and OSError for a non-Parquet file
        raise ClipBridgeError(f"{path} is not a Parquet file ({exc})") from exc
    return _info(path, schema.metadata)


def read_index(path: str | os.PathLike) -> pa.Table:
    """Every row of a ``clipbridge index`` file, error rows included, with its schema metadata.

    Example::

        from clipbridge.index import read_index

        table = read_index("photos.parquet")
        table.schema.metadata[b"clipbridge.model"]      # b'jinaai/jina-clip-v1'

    :raises ClipBridgeError: the file is missing, is not Parquet, or was not written by
        ``clipbridge index``.
    """
    read_info(path)  # the checks, from the footer only
    import pyarrow.parquet as pq

    return pq.read_table(Path(path))


def usable(table: pa.Table) -> tuple[pa.Table, int]:
    """The rows that hold a vector, and how many error rows were left out."""
    import pyarrow.compute as pc

    keep = pc.and_(pc.is_null(table["error"]), pc.is_valid(table["embedding"]))
    good = table.filter(keep)
    return good, table.num_rows - good.num_rows


def embedding_matrix(table: pa.Table) -> np.ndarray:
    """The ``embedding`` column of rows that all hold a vector, as float32 ``(n, dim)``."""
    column = table["embedding"].combine_chunks()
    if column.null_count:
        raise ValueError("embedding_matrix needs rows with a vector: filter with usable() first")
    width = column.type.list_size
    values = column.flatten().to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float32).reshape(-1, width)


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One row of an index that holds a vector, as the adapters hand it on.

    ``text`` is the passage of a text row (None for images, and for text rows of files written
    before the index stored it); ``image`` is where an image row's picture is (its resolved
    path or URL, the PDF for a page); ``metadata`` holds every other non-null column
    (``source``, ``kind``, ``page``, ``width``, ``height``, ``path``, carried columns; a list
    or struct as its JSON).
    """

    id: str
    kind: str
    source: str
    embedding: list[float]
    text: str | None = None
    image: str | None = None
    page: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: dict[str, Any], **extra: Any) -> Self:
        """The row of one record of the file (``table.to_pylist()``); ``extra``: a subclass's
        own fields."""
        kind = record["kind"]
        metadata = {
            name: _scalar(value)
            for name, value in record.items()
            if name not in _NOT_METADATA and value is not None
        }
        return cls(
            id=record["id"],
            kind=kind,
            source=record["source"],
            embedding=record["embedding"],
            text=record.get("text"),
            image=(record.get("path") or record["source"]) if kind == "image" else None,
            page=record.get("page"),
            metadata=metadata,
            **extra,
        )


@dataclass(frozen=True, slots=True)
class StoredIndex:
    """The usable rows of an index file, how many error rows were skipped, and its info."""

    rows: list[IndexRow]
    skipped: int
    info: IndexInfo
    path: Path


def _scalar(value: Any) -> Any:
    """A value every vector store takes as metadata: a list or struct becomes its JSON."""
    return value if isinstance(value, str | int | float | bool) else json.dumps(value, default=str)


def read_rows(path: str | os.PathLike, *, kinds: Sequence[str] = ("image", "text")) -> StoredIndex:
    """The rows of an index file that hold a vector, ready to hand to a framework.

    Error rows are left out and counted (``skipped``, also logged as a warning on the
    ``clipbridge`` logger); ``kinds`` keeps only image or only text rows.
    """
    info = read_info(path)
    if info.precision != "float32":
        raise ClipBridgeError(
            f"{path} holds {info.precision} codes (clipbridge index --precision "
            f"{info.precision}), and LlamaIndex, LangChain and Haystack stores take float "
            "vectors: index again without --precision, or load the codes with pyarrow into a "
            "store that takes them (docs/precision.md)"
        )
    table = read_index(path)
    good, skipped = usable(table)
    if skipped:
        logger.warning("%s: skipped %d error rows (no vector)", path, skipped)
    rows = [IndexRow.from_record(record) for record in good.to_pylist() if record["kind"] in kinds]
    return StoredIndex(rows=rows, skipped=skipped, info=info, path=Path(path))
