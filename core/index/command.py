"""``clipbridge index``: embed folders of images, PDFs or text files into one Parquet file."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..cli.options import (
    UsageError,
    add_command,
    add_count_option,
    add_model_options,
    add_progress_option,
    add_ray_resource_options,
    config_from_args,
    fields_from_args,
    non_negative_number,
    output_path,
)
from ..precision import PRECISIONS

__all__ = ["register"]

HELP = "embed images, PDF pages or text lines into a Parquet file"
DESCRIPTION = (
    "Embed every image (or PDF page) of folders and globs, or every line of .txt/.jsonl/.parquet "
    "text files, into one Parquet file (id, source, kind, embedding, error, text, path, page, "
    "width, height, and the --meta-column columns). Chunks are flushed as they finish; --resume "
    "skips ids already written."
)
# What --ray-* options are when not given; any other value needs --engine ray.
RAY_DEFAULTS = {
    "ray_address": None,
    "ray_concurrency": None,
    "ray_num_gpus": 0,
    "ray_num_cpus": 1,
    "ray_batch_size": None,
}
DEFAULT_RAY_BATCH_SIZE = 32


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


def _check(args: argparse.Namespace) -> None:
    if args.engine != "ray":
        if any(getattr(args, name) != value for name, value in RAY_DEFAULTS.items()):
            raise UsageError("--ray-* options need --engine ray")
        return
    rows = args.ray_batch_size or DEFAULT_RAY_BATCH_SIZE
    if (args.batch_size or 0) > rows:  # earlier, --batch-size set both
        raise UsageError(
            f"--batch-size {args.batch_size} is above the {rows} rows a Ray call hands each "
            "actor, so no forward pass could be that large: give --ray-batch-size too"
        )


def _ray_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The fields of :class:`~clipbridge.ray.indexing.RayOptions` for ``--engine ray`` (Ray is
    an app above this one: the engine is made by name); None: local."""
    if args.engine != "ray":
        return None
    return {
        "address": args.ray_address,
        "concurrency": args.ray_concurrency,
        "num_gpus": args.ray_num_gpus,
        "num_cpus": args.ray_num_cpus,
        "batch_size": args.ray_batch_size or DEFAULT_RAY_BATCH_SIZE,
    }


def _cmd_index(args: argparse.Namespace) -> int:
    from .engines import make_engine
    from .pipeline import IndexInterrupted, prepare_index

    config = config_from_args(args, precision=args.precision)
    engine = make_engine(args.engine, config=config, options=_ray_options(args))
    job_options = fields_from_args(
        args, "kind", "resume", "overwrite", "chunk_size", "text_column", "meta_columns"
    )
    with _stop_signals() as seen:
        try:
            with prepare_index(args.sources, args.out, **job_options) as job:
                engine.connect()  # an unreachable cluster is told before any model loads
                summary = job.run(engine, show_progress=args.show_progress)
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

    index = add_command(subparsers, "index", _cmd_index, HELP, DESCRIPTION, check=_check)
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
        help="image: images and PDF pages; text: lines of .txt/.jsonl/.parquet ",
    )
    index.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process; ray: Ray Data actors, one model each ",
    )
    index.add_argument("--resume", action="store_true", help="skip ids already in OUT")
    index.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    add_model_options(index, batch=True)
    index.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="stored vectors: float32, int8/uint8 (1 byte a dimension) or binary/ubinary (sign "
        "bits, 1 byte per 8 dimensions); see docs/precision.md",
    )
    add_count_option(index, "--chunk-size", DEFAULT_CHUNK_SIZE, "rows per flushed chunk")
    index.add_argument("--text-column", default="text", help="text column of .jsonl/.parquet")
    index.add_argument(
        "--meta-column",
        dest="meta_columns",
        action="append",
        default=[],
        metavar="NAME",
        help="a column of .jsonl/.parquet texts to carry into the index (repeatable)",
    )
    add_ray_resource_options(index, "actor", prefix="ray-", cpus=non_negative_number)
    add_count_option(
        index, "--ray-concurrency", None, "actors (one model each; default: Ray's choice)"
    )
    add_count_option(
        index,
        "--ray-batch-size",
        None,
        "rows per Ray Data map_batches call; each actor's Embedder splits them into --batch-size "
        f"forward passes (default: {DEFAULT_RAY_BATCH_SIZE})",
    )
    add_progress_option(index)
