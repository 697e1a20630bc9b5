"""``clipbridge serve --ray``: adds the Ray Serve options to the ``serve`` subcommand.

``clipbridge.serve`` owns ``clipbridge serve``; this app, listed after it in ``APPS``, adds
``--ray`` and the replica options to that parser and runs the deployment when ``--ray`` is given
(without it, ``clipbridge serve`` runs as before).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

__all__ = ["register"]


def _options_from_args(args: argparse.Namespace) -> Any:
    from .serving import RayServeOptions

    autoscaling = json.loads(args.autoscaling) if args.autoscaling else None
    if autoscaling is not None and not isinstance(autoscaling, dict):
        raise SystemExit("clipbridge serve: --autoscaling takes a JSON object")
    return RayServeOptions(
        replicas=args.replicas,
        num_gpus=args.num_gpus,
        num_cpus=args.num_cpus,
        autoscaling=autoscaling,
        max_ongoing_requests=args.max_ongoing_requests,
        host=args.host,
        port=args.port,
        address=args.ray_address,
    )


def _wrap(plain: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        if not args.ray:
            return plain(args)
        from ..serve.command import settings_from_args
        from ..serve.security import bind_warning
        from .serving import serve_on_ray

        settings = settings_from_args(args)
        warning = bind_warning(args.host, bool(settings.api_keys))
        if warning:
            print(warning, file=sys.stderr, flush=True)
        options = _options_from_args(args)
        url = serve_on_ray(settings, options)
        print(
            f"clipbridge serve --ray: ready at {url}/v1/embeddings, model {settings.model_name}, "
            f"{options.replicas} replica(s), {options.num_gpus} GPU each",
            flush=True,
        )
        from ray import serve

        try:
            while True:  # the replicas serve; this process only keeps the deployment up
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            serve.shutdown()
        return 0

    return run


def register(subparsers: Any) -> None:
    """Add ``--ray`` and the replica options to ``clipbridge serve`` (if it is there)."""
    serve = subparsers.choices.get("serve")
    if serve is None:
        return
    group = serve.add_argument_group("Ray Serve (--ray; needs clipbridge[ray])")
    group.add_argument("--ray", action="store_true", help="deploy on Ray Serve")
    group.add_argument("--replicas", type=int, default=1, help="replicas, one model each")
    group.add_argument("--num-gpus", type=float, default=0, help="GPUs per replica")
    group.add_argument("--num-cpus", type=float, default=1, help="CPUs per replica")
    group.add_argument(
        "--autoscaling",
        default=None,
        help='Ray Serve autoscaling_config as JSON, e.g. {"min_replicas": 1, "max_replicas": 8}',
    )
    group.add_argument("--max-ongoing-requests", type=int, default=None, help="per replica")
    group.add_argument("--ray-address", default=None, help="Ray cluster (default: local Ray)")
    serve.set_defaults(func=_wrap(serve.get_default("func")))
