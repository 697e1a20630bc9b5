"""``clipbridge serve``: a self-hosted, Jina-compatible embeddings server with dynamic batching.

Example::

    from clipbridge import EmbedderConfig
    from clipbridge.serve import ServeSettings, create_app, serve_in_thread

    settings = ServeSettings(config=EmbedderConfig(model="jinaai/jina-clip-v1"))
    app = create_app(settings)                       # host with uvicorn, gunicorn, ...
    with serve_in_thread(settings) as base_url:      # or run it in a thread on a free port
        ...

FastAPI and uvicorn (the ``serve`` extra) are imported on first use of these names, so the
``clipbridge`` command starts without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .settings import ServeSettings, ServeStartError

if TYPE_CHECKING:
    from .app import create_app
    from .runner import run, serve_in_thread

__all__ = ["ServeSettings", "ServeStartError", "create_app", "run", "serve_in_thread"]

_LAZY = {"create_app": ".app", "run": ".runner", "serve_in_thread": ".runner"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'clipbridge.serve' has no attribute {name!r}")
    try:
        module = importlib.import_module(_LAZY[name], __name__)
    except ImportError as exc:
        raise ImportError(
            f"clipbridge serve needs extra packages ({exc.name}): pip install 'clipbridge[serve]'"
        ) from exc
    return getattr(module, name)
