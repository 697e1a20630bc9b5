"""The ``clipbridge`` command: ``embed`` and ``info``; each app adds its own subcommand."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import ClipBridgeError
from .options import add_model_options, embedder_from_args

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]

# The apps above the core, each a module with ``register(subparsers)`` adding its subcommand.
# They import their heavy dependencies only when their command runs.
APPS = ("clipbridge.demo.command", "clipbridge.serve.command")


def _cmd_embed(args: argparse.Namespace) -> int:
    if not args.text and not args.image:
        print("clipbridge embed: give at least one --text or --image", file=sys.stderr)
        return 2
    emb = embedder_from_args(args)
    parts, labels = [], []
    if args.text:
        parts.append(emb.embed_texts(args.text))
        labels += [("text", t) for t in args.text]
    if args.image:
        parts.append(emb.embed_images(args.image))
        labels += [("image", i) for i in args.image]
    vectors = np.concatenate(parts)
    out: Path | None = args.out
    if out is None:
        for (kind, value), vec in zip(labels, vectors, strict=True):
            head = " ".join(f"{x:+.4f}" for x in vec[:4])
            print(f"{kind}\t{value}\t[{head} ...] dim={vec.shape[0]}")
    elif out.suffix == ".npy":
        np.save(out, vectors)
        print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} float32 to {out}")
    elif out.suffix == ".jsonl":
        with out.open("w", encoding="utf-8") as fh:
            for (kind, value), vec in zip(labels, vectors, strict=True):
                fh.write(json.dumps({"type": kind, "input": value, "embedding": vec.tolist()}))
                fh.write("\n")
        print(f"wrote {vectors.shape[0]} embeddings to {out}")
    else:
        print("clipbridge embed: --out must end in .npy or .jsonl", file=sys.stderr)
        return 2
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    emb = embedder_from_args(args)
    info = {"model": emb.model, "backend": emb.config.backend, "dimension": emb.dimension}
    backend = emb.backend
    loaded = getattr(backend, "loaded", None)
    if loaded is not None:
        info.update(
            parameters=loaded.num_parameters,
            device=str(loaded.device),
            dtype=str(loaded.dtype).removeprefix("torch."),
            folder=str(loaded.folder),
            image_size=backend.spec.size,
        )
    for key, value in info.items():
        print(f"{key}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clipbridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    embed = sub.add_parser("embed", help="embed texts and images")
    add_model_options(embed)
    embed.add_argument("--text", action="append", default=[], help="a text (repeatable)")
    embed.add_argument("--image", action="append", default=[], help="an image (repeatable)")
    embed.add_argument("--out", type=Path, default=None, help="file.npy or file.jsonl")
    embed.set_defaults(func=_cmd_embed)
    info = sub.add_parser("info", help="describe a model")
    add_model_options(info)
    info.set_defaults(func=_cmd_info)
    for name in APPS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ClipBridgeError as exc:
        print(f"clipbridge: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"clipbridge: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
