"""``clipbridge eval``: the seed's four-way retrieval table on the user's own data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..cli.options import add_model_options, embedder_from_args, output_path, positive_int
from ..config import DEFAULT_MODEL
from ..errors import ClipBridgeError
from ..precision import PRECISIONS

__all__ = ["register"]


def _embedder(args: argparse.Namespace, model: str) -> Any:
    from ..embedder import Embedder

    embedder = embedder_from_args(argparse.Namespace(**{**vars(args), "model": model}))
    if args.batch_size is None:
        return embedder
    config = embedder.config.replace(batch_size=args.batch_size, api_batch_size=args.batch_size)
    embedder.close()
    return Embedder(config=config)  # a local model is cached: this does not load it again


def _cmd_eval(args: argparse.Namespace) -> int:
    from .data import load_eval_data
    from .html import render_html
    from .report import format_table, to_json
    from .run import evaluate_precisions

    data = load_eval_data(args.data)
    models = args.model or [DEFAULT_MODEL]
    if len(set(models)) != len(models):
        raise ClipBridgeError("eval: each --model may be given once")
    precisions = list(dict.fromkeys(args.precision or ["float32"]))
    print(f"clipbridge eval: {data.root} ({', '.join(data.tasks)})", file=sys.stderr)
    reports = []
    for model in models:
        embedder = _embedder(args, model)
        try:
            print(f"{embedder.model} ({embedder.config.backend})", file=sys.stderr)
            scored = evaluate_precisions(
                embedder, data, precisions, show_progress=not args.no_progress
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
    parser = subparsers.add_parser(
        "eval",
        help="text-text, text-image, image-text and image-image retrieval scores on your data",
        description="Score one or more models on a data folder (captions.jsonl, labels.jsonl, "
        "queries.jsonl + corpus.jsonl + qrels.tsv, images/) and print the seed's table: "
        "Text-Text nDCG@10, Text->Image R@5, Image->Text R@5, Image->Image R@1. See docs/eval.md.",
        conflict_handler="resolve",  # --model below replaces the single one of the model options
    )
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="DIR",
        help="the eval folder: captions.jsonl, labels.jsonl, queries.jsonl + corpus.jsonl + "
        "qrels.tsv, images/ (see docs/eval.md)",
    )
    add_model_options(parser)
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="M",
        help="hub id, API model name or local folder; repeat to compare models (the first is "
        "the baseline of the %% row; default: jinaai/jina-clip-v1)",
    )
    parser.add_argument(
        "--batch-size",
        dest="batch_size",
        type=positive_int,
        default=None,
        metavar="N",
        help="inputs per forward pass (local) or per request (API); default: the config's",
    )
    parser.add_argument(
        "--json",
        type=output_path(".json", stdout=False),
        default=None,
        metavar="OUT.json",
        help="write the scores as JSON (checked before any model loads)",
    )
    parser.add_argument(
        "--html",
        type=output_path(".html", stdout=False),
        default=None,
        metavar="OUT.html",
        help="write a page with the table and each model's worst-ranked queries as thumbnails",
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
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=_cmd_eval)
