"""List what ``clipbridge index`` embeds: one :class:`Item` per image, PDF page or text line.

Listing is pure and lazy (files are not opened except to count PDF pages and read texts), and every
item gets a stable id, so a resumed run skips exactly what an earlier run wrote:

- an image: its path, ``photos/cat.jpg``
- a PDF page: ``report.pdf#page=3`` (pages count from 1)
- a text: ``notes.txt#line=12`` (lines count from 1; blank lines are skipped but keep their number),
  ``rows.jsonl#line=4``, ``table.parquet#row=7`` (rows count from 0, as in the file)

Each item also knows where its file is (``path``, absolute, found once on the machine that lists)
and, for texts of .jsonl/.parquet files, the values of the ``meta_columns`` asked for (``meta``).

Two spellings of one file (``imgs/a.jpg``, ``/data/imgs/a.jpg``, a symlink) are one item:
:func:`canonical_id` resolves the path part of an id, and listing and ``--resume`` compare those.
A text that is not valid Unicode (a line with a byte that is not UTF-8, a JSON string holding a
lone surrogate such as ``"\\ud800"``) becomes an item with an error, never a crash later.

Example::

    items = list(list_items(["photos/", "scans/*.pdf"], kind="image"))
    items[0].id   # 'photos/a.jpg'
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ClipBridgeError
from ..results import Kind

__all__ = [
    "IMAGE_SUFFIXES",
    "TEXT_SUFFIXES",
    "Item",
    "Kind",
    "SourceError",
    "canonical_id",
    "canonical_ids",
    "list_items",
]

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".jfif"}
)
PDF_SUFFIX = ".pdf"
TEXT_SUFFIXES = frozenset({".txt", ".jsonl", ".parquet"})
DEFAULT_TEXT_COLUMN = "text"


_FRAGMENT = re.compile(r"#(?:page|line|row)=\d+$")


class SourceError(ClipBridgeError, ValueError):
    """A SOURCE argument names nothing usable (no match, no such folder, wrong kind of file)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to embed.

    ``source`` is the file it comes from, as given; ``path`` the same file as an absolute path;
    ``page`` is set for a PDF page (1-based); ``text`` holds the text for text items (None for
    images, which are read when embedded); ``meta`` the carried ``meta_columns`` values of a
    .jsonl line or .parquet row, as a JSON object (None when none were asked for).
    """

    id: str
    source: str
    kind: Kind
    page: int | None = None
    text: str | None = None
    error: str | None = None  # set when listing already knows the item cannot be embedded
    path: str | None = None
    meta: str | None = None


def canonical_id(item_id: str, cache: dict[str, str] | None = None) -> str:
    """``item_id`` with its path made absolute and resolved (symlinks, ``..``), fragment kept.

    ``canonical_id("imgs/a.jpg")`` is ``"/data/imgs/a.jpg"`` when run in ``/data``. ``cache``
    (path -> resolved path) saves the file system calls for the many lines of one file.
    """
    match = _FRAGMENT.search(item_id)
    path, fragment = (item_id[: match.start()], match.group()) if match else (item_id, "")
    if cache is None:
        return os.path.realpath(path) + fragment
    resolved = cache.get(path)
    if resolved is None:
        resolved = cache[path] = os.path.realpath(path)
    return resolved + fragment


def canonical_ids(ids: Iterable[str]) -> set[str]:
    """:func:`canonical_id` of each id."""
    cache: dict[str, str] = {}
    return {canonical_id(item_id, cache) for item_id in ids}


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


def _unicode_problem(text: str) -> str | None:
    """Why ``text`` cannot be encoded as UTF-8 (a lone surrogate), or None when it can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"holds a lone surrogate U+{ord(text[exc.start]):04X} at character {exc.start + 1}"
    return None


def _decoded_lines(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text or None, why not) for each line; a line that is not UTF-8 gets a
    reason instead of failing the file."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                yield number, raw.decode("utf-8"), None
            except UnicodeDecodeError as exc:
                reason = (
                    f"line {number} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte "
                    f"{exc.start + 1})"
                )
                yield number, None, reason


def _meta(values: dict[str, object], names: Sequence[str]) -> str | None:
    """The ``names`` values of a row as one JSON object (null where missing); None without names."""
    if not names:
        return None
    return json.dumps({name: values.get(name) for name in names}, default=str, ensure_ascii=False)


def _jsonl_meta(line: str, names: Sequence[str]) -> str | None:
    if not names:
        return None
    try:
        row = json.loads(line)
    except ValueError:
        row = None
    return _meta(row if isinstance(row, dict) else {}, names)


def _text_items(path: Path, column: str, meta_columns: Sequence[str] = ()) -> Iterator[Item]:
    name = str(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        yield Item(id=name, source=name, kind="text", error=f"file not found: {name!r}")
    elif suffix == ".parquet":
        yield from _parquet_texts(path, column, meta_columns)
    else:
        jsonl = suffix == ".jsonl"
        for number, line, reason in _decoded_lines(path):
            item_id = f"{name}#line={number}"
            if line is None:
                yield Item(id=item_id, source=name, kind="text", error=reason)
                continue
            if not line.strip():
                continue
            if jsonl:
                text, reason = _jsonl_text(line, number, column)
            else:  # decoded strictly above: a .txt line cannot hold a lone surrogate
                text, reason = line.rstrip("\r\n"), None
            meta = _jsonl_meta(line, meta_columns) if jsonl else _meta({}, meta_columns)
            if reason is not None:
                yield Item(id=item_id, source=name, kind="text", error=reason, meta=meta)
            else:
                yield Item(id=item_id, source=name, kind="text", text=text, meta=meta)


def _jsonl_text(line: str, number: int, column: str) -> tuple[str | None, str | None]:
    """The ``column`` string of one JSONL line, or None and why not."""
    try:
        text = json.loads(line)[column]
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"line {number} has no {column!r} string: {type(exc).__name__}"
    if not isinstance(text, str):
        return None, f"line {number}: {column!r} is {type(text).__name__}, not a string"
    problem = _unicode_problem(text)  # JSON's "\\ud800" escapes decode to lone surrogates
    if problem is not None:
        return None, f"line {number}: {column!r} {problem}"
    return text, None


def _parquet_texts(path: Path, column: str, meta_columns: Sequence[str] = ()) -> Iterator[Item]:
    import pyarrow.parquet as pq

    name = str(path)
    try:
        file = pq.ParquetFile(path)
    except Exception as exc:  # not Parquet, truncated: the SOURCE is unusable as a whole
        raise SourceError(f"{name}: cannot read it as Parquet ({type(exc).__name__})") from exc
    if column not in file.schema_arrow.names:
        raise SourceError(
            f"{name}: no column {column!r} (columns: {file.schema_arrow.names}); "
            "pick one with --text-column"
        )
    missing = [m for m in meta_columns if m not in file.schema_arrow.names]
    if missing:
        raise SourceError(
            f"{name}: no column {missing[0]!r} for --meta-column (columns: "
            f"{file.schema_arrow.names})"
        )
    extra = [m for m in dict.fromkeys(meta_columns) if m != column]
    row = 0
    for batch in file.iter_batches(columns=[column, *extra]):
        texts = _column_values(batch.column(0))
        carried = {m: batch.column(m).to_pylist() for m in extra}
        for i, text in enumerate(texts):
            item_id = f"{name}#row={row}"
            values = {m: carried[m][i] for m in extra} | {column: text}
            meta = _meta(values, meta_columns)
            if isinstance(text, str):
                yield Item(id=item_id, source=name, kind="text", text=text, meta=meta)
            else:
                what = (
                    "bytes that are not UTF-8" if isinstance(text, bytes) else type(text).__name__
                )
                reason = f"row {row}: {column!r} is {what}, not a string"
                yield Item(id=item_id, source=name, kind="text", error=reason, meta=meta)
            row += 1


def _column_values(array: object) -> list[object]:
    """A column's Python values; a string column holding bytes that are not UTF-8 gives those
    values as ``bytes`` instead of failing the whole batch."""
    import pyarrow as pa

    try:
        return array.to_pylist()  # type: ignore[attr-defined]
    except UnicodeDecodeError:
        values = array.cast(pa.binary()).to_pylist()  # type: ignore[attr-defined]
        out: list[object] = []
        for value in values:
            try:
                out.append(value.decode("utf-8") if value is not None else None)
            except UnicodeDecodeError:
                out.append(value)
        return out


def _missing_source(text: str, path: Path, kind: Kind) -> SourceError | None:
    """A SOURCE that names nothing and cannot be a file of ``kind``: no error row, a usage error.

    A missing ``photo.jpg`` (or ``notes.txt`` with ``--kind text``) is an error row, as a file
    that vanished would be; a missing ``photos`` or ``photos/`` is a mistyped folder."""
    suffixes = TEXT_SUFFIXES if kind == "text" else IMAGE_SUFFIXES | {PDF_SUFFIX}
    if path.exists() or (path.suffix.lower() in suffixes and not text.endswith(("/", os.sep))):
        return None
    return SourceError(f"{text}: no such file or folder")


def list_items(
    sources: Iterable[str | os.PathLike],
    *,
    kind: Kind,
    text_column: str = DEFAULT_TEXT_COLUMN,
    meta_columns: Sequence[str] = (),
) -> Iterator[Item]:
    """Every item the SOURCE arguments name, in order; each item appears once, however its path
    is spelled (see :func:`canonical_id`).

    ``meta_columns`` (texts only) are read from each .jsonl line and .parquet row into the
    item's ``meta``; a .txt line, or a line without one of them, carries null for it.

    :raises SourceError: a folder or glob matches no file of the kind, a folder does not exist,
        a text file is named without ``kind="text"`` (or another file with it), or a Parquet
        file has no ``text_column`` or one of ``meta_columns``, or ``meta_columns`` are asked
        for images. A missing file with a suffix of the kind is listed (it becomes an error row).
    """
    if meta_columns and kind != "text":
        raise SourceError("--meta-column carries columns of .jsonl/.parquet texts: use --kind text")
    seen: set[str] = set()
    cache: dict[str, str] = {}
    absolute: dict[str, str] = {}
    for source in sources:
        text = os.fspath(source)
        paths = _expand(text)
        explicit = len(paths) == 1 and paths[0] == Path(text)
        if explicit:
            missing = _missing_source(text, paths[0], kind)
            if missing is not None:
                raise missing
        found = 0
        skipped_texts = 0
        for path in paths:
            if kind == "image":
                if path.suffix.lower() in TEXT_SUFFIXES:
                    if explicit:
                        raise SourceError(f"{text} is a text file: pass --kind text to embed it")
                    skipped_texts += 1
                    continue
                items = _image_items(path, explicit)
            elif path.suffix.lower() in TEXT_SUFFIXES:
                items = _text_items(path, text_column, meta_columns)
            elif explicit:
                raise SourceError(
                    f"{text}: texts come from .txt (a line each), .jsonl or .parquet files"
                )
            else:
                continue
            for item in items:
                found += 1
                key = canonical_id(item.id, cache)
                if key not in seen:
                    seen.add(key)
                    where = absolute.get(item.source)
                    if where is None:
                        where = absolute[item.source] = os.path.abspath(item.source)
                    yield replace(item, path=where)
        if not found and not explicit:
            hint = " (it holds text files: pass --kind text)" if skipped_texts else ""
            raise SourceError(f"{text}: matches no {kind} file{hint}")
