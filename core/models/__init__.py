"""Native model families (PyTorch; importing this package requires torch).

:func:`load_model` reads a checkpoint's ``config.json``, picks its family once
(:mod:`clipbridge.models.families`), fetches only that family's files and builds a
:class:`LoadedModel`. Loaded models are cached per (folder, device, dtype) and shared by every
Embedder in the process.

Example::

    from clipbridge.models import load_model

    loaded = load_model("tests/fixtures/tiny-jina-clip-v1", device="cpu")
    loaded.family, loaded.dimension
"""

from __future__ import annotations

import threading

from .base import LoadedModel, ModelFamily
from .families import FAMILIES, family_for
from .files import (
    fetch_model_files,
    hub_reachable,
    model_source,
    read_json,
    resolve_device,
    resolve_dtype,
)

__all__ = ["FAMILIES", "LoadedModel", "ModelFamily", "clear_model_cache", "load_model"]

_cache: dict[tuple[str, str, str], LoadedModel] = {}
_cache_lock = threading.Lock()


def clear_model_cache() -> None:
    """Forget every loaded model (they are freed once no Embedder holds them)."""
    with _cache_lock:
        _cache.clear()


def load_model(
    model: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    revision: str | None = None,
    cache_dir: str | None = None,
) -> LoadedModel:
    """Load (or reuse) a model. ``jina-clip-v1`` and ``jinaai/jina-clip-v1`` name the same one."""
    source = model_source(model)
    online = isinstance(source, str) and hub_reachable()
    fetch = {"revision": revision, "cache_dir": cache_dir, "online": online}
    folder = fetch_model_files(source, ("config.json",), **fetch)
    config = read_json(folder / "config.json")
    family = family_for(config, str(folder / "config.json"))
    folder = fetch_model_files(source, family.files, **fetch)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    key = (str(folder.resolve()), str(dev), str(dt))
    with _cache_lock:
        loaded = _cache.get(key)
        if loaded is None:
            loaded = _cache[key] = family.build(folder, config, dev, dt)
        return loaded
