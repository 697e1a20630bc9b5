"""``clipbridge demo``: index photos and captions in a real framework vector store and search them.

The chosen framework builds its own index through the clipbridge adapter
(:mod:`clipbridge.demo.frameworks`: LlamaIndex ``MultiModalVectorStoreIndex``, LangChain
``InMemoryVectorStore``, Haystack ``InMemoryDocumentStore``) and answers three kinds of query:
text→image, image→image and text→text. The results are printed as a ranked table and written as
an HTML page (:mod:`clipbridge.demo.html`).

Example::

    clipbridge demo --framework langchain --model tests/fixtures/tiny-jina-clip-v1 --out demo.html
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..config import DEFAULT_MODEL
from ..errors import ClipBridgeError, ModelLoadError
from ..renamed import renamed_keyword
from .frameworks import FRAMEWORKS, DemoItem, DemoRun, Job, check_framework

__all__ = [  # the framework types are clipbridge.demo's (and clipbridge.demo.frameworks')
    "find_images_folder",
    "format_table",
    "load_corpus",
    "looks_untrained",
    "quality_lines",
    "recall_summary",
    "run_demo",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")
DEFAULT_TEXT_TO_IMAGE = (
    "a rocket launch at night",
    "a cat",
    "a cup of coffee",
    "galaxies in deep space",
)
DEFAULT_IMAGE_QUERIES = ("rocket.jpg", "cat.jpg")
DEFAULT_TEXT_TO_TEXT = ("a hot drink", "old money", "looking into the eye")
DEFAULT_TOP_K = 3
# The checkpoint "looks untrained" when at most UNTRAINED_FACTOR x chance of the captions find
# their own photo first (chance: 1 in n each, so at most 2 captions of any corpus), judged only
# from MIN_ITEMS_FOR_VERDICT photos up (with 3 photos chance alone finds one in three).
UNTRAINED_FACTOR = 2
MIN_ITEMS_FOR_VERDICT = 6


# -- corpus -----------------------------------------------------------------------------------
def find_images_folder() -> Path | None:
    """The demo's bundled photos (package data ``clipbridge/demo/data``: in a wheel and a checkout).

    ``examples/data`` in the repository links to the same folder.
    """
    folder = Path(__file__).resolve().parent / "data"
    return folder if folder.is_dir() else None


def _read_captions(folder: Path) -> dict[str, str]:
    json_file, tsv_file = folder / "captions.json", folder / "captions.tsv"
    try:
        if json_file.is_file():
            data = json.loads(json_file.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ClipBridgeError(f"{json_file} must map file names to captions")
            return {str(k): str(v) for k, v in data.items()}
        if tsv_file.is_file():
            lines = tsv_file.read_text(encoding="utf-8").splitlines()
            pairs = (line.split("\t", 1) for line in lines if "\t" in line)
            return {name.strip(): caption.strip() for name, caption in pairs}
    except (OSError, json.JSONDecodeError) as exc:
        raise ClipBridgeError(f"cannot read the captions in {folder}: {exc}") from exc
    return {}


def load_corpus(folder: Path) -> list[DemoItem]:
    """The images of ``folder`` (sorted) with captions from ``captions.json``/``captions.tsv``.

    An image without a caption gets its file name as caption (``brick_wall.jpg`` -> "brick wall").
    """
    if not folder.is_dir():
        raise ClipBridgeError(f"images folder {str(folder)!r} does not exist")
    captions = _read_captions(folder)
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ClipBridgeError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) in {str(folder)!r}; pass --images FOLDER"
        )
    return [
        DemoItem(p, captions.get(p.name) or p.stem.replace("_", " ").replace("-", " "))
        for p in paths
    ]


# -- running ------------------------------------------------------------------------------------
def _load_embedder(model: str, options: dict[str, Any]):
    """Load the model once up front (adapters share it): a clear error before any framework runs."""
    from ..embedder import Embedder

    try:
        return Embedder(model, **options)
    except ModelLoadError as exc:
        if exc.__cause__ is None or Path(model).expanduser().exists():
            raise
        raise ModelLoadError(
            f"cannot get {model} because it is not cached and could not be downloaded from the "
            f"Hugging Face Hub ({type(exc.__cause__).__name__}); pass --model PATH with a local "
            "copy of the model or use --backend api with JINA_API_KEY set."
        ) from exc


def run_demo(
    framework: str,
    items: list[DemoItem],
    *,
    model: str = DEFAULT_MODEL,
    options: dict[str, Any] | None = None,
    text_to_image: list[str] | None = None,
    image_queries: list[str] | None = None,
    text_to_text: list[str] | None = None,
    top_k: int = DEFAULT_TOP_K,
    show_progress: bool = True,
    progress: bool | None = None,
) -> DemoRun:
    """Index ``items`` with ``framework`` and run the three kinds of query.

    ``show_progress`` shows the framework's progress bars while it indexes (``progress`` is its
    old name, still taken, with a ``DeprecationWarning``).
    """
    show_progress = renamed_keyword(
        "run_demo", "progress", progress, "show_progress", show_progress
    )
    options = dict(options or {})
    check_framework(framework)
    start = time.perf_counter()
    embedder = _load_embedder(model, options)
    load_seconds = time.perf_counter() - start
    loaded = getattr(embedder.backend, "loaded", None)
    by_name = {i.name: i for i in items}
    wanted = image_queries or [n for n in DEFAULT_IMAGE_QUERIES if n in by_name] or [items[0].name]
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ClipBridgeError(f"--query-image {unknown[0]!r} is not one of the indexed images")
    job = Job(
        model=model,
        options=options,
        items=items,
        text_to_image=list(text_to_image or DEFAULT_TEXT_TO_IMAGE),
        image_queries=[by_name[n] for n in wanted],
        text_to_text=list(text_to_text or DEFAULT_TEXT_TO_TEXT),
        top_k=top_k,
        show_progress=show_progress,
    )
    run = DemoRun(
        framework=framework,
        model=model,
        backend=embedder.config.backend,
        device=str(loaded.device) if loaded is not None else "Jina API",
        dimension=embedder.dimension,
        items=items,
        load_seconds=load_seconds,
    )
    outcome = FRAMEWORKS[framework](job)
    run.index_seconds, run.results, run.recall_hits = (
        outcome.index_seconds,
        outcome.results,
        outcome.recall_hits,
    )
    return run


def recall_summary(run: DemoRun) -> str:
    """``11/12 captions find their photo first`` (caption -> photo recall@1 through the index)."""
    return f"{run.recall_hits}/{len(run.items)} captions find their photo first"


def looks_untrained(run: DemoRun) -> bool:
    """True when recall@1 is at most ``UNTRAINED_FACTOR`` x chance (chance: 1 in n per caption).

    With fewer than ``MIN_ITEMS_FOR_VERDICT`` photos chance is too high to tell: never True.
    """
    n = len(run.items)
    return n >= MIN_ITEMS_FOR_VERDICT and run.recall_hits / n <= UNTRAINED_FACTOR / n


def quality_lines(run: DemoRun) -> list[str]:
    """What the terminal says about the checkpoint: the recall stat, and a warning if untrained."""
    n = len(run.items)
    lines = [f"caption -> photo recall@1: {recall_summary(run)} (chance: 1/{n})"]
    if looks_untrained(run):
        lines.append(
            f"warning: the checkpoint looks untrained: at most {UNTRAINED_FACTOR}x chance "
            f"({UNTRAINED_FACTOR}/{n}); the rankings below are noise, not meaning"
        )
    return lines


def format_table(run: DemoRun) -> str:
    """The ranked results as a plain-text table (one row per hit)."""
    captions = {i.name: i.caption for i in run.items}
    head = ("query", "kind", "rank", "score", "result")
    rows: list[tuple[str, ...]] = []
    for res in run.results:
        for rank, hit in enumerate(res.hits, 1):
            shown = hit.file if res.kind.endswith("image") else captions.get(hit.file, hit.file)
            query = _clip(res.query, 28) if rank == 1 else ""
            kind = res.kind if rank == 1 else ""
            rows.append((query, kind, str(rank), f"{hit.score:.4f}", _clip(shown, 60)))
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]
    lines = [
        "  ".join(
            cell.rjust(w) if c in (2, 3) else cell.ljust(w)
            for c, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [head, tuple("-" * w for w in widths), *rows]
    ]
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
