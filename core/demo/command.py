"""``clipbridge demo``: the command-line entry of the demo (see :mod:`clipbridge.demo.run`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..cli.options import add_model_options
from ..errors import ClipBridgeError
from .frameworks import FRAMEWORKS
from .html import render_html
from .run import DEFAULT_TOP_K, find_images_folder, format_table, load_corpus, run_demo

__all__ = ["register"]


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


def register(subparsers: Any) -> None:
    """Add ``clipbridge demo`` to the ``clipbridge`` command's subparsers."""
    demo = subparsers.add_parser(
        "demo",
        help="index example photos in a framework's vector store and search them",
        description="Index photos and captions in a framework's vector store, run text->image, "
        "image->image and text->text queries, print the ranked hits and write an HTML page.",
    )
    demo.add_argument("--framework", choices=tuple(FRAMEWORKS), default="llama-index")
    add_model_options(demo)
    demo.add_argument("--images", type=Path, default=None, help="folder of images (+captions.json)")
    demo.add_argument("--out", type=Path, default=Path("demo.html"), help="HTML page to write")
    demo.add_argument("--query", action="append", default=[], help="text query (repeatable)")
    demo.add_argument(
        "--query-image", action="append", default=[], help="file name of an indexed image"
    )
    demo.add_argument("--top-k", type=int, default=DEFAULT_TOP_K)
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    demo.set_defaults(func=_cmd_demo)
