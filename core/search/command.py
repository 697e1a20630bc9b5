"""``clipbridge search``: print the rows of an index nearest to a text or an image.

Every mistake a user can make is caught before the model loads: no query or two, an index file
that is missing or not clipbridge's, an image file that is not there, a ``--model`` other than
the one the index was built with. Without ``--model`` the index's own model and settings (its
recorded ``EmbedderConfig``) embed the query.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from ..cli.options import (
    UsageError,
    add_command,
    add_count_option,
    add_model_options,
    config_from_args,
)
from ..config import EmbedderConfig, hub_repo_id

__all__ = ["register"]

HELP = "print the rows of an index nearest to a text or an image"
DESCRIPTION = (
    "Embed a query text (or --image) with the model that built INDEX and print the nearest rows: "
    "rank, cosine score, id, and the text or image path. Only the query is embedded; the index's "
    "vectors are read as they are."
)

DEFAULT_TOP_K = 5
MODEL_OPTION = {
    "default": None,  # the index's own, with its recorded settings
    "metavar": "M",
    "help": "the model that built INDEX, by another name or folder (default: the one the index "
    "records, with its settings)",
}
_SHOWN_TEXT = 100  # characters of a text row shown on its line


def same_model(recorded: str, given: str) -> bool:
    """Whether two model names name one model: equal up to the ``jinaai/`` prefix, two paths of
    one local folder, or a recorded name that is no folder here (a hub id, a folder on the
    machine that indexed) and a folder of the same last name (a download of that model)."""
    if hub_repo_id(recorded) == hub_repo_id(given):
        return True
    first, second = Path(recorded).expanduser(), Path(given).expanduser()
    if first.is_dir() and second.is_dir():
        return first.resolve() == second.resolve()
    return not first.is_dir() and second.is_dir() and first.name == second.resolve().name


def _config(args: argparse.Namespace, recorded: dict[str, Any], model: str) -> EmbedderConfig:
    """The index's recorded settings, with what the command line says instead."""
    known = {f.name for f in dataclasses.fields(EmbedderConfig)}
    fields = {k: v for k, v in recorded.items() if k in known and k != "api_key"}
    fields.update(show_progress=False, device="auto", dtype="auto")
    return config_from_args(args, EmbedderConfig(**fields), model=model)


def _check(args: argparse.Namespace) -> tuple[Any, str]:
    """The index's info and the model to load; a user's mistake is a :class:`UsageError`."""
    from ..index_file import read_info

    if (args.query is None) == (args.image is None):
        raise UsageError(
            "give a query text or --image PATH" + (", not both" if args.query is not None else "")
        )
    info = read_info(args.index)
    if args.image is not None and "://" not in args.image and not args.image.startswith("data:"):
        image = Path(args.image)
        if not image.is_file():
            raise UsageError(f"no image file {args.image!r}")
    _check_rows(args.index)
    model = info.model
    if args.model is not None:
        if not same_model(info.model, args.model):
            raise UsageError(
                f"{args.index} holds vectors of {info.model}, not {args.model}: leave --model "
                "out to search with the index's own model"
            )
        model = args.model
    return info, model


def _check_rows(path: Path) -> None:
    """Refuse an index without one vector (every item failed), reading its error column only."""
    import pyarrow.parquet as pq

    errors = pq.read_table(path, columns=["error"]).column("error")
    if errors.null_count == 0:
        raise UsageError(
            f"{path} holds no vectors: its {len(errors)} rows are error rows (see its error column)"
        )


def _line(rank: int, hit: Any) -> str:
    if hit.text is not None:
        shown = " ".join(hit.text.split())
        detail = shown if len(shown) <= _SHOWN_TEXT else shown[: _SHOWN_TEXT - 1] + "…"
    elif hit.image is not None and hit.image != hit.id:
        detail = hit.image + (f" (page {hit.page})" if hit.page is not None else "")
    else:
        detail = ""
    return f"{rank:>3}  {hit.score:7.4f}  {hit.id}" + (f"  {detail}" if detail else "")


def _cmd_search(args: argparse.Namespace) -> int:
    from ..embedder import Embedder
    from .run import search_index

    info, model = _check(args)
    embedder = Embedder(config=_config(args, info.config, model))
    try:
        hits = search_index(
            args.index, embedder, text=args.query, image=args.image, top_k=args.top_k
        )
    finally:
        embedder.close()
    for rank, hit in enumerate(hits, start=1):
        print(json.dumps(hit.to_dict(), ensure_ascii=False) if args.json else _line(rank, hit))
    return 0


def register(subparsers: Any) -> None:
    """Add ``clipbridge search`` to the ``clipbridge`` command's subparsers."""
    parser = add_command(subparsers, "search", _cmd_search, HELP, DESCRIPTION)
    parser.add_argument("index", type=Path, metavar="INDEX", help="a clipbridge index Parquet")
    parser.add_argument("query", nargs="?", default=None, metavar="QUERY", help="a text query")
    parser.add_argument(
        "--image", default=None, metavar="PATH", help="search with an image instead of a text"
    )
    add_count_option(parser, "--top-k", DEFAULT_TOP_K, "how many rows to print", metavar="K")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per hit (id, score, ...) per line"
    )
    add_model_options(parser, model=MODEL_OPTION)
    # Unset unless given: the index's recorded model and settings fill them in.
    parser.set_defaults(backend=None, device=None, dtype=None)
