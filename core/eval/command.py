"""``clipbridge eval``: the seed's four-way retrieval table on the user's own data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..cli.options import (
    UsageError,
    add_command,
    add_model_options,
    add_progress_option,
    embedder_from_args,
    output_path,
)
from ..config import DEFAULT_MODEL
from ..precision import PRECISIONS

__all__ = ["register"]

HELP = "text-text, text-image, image-text and image-image retrieval scores on your data"
DESCRIPTION = (
    "Score one or more models on a data folder (captions.jsonl, labels.jsonl, queries.jsonl + "
    "corpus.jsonl + qrels.tsv, images/) and print the seed's table: Text-Text nDCG@10, "
    "Text->Image R@5, Image->Text R@5, Image->Image R@1. See docs/eval.md."
)
MODEL_OPTION = {  # eval's own --model: repeatable
    "dest": "models",
    "action": "append",
    "default": [],
    "metavar": "M",
    "help": "hub id, API model name or local folder; repeat to compare models (the first is the "
    "baseline of the %% row; default: jinaai/jina-clip-v1)",
}
REPORTS = (  # (suffix, help) of --json and --html
    (".json", "write the scores as JSON (checked before any model loads)"),
    (".html", "write a page with the table and each model's worst-ranked queries as thumbnails"),
)


def _check(args: argparse.Namespace) -> None:
    if len(set(args.models)) != len(args.models):
        raise UsageError("each --model may be given once")


def _cmd_eval(args: argparse.Namespace) -> int:
    from .data import load_eval_data
    from .html import render_html
    from .report import format_table, to_json
    from .run import evaluate_precisions

    data = load_eval_data(args.data)
    models = args.models or [DEFAULT_MODEL]
    precisions = list(dict.fromkeys(args.precision or ["float32"]))
    print(f"clipbridge eval: {data.root} ({', '.join(data.tasks)})", file=sys.stderr)
    reports = []
    for model in models:
        embedder = embedder_from_args(args, model=model)
        try:
            print(f"{embedder.model} ({embedder.config.backend})", file=sys.stderr)
            scored = evaluate_precisions(
                embedder, data, precisions, show_progress=args.show_progress
            )
        finally:
            embedder.close()
        for index, reason in sorted(scored[0].failed_images.items()):
            print(
                f"clipbridge eval: left out image {data.images[index]}: {reason}", file=sys.stderr
            )
        for report in scored:
            print(f"{report.model}: {report.seconds:.1f} s", file=sys.stderr)
        reports.extend(scored)
    print(format_table(reports))
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(reports), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.html is not None:
        args.html.write_text(render_html(data, reports), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    """Add ``clipbridge eval`` to the ``clipbridge`` command's subparsers."""
    parser = add_command(subparsers, "eval", _cmd_eval, HELP, DESCRIPTION, check=_check)
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="DIR",
        help="the eval folder: captions.jsonl, labels.jsonl, queries.jsonl + corpus.jsonl + "
        "qrels.tsv, images/ (see docs/eval.md)",
    )
    add_model_options(parser, batch=True, model=MODEL_OPTION)
    for suffix, says in REPORTS:
        parser.add_argument(
            f"--{suffix[1:]}",
            type=output_path(suffix, stdout=False),
            default=None,
            metavar=f"OUT{suffix}",
            help=says,
        )
    parser.add_argument(
        "--precision",
        action="append",
        choices=PRECISIONS,
        default=[],
        help="score the vectors at this precision (a row 'model [precision]'); repeat to compare, "
        "e.g. --precision float32 --precision binary: embedded once, quantized per row "
        "(default: float32)",
    )
    add_progress_option(parser)
