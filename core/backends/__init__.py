"""Backends: where vectors are computed. The Embedder picks one once, by name."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .base import Backend, Progress

if TYPE_CHECKING:
    from ..config import EmbedderConfig

__all__ = ["BACKENDS", "Backend", "Progress", "create_backend"]

# name -> "module:Class"; imported only when chosen, so neither the API nor the ONNX backend
# imports torch.
BACKENDS = {
    "local": "clipbridge.backends.local:LocalBackend",
    "onnx": "clipbridge.backends.onnx:OnnxBackend",
    "api": "clipbridge.backends.api:ApiBackend",
}
# name -> the pip extra that brings what it imports; the API backend needs only clipbridge's own
# dependencies (httpx, Pillow, numpy), so there is no extra to name for it
EXTRAS = {"local": "local", "onnx": "onnx"}


def create_backend(config: EmbedderConfig) -> Backend:
    """Instantiate the backend named by ``config.backend``."""
    module_name, _, class_name = BACKENDS[config.backend].partition(":")
    if config.backend == "local":
        from ..models.omp import prefer_passive_omp

        prefer_passive_omp()  # before torch loads: see clipbridge.models.omp
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = EXTRAS.get(config.backend)
        fix = (
            f"needs extra packages ({exc.name}): pip install 'clipbridge[{extra}]'"
            if extra
            else f"cannot import {exc.name}, one of clipbridge's own dependencies: reinstall "
            "clipbridge (pip install --force-reinstall clipbridge)"
        )
        raise ImportError(f"the {config.backend!r} backend {fix}") from exc
    return getattr(module, class_name)(config)
