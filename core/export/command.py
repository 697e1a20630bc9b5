"""``clipbridge export MODEL --out DIR [--dtype float32|int8]``.

Every mistake a user can make on the command line (an output folder that exists, an unwritable
place, a model name that is neither a folder nor a hub id, no torch) is reported in one sentence,
exit code 2, before the model loads.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from ..cli.options import UsageError, add_command

__all__ = ["register"]

HELP = "write a model as an ONNX folder (for --backend onnx, no torch needed to run it)"
DESCRIPTION = (
    "Export MODEL (a local folder or hub id with PyTorch weights; jina-clip-v1 or jina-clip-v2) "
    "to DIR: onnx/text_model.onnx (input_ids -> text_embeds), onnx/vision_model.onnx "
    "(pixel_values -> image_embeds), the tokenizer, preprocessor and config files. --dtype int8 "
    "adds dynamically quantized onnx/*_int8.onnx graphs. Needs torch; loading DIR with "
    "--backend onnx does not."
)


def _out_folder(text: str) -> Path:
    """An argparse ``type``: a folder to create (or an empty one) in a writable place."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder")
    if path.is_dir() and any(path.iterdir()):
        raise argparse.ArgumentTypeError(f"{text!r} is not empty; give a new or empty folder")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: permission denied")
    return path


_out_folder.__name__ = "output folder"


def _cmd_export(args: argparse.Namespace) -> int:
    from ..models.onnx_export import export_onnx

    print(f"exporting {args.model} to ONNX ({args.dtype}) ...", file=sys.stderr, flush=True)
    out = export_onnx(args.model, args.out, precision=args.dtype)
    files = sorted(str(p.relative_to(out)) for p in (out / "onnx").iterdir())
    print(f"wrote {out}: {', '.join(files)}")
    print(f"load it with: Embedder({str(out)!r}, backend='onnx', dtype={args.dtype!r})")
    return 0


def _check(args: argparse.Namespace) -> None:
    from ..errors import ModelLoadError
    from ..models.hub import model_source

    needed = ["torch", "onnx", "onnxscript"] + (["onnxruntime"] if args.dtype == "int8" else [])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"exporting needs {', '.join(missing)}: pip install 'clipbridge[local,onnx]'"
        )
    try:
        model_source(args.model)
    except ModelLoadError as exc:
        raise UsageError(str(exc)) from exc


def register(subparsers: Any) -> None:
    """Add ``clipbridge export`` to the ``clipbridge`` command's subparsers."""
    parser = add_command(subparsers, "export", _cmd_export, HELP, DESCRIPTION, check=_check)
    parser.add_argument("model", metavar="MODEL", help="local folder or Hugging Face hub id")
    parser.add_argument(
        "--out", type=_out_folder, required=True, metavar="DIR", help="a new or empty folder"
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "int8"),
        default="float32",
        help="float32 graphs, or float32 plus dynamically quantized int8 ones (default: float32)",
    )
