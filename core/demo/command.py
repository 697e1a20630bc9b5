"""``clipbridge demo``: the command-line entry of the demo (see :mod:`clipbridge.demo.run`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..cli.options import (
    STDOUT,
    add_command,
    add_count_option,
    add_model_options,
    add_progress_option,
    model_fields,
    output_path,
)
from ..errors import ClipBridgeError
from .frameworks import FRAMEWORKS
from .html import render_html
from .run import (
    DEFAULT_TOP_K,
    find_images_folder,
    format_table,
    load_corpus,
    quality_lines,
    run_demo,
)

__all__ = ["register"]

HELP = "index example photos in a framework's vector store and search them"
DESCRIPTION = (
    "Index photos and captions in a framework's vector store, run text->image, image->image and "
    "text->text queries, print the ranked hits and write an HTML page. It also measures how many "
    "captions find their own photo first (recall@1) and warns when that is near chance: an "
    "untrained checkpoint."
)


def _cmd_demo(args: argparse.Namespace) -> int:
    # With ``--out -`` the page goes to stdout, so everything else goes to stderr.
    say = sys.stderr if args.out == STDOUT else sys.stdout
    folder = args.images or find_images_folder()
    if folder is None:
        raise ClipBridgeError(
            "no demo images found (the package's demo/data folder is missing); "
            "pass --images FOLDER with some .jpg/.png files"
        )
    items = load_corpus(Path(folder))
    options = model_fields(args)
    run = run_demo(
        args.framework,
        items,
        model=options.pop("model"),
        options=options,
        text_to_image=args.query or None,
        image_queries=args.query_image or None,
        text_to_text=args.query or None,
        top_k=args.top_k,
        show_progress=args.show_progress,
    )

    print(
        f"clipbridge demo: {run.framework}, {run.model} ({run.backend}, {run.device}, "
        f"{run.dimension}-d)",
        file=say,
    )
    print(
        f"indexed {len(items)} images + {len(items)} captions in {run.index_seconds:.2f} s "
        f"(model load {run.load_seconds:.2f} s)",
        file=say,
    )
    print("\n".join(quality_lines(run)) + "\n", file=say)
    print(format_table(run), file=say)
    page = render_html(run)
    if args.out == STDOUT:
        sys.stdout.write(page)
        return 0
    try:
        args.out.write_text(page, encoding="utf-8")
    except OSError as exc:  # checked at parse time; the disk can still fill up
        raise ClipBridgeError(f"cannot write {str(args.out)!r}: {exc.strerror or exc}") from exc
    print(f"\nwrote {args.out}", file=say)
    return 0


def register(subparsers: Any) -> None:
    """Add ``clipbridge demo`` to the ``clipbridge`` command's subparsers."""
    demo = add_command(subparsers, "demo", _cmd_demo, HELP, DESCRIPTION)
    demo.add_argument(
        "--framework",
        choices=tuple(FRAMEWORKS),
        default="llama-index",
        help="which framework indexes and searches; its extra must be installed "
        "(default: llama-index)",
    )
    demo.add_argument(
        "--images",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="folder of .jpg/.png/... photos, captions in captions.json or captions.tsv "
        "(default: the bundled photos)",
    )
    demo.add_argument(
        "--out",
        type=output_path(),
        default="demo.html",  # a string, so that argparse checks it too
        metavar="FILE",
        help="the HTML page to write, or '-' for stdout (the table then goes to stderr); "
        "default: demo.html",
    )
    demo.add_argument(
        "--query",
        action="append",
        default=[],
        metavar="TEXT",
        help="text query for text->image and text->text (repeatable; default: four examples)",
    )
    demo.add_argument(
        "--query-image",
        action="append",
        default=[],
        metavar="FILE",
        help="file name of an indexed photo to search with (repeatable; default: rocket.jpg, "
        "cat.jpg)",
    )
    add_count_option(demo, "--top-k", DEFAULT_TOP_K, "hits per query")
    add_progress_option(demo)
    add_model_options(demo)
