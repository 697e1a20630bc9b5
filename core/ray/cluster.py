"""Connect to Ray: a small local instance by default, or an existing cluster.

Example::

    from clipbridge.ray.cluster import connect

    connect()                          # local: 2 CPUs, no dashboard, 127.0.0.1 only
    connect("ray://head:10001")        # a cluster (or "auto" inside one)
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["DEFAULT_LOCAL_CPUS", "connect", "import_ray"]

DEFAULT_LOCAL_CPUS = 2


def import_ray() -> Any:
    """``import ray`` (the top-level Ray, not this package), with a clear message if missing."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ImportError("this needs Ray Data: pip install 'clipbridge[ray]'") from exc
    return ray


def connect(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Make sure this process is connected to Ray and return the ``ray`` module.

    Already connected: nothing changes. ``address`` None (and no ``RAY_ADDRESS`` in the
    environment): a local instance with ``num_cpus`` CPUs (default 2), no dashboard, bound to
    127.0.0.1. Otherwise ``ray.init(address=...)`` joins that cluster.
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        ray.init(
            num_cpus=num_cpus or DEFAULT_LOCAL_CPUS,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            configure_logging=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    else:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    return ray
