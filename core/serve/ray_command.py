"""``clipbridge serve --ray``: the Ray Serve options of ``clipbridge serve`` and their command.

:func:`add_ray_options` adds ``--ray`` and the replica options to the ``serve`` parser;
``clipbridge serve`` runs :func:`serve_on_ray_command` when ``--ray`` is given (without it, the
server runs in this process as before).

On SIGTERM or SIGINT the deployment is removed (each replica answers its in-flight requests
first), then the local Ray this command started is stopped; exit status 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..cli.options import add_ray_resource_options, positive_int

if TYPE_CHECKING:
    from .on_ray import RayServeOptions
    from .settings import ServeSettings

__all__ = [
    "StopRequest",
    "add_ray_options",
    "autoscaling_config",
    "options_from_args",
    "serve_on_ray_command",
    "stop_signals",
]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def autoscaling_config(text: str) -> dict[str, Any]:
    """An argparse ``type`` for ``--autoscaling``: a JSON object."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise argparse.ArgumentTypeError(
            f"is not valid JSON ({reason}); write it like "
            '\'{"min_replicas": 1, "max_replicas": 8}\' (keys in double quotes)'
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"must be a JSON object like '{{\"min_replicas\": 1}}', not {type(value).__name__}"
        )
    return value


def options_from_args(args: argparse.Namespace) -> RayServeOptions:
    """The :class:`~clipbridge.serve.on_ray.RayServeOptions` of the command line."""
    from .on_ray import RayServeOptions

    return RayServeOptions(
        replicas=args.replicas,
        num_gpus=args.num_gpus,
        num_cpus=args.num_cpus,
        autoscaling=args.autoscaling,
        max_ongoing_requests=args.max_ongoing_requests,
        host=args.host,
        port=args.port,
        address=args.ray_address,
    )


class StopRequest:
    """Which stop signal arrived (``signal``; None: none yet); see :func:`stop_signals`."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None

    def wait(self, poll: float = 0.2) -> signal.Signals:
        """Block until SIGINT or SIGTERM arrives; return it."""
        while self.signal is None:
            time.sleep(poll)
        return self.signal


@contextmanager
def stop_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM are recorded on the yielded :class:`StopRequest`
    instead of stopping the process, so the caller stops cleanly (Ray's driver would abort on
    SIGTERM). The previous handlers are put back afterwards."""
    stop = StopRequest()

    def handle(sig: int, frame: Any) -> None:
        if stop.signal is None:  # a second signal while stopping changes nothing
            stop.signal = signal.Signals(sig)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def serve_on_ray_command(args: argparse.Namespace, settings: ServeSettings) -> int:
    """``clipbridge serve --ray``: deploy, print the ready line, and on SIGINT or SIGTERM
    remove the deployment and stop the local Ray this command started; exit status 0."""
    from ..ray.cluster import connect
    from .on_ray import serve_on_ray

    options = options_from_args(args)
    ray = connect(options.address)
    with stop_signals() as stop:
        try:
            url = serve_on_ray(settings, options)
            print(
                f"clipbridge serve --ray: ready at {url}/v1/embeddings, model "
                f"{settings.model_name}, {options.replicas} replica(s), "
                f"{options.num_gpus} GPU each",
                flush=True,
            )
            _drain(stop.wait())  # the replicas serve; this process keeps them up until then
        finally:
            ray.shutdown()  # stops the local Ray this command started; else only disconnects
    print(
        "clipbridge serve --ray: stopped; run the same command to serve again",
        file=sys.stderr,
        flush=True,
    )
    return 0


def _drain(stopped_by: signal.Signals) -> None:
    """Remove the deployment: each replica answers its in-flight requests first."""
    from ray import serve

    from .on_ray import APP_NAME

    print(
        f"clipbridge serve --ray: stopping on {stopped_by.name}: answering the requests in "
        "flight, then removing the deployment",
        file=sys.stderr,
        flush=True,
    )
    try:
        # Deleting the application first lets each replica finish its requests while the HTTP
        # proxy still carries the answers back; serve.shutdown() alone stops the proxy at once.
        serve.delete(APP_NAME, _blocking=True)
        serve.shutdown()
    except Exception as exc:  # Ray itself is going away (Ctrl-C reaches its processes too)
        print(
            f"clipbridge serve --ray: the deployment could not be removed cleanly "
            f"({type(exc).__name__}); Ray removes it when it stops",
            file=sys.stderr,
            flush=True,
        )


def add_ray_options(serve: argparse.ArgumentParser) -> None:
    """Add ``--ray`` and the replica options to the ``clipbridge serve`` parser."""
    group = serve.add_argument_group("Ray Serve (--ray; needs the ray extra)")
    group.add_argument("--ray", action="store_true", help="deploy on Ray Serve")
    group.add_argument("--replicas", type=positive_int, default=1, help="replicas, one model each")
    add_ray_resource_options(group, "replica")
    group.add_argument(
        "--autoscaling",
        type=autoscaling_config,
        default=None,
        help='Ray Serve autoscaling_config as JSON, e.g. {"min_replicas": 1, "max_replicas": 8} '
        "(default: none, a fixed --replicas)",
    )
    group.add_argument(
        "--max-ongoing-requests",
        type=positive_int,
        default=None,
        help="requests one replica handles at once (default: Ray Serve's own)",
    )
