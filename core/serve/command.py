"""``clipbridge serve``: the command-line entry of the server (see :mod:`clipbridge.serve`)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any

from ..cli.options import (
    add_command,
    add_count_option,
    add_model_options,
    config_from_args,
    fields_from_args,
)
from .ray_command import add_ray_options
from .settings import (
    API_KEYS_ENV,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_INPUTS,
    DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_WAIT_MS,
    ServeSettings,
    ServeStartError,
    keys_from_env,
)

__all__ = ["api_key", "non_negative_ms", "port_number", "register", "settings_from_args"]

HELP = "serve the model over HTTP as a Jina-compatible embeddings API"
DESCRIPTION = (
    "A Jina Embeddings API (POST /v1/embeddings) backed by the local model, with dynamic "
    "batching across concurrent requests, /health, /metrics and /docs."
)
# The ServeSettings fields that are options of the same name.
SETTINGS_OPTIONS = (
    "served_model_name",
    "max_batch_size",
    "max_wait_ms",
    "max_queue",
    "max_request_bytes",
    "max_inputs",
    "allow_image_urls",
    "allow_private_urls",
)


def port_number(text: str) -> int:
    """An argparse ``type``: a TCP port, 0 to 65535 (0: a free one)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, not {text!r}")
    return value


def non_negative_ms(text: str) -> float:
    """An argparse ``type``: a finite number of milliseconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number of milliseconds >= 0, not {text!r}")
    return value


def api_key(text: str) -> str:
    """An argparse ``type``: a key that is not empty or blank (``--api-key "$UNSET"``)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "is empty or blank (an unset variable?); give the key, or leave --api-key out "
            "to serve without one"
        )
    return text.strip()


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    """The :class:`ServeSettings` the command line (and ``$CLIPBRIDGE_SERVE_API_KEYS``) gives."""
    if args.max_inputs > args.max_queue:
        raise ServeStartError(
            f"--max-inputs {args.max_inputs} is above --max-queue {args.max_queue}: a request "
            "that large could never be admitted; lower --max-inputs or raise --max-queue"
        )
    return ServeSettings(
        config=config_from_args(args),
        api_keys=tuple(args.api_key) or keys_from_env(dict(os.environ)),
        **fields_from_args(args, *SETTINGS_OPTIONS),
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from .runner import run
    from .security import bind_warning

    settings = settings_from_args(args)
    warning = bind_warning(args.host, bool(settings.api_keys))
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if args.ray:  # the same app as Ray Serve replicas
        from .ray_command import serve_on_ray_command

        return serve_on_ray_command(args, settings)

    def ready(base_url: str, device: str) -> None:
        print(
            f"clipbridge serve: ready at {base_url}/v1/embeddings, model "
            f"{settings.model_name} ({settings.config.model}), device {device}",
            flush=True,
        )

    stopped = run(
        settings, host=args.host, port=args.port, on_ready=ready, log_level=args.log_level
    )
    if stopped is not None:
        print(
            f"clipbridge serve: stopped on {stopped.name} after answering the requests in "
            "flight; run the same command to serve again",
            file=sys.stderr,
            flush=True,
        )
    return 0


def register(subparsers: Any) -> None:
    """Add ``clipbridge serve`` to the ``clipbridge`` command's subparsers."""
    serve = add_command(subparsers, "serve", _cmd_serve, HELP, DESCRIPTION)
    add_model_options(serve, batch=True)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine)"
    )
    serve.add_argument(
        "--port",
        type=port_number,
        default=8080,
        help="port to listen on; 0 picks a free one",
    )
    serve.add_argument(
        "--api-key",
        type=api_key,
        action="append",
        default=[],
        metavar="KEY",
        help=f"accepted Bearer key, repeatable (default: ${API_KEYS_ENV}, comma-separated; "
        "none: no key needed)",
    )
    add_count_option(
        serve,
        "--max-batch-size",
        DEFAULT_MAX_BATCH_SIZE,
        "most items of concurrent requests coalesced into one model call",
    )
    serve.add_argument(
        "--max-wait-ms",
        type=non_negative_ms,
        default=DEFAULT_MAX_WAIT_MS,
        metavar="MS",
        help="how long the oldest queued item waits for others before its batch runs "
        f"(default: {DEFAULT_MAX_WAIT_MS:g})",
    )
    add_count_option(
        serve, "--max-queue", DEFAULT_MAX_QUEUE, "items admitted at once; beyond, requests get 429"
    )
    add_count_option(
        serve, "--max-request-bytes", DEFAULT_MAX_REQUEST_BYTES, "largest request body; beyond: 413"
    )
    add_count_option(
        serve, "--max-inputs", DEFAULT_MAX_INPUTS, "most items in one request; beyond: 413"
    )
    serve.add_argument(
        "--allow-image-urls", action="store_true", help="fetch http(s) image URLs in requests"
    )
    serve.add_argument(
        "--allow-private-urls",
        action="store_true",
        help="also fetch URLs whose host is loopback, private or link-local (trusted networks)",
    )
    serve.add_argument(
        "--served-model-name",
        default=None,
        metavar="NAME",
        help="the model name the server answers to (default: the model's short name)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level (default: info)",
    )
    add_ray_options(serve)
