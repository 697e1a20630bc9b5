"""The ``clipbridge`` command: ``embed`` and ``info``; each app adds its own subcommand."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import BackendError, ClipBridgeError, InvalidInputError
from .options import (
    STDOUT,
    Parser,
    UsageError,
    add_command,
    add_model_options,
    add_verbose_option,
    check_model_options,
    embedder_from_args,
    output_path,
    verbose_logging,
)

__all__ = ["build_parser", "main"]

# The apps above the core, each a module with ``register(subparsers)`` adding its subcommand.
# They import their heavy dependencies only when their command runs.
APPS = (
    "clipbridge.demo.command",
    "clipbridge.eval.command",
    "clipbridge.serve.command",
    "clipbridge.index.command",
    "clipbridge.search.command",
    "clipbridge.export.command",
)

DESCRIPTION = (
    "Text and image embeddings in one vector space from jina-clip-v1, jina-clip-v2, CLIP and "
    "SigLIP checkpoints, computed locally (PyTorch, or ONNX Runtime without torch) or through "
    "the Jina API. Run 'clipbridge COMMAND --help' for the options of a command."
)
EMBED_SUFFIXES = (".npy", ".jsonl")
EMBED_INPUTS = (  # (kind, help) of embed's --text and --image
    ("text", "a text to embed (repeatable)"),
    ("image", "an image to embed: a file, an http(s) URL or a data: URI (repeatable)"),
)


class _AddInput(argparse.Action):
    """``--text``/``--image``: append ``(kind, value)`` to one list, in command-line order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        inputs = [*(getattr(namespace, self.dest, None) or []), (self.const, values)]
        setattr(namespace, self.dest, inputs)


def _embed_kind(
    emb: Any, kind: str, inputs: list[tuple[str, str]]
) -> tuple[list[int], np.ndarray | None]:
    """Embed the inputs of one kind in one call; errors are renumbered over all inputs."""
    positions = [i for i, (k, _) in enumerate(inputs) if k == kind]
    if not positions:
        return positions, None
    values = [inputs[i][1] for i in positions]
    try:
        return positions, (emb.embed_texts if kind == "text" else emb.embed_images)(values)
    except ClipBridgeError as exc:
        raise _for_command_line(exc, positions, inputs) from exc


def _name(position: int, inputs: list[tuple[str, str]], reason: str) -> str:
    """``input 3 of 4 (--image 'b.png')``; the value is left out when the reason names it."""
    kind, value = inputs[position]
    shown = value if len(value) <= 60 else value[:59] + "…"
    given = f"--{kind}" if value in reason else f"--{kind} {shown!r}"
    return f"input {position + 1} of {len(inputs)} ({given})"


def _for_command_line(
    exc: ClipBridgeError, positions: list[int], inputs: list[tuple[str, str]]
) -> ClipBridgeError:
    """The same error, told in command-line terms: inputs counted from 1 over all inputs."""
    if isinstance(exc, InvalidInputError):
        return ClipBridgeError(f"{_name(positions[exc.index], inputs, exc.reason)}: {exc.reason}")
    if not isinstance(exc, BackendError):
        return exc
    # The backend's own message, without the notes addressed to Python callers (error.partial).
    reason = exc.__cause__.message if isinstance(exc.__cause__, BackendError) else exc.message
    failed = [positions[i] + 1 for i in exc.failed_indices if 0 <= i < len(positions)]
    if failed:
        numbers = ", ".join(map(str, failed[:10])) + (", …" if len(failed) > 10 else "")
        were = "inputs {} of {} were" if len(failed) > 1 else "input {} of {} was"
        reason += f" ({were.format(numbers, len(inputs))} not embedded; nothing was written)"
    return type(exc)(reason, status_code=exc.status_code)


def _check_embed(args: argparse.Namespace) -> None:
    if not args.inputs:
        raise UsageError("give at least one --text or --image")


def _cmd_embed(args: argparse.Namespace) -> int:
    inputs: list[tuple[str, str]] = args.inputs
    emb = embedder_from_args(args)
    parts = [_embed_kind(emb, kind, inputs) for kind in ("text", "image")]
    dimension = next(found.shape[1] for _, found in parts if found is not None)
    vectors = np.empty((len(inputs), dimension), dtype=np.float32)
    for positions, found in parts:
        if found is not None:
            vectors[positions] = found
    out: Path | str | None = args.out
    if out is None:
        for (kind, value), vec in zip(inputs, vectors, strict=True):
            head = " ".join(f"{x:+.4f}" for x in vec[:4])
            print(f"{kind}\t{value}\t[{head} ...] dim={vec.shape[0]}")
    elif out == STDOUT:
        _write_jsonl(sys.stdout, inputs, vectors)
    else:
        try:
            if out.suffix.lower() == ".npy":
                with out.open("wb") as fh:
                    np.save(fh, vectors)
                message = f"wrote {vectors.shape[0]} x {vectors.shape[1]} float32 to {out}"
            else:
                with out.open("w", encoding="utf-8") as fh:
                    _write_jsonl(fh, inputs, vectors)
                message = f"wrote {vectors.shape[0]} embeddings to {out}"
        except OSError as exc:  # checked at parse time; the disk can still fill up
            raise ClipBridgeError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from exc
        print(message)
    return 0


def _write_jsonl(fh: Any, inputs: list[tuple[str, str]], vectors: np.ndarray) -> None:
    for (kind, value), vec in zip(inputs, vectors, strict=True):
        fh.write(json.dumps({"type": kind, "input": value, "embedding": vec.tolist()}))
        fh.write("\n")


def _dtype_line(requested: str, loaded: Any) -> str:
    """``bfloat16 (auto)``, plus the activations' dtype where it differs from the weights'."""
    name = str(loaded.dtype).removeprefix("torch.")
    line = f"{name} (auto)" if requested == "auto" else name
    if loaded.compute_dtype != loaded.dtype:
        line += f", computed in {str(loaded.compute_dtype).removeprefix('torch.')}"
    return line


def _cmd_info(args: argparse.Namespace) -> int:
    emb = embedder_from_args(args)
    info = {"model": emb.model, "backend": emb.config.backend, "dimension": emb.probe_dimension()}
    backend = emb.backend
    loaded = getattr(backend, "loaded", None)
    if loaded is not None:
        info.update(
            parameters=loaded.num_parameters,
            device=str(loaded.device),
            dtype=_dtype_line(emb.config.dtype, loaded),
            folder=str(loaded.folder),
            image_size=backend.spec.size,
        )
        if loaded.device.type == "cpu":
            from ..models.files import cpu_capability

            info["cpu"] = cpu_capability()
    details = getattr(backend, "details", None)  # the onnx backend
    if loaded is None and callable(details):
        info.update(details())
    for key, value in info.items():
        print(f"{key}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``clipbridge`` parser with every subcommand (the apps' included)."""
    parser = Parser(prog="clipbridge", description=DESCRIPTION)
    parser.add_argument(
        "--version", action="version", version=f"clipbridge {__version__}", help="print the version"
    )
    add_verbose_option(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    embed = add_command(
        sub,
        "embed",
        _cmd_embed,
        help="embed texts and images",
        description="Embed each --text and --image in the order given on the command line. "
        "Inputs are numbered from 1 in that order, in error messages too.",
        check=_check_embed,
    )
    for kind, says in EMBED_INPUTS:
        embed.add_argument(
            f"--{kind}",
            dest="inputs",
            action=_AddInput,
            const=kind,
            default=[],
            metavar=kind.upper(),
            help=says,
        )
    embed.add_argument(
        "--out",
        type=output_path(*EMBED_SUFFIXES),
        default=None,
        metavar="FILE",
        help="write the vectors to FILE.npy (one float32 matrix) or FILE.jsonl (one object per "
        "input), or '-' for JSONL on stdout; default: print the first components",
    )
    add_model_options(embed)
    info = add_command(
        sub, "info", _cmd_info, help="describe a model", description="Load a model and describe it."
    )
    add_model_options(info)
    for name in APPS:
        importlib.import_module(name).register(sub)
    for command in sub.choices.values():
        add_verbose_option(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``clipbridge`` with ``argv``; returns the exit code (2: usage or clipbridge error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with verbose_logging(args.verbose):
        try:
            check_model_options(args)
            if args.check is not None:  # the command's own checks, before anything loads
                args.check(args)
            return int(args.func(args))
        except UsageError as exc:
            print(f"clipbridge {args.command}: {exc}", file=sys.stderr)
            return 2
        except (ClipBridgeError, ImportError) as exc:
            print(f"clipbridge: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    raise SystemExit(main())
