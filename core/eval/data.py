"""Reading an eval folder: captions, labels and a BEIR-style text retrieval set.

A folder ``DIR`` holds any of::

    captions.jsonl   {"image": "<file under DIR/images/>", "caption": "..."}   text<->image
    labels.jsonl     {"image": "<file under DIR/images/>", "label": "..."}     image->image
    queries.jsonl    {"_id": "...", "text": "..."}                             text->text,
    corpus.jsonl     {"_id": "...", "text": "...", "title": "..."?}            BEIR layout
    qrels.tsv        query-id <TAB> corpus-id <TAB> score   (a header line is allowed)

A data file that is missing, unreadable or malformed raises :class:`EvalDataError` with one
sentence naming the file and line. Images are not opened here: a bad image is the embedding
step's business (reported and left out of the scores).

Example::

    data = load_eval_data("examples/eval")
    data.tasks            # ("text_text", "text_to_image", "image_to_text", "image_image")
    data.image_path(0)    # Path("examples/eval/images/astronaut.jpg")
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ClipBridgeError

__all__ = [
    "Captions",
    "EvalData",
    "EvalDataError",
    "Labels",
    "TextRetrieval",
    "load_eval_data",
]

CAPTIONS = "captions.jsonl"
LABELS = "labels.jsonl"
QUERIES = "queries.jsonl"
CORPUS = "corpus.jsonl"
QRELS = "qrels.tsv"
IMAGES = "images"
TEXT_FILES = (QUERIES, CORPUS, QRELS)


class EvalDataError(ClipBridgeError):
    """An eval data file is missing, unreadable or malformed (the message names it)."""


@dataclass(frozen=True)
class Captions:
    """Caption i describes image ``owner[i]`` (an index into :attr:`EvalData.images`)."""

    texts: list[str]
    owner: list[int]


@dataclass(frozen=True)
class Labels:
    """Image ``image[i]`` (an index into :attr:`EvalData.images`) has label ``labels[i]``."""

    image: list[int]
    labels: list[str]


@dataclass(frozen=True)
class TextRetrieval:
    """Judged queries, the corpus, and ``qrels[query index] = {corpus index: relevance}``."""

    query_ids: list[str]
    queries: list[str]
    corpus_ids: list[str]
    corpus: list[str]
    qrels: dict[int, dict[int, float]]


@dataclass(frozen=True)
class EvalData:
    """What an eval folder holds; each part is None when its files are absent."""

    root: Path
    images: list[str] = field(default_factory=list)  # names under root/images, each once
    captions: Captions | None = None
    labels: Labels | None = None
    text: TextRetrieval | None = None

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks this data supports, in table order."""
        out: list[str] = []
        if self.text is not None:
            out.append("text_text")
        if self.captions is not None:
            out += ["text_to_image", "image_to_text"]
        if self.labels is not None:
            out.append("image_image")
        return tuple(out)

    def image_path(self, index: int) -> Path:
        """The file of image ``index``: ``root/images/<name>``."""
        return self.root / IMAGES / self.images[index]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of the non-blank lines of a UTF-8 file."""
    try:
        with path.open("rb") as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise EvalDataError(f"{path} does not exist") from exc
    except OSError as exc:
        raise EvalDataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        number = data.count(b"\n", 0, exc.start) + 1
        raise EvalDataError(
            f"{path} line {number} is not UTF-8 text (byte 0x{data[exc.start]:02x})"
        ) from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def _lone_surrogate(value: Any) -> str | None:
    """The first string in ``value`` (a JSON value) that is not valid Unicode, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value
        return None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list):
        for part in value:
            found = _lone_surrogate(part)
            if found is not None:
                return found
    return None


def _records(path: Path, keys: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON objects of a JSONL file, each checked for ``keys`` holding strings or numbers
    and for strings that are not valid Unicode (JSON's ``"\\ud800"`` escapes)."""
    count = 0
    for number, line in _lines(path):
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise EvalDataError(f"{path} line {number} is not valid JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise EvalDataError(f"{path} line {number} is not a JSON object")
        for key in keys:
            value = record.get(key)
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise EvalDataError(
                    f"{path} line {number} needs a {key!r} string, got {value!r:.60}"
                )
        bad = _lone_surrogate(record)
        if bad is not None:
            char = next(c for c in bad if 0xD800 <= ord(c) <= 0xDFFF)
            raise EvalDataError(
                f"{path} line {number} holds text that is not valid Unicode "
                f"(a lone surrogate, U+{ord(char):04X})"
            )
        count += 1
        yield number, record
    if count == 0:
        raise EvalDataError(f"{path} holds no records")


class _ImageNames:
    """Assigns each image name one index, in order of first appearance."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, name: str, path: Path, number: int) -> int:
        if not name.strip():
            raise EvalDataError(f"{path} line {number} has an empty 'image'")
        if name not in self._index:
            self._index[name] = len(self.names)
            self.names.append(name)
        return self._index[name]


def _load_captions(path: Path, names: _ImageNames) -> Captions:
    texts, owner = [], []
    for number, record in _records(path, ("image", "caption")):
        owner.append(names.add(str(record["image"]), path, number))
        texts.append(str(record["caption"]))
    return Captions(texts=texts, owner=owner)


def _load_labels(path: Path, names: _ImageNames) -> Labels:
    image, labels, seen = [], [], set()
    for number, record in _records(path, ("image", "label")):
        index = names.add(str(record["image"]), path, number)
        if index in seen:
            raise EvalDataError(f"{path} line {number} labels {record['image']!r} a second time")
        seen.add(index)
        image.append(index)
        labels.append(str(record["label"]))
    return Labels(image=image, labels=labels)


def _load_texts(path: Path, *, with_title: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, record in _records(path, ("_id", "text")):
        key = str(record["_id"])
        if key in out:
            raise EvalDataError(f"{path} line {number} repeats _id {key!r}")
        text = str(record["text"])
        title = record.get("title")
        if with_title and isinstance(title, str) and title.strip():
            text = f"{title} {text}"  # BEIR/MTEB join title and body with a space
        out[key] = text
    return out


def _load_qrels(path: Path) -> list[tuple[str, str, float, int]]:
    rows = []
    for number, line in _lines(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 3:
            parts = line.split()
        if len(parts) != 3:
            raise EvalDataError(
                f"{path} line {number} needs 3 tab-separated columns "
                f"(query-id, corpus-id, score), got {len(parts)}"
            )
        try:
            score = float(parts[2])
        except ValueError as exc:
            if number == 1 and not rows:
                continue  # the header line: query-id corpus-id score
            raise EvalDataError(
                f"{path} line {number}: score {parts[2]!r} is not a number"
            ) from exc
        rows.append((parts[0].strip(), parts[1].strip(), score, number))
    if not rows:
        raise EvalDataError(f"{path} holds no judgements")
    return rows


def _load_text_retrieval(root: Path) -> TextRetrieval:
    queries = _load_texts(root / QUERIES, with_title=False)
    corpus = _load_texts(root / CORPUS, with_title=True)
    corpus_ids = list(corpus)
    corpus_index = {key: i for i, key in enumerate(corpus_ids)}
    query_ids: list[str] = []
    query_index: dict[str, int] = {}
    qrels: dict[int, dict[int, float]] = {}
    path = root / QRELS
    for qid, did, score, number in _load_qrels(path):
        if qid not in queries:
            raise EvalDataError(f"{path} line {number}: query {qid!r} is not in {QUERIES}")
        if did not in corpus_index:
            raise EvalDataError(f"{path} line {number}: document {did!r} is not in {CORPUS}")
        if qid not in query_index:
            query_index[qid] = len(query_ids)
            query_ids.append(qid)
        qrels.setdefault(query_index[qid], {})[corpus_index[did]] = score
    return TextRetrieval(
        query_ids=query_ids,
        queries=[queries[q] for q in query_ids],  # only judged queries are embedded
        corpus_ids=corpus_ids,
        corpus=[corpus[d] for d in corpus_ids],
        qrels=qrels,
    )


def load_eval_data(root: str | Path) -> EvalData:
    """Read every supported file in ``root``; raise :class:`EvalDataError` on the first problem."""
    root = Path(root)
    if not root.is_dir():
        raise EvalDataError(f"--data {root} is not a folder")
    names = _ImageNames()
    captions = _load_captions(root / CAPTIONS, names) if (root / CAPTIONS).exists() else None
    labels = _load_labels(root / LABELS, names) if (root / LABELS).exists() else None
    present = [name for name in TEXT_FILES if (root / name).exists()]
    text = None
    if present:
        missing = [name for name in TEXT_FILES if name not in present]
        if missing:
            raise EvalDataError(
                f"{root} has {', '.join(present)} but not {', '.join(missing)}: text->text "
                f"retrieval needs all of {', '.join(TEXT_FILES)}"
            )
        text = _load_text_retrieval(root)
    if captions is None and labels is None and text is None:
        raise EvalDataError(
            f"{root} holds no eval data: expected {CAPTIONS}, {LABELS}, or "
            f"{QUERIES} + {CORPUS} + {QRELS}"
        )
    if names.names and not (root / IMAGES).is_dir():
        raise EvalDataError(f"{root} has no {IMAGES}/ folder for the images its files name")
    return EvalData(root=root, images=names.names, captions=captions, labels=labels, text=text)
