"""A checkpoint's output width from its config files, without torch and without the weights.

What a run that embeds elsewhere (on Ray actors) needs before any model loads: the width of the
vectors it will be handed, for its output's schema.

Example::

    from clipbridge.models.width import model_width

    width, matryoshka = model_width("tests/fixtures/tiny-jina-clip-v1")   # (96, ())
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from .families import family_for
from .hub import fetch_config, model_source

__all__ = ["checkpoint_width", "model_width"]


def _transformers_width(family: str, config: dict[str, Any]) -> int | None:
    """The width of the families read with transformers (no torch-free describer): CLIP's
    ``projection_dim``, SigLIP's text tower (its ``projection_size``, else ``hidden_size``),
    each with transformers' default."""
    if family == "clip":
        return int(config.get("projection_dim") or 512)
    if family == "siglip":
        text = config.get("text_config") or {}
        return int(text.get("projection_size") or text.get("hidden_size") or 768)
    return None


def checkpoint_width(folder: Path, config: dict[str, Any]) -> tuple[int, tuple[int, ...]]:
    """``(width, matryoshka_dimensions)`` of the checkpoint in ``folder`` whose parsed
    ``config.json`` is ``config`` (a family's info files must be in ``folder``)."""
    family = family_for(config, str(folder / "config.json"))
    if family.describer is not None:
        info = family.describe(folder, config)
        return info.dimension, info.matryoshka_dimensions
    width = _transformers_width(family.name, config)
    if width is None:
        raise ModelLoadError(f"{folder / 'config.json'}: the {family.name} width is not known")
    return width, ()


def model_width(
    model: str, *, revision: str | None = None, cache_dir: str | None = None
) -> tuple[int, tuple[int, ...]]:
    """``(width, matryoshka_dimensions)`` of ``model`` (a hub id or a folder, as
    :func:`~clipbridge.models.load_model` takes it), from its config files only."""
    _, config, fetch = fetch_config(model_source(model), revision=revision, cache_dir=cache_dir)
    return checkpoint_width(fetch(family_for(config).info_files), config)
