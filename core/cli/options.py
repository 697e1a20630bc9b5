"""Options every ``clipbridge`` subcommand shares, and the checks argparse runs on their values.

A bad value stops the command at parse time (exit code 2, one line), before any model loads.

A subcommand is added with :func:`add_command`; its ``check`` (and the model options' own
checks) run before the command, and a :class:`UsageError` from either is one line on stderr,
``clipbridge COMMAND: ...``, exit code 2.

Example::

    parser = Parser(prog="clipbridge thing")
    add_model_options(parser, batch=True)
    add_progress_option(parser)
    parser.add_argument("--top-k", type=positive_int, default=3)
    parser.add_argument("--out", type=output_path(".html"), default="page.html")
    args = parser.parse_args(["--dtype", "float32", "--top-k", "5", "--batch-size", "8"])
    config = config_from_args(args)  # EmbedderConfig(model=..., dtype="float32", batch_size=8)
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

from ..config import (
    DEFAULT_API_BATCH_SIZE,
    DEFAULT_BASE_URL,
    DEFAULT_BATCH_SIZE,
    DEFAULT_MODEL,
    EmbedderConfig,
)
from ..errors import ClipBridgeError

if TYPE_CHECKING:
    from ..embedder import Embedder

Command = Callable[[argparse.Namespace], int]

__all__ = [
    "BACKENDS",
    "DEVICES",
    "DTYPES",
    "STDOUT",
    "Parser",
    "UsageError",
    "add_command",
    "add_count_option",
    "add_model_options",
    "add_progress_option",
    "add_ray_resource_options",
    "add_verbose_option",
    "check_model_options",
    "config_from_args",
    "device",
    "embedder_from_args",
    "fields_from_args",
    "model_fields",
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


class UsageError(ClipBridgeError):
    """A user's mistake on the command line, found before any model loads: ``main`` prints it as
    one line, ``clipbridge COMMAND: <message>``, and exits with code 2."""


def add_command(
    subparsers: Any,
    name: str,
    run: Command,
    help: str,
    description: str,
    *,
    check: Callable[[argparse.Namespace], None] | None = None,
) -> Parser:
    """Add ``clipbridge NAME``, which runs ``run(args)``, to the ``clipbridge`` subparsers.

    ``check(args)`` raises :class:`UsageError` for a mistake only the whole command line shows
    (two options that contradict each other, ...); ``main`` calls it before ``run``.
    """
    parser: Parser = subparsers.add_parser(name, help=help, description=description)
    parser.set_defaults(func=run, check=check)
    return parser


def add_count_option(
    parser: Any, option: str, default: int | None, help: str, **kwargs: Any
) -> None:
    """``option N``: a positive integer (``--top-k``, ``--max-queue``, ...); the help shows the
    default. ``kwargs`` go to ``add_argument`` (``metavar``, ``dest``)."""
    kwargs.setdefault("metavar", "N")
    parser.add_argument(option, type=positive_int, default=default, help=help, **kwargs)


def add_model_options(
    parser: argparse.ArgumentParser, *, batch: bool = False, model: dict[str, Any] | None = None
) -> None:
    """``--model --backend --device --dtype --base-url`` on ``parser``; with ``batch``, also
    ``--batch-size`` (local/onnx: items per forward pass) and ``--api-batch-size`` (API: inputs
    per request), each setting the one :class:`~clipbridge.EmbedderConfig` field of its name.

    ``model``: ``add_argument`` keywords of a command's own ``--model`` (``eval`` takes several).
    """
    group = parser.add_argument_group("model options")
    group.add_argument("--model", **(model or _MODEL_OPTION))
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
    if not batch:
        return
    for option, default, says in _BATCH_OPTIONS:
        add_count_option(group, option, None, f"{says} (default: {default})")


_MODEL_OPTION = {
    "default": DEFAULT_MODEL,
    "metavar": "M",
    "help": "Hugging Face hub id, API model name or local folder",
}
# --batch-size and --api-batch-size: (option, default, help); each sets the field of its name.
_BATCH_OPTIONS = (
    ("--batch-size", DEFAULT_BATCH_SIZE, "local/onnx backends: most items per forward pass"),
    ("--api-batch-size", DEFAULT_API_BATCH_SIZE, "API backend: most inputs per request"),
)


def add_ray_resource_options(
    parser: Any, per: str, *, prefix: str = "", cpus: Callable[[str], float] = positive_number
) -> None:
    """``--ray-address``, ``--{prefix}num-gpus`` and ``--{prefix}num-cpus``: the Ray cluster
    and what each ``per`` (actor, replica) needs of it."""
    parser.add_argument("--ray-address", default=None, help="Ray cluster (default: local Ray)")
    for kind, number, default in (("gpus", non_negative_number, 0), ("cpus", cpus, 1)):
        option, says = f"--{prefix}num-{kind}", f"{kind[:-1].upper()}s per {per}"
        parser.add_argument(option, type=number, default=default, help=says)


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    """``--no-progress``: hide the progress bars (``show_progress=False``; shown by default)."""
    parser.add_argument(
        "--no-progress",
        dest="show_progress",
        action="store_false",
        help="hide the progress bars",
    )


def check_model_options(args: argparse.Namespace) -> None:
    """The model options that cannot work together, as a :class:`UsageError`."""
    if not hasattr(args, "backend"):  # a command without the model options
        return
    backend, dtype = args.backend, getattr(args, "dtype", None)
    if dtype == "int8" and backend != "onnx":
        raise UsageError("--dtype int8 (dynamically quantized weights) needs --backend onnx")
    if backend == "onnx" and dtype in ("bfloat16", "float16"):
        raise UsageError(f"--backend onnx runs float32 or int8 weights, not --dtype {dtype}")
    if backend == "api" and getattr(args, "batch_size", None) is not None:
        raise UsageError(
            "--batch-size is the local/onnx forward pass; with --backend api give "
            "--api-batch-size (inputs per request)"
        )
    if backend not in ("api", None) and getattr(args, "api_batch_size", None) is not None:
        raise UsageError("--api-batch-size is the size of an API request: it needs --backend api")


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


def fields_from_args(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """``{name: args.name}`` for each of ``names``: the keywords of a settings class whose fields
    are named as the options are."""
    return {name: getattr(args, name) for name in names}


# The model options, by EmbedderConfig field; each is set only when given (None: not given).
_CONFIG_OPTIONS = (
    "model",
    "backend",
    "device",
    "dtype",
    "base_url",
    "batch_size",
    "api_batch_size",
)


def model_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~clipbridge.EmbedderConfig` fields the model options give: each option of
    the command that is not None (``search`` leaves them None to use the index's record)."""
    given = {name: getattr(args, name, None) for name in _CONFIG_OPTIONS}
    return {name: value for name, value in given.items() if value is not None}


def config_from_args(
    args: argparse.Namespace, base: EmbedderConfig | None = None, **fields: Any
) -> EmbedderConfig:
    """``base`` (default: every field's default) with the fields the model options give
    (:func:`model_fields`), then ``fields``."""
    return (base or EmbedderConfig()).replace(**{**model_fields(args), **fields})


def embedder_from_args(args: argparse.Namespace, **fields: Any) -> Embedder:
    """The :class:`~clipbridge.Embedder` the model options describe (and ``fields``)."""
    from ..embedder import Embedder

    return Embedder(config=config_from_args(args, **fields))
