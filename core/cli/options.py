"""Options every ``clipbridge`` subcommand shares, and the checks argparse runs on their values.

A bad value stops the command at parse time (exit code 2, one line), before any model loads.

Example::

    parser = Parser(prog="clipbridge thing")
    add_model_options(parser)
    parser.add_argument("--top-k", type=positive_int, default=3)
    parser.add_argument("--out", type=output_path(".html"), default="page.html")
    args = parser.parse_args(["--dtype", "float32", "--top-k", "5"])
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ..config import DEFAULT_BASE_URL, DEFAULT_MODEL, EmbedderConfig

if TYPE_CHECKING:
    from ..embedder import Embedder

__all__ = [
    "BACKENDS",
    "DEVICES",
    "DTYPES",
    "STDOUT",
    "Parser",
    "add_model_options",
    "add_verbose_option",
    "check_model_options",
    "config_from_args",
    "device",
    "embedder_from_args",
    "non_negative_number",
    "output_path",
    "positive_int",
    "positive_number",
    "verbose_logging",
]

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16", "int8")
BACKENDS = ("local", "onnx", "api")
STDOUT = "-"  # ``--out -``: write to standard output
_DEVICE = re.compile(r"^(auto|cpu|cuda|mps)$|^(cuda|mps):\d+$")


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless its text already says it.

    Flags (``store_true``) and options without a default (None, an empty list) show none.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or not action.option_strings
            or default is None
            or default is False
            or default == []
            or default == argparse.SUPPRESS
            or isinstance(action, argparse._StoreConstAction | argparse._VersionAction)
        ):
            return action.help
        shown = "%(default)s"  # argparse fills it in, as ArgumentDefaultsHelpFormatter does
        return f"{text} (default: {shown})" if text else f"default: {shown}"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr (exit code 2), and whose
    help shows every option's default (subcommands' parsers are of this class too).

    argparse prints the whole usage block before the error; for a command with a dozen options
    that buries the one sentence that matters, so this prints the sentence and where help is.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def _number(text: str, low: float, *, inclusive: bool, says: str) -> float:
    """A finite float above ``low`` (or equal to it when ``inclusive``), else ``says``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value >= low if inclusive else value > low)):
        raise argparse.ArgumentTypeError(f"must be {says}, not {text!r}")
    return value


def positive_number(text: str) -> float:
    """An argparse ``type``: a finite number > 0 (CPUs per replica or actor)."""
    return _number(text, 0.0, inclusive=False, says="a number above 0")


def non_negative_number(text: str) -> float:
    """An argparse ``type``: a finite number >= 0 (GPUs per replica or actor)."""
    return _number(text, 0.0, inclusive=True, says="a number >= 0")


def device(text: str) -> str:
    """An argparse ``type``: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(
            f"invalid device {text!r} (choose from {', '.join(DEVICES)})"
        )
    return text


def output_path(*suffixes: str, stdout: bool = True) -> Callable[[str], str | Path]:
    """An argparse ``type`` for ``--out``: a file that can be written, checked before any work.

    The file's folder must exist and be writable, the file must not be a folder, and its name
    must end in one of ``suffixes`` (when given). ``-`` (standard output) passes when ``stdout``.
    """

    def check(text: str) -> str | Path:
        if text == STDOUT:
            if stdout:
                return STDOUT
            raise argparse.ArgumentTypeError("'-' (standard output) is not supported here")
        path = Path(text).expanduser()
        if suffixes and path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text!r} must end in {' or '.join(suffixes)}")
        folder = path.parent
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
        if not folder.is_dir():
            raise argparse.ArgumentTypeError(f"cannot write {text!r}: no folder {str(folder)!r}")
        writable = os.access(path, os.W_OK) if path.exists() else os.access(folder, os.W_OK)
        if not writable:
            raise argparse.ArgumentTypeError(f"cannot write {text!r}: permission denied")
        return path

    check.__name__ = "output file"  # argparse names the type in its messages
    return check


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model --backend --device --dtype --base-url`` on ``parser``."""
    group = parser.add_argument_group("model options")
    group.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        metavar="M",
        help=f"Hugging Face hub id, API model name or local folder (default: {DEFAULT_MODEL})",
    )
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="where vectors are computed: local PyTorch, ONNX Runtime (no torch), or the Jina "
        "API with $JINA_API_KEY (default: local)",
    )
    group.add_argument(
        "--device",
        type=device,
        default="auto",
        metavar="D",
        help=f"local backend: {', '.join(DEVICES)} (default: auto)",
    )
    group.add_argument(
        "--dtype",
        choices=DTYPES,
        default="auto",
        help="local/onnx backends: weight precision; int8 (dynamically quantized) needs "
        "--backend onnx (default: auto)",
    )
    group.add_argument(
        "--base-url",
        dest="base_url",
        default=None,
        metavar="URL",
        help=f"API backend: a server speaking the Jina wire format (default: {DEFAULT_BASE_URL})",
    )


def check_model_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The combinations of ``--backend`` and ``--dtype`` that cannot work, refused at parse time."""
    if not hasattr(args, "backend"):  # a command without the model options
        return
    backend, dtype = args.backend, getattr(args, "dtype", None)
    if dtype == "int8" and backend != "onnx":
        parser.error("--dtype int8 (dynamically quantized weights) needs --backend onnx")
    if backend == "onnx" and dtype in ("bfloat16", "float16"):
        parser.error(f"--backend onnx runs float32 or int8 weights, not --dtype {dtype}")


def add_verbose_option(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """``-v/--verbose``: show the INFO log lines of the ``clipbridge`` logger (retries, ...).

    On the top-level parser it defaults to False; on a subcommand it leaves the namespace alone
    unless given, so ``clipbridge -v embed`` and ``clipbridge embed -v`` both work.
    """
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if top_level else argparse.SUPPRESS,
        help="also show clipbridge's INFO messages, such as API retries (default: warnings only)",
    )


@contextmanager
def verbose_logging(verbose: bool) -> Iterator[None]:
    """Show the ``clipbridge`` logger's records on stderr: INFO when ``verbose``, else WARNING.

    The handler and level are put back on exit, so ``main()`` can run many times in one process
    (tests) without stacking handlers.
    """
    logger = logging.getLogger("clipbridge")
    level = logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("clipbridge: %(message)s"))
    handler.setLevel(level)
    previous = logger.level
    logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def config_from_args(args: argparse.Namespace) -> EmbedderConfig:
    """The :class:`~clipbridge.EmbedderConfig` the model options describe (nothing loads)."""
    fields = {"backend": args.backend, "device": args.device, "dtype": args.dtype}
    if args.base_url:
        fields["base_url"] = args.base_url
    return EmbedderConfig(model=args.model, **fields)


def embedder_from_args(args: argparse.Namespace) -> Embedder:
    """The :class:`~clipbridge.Embedder` the model options describe."""
    from ..embedder import Embedder

    return Embedder.from_config(config_from_args(args))
