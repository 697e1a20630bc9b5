"""Native model families. Importing this package does not import torch; :func:`load_model` does.

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
from pathlib import Path

from ..errors import ModelLoadError
from .base import LoadedModel, ModelFamily, ModelInfo
from .families import FAMILIES, family_for
from .hub import fetch_config, fetch_model_files, model_source, read_json
from .omp import prefer_passive_omp

prefer_passive_omp()  # torch loads later, with load_model: see clipbridge.models.omp

__all__ = [
    "FAMILIES",
    "LoadedModel",
    "ModelFamily",
    "ModelInfo",
    "clear_model_cache",
    "describe_model",
    "load_model",
]

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
    from .files import resolve_device, resolve_dtype

    source = model_source(model)
    folder, config, fetch = fetch_config(source, revision=revision, cache_dir=cache_dir)
    family = family_for(config, str(folder / "config.json"))
    folder = fetch(family.files)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    key = (str(folder.resolve()), str(dev), str(dt))
    with _cache_lock:
        loaded = _cache.get(key)
        if loaded is None:
            loaded = _cache[key] = family.build(folder, config, dev, dt)
        return loaded


def describe_model(folder: Path) -> ModelInfo:
    """The :class:`ModelInfo` of the checkpoint in ``folder`` (read without torch).

    Only ``config.json`` and the family's tokenizer and preprocessor files are read; the weights
    need not be there (an ONNX export holds none).
    """
    config = read_json(folder / "config.json")
    family = family_for(config, str(folder / "config.json"))
    if family.describer is None:
        raise ModelLoadError(
            f"{folder} holds a {family.name} model, which only the local (PyTorch) backend runs"
        )
    fetch_model_files(folder, family.info_files)
    return family.describe(folder, config)
