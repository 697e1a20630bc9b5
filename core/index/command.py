"""``clipbridge index``: embed folders of images, PDFs or text files into one Parquet file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..cli.options import add_model_options, embedder_from_args

__all__ = ["register"]


def _cmd_index(args: argparse.Namespace) -> int:
    from .pipeline import run_index

    ray_options = None
    if args.engine == "ray":
        from ..ray.indexing import RayOptions

        ray_options = RayOptions(
            address=args.ray_address,
            concurrency=args.ray_concurrency,
            num_gpus=args.ray_num_gpus,
            num_cpus=args.ray_num_cpus,
            batch_size=args.batch_size or 32,
        )
    elif args.ray_address or args.ray_concurrency or args.ray_num_gpus or args.ray_num_cpus != 1:
        print("clipbridge index: --ray-* options need --engine ray", file=sys.stderr)
        return 2
    embedder = embedder_from_args(args)
    if args.batch_size:
        embedder = type(embedder).from_config(embedder.config.replace(batch_size=args.batch_size))
    summary = run_index(
        args.sources,
        args.out,
        kind=args.kind,
        embedder=embedder,
        engine=args.engine,
        ray_options=ray_options,
        resume=args.resume,
        overwrite=args.overwrite,
        chunk_size=args.chunk_size,
        text_column=args.text_column,
        progress=not args.no_progress,
    )
    print(summary.format())
    if summary.extra.get("cluster_resources"):
        print(f"ray: {summary.extra['actors']} actors on {summary.extra['cluster_resources']}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``clipbridge index`` to the ``clipbridge`` command's subparsers."""
    from .pipeline import DEFAULT_CHUNK_SIZE

    index = subparsers.add_parser(
        "index",
        help="embed images, PDF pages or text lines into a Parquet file",
        description="Embed every image (or PDF page) of folders and globs, or every line of "
        ".txt/.jsonl/.parquet text files, into one Parquet file (id, source, kind, embedding, "
        "error). Chunks are flushed as they finish; --resume skips ids already written.",
    )
    index.add_argument("sources", nargs="+", metavar="SOURCE", help="file, folder or glob")
    index.add_argument("--out", type=Path, required=True, help="the Parquet file to write")
    index.add_argument(
        "--kind",
        choices=("image", "text"),
        default="image",
        help="image: images and PDF pages; text: lines of .txt/.jsonl/.parquet (default image)",
    )
    index.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process; ray: Ray Data actors, one model each (default local)",
    )
    index.add_argument("--resume", action="store_true", help="skip ids already in OUT")
    index.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    add_model_options(index)
    index.add_argument("--batch-size", type=int, default=None, help="items per model call")
    index.add_argument(
        "--chunk-size",
        type=int,
        default=DEFAULT_CHUNK_SIZE,
        help=f"rows per flushed chunk (default {DEFAULT_CHUNK_SIZE})",
    )
    index.add_argument("--text-column", default="text", help="text column of .jsonl/.parquet")
    index.add_argument("--ray-address", default=None, help="Ray cluster (default: local Ray)")
    index.add_argument("--ray-concurrency", type=int, default=None, help="actors (one model each)")
    index.add_argument("--ray-num-gpus", type=float, default=0, help="GPUs per actor")
    index.add_argument("--ray-num-cpus", type=float, default=1, help="CPUs per actor")
    index.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    index.set_defaults(func=_cmd_index)
