"""List what ``clipbridge index`` embeds: one :class:`Item` per image, PDF page or text line.

Listing is pure and lazy (files are not opened except to count PDF pages and read texts), and every
item gets a stable id, so a resumed run skips exactly what an earlier run wrote:

- an image: its path, ``photos/cat.jpg``
- a PDF page: ``report.pdf#page=3`` (pages count from 1)
- a text: ``notes.txt#line=12`` (lines count from 1; blank lines are skipped but keep their number),
  ``rows.jsonl#line=4``, ``table.parquet#row=7`` (rows count from 0, as in the file)

Example::

    items = list(list_items(["photos/", "scans/*.pdf"], kind="image"))
    items[0].id   # 'photos/a.jpg'
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "IMAGE_SUFFIXES",
    "TEXT_SUFFIXES",
    "Item",
    "Kind",
    "SourceError",
    "list_items",
]

Kind = Literal["image", "text"]

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".jfif"}
)
PDF_SUFFIX = ".pdf"
TEXT_SUFFIXES = frozenset({".txt", ".jsonl", ".parquet"})
DEFAULT_TEXT_COLUMN = "text"


class SourceError(ValueError):
    """A SOURCE argument names nothing usable (no match, wrong kind of file)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to embed.

    ``source`` is the file it comes from; ``page`` is set for a PDF page (1-based); ``text`` holds
    the text for text items (None for images, which are read when embedded).
    """

    id: str
    source: str
    kind: Kind
    page: int | None = None
    text: str | None = None
    error: str | None = None  # set when listing already knows the item cannot be embedded


def _expand(source: str) -> list[Path]:
    """A file, every file under a folder (sorted, recursive), or a glob's matches (sorted)."""
    path = Path(source)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if glob.has_magic(source):
        return sorted(Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file())
    return [path]  # a plain path, existing or not: a missing file becomes an error row


def _pdf_pages(path: Path) -> int:
    from ..pdf import _import_pdfium

    pdfium = _import_pdfium()
    pdf = pdfium.PdfDocument(str(path))
    try:
        return len(pdf)
    finally:
        pdf.close()


def _image_items(path: Path, explicit: bool) -> Iterator[Item]:
    name = str(path)
    suffix = path.suffix.lower()
    if suffix == PDF_SUFFIX:
        try:
            pages = _pdf_pages(path)
        except ImportError as exc:  # no pdf extra: one error row saying what to install
            yield Item(id=f"{name}#page=1", source=name, kind="image", page=1, error=str(exc))
            return
        except Exception as exc:  # a broken or missing PDF: one error row, the run goes on
            reason = f"cannot open {name!r} as a PDF: {type(exc).__name__}: {exc}"
            yield Item(id=f"{name}#page=1", source=name, kind="image", page=1, error=reason)
            return
        for page in range(1, pages + 1):
            yield Item(id=f"{name}#page={page}", source=name, kind="image", page=page)
    elif suffix in IMAGE_SUFFIXES or explicit:
        # A path named on the command line is tried whatever its suffix; inside folders and globs
        # only image suffixes count, so README files and the like are left alone.
        yield Item(id=name, source=name, kind="image")


def _text_items(path: Path, column: str) -> Iterator[Item]:
    name = str(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        yield Item(id=name, source=name, kind="text", error=f"file not found: {name!r}")
    elif suffix == ".parquet":
        yield from _parquet_texts(path, column)
    elif suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                item_id = f"{name}#line={number}"
                try:
                    text = json.loads(line)[column]
                except (ValueError, KeyError, TypeError) as exc:
                    reason = f"line {number} has no {column!r} string: {type(exc).__name__}"
                    yield Item(id=item_id, source=name, kind="text", error=reason)
                    continue
                if not isinstance(text, str):
                    reason = f"line {number}: {column!r} is {type(text).__name__}, not a string"
                    yield Item(id=item_id, source=name, kind="text", error=reason)
                    continue
                yield Item(id=item_id, source=name, kind="text", text=text)
    else:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                text = line.rstrip("\r\n")
                if text.strip():
                    yield Item(id=f"{name}#line={number}", source=name, kind="text", text=text)


def _parquet_texts(path: Path, column: str) -> Iterator[Item]:
    import pyarrow.parquet as pq

    name = str(path)
    file = pq.ParquetFile(path)
    if column not in file.schema_arrow.names:
        raise SourceError(f"{name}: no column {column!r} (columns: {file.schema_arrow.names})")
    row = 0
    for batch in file.iter_batches(columns=[column]):
        for text in batch.column(0).to_pylist():
            item_id = f"{name}#row={row}"
            if isinstance(text, str):
                yield Item(id=item_id, source=name, kind="text", text=text)
            else:
                reason = f"row {row}: {column!r} is {type(text).__name__}, not a string"
                yield Item(id=item_id, source=name, kind="text", error=reason)
            row += 1


def list_items(
    sources: Iterable[str | os.PathLike], *, kind: Kind, text_column: str = DEFAULT_TEXT_COLUMN
) -> Iterator[Item]:
    """Every item the SOURCE arguments name, in order; each id appears once.

    :raises SourceError: a folder or glob matches no file of the kind, or a text file has the
        wrong suffix. A plain path that does not exist is listed (it becomes an error row).
    """
    seen: set[str] = set()
    for source in sources:
        text = os.fspath(source)
        paths = _expand(text)
        explicit = len(paths) == 1 and paths[0] == Path(text)
        found = 0
        for path in paths:
            if kind == "image":
                items = _image_items(path, explicit)
            elif path.suffix.lower() in TEXT_SUFFIXES or (explicit and not path.exists()):
                items = _text_items(path, text_column)
            elif explicit:
                raise SourceError(
                    f"{text}: texts come from .txt (a line each), .jsonl or .parquet files"
                )
            else:
                continue
            for item in items:
                found += 1
                if item.id not in seen:
                    seen.add(item.id)
                    yield item
        if not found and not explicit:
            raise SourceError(f"{text}: matches no {kind} file")
