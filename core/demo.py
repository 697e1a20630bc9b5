"""``clipbridge demo``: index photos and captions in a real framework vector store and search them.

The chosen framework builds its own index through the clipbridge adapter
(:mod:`clipbridge.demo_frameworks`: LlamaIndex ``MultiModalVectorStoreIndex``, LangChain
``InMemoryVectorStore``, Haystack ``InMemoryDocumentStore``) and answers three kinds of query:
text→image, image→image and text→text. The results are printed as a ranked table and written as
an HTML page (:mod:`clipbridge.demo_html`).

Example::

    clipbridge demo --framework langchain --model tests/fixtures/tiny-jina-clip-v1 --out demo.html
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import DEFAULT_MODEL
from .demo_frameworks import FRAMEWORKS, DemoItem, Hit, Job, QueryResult, check_framework
from .errors import ClipBridgeError, ModelLoadError

__all__ = [
    "FRAMEWORKS",
    "DemoItem",
    "DemoRun",
    "Hit",
    "QueryResult",
    "add_demo_parser",
    "find_images_folder",
    "load_corpus",
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


@dataclass
class DemoRun:
    """Everything the table and the HTML page show."""

    framework: str
    model: str
    backend: str
    device: str
    dimension: int
    items: list[DemoItem]
    load_seconds: float
    index_seconds: float = 0.0
    results: list[QueryResult] = field(default_factory=list)


# -- corpus -----------------------------------------------------------------------------------
def find_images_folder() -> Path | None:
    """``examples/data`` under the current folder, else next to the package in a source checkout."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        folder = base / "examples" / "data"
        if folder.is_dir():
            return folder
    return None


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
    from .embedder import Embedder

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
    progress: bool = True,
) -> DemoRun:
    """Index ``items`` with ``framework`` and run the three kinds of query."""
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
        progress=progress,
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
    run.index_seconds, run.results = FRAMEWORKS[framework](job)
    return run


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


def _cmd_demo(args: argparse.Namespace) -> int:
    folder = args.images or find_images_folder()
    if folder is None:
        raise ClipBridgeError(
            "no demo images found (examples/data); pass --images FOLDER with some .jpg/.png files"
        )
    items = load_corpus(Path(folder))
    options: dict[str, Any] = {"backend": args.backend}
    for name in ("device", "dtype", "base_url"):
        if getattr(args, name, None) not in (None, "auto"):
            options[name] = getattr(args, name)
    run = run_demo(
        args.framework,
        items,
        model=args.model,
        options=options,
        text_to_image=args.query or None,
        image_queries=args.query_image or None,
        text_to_text=args.query or None,
        top_k=args.top_k,
        progress=not args.no_progress,
    )
    from .demo_html import render_html

    print(
        f"clipbridge demo: {run.framework}, {run.model} ({run.backend}, {run.device}, "
        f"{run.dimension}-d)"
    )
    print(
        f"indexed {len(items)} images + {len(items)} captions in {run.index_seconds:.2f} s "
        f"(model load {run.load_seconds:.2f} s)\n"
    )
    print(format_table(run))
    args.out.write_text(render_html(run), encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


def add_demo_parser(subparsers: Any) -> None:
    """Register ``clipbridge demo`` (called by :func:`clipbridge.cli.build_parser`)."""
    from .cli import _add_model_options

    demo = subparsers.add_parser(
        "demo",
        help="index example photos in a framework's vector store and search them",
        description="Index photos and captions in a framework's vector store, run text->image, "
        "image->image and text->text queries, print the ranked hits and write an HTML page.",
    )
    demo.add_argument("--framework", choices=tuple(FRAMEWORKS), default="llama-index")
    _add_model_options(demo)
    demo.add_argument("--images", type=Path, default=None, help="folder of images (+captions.json)")
    demo.add_argument("--out", type=Path, default=Path("demo.html"), help="HTML page to write")
    demo.add_argument("--query", action="append", default=[], help="text query (repeatable)")
    demo.add_argument(
        "--query-image", action="append", default=[], help="file name of an indexed image"
    )
    demo.add_argument("--top-k", type=int, default=DEFAULT_TOP_K)
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    demo.set_defaults(func=_cmd_demo)


if __name__ == "__main__":  # pragma: no cover
    from .cli import main

    sys.exit(main(["demo", *sys.argv[1:]]))
