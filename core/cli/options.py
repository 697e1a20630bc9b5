"""Options every ``clipbridge`` subcommand that loads a model shares."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..config import DEFAULT_MODEL

if TYPE_CHECKING:
    from ..embedder import Embedder

__all__ = ["add_model_options", "embedder_from_args"]


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model --backend --device --dtype --base-url`` on ``parser``."""
    parser.add_argument("--model", default=DEFAULT_MODEL, help="hub id or local folder")
    parser.add_argument("--backend", choices=("local", "api"), default="local")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--base-url", dest="base_url", default=None, help="API base URL")


def embedder_from_args(args: argparse.Namespace) -> Embedder:
    """The :class:`~clipbridge.Embedder` the model options describe."""
    from ..embedder import Embedder

    fields = {"backend": args.backend, "device": args.device, "dtype": args.dtype}
    if args.base_url:
        fields["base_url"] = args.base_url
    return Embedder(args.model, **fields)
