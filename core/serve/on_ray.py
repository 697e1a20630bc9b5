"""`clipbridge serve --ray`: the FastAPI app of ``clipbridge serve`` as a Ray Serve deployment.

Ray is imported only when a function here runs; inside this package ``import ray`` / ``from ray
import serve`` is the top-level Ray (absolute imports), not ``clipbridge.ray``.

Each replica builds its own app with :func:`clipbridge.serve.create_app` (the builder runs on the
replica, so nothing heavy is pickled): one model per replica, its own dynamic batcher, and the same
endpoints, API keys and limits as ``clipbridge serve``. Ray Serve's proxy spreads requests over
the replicas; ``num_replicas`` or an autoscaling config sets how many there are.

Example::

    from clipbridge import EmbedderConfig
    from clipbridge.serve.on_ray import RayServeOptions, serve_on_ray
    from clipbridge.serve import ServeSettings

    settings = ServeSettings(config=EmbedderConfig(model="jinaai/jina-clip-v1"))
    url = serve_on_ray(settings, RayServeOptions(replicas=2, num_gpus=1, port=8080))
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..ray.cluster import connect

if TYPE_CHECKING:
    from .settings import ServeSettings

__all__ = ["APP_NAME", "RayServeOptions", "build_application", "serve_on_ray"]

APP_NAME = "clipbridge"


@dataclass(kw_only=True)
class RayServeOptions:
    """How many replicas, what each gets, and where Ray Serve's HTTP proxy listens.

    ``autoscaling`` is passed to Ray Serve as ``autoscaling_config`` (``min_replicas``,
    ``max_replicas``, ``target_ongoing_requests``, ...); when set, ``replicas`` is the initial
    count.
    """

    replicas: int = 1
    num_gpus: float = 0
    num_cpus: float = 1
    autoscaling: dict[str, Any] | None = None
    max_ongoing_requests: int | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    address: str | None = None
    route_prefix: str = "/"
    extra: dict[str, Any] = field(default_factory=dict)  # more serve.deployment() options

    def deployment_options(self) -> dict[str, Any]:
        """The keyword arguments for ``serve.deployment``."""
        if self.replicas < 1:
            raise ValueError(f"replicas must be >= 1, not {self.replicas}")
        options: dict[str, Any] = {
            "ray_actor_options": {"num_gpus": self.num_gpus, "num_cpus": self.num_cpus},
            **self.extra,
        }
        if self.autoscaling:
            autoscaling = dict(self.autoscaling)
            autoscaling.setdefault("initial_replicas", self.replicas)
            options["autoscaling_config"] = autoscaling
        else:
            options["num_replicas"] = self.replicas
        if self.max_ongoing_requests is not None:
            options["max_ongoing_requests"] = self.max_ongoing_requests
        return options


def _app_builder(settings: ServeSettings) -> Callable[[], Any]:
    """A function that builds the app; Ray Serve calls it on each replica."""

    def build() -> Any:
        from . import create_app

        app = create_app(settings)
        app.state.serve.metrics.set_replica(_replica_name())
        return app

    return build


def _replica_name() -> str:
    """This replica's Ray Serve id (its unique part), or the process id outside a replica."""
    from ray import serve

    try:
        replica = serve.get_replica_context().replica_id
    except Exception:  # not inside a replica (e.g. the builder called directly)
        return f"pid-{os.getpid()}"
    return str(getattr(replica, "unique_id", replica))


def build_application(settings: ServeSettings, options: RayServeOptions) -> Any:
    """The bound Ray Serve application (``serve.run`` it, or put it in a Serve config)."""
    connect(options.address)
    from ray import serve

    ingress = serve.ingress(_app_builder(settings))()
    deployment = serve.deployment(ingress, name="ClipBridgeServe", **options.deployment_options())
    return deployment.bind()


def serve_on_ray(settings: ServeSettings, options: RayServeOptions) -> str:
    """Deploy the app on Ray Serve and return its base URL once every replica is ready.

    The deployment lives in the Ray cluster: ``ray.serve.shutdown()`` (or the end of a local
    Ray) removes it.
    """
    connect(options.address)
    from ray import serve

    serve.start(http_options={"host": options.host, "port": options.port})
    app = build_application(settings, options)
    serve.run(app, name=APP_NAME, route_prefix=options.route_prefix, blocking=False)
    host = options.host if options.host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{options.port}{options.route_prefix.rstrip('/')}"
