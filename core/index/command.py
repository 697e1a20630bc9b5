"""``clipbridge index``: embed folders of images, PDFs or text files into one Parquet file."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..cli.options import (
    add_model_options,
    config_from_args,
    non_negative_number,
    output_path,
    positive_int,
)
from ..precision import PRECISIONS

__all__ = ["register"]


@contextmanager
def _stop_signals() -> Iterator[dict[str, int]]:
    """SIGTERM stops the run as Ctrl-C does (a ``KeyboardInterrupt``); yields the signal seen."""
    seen = {"signal": signal.SIGINT}

    def on_term(signum: int, frame: Any) -> None:
        seen["signal"] = signum
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: leave signals alone
        yield seen
        return
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cmd_index(args: argparse.Namespace) -> int:
    from .engines import make_engine
    from .pipeline import IndexInterrupted, prepare_index

    options = None
    if args.engine == "ray":  # RayOptions' fields: clipbridge.ray is an app above this one
        options = {
            "address": args.ray_address,
            "concurrency": args.ray_concurrency,
            "num_gpus": args.ray_num_gpus,
            "num_cpus": args.ray_num_cpus,
            "batch_size": args.batch_size or 32,
        }
    elif args.ray_address or args.ray_concurrency or args.ray_num_gpus or args.ray_num_cpus != 1:
        print("clipbridge index: --ray-* options need --engine ray", file=sys.stderr)
        return 2
    config = config_from_args(args).replace(precision=args.precision)
    if args.batch_size:
        config = config.replace(batch_size=args.batch_size)
    engine = make_engine(args.engine, config=config, options=options)
    with _stop_signals() as seen:
        try:
            with prepare_index(
                args.sources,
                args.out,
                kind=args.kind,
                resume=args.resume,
                overwrite=args.overwrite,
                chunk_size=args.chunk_size,
                text_column=args.text_column,
                meta_columns=args.meta_column,
            ) as job:
                engine.connect()  # an unreachable cluster is told before any model loads
                summary = job.run(engine, progress=not args.no_progress)
        except KeyboardInterrupt as exc:
            if isinstance(exc, IndexInterrupted):
                done = f"{exc.done} of {exc.total} done"
            else:
                done = "nothing embedded yet"
            print(
                f"clipbridge index: interrupted: {done}; rerun with --resume to embed the rest",
                file=sys.stderr,
            )
            return 128 + int(seen["signal"])
    print(summary.format())
    if summary.extra.get("cluster_resources"):
        print(f"ray: {summary.extra['actors']} actors on {summary.extra['cluster_resources']}")
    if summary.failed and not summary.done:
        print(
            f"clipbridge index: every item failed; the first: {summary.first_error}",
            file=sys.stderr,
        )
        return 1
    return 0


def register(subparsers: Any) -> None:
    """Add ``clipbridge index`` to the ``clipbridge`` command's subparsers."""
    from .pipeline import DEFAULT_CHUNK_SIZE

    index = subparsers.add_parser(
        "index",
        help="embed images, PDF pages or text lines into a Parquet file",
        description="Embed every image (or PDF page) of folders and globs, or every line of "
        ".txt/.jsonl/.parquet text files, into one Parquet file (id, source, kind, embedding, "
        "error, text, path, page, width, height, and the --meta-column columns). Chunks are "
        "flushed as they finish; --resume skips ids already written.",
    )
    index.add_argument("sources", nargs="+", metavar="SOURCE", help="file, folder or glob")
    index.add_argument(
        "--out",
        type=output_path(".parquet", stdout=False),
        required=True,
        metavar="OUT.parquet",
        help="the Parquet file to write (never a folder or another kind of file)",
    )
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
    index.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="stored vectors: float32, int8/uint8 (1 byte a dimension) or binary/ubinary (sign "
        "bits, 1 byte per 8 dimensions); see docs/precision.md (default float32)",
    )
    index.add_argument(
        "--batch-size", type=positive_int, default=None, help="items per model call (default: 32)"
    )
    index.add_argument(
        "--chunk-size",
        type=positive_int,
        default=DEFAULT_CHUNK_SIZE,
        help=f"rows per flushed chunk (default {DEFAULT_CHUNK_SIZE})",
    )
    index.add_argument("--text-column", default="text", help="text column of .jsonl/.parquet")
    index.add_argument(
        "--meta-column",
        action="append",
        default=[],
        metavar="NAME",
        help="a column of .jsonl/.parquet texts to carry into the index (repeatable)",
    )
    index.add_argument("--ray-address", default=None, help="Ray cluster (default: local Ray)")
    index.add_argument(
        "--ray-concurrency",
        type=positive_int,
        default=None,
        help="actors (one model each; default: Ray's choice)",
    )
    index.add_argument("--ray-num-gpus", type=non_negative_number, default=0, help="GPUs per actor")
    index.add_argument("--ray-num-cpus", type=non_negative_number, default=1, help="CPUs per actor")
    index.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    index.set_defaults(func=_cmd_index)
